from django.urls import path

from certadmin.jobs import export_views

# Part of the device pages' URLs ("devices:certificate-export"): certadmin/urls.py joins them to
# certadmin/devices/urls.py, which cannot import this app.
urlpatterns = [
    path("devices/export/", export_views.certificate_export_view, name="certificate-export"),
]
