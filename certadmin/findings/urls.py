from django.urls import path

from certadmin.findings import views

app_name = "findings"

urlpatterns = [
    path("", views.fleet, name="fleet"),
    path("csv/", views.fleet_csv, name="fleet-csv"),
    path("suppressions/", views.suppressions, name="suppressions"),
    path("suppressions/<int:pk>/end/", views.suppression_end, name="suppression-end"),
]
