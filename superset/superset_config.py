"""Superset configuration for finhouse (loaded through SUPERSET_CONFIG_PATH).

Every secret comes from the environment; nothing secret is written here:

* ``SUPERSET_SECRET_KEY`` - signs sessions and encrypts the stored database passwords.
* ``SUPERSET_METADATA_DB_URI`` - Superset's own metadata database (the ``superset`` database
  of the local PostgreSQL, role ``superset``), a SQLAlchemy URI.

``superset/run.py`` fills both for the embedded cluster (the key is generated once into
``.finhouse/superset/credentials.json``, mode 0600); docker-compose passes them explicitly.
"""

from __future__ import annotations

import os

SECRET_KEY = os.environ["SUPERSET_SECRET_KEY"]
SQLALCHEMY_DATABASE_URI = os.environ["SUPERSET_METADATA_DB_URI"]

# Local http only: no HTTPS redirect or strict CSP (the platform binds 127.0.0.1).
TALISMAN_ENABLED = os.environ.get("SUPERSET_TALISMAN_ENABLED", "false").lower() == "true"
SESSION_COOKIE_SECURE = False
WTF_CSRF_ENABLED = True

# Small, deterministic app: no example data, no telemetry, no thumbnails or async queries.
SUPERSET_WEBSERVER_PORT = int(os.environ.get("SUPERSET_PORT", "8088"))
FEATURE_FLAGS = {
    "DASHBOARD_RBAC": False,
    "ALERT_REPORTS": False,
    "THUMBNAILS": False,
    "ENABLE_TEMPLATE_PROCESSING": False,
}
SQLALCHEMY_TRACK_MODIFICATIONS = False
ROW_LIMIT = 50000
SQL_MAX_ROW = 100000
# Figures must always reflect the marts as they are now: no result cache.
DATA_CACHE_CONFIG = {"CACHE_TYPE": "NullCache"}
CACHE_CONFIG = {"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": 300}
FILTER_STATE_CACHE_CONFIG = {"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": 86400}
EXPLORE_FORM_DATA_CACHE_CONFIG = {"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": 86400}
RATELIMIT_STORAGE_URI = "memory://"
# Superset's default logging goes to stdout; the launcher redirects it to .finhouse/logs.
LOG_LEVEL = os.environ.get("SUPERSET_LOG_LEVEL", "WARNING")
CONTENT_SECURITY_POLICY_WARNING = False
