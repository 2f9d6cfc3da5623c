from django.urls import path

from certadmin.devices.views import certificate, expiry, keys, search

app_name = "devices"

# certadmin/urls.py adds the certificate export (certadmin/jobs/device_urls.py).

urlpatterns = [
    path("", search.home, name="home"),
    path("devices/", search.devices, name="list"),
    path("devices/lookup/", search.lookup, name="lookup"),
    path("expiry/", expiry.expiry, name="expiry"),
    path("expiry/csv/", expiry.expiry_csv, name="expiry-csv"),
    path("devices/<str:product_key>/<str:device_name>/", certificate.device, name="device"),
    path("devices/<str:product_key>/<str:device_name>/key/", keys.key_access, name="key"),
    path("devices/<str:product_key>/<str:device_name>/key/seen/", keys.key_seen, name="key-seen"),
    path(
        "devices/<str:product_key>/<str:device_name>/certificate/<str:kind>/",
        certificate.certificate_download,
        name="certificate-download",
    ),
]
