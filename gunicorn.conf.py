"""gunicorn settings for certadmin (``gunicorn -c gunicorn.conf.py``; ``make serve`` uses it).

Environment (all optional):
- ``CERTADMIN_BIND`` (else ``0.0.0.0:$PORT``, else ``0.0.0.0:8000``): where to listen.
- ``CERTADMIN_WEB_WORKERS`` (2 x cores + 1, at most 8) and ``CERTADMIN_WEB_THREADS`` (4):
  gthread workers, so a slow platform answer or a long download holds one thread, not a worker.
- ``CERTADMIN_WEB_TIMEOUT`` (120 s): a gthread worker is killed only when its main loop stops
  heartbeating, never because one request is slow; kept well above the platform client's
  deadline (CERTADMIN_IOT_DEADLINE_SECONDS, 8 s) anyway.
- ``PROMETHEUS_MULTIPROC_DIR``: metrics of all workers are collected from there (``make serve``
  empties it before starting); a dead worker's gauges are dropped.
- ``CERTADMIN_CONTROL_SOCKET``: off by default. gunicorn (25.1+) otherwise opens its control
  socket (for ``gunicornc``) at one path per user, ``$XDG_RUNTIME_DIR/gunicorn.ctl`` or
  ``~/.gunicorn/gunicorn.ctl``: a second instance on the host (a blue/green switch, a key
  rotation without downtime) takes it over, the first one's shutdown deletes it, and a
  read-only home cannot hold it. Set it to a path of this instance's own to use ``gunicornc``.
- ``CERTADMIN_LOG_FORMAT``: ``json`` (the default in production) writes gunicorn's own messages
  as JSON lines; requests are then logged by the application itself, with a request id, so
  gunicorn's access log is off.

No log line carries a query string (see ``certadmin.http.access_log``): a password or token
typed into a URL must not reach a log file.
"""

import multiprocessing
import os

from certadmin.ops.log_format import log_format_from_environment

wsgi_app = "certadmin.wsgi:application"
bind = os.environ.get("CERTADMIN_BIND") or f"0.0.0.0:{os.environ.get('PORT', '8000')}"
worker_class = "gthread"
workers = int(
    os.environ.get("CERTADMIN_WEB_WORKERS") or min(2 * multiprocessing.cpu_count() + 1, 8)
)
threads = int(os.environ.get("CERTADMIN_WEB_THREADS") or 4)
timeout = int(os.environ.get("CERTADMIN_WEB_TIMEOUT") or 120)
graceful_timeout = 30
keepalive = 5
# Settings are loaded once per worker, after the fork: each worker has its own connections.
preload_app = False
# Behind a reverse proxy; X-Forwarded-* handling is Django's (CERTADMIN_TRUSTED_PROXIES).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
_control_socket = os.environ.get("CERTADMIN_CONTROL_SOCKET", "").strip()
control_socket_disable = not _control_socket
if _control_socket:
    control_socket = _control_socket

logger_class = "certadmin.http.access_log.RedactingGunicornLogger"
errorlog = "-"
if log_format_from_environment() == "json":
    accesslog = None
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {
                "()": "pythonjsonlogger.json.JsonFormatter",
                "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
                "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
            }
        },
        "filters": {
            "no_query_strings": {"()": "certadmin.http.access_log.QueryStringRedactingFilter"}
        },
        # gunicorn merges this over its own defaults, whose root logger uses "console".
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
                "filters": ["no_query_strings"],
            }
        },
        "root": {"level": "INFO", "handlers": ["console"]},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["console"], "propagate": False}
        },
    }
else:
    accesslog = "-"
    access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(M)sms'


def child_exit(server, worker) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
