"""WSGI entry point (gunicorn certadmin.wsgi).

Refuses to start when serving would be unsafe (development secret key, DEBUG, no allowed hosts,
no audit key: see certadmin/ops/checks.py), so a misconfigured gunicorn fails at boot.
"""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "certadmin.settings")
# As django.core.wsgi.get_wsgi_application, with a request class that never decodes a request
# in a charset the dashboard refuses (certadmin/http/request_encoding.py).
django.setup(set_prefix=False)

from certadmin.http.request_encoding import CharsetCheckedWSGIHandler  # noqa: E402

application = CharsetCheckedWSGIHandler()

from certadmin.ops.checks import serving_configuration_refuse  # noqa: E402  (needs Django set up)

serving_configuration_refuse()
