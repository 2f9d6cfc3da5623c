from django.urls import path

from certadmin.audit import views

app_name = "audit"

# certadmin/urls.py adds the chain verification pages (certadmin/jobs/audit_urls.py).

urlpatterns = [
    path("", views.event_list, name="events"),
    path("export/", views.event_export, name="export"),
    path("events/<int:event_id>/redact/", views.event_redact, name="redact"),
    path("devices/<str:product_key>/<str:device_name>/", views.device_events, name="device"),
    path("users/<str:username>/", views.user_events, name="user"),
]
