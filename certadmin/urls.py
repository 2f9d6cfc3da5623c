from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", include("certadmin.accounts.urls")),
    path("", include("certadmin.devices.urls")),
    path("audit/", include("certadmin.audit.urls")),
    path("jobs/", include("certadmin.jobs.urls")),
    path("admin/", admin.site.urls),
    path("", include("certadmin.ops.urls")),
]
