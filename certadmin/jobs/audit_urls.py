from django.urls import path

from certadmin.jobs import chain_views

# Part of the audit trail's URLs ("audit:chain", under /audit/): certadmin/urls.py joins them to
# certadmin/audit/urls.py, which cannot import this app.
urlpatterns = [
    path("chain/", chain_views.chain_status, name="chain"),
    path("chain/verify/", chain_views.chain_verify_now, name="verify"),
    path("chain/runs/<int:job_id>/", chain_views.chain_verify_run, name="verify-run"),
]
