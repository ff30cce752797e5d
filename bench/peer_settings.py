"""Django settings for the peers of `python -m bench peers`, chosen by the environment.

BENCH_PEER        postoffice | mailer | celery | django
BENCH_DB          a SQLite file, or a postgres:// URL (each peer then has its own schema)
BENCH_SMTP_PORT   where Django's SMTP backend connects (the sink, or the delay relay)
BENCH_WORKDIR     lock files

Each peer runs at the settings its documentation recommends for production (see PEERS in
bench/peers.py for which and where they are written down); the database is set up the same
way as sitemail's (the same SQLite pragmas; PostgreSQL without pooling).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

PEER = os.environ.get("BENCH_PEER", "django")
WORKDIR = Path(os.environ.get("BENCH_WORKDIR", ".")).resolve()
_DB = os.environ.get("BENCH_DB", str(WORKDIR / f"{PEER}.sqlite3"))

# A benchmark process: nothing is signed.
SECRET_KEY = "bench-only"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
DEFAULT_FROM_EMAIL = "Sourcegraph <noreply@example.com>"


def _database(value: str) -> dict[str, Any]:
    if not value.startswith(("postgres://", "postgresql://")):
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": value,
            # The same as sitemail's (sitemail/settings.py): WAL, synchronous=NORMAL, IMMEDIATE.
            "OPTIONS": {
                "init_command": (
                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;"
                ),
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
        }
    parsed = urlparse(value)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parsed.path.lstrip("/")) or "postgres",
        "USER": unquote(parsed.username or ""),
        "PASSWORD": unquote(parsed.password or ""),
        "HOST": parsed.hostname or "",
        "PORT": str(parsed.port or ""),
        # A schema per peer: its tables and migrations beside sitemail's, never mixed.
        "OPTIONS": {"options": f"-c search_path=bench_{PEER}"},
    }


DATABASES = {"default": _database(_DB)}
INSTALLED_APPS = ["django.contrib.contenttypes"]
# post-office renders subject and bodies as Django templates even without an EmailTemplate.
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}]

# Django's SMTP backend to the sink: what every peer delivers through in the end.
EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = "127.0.0.1"
EMAIL_PORT = int(os.environ.get("BENCH_SMTP_PORT", "25"))
EMAIL_TIMEOUT = 30

if PEER == "postoffice":
    INSTALLED_APPS.append("post_office")
    # Its README's defaults: BATCH_SIZE 100, THREADS_PER_PROCESS 5, LOG_LEVEL 2 (a Log row per
    # email), send_queued_mail with one process; the lock file in the work directory.
    POST_OFFICE = {
        "BATCH_SIZE": 100,
        "THREADS_PER_PROCESS": 5,
        "LOG_LEVEL": 2,
        "LOCK_FILE_NAME": str(WORKDIR / "post_office"),
        "MESSAGE_ID_ENABLED": True,
    }
elif PEER == "mailer":
    INSTALLED_APPS.append("mailer")
    # Its docs: mailer.send_mail / send_html_mail queue, `manage.py send_mail` (or runmailer)
    # sends; MAILER_EMAIL_BACKEND is the real backend. Defaults otherwise (no batch limit,
    # no throttle, the file lock on).
    MAILER_EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    MAILER_LOCK_PATH = str(WORKDIR / "mailer_send_mail")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "root": {"level": "WARNING"},
}
