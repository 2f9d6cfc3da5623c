from django.urls import path

from certadmin.schedules import views

app_name = "schedules"

urlpatterns = [
    path("", views.schedule_list, name="list"),
    path("set/", views.schedule_set, name="set"),
    path("<int:schedule_id>/delete/", views.schedule_remove, name="delete"),
]
