from django.urls import path

from certadmin.audit import views

app_name = "audit"

urlpatterns = [
    path("", views.event_list, name="events"),
    path("export/", views.event_export, name="export"),
    path("events/<int:event_id>/redact/", views.event_redact, name="redact"),
    path("devices/<str:product_key>/<str:device_name>/", views.device_events, name="device"),
    path("users/<str:username>/", views.user_events, name="user"),
    path("chain/", views.chain_status, name="chain"),
    path("chain/verify/", views.chain_verify_now, name="verify"),
    path("chain/runs/<int:job_id>/", views.chain_verify_run, name="verify-run"),
]
