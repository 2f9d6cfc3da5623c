from django.urls import path

from certadmin.custody import views

app_name = "custody"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("requests/<int:pk>/", views.request_detail, name="request"),
    path("requests/<int:pk>/decide/", views.request_decide, name="request-decide"),
    path("requests/<int:pk>/use/", views.request_use, name="request-use"),
    path("break-glass/<int:pk>/review/", views.break_glass_review, name="break-glass-review"),
    # The link's token travels in the query (GET) or the form (POST), never in the path: query
    # strings are kept out of every log (certadmin/http/access_log.py).
    path("handover/", views.handover_open, name="handover-open"),
    path("handover/download/", views.handover_download, name="handover-download"),
    path("notices/<int:pk>/dismiss/", views.notice_dismiss, name="notice-dismiss"),
    path(
        "devices/<str:product_key>/<str:device_name>/request/",
        views.request_create,
        name="request-create",
    ),
    path(
        "devices/<str:product_key>/<str:device_name>/break-glass/",
        views.break_glass,
        name="break-glass",
    ),
    path(
        "devices/<str:product_key>/<str:device_name>/handover/",
        views.handover_new,
        name="handover-new",
    ),
]
