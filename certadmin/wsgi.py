"""WSGI entry point (gunicorn certadmin.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "certadmin.settings")
application = get_wsgi_application()
