from django.urls import path

from certadmin.notifications import views

app_name = "notifications"

urlpatterns = [
    path("", views.notification_routes, name="routes"),
    path("routes/save/", views.notification_route_save, name="route-save"),
    path("routes/<int:route_id>/delete/", views.notification_route_remove, name="route-delete"),
    path("routes/<int:route_id>/test/", views.notification_route_test, name="route-test"),
    path("channels/save/", views.notification_channel_save, name="channel-save"),
    path(
        "channels/<int:channel_id>/delete/",
        views.notification_channel_remove,
        name="channel-delete",
    ),
    path("demo-inbox/", views.demo_inbox, name="demo-inbox"),
    path("demo-inbox/receive/", views.demo_inbox_receive, name="demo-inbox-receive"),
]
