"""The audit trail in the admin: readable by auditors, changeable by nobody, superusers included."""

from django.contrib import admin

from certadmin.accounts.roles import VIEW_AUDIT_TRAIL
from certadmin.audit.models import AuditEvent, ChainVerification


class ReadOnlyAdmin(admin.ModelAdmin):
    actions = None

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm(VIEW_AUDIT_TRAIL) or super().has_view_permission(request, obj)

    def has_module_permission(self, request):
        return self.has_view_permission(request)


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "created_at",
        "actor_username",
        "action",
        "outcome",
        "product_key",
        "device_name",
        "ip_address",
    )
    list_filter = ("action", "outcome", "created_at")
    search_fields = ("=actor_username", "=product_key", "=device_name", "=cert_sn")
    show_full_result_count = False


@admin.register(ChainVerification)
class ChainVerificationAdmin(ReadOnlyAdmin):
    list_display = ("id", "checked_at", "run_by", "ok", "checked", "head_id", "problem")
    list_filter = ("ok",)
    show_full_result_count = False
