"""Settings of the test-only Django project: the database comes from one DSN.

``FINHOUSE_DJANGO_DSN`` holds ``postgresql://user:password@host:port/database`` (what the
test harness hands out). Only the bank app is installed: ``migrate`` creates exactly the six
contract tables plus ``django_migrations``, nothing of contenttypes or auth.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

DSN_VARIABLE = "FINHOUSE_DJANGO_DSN"


def database_from_dsn(dsn: str) -> dict[str, Any]:
    """Django's ``DATABASES['default']`` for a ``postgresql://`` URL (query parameters such as
    ``sslmode`` become psycopg connection options)."""
    url = urlsplit(dsn)
    if url.scheme not in ("postgresql", "postgres"):
        raise ImproperlyConfigured(
            f"{DSN_VARIABLE} must be a postgresql:// URL (got scheme {url.scheme!r})"
        )
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(url.path.lstrip("/")),
        "USER": unquote(url.username or ""),
        "PASSWORD": unquote(url.password or ""),
        # a percent-encoded host is a Unix socket directory
        "HOST": unquote(url.hostname or ""),
        "PORT": str(url.port or ""),
        # the name shows in pg_stat_activity, so a held-back extract names the app
        "OPTIONS": {"application_name": "django-bank", **dict(parse_qsl(url.query))},
        # one connection per thread, kept for the thread's life (no request cycle here)
        "CONN_MAX_AGE": None,
    }


_dsn = os.environ.get(DSN_VARIABLE)
if not _dsn:
    raise ImproperlyConfigured(f"set {DSN_VARIABLE} to the OLTP's postgresql:// DSN")

DATABASES = {"default": database_from_dsn(_dsn)}
INSTALLED_APPS = ["tests.django_client.bank"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
SECRET_KEY = "finhouse-tests-only"  # noqa: S105 - no sessions, signing or users here
DEBUG = False  # DEBUG would keep every query in memory for the whole workload
