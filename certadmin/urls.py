from django.contrib import admin
from django.urls import include, path

from certadmin.audit import urls as audit_urls
from certadmin.devices import urls as devices_urls
from certadmin.jobs import audit_urls as jobs_audit_urls
from certadmin.jobs import device_urls as jobs_device_urls

urlpatterns = [
    path("", include("certadmin.accounts.urls")),
    # The device pages, and the certificate export, which also exports a batch job's devices and
    # so lives in the jobs app: one "devices" namespace.
    path("", include((devices_urls.urlpatterns + jobs_device_urls.urlpatterns, "devices"))),
    # The audit trail's pages, and its chain verification pages, which start jobs and so live
    # in the jobs app: one "audit" namespace.
    path("audit/", include((audit_urls.urlpatterns + jobs_audit_urls.urlpatterns, "audit"))),
    path("jobs/", include("certadmin.jobs.urls")),
    path("schedules/", include("certadmin.schedules.urls")),
    path("fleet/", include("certadmin.findings.urls")),
    path("notifications/", include("certadmin.notifications.urls")),
    path("custody/", include("certadmin.custody.urls")),
    path("admin/", admin.site.urls),
    path("", include("certadmin.ops.urls")),
]
