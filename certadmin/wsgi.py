"""WSGI entry point (gunicorn certadmin.wsgi).

Refuses to start when serving would be unsafe (development secret key, DEBUG, no allowed hosts,
no audit key: see certadmin/ops/checks.py), so a misconfigured gunicorn fails at boot.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "certadmin.settings")
application = get_wsgi_application()

from certadmin.ops.checks import serving_configuration_refuse  # noqa: E402  (needs Django set up)

serving_configuration_refuse()
