"""Django wiring only: data dir, database, apps, middleware, the outbox as EMAIL_BACKEND."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

BASE_DIR = Path(__file__).resolve().parent
DATA_DIR = Path(os.environ.get("SITEMAIL_DATA_DIR", ".sitemail")).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

PRODUCT_NAME = os.environ.get("SITEMAIL_PRODUCT_NAME", "Sourcegraph")


def _secret_key() -> str:
    if key := os.environ.get("SITEMAIL_SECRET_KEY"):
        return key
    path = DATA_DIR / "secret_key"
    if not path.exists():
        # Written once per data dir so sessions survive restarts; 0600 since it signs cookies.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = _secret_key()
# Encrypts OAuth 2.0 tokens at rest (smtp/oauth/crypto.py); unset: derived from SECRET_KEY.
OAUTH_TOKEN_KEY = os.environ.get("SITEMAIL_OAUTH_TOKEN_KEY", "")
DEBUG = os.environ.get("SITEMAIL_DEBUG", "") == "1"
ALLOWED_HOSTS = ["*"]


def _database(url: str | None) -> dict[str, Any]:
    if not url:
        return {
            "ENGINE": "sitemail.outbox.engines.sqlite3",
            "NAME": DATA_DIR / "sitemail.sqlite3",
            "OPTIONS": {
                # WAL lets the web process read while the worker writes; IMMEDIATE takes the
                # write lock at BEGIN so two writers queue on busy_timeout instead of deadlocking.
                # secure_delete: a removed secret (reset link) is overwritten, not left in a
                # page's free space (outbox/claims.py checkpoints the WAL after removing one).
                "init_command": (
                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;"
                    " PRAGMA secure_delete=ON;"
                ),
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
            # File-backed test database: the async ORM runs queries in threads, where an
            # in-memory SQLite database would be a different, empty one.
            "TEST": {"NAME": str(DATA_DIR / "test.sqlite3")},
        }
    parsed = urlparse(url)
    if parsed.scheme not in {"postgres", "postgresql"}:
        raise ValueError(
            f"DATABASE_URL: unsupported scheme {parsed.scheme!r}; use postgres://user@host/db"
        )
    return {
        "ENGINE": "sitemail.outbox.engines.postgresql",
        "NAME": unquote(parsed.path.lstrip("/")) or "postgres",
        "USER": unquote(parsed.username or ""),
        "PASSWORD": unquote(parsed.password or ""),
        "HOST": parsed.hostname or "",
        "PORT": str(parsed.port or ""),
        "CONN_MAX_AGE": 0,
        "CONN_HEALTH_CHECKS": True,
    }


_DATABASE_URL = os.environ.get("DATABASE_URL")
if not _DATABASE_URL and os.environ.get("SITEMAIL_TEST_POSTGRES") == "1":
    _DATABASE_URL = "postgres://postgres@127.0.0.1:5432/test"  # CI's PostgreSQL
DATABASES = {"default": _database(_DATABASE_URL)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "sitemail.siteconfig",
    "sitemail.accounts",
    "sitemail.accounts.external",
    "sitemail.outbox",
    "sitemail.smtp.oauth",
    "sitemail.web",
    "sitemail.api",
    "sitemail.catcher",
    "sitemail.admin",
    "sitemail.monitors",
    "sitemail.orgs",
    "sitemail.deliverability",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "sitemail.admin.middleware.MetricsBearerMiddleware",
    "sitemail.accounts.middleware.AccessTokenMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "sitemail.urls"
ASGI_APPLICATION = "sitemail.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "sitemail.web.context.site",
            ]
        },
    }
]

AUTH_USER_MODEL = "accounts.User"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.Argon2PasswordHasher"]
LOGIN_URL = "/sign-in"

# Every email Django itself sends goes through the durable outbox too.
EMAIL_BACKEND = "sitemail.outbox.backend.OutboxEmailBackend"

USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-us"
STATIC_URL = "/static/"
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_NAME = "sitemail_csrf"

# GraphiQL assets installed by `npm ci` at setup (package.json) and served locally.
VENDOR_DIR = Path(os.environ.get("SITEMAIL_VENDOR_DIR", BASE_DIR.parent.parent / "node_modules"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("SITEMAIL_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # aiosmtpd logs every SMTP command at INFO; the catcher logs one line per message instead.
        "mail.log": {"level": "WARNING"},
        # SECURITY: json-five logs every parsed node at DEBUG, secrets of the site config
        # included (passwords, client secrets): never below INFO, whatever the root level.
        "json5": {"level": "INFO"},
        # httpx logs each request's URL at INFO; token requests carry secrets only in bodies.
        "httpx": {"level": "WARNING"},
    },
}

# Amazon SNS (email.webhooks.amazonSES): where signing certificates and subscription
# confirmations may be fetched from. Amazon's own hosts unless overridden (tests serve a
# test certificate on loopback).
SITEMAIL_SNS_CERT_URL_PATTERN = os.environ.get("SITEMAIL_SNS_CERT_URL_PATTERN", "")
SITEMAIL_SNS_SUBSCRIBE_URL_PATTERN = os.environ.get("SITEMAIL_SNS_SUBSCRIBE_URL_PATTERN", "")
