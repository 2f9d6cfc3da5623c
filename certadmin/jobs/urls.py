from django.urls import path

from certadmin.jobs import views

app_name = "jobs"

urlpatterns = [
    path("", views.job_list, name="list"),
    path("sync/", views.product_sync, name="product-sync"),
    path("batch/", views.batch_lookup, name="batch"),
    path("<int:job_id>/", views.job_detail, name="detail"),
    path("<int:job_id>/results.csv", views.job_results_csv, name="results-csv"),
    path("<int:job_id>/cancel/", views.job_cancel_view, name="cancel"),
]
