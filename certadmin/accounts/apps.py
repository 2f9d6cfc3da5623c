from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "certadmin.accounts"
    label = "accounts"
