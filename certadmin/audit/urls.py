from django.urls import path

from certadmin.audit import report_views, views

app_name = "audit"

# certadmin/urls.py adds the chain verification pages (certadmin/jobs/audit_urls.py).

urlpatterns = [
    path("", views.event_list, name="events"),
    path("export/", views.event_export, name="export"),
    path("events/<int:event_id>/redact/", views.event_redact, name="redact"),
    path("devices/<str:product_key>/<str:device_name>/", views.device_events, name="device"),
    path("users/<str:username>/", views.user_events, name="user"),
    path("keys/", report_views.key_lookup_page, name="key-lookup"),
    path("custody/", report_views.custody_report_page, name="custody-report"),
    path("custody/export/", report_views.custody_report_download, name="custody-export"),
]
