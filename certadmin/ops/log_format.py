"""Which log format the process writes: ``json`` (one object per line) or ``plain``.

Pure (no Django): gunicorn's master reads it from gunicorn.conf.py before Django is set up.
"""

import os


def log_format_from_environment() -> str:
    """``CERTADMIN_LOG_FORMAT`` if set, else ``json`` in production (an AccessKey ID is
    configured) and ``plain`` in the demo."""
    chosen = os.environ.get("CERTADMIN_LOG_FORMAT", "").strip().lower()
    if chosen in {"json", "plain"}:
        return chosen
    return "json" if os.environ.get("ALIBABA_CLOUD_ACCESS_KEY_ID", "").strip() else "plain"
