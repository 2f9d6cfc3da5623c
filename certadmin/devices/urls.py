from django.urls import path

from certadmin.devices import views

app_name = "devices"

urlpatterns = [
    path("", views.home, name="home"),
    path("devices/", views.devices, name="list"),
    path("devices/lookup/", views.lookup, name="lookup"),
    path("devices/<str:product_key>/<str:device_name>/", views.device, name="device"),
    path("devices/<str:product_key>/<str:device_name>/reveal/", views.reveal, name="reveal"),
    path(
        "devices/<str:product_key>/<str:device_name>/certificate/<str:kind>/",
        views.certificate_download,
        name="certificate-download",
    ),
    path(
        "devices/<str:product_key>/<str:device_name>/bundle/",
        views.key_bundle_download,
        name="bundle-download",
    ),
]
