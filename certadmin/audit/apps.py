from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "certadmin.audit"
    label = "audit"
