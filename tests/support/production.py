"""Loading certadmin as production serving does, in a process of its own."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# The smallest production environment: AccessKey pair and web secrets, nothing for the trail.
PRODUCTION_ENVIRONMENT = {
    "ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAIproductionKeyId",
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "production-secret",
    "DJANGO_SECRET_KEY": "p" * 60,
    "DJANGO_ALLOWED_HOSTS": "certadmin.example",
}


def serving_started(**env: str) -> subprocess.CompletedProcess:
    """Import the WSGI application in production with ``env`` added to
    ``PRODUCTION_ENVIRONMENT`` (settings load; serving refuses what it is missing)."""
    return subprocess.run(
        [sys.executable, "-c", "import certadmin.wsgi"],
        cwd=ROOT,
        env={"PATH": os.environ.get("PATH", ""), **PRODUCTION_ENVIRONMENT, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
