"""gunicorn settings for certadmin (``gunicorn -c gunicorn.conf.py``).

Access-log lines never carry a query string (see ``certadmin.http.access_log``): a password
typed into a URL must not reach a log file.
"""

wsgi_app = "certadmin.wsgi:application"
logger_class = "certadmin.http.access_log.RedactingGunicornLogger"
accesslog = "-"
errorlog = "-"
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(M)sms'
