"""One place for finhouse's configuration: where state lives and how to reach the databases.

Connections come from the environment (contracts.md §3), read and validated by
:mod:`finhouse.settings` (URL or libpq keyword/value DSNs; a bad one is one line naming it):

* ``FINHOUSE_OLTP_DSN`` - the source system. When set, everything that talks to the OLTP
  uses it (``FINHOUSE_OLTP_EXTRACT_DSN`` may name a separate read-only account for extracts).
* ``FINHOUSE_WAREHOUSE_DSN`` - the warehouse (``postgresql://`` or ``snowflake://``);
  ``FINHOUSE_TRANSFORMER_DSN`` / ``FINHOUSE_REPORTER_DSN`` the accounts of those roles.

When they are not set, the embedded cluster started by ``finhouse db up`` is used, each
purpose through its own least-privilege role (the OLTP owner for the stand-in app, the
read-only extract role for ingestion, ``loader``/``transformer``/``reporter`` in the
warehouse).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from finhouse import settings

OltpPurpose = Literal["app", "extract", "admin"]
WarehouseRole = Literal["loader", "transformer", "reporter", "admin"]

#: airflow/plugins/finhouse/config.py -> the repository root
REPO_ROOT = Path(__file__).resolve().parents[3]


def state_dir() -> Path:
    """The ignored folder holding the embedded cluster, AIRFLOW_HOME and stamps."""
    return settings.STATE_DIR.read().resolve()


def cluster_dir() -> Path:
    return state_dir() / "pg"


def port_from_env(name: str, default: int) -> int:
    """A TCP port from the environment variable ``name``, validated (1024-65535)."""
    return settings.port_setting(name, default)


def cluster_port() -> int:
    return settings.PG_PORT.read()


def external_oltp_dsn() -> str | None:
    return settings.OLTP_DSN.read()


def external_warehouse_dsn() -> str | None:
    return settings.WAREHOUSE_DSN.read()


def uses_external_servers() -> bool:
    return external_oltp_dsn() is not None or external_warehouse_dsn() is not None


@dataclass(frozen=True)
class OltpRoles:
    """Role names of the embedded cluster (also created on CI and in docker-compose)."""

    admin: str = "finhouse"
    app: str = "oltp_app"
    extract: str = "oltp_extract"


ROLES = OltpRoles()
WAREHOUSE_ROLES: tuple[str, ...] = ("loader", "transformer", "reporter")


def oltp_dsn(purpose: OltpPurpose = "app") -> str:
    """DSN of the OLTP for a purpose: ``app`` (the stand-in writes), ``extract`` (read-only)."""
    external = external_oltp_dsn()
    if external:
        if purpose == "extract":
            return settings.OLTP_EXTRACT_DSN.read() or external
        return external
    from finhouse.embedded.cluster import default_cluster  # noqa: PLC0415 - avoid a cycle

    role = {"app": ROLES.app, "extract": ROLES.extract, "admin": ROLES.admin}[purpose]
    return default_cluster().dsn("oltp", role)


def warehouse_dsn(role: WarehouseRole = "loader") -> str:
    """DSN of the warehouse as one of the role-matrix roles (architecture.md §6).

    FINHOUSE_TRANSFORMER_DSN / FINHOUSE_REPORTER_DSN, when set, name those roles' accounts;
    otherwise FINHOUSE_WAREHOUSE_DSN serves every purpose, or the embedded cluster a role
    each."""
    per_role = {"transformer": settings.TRANSFORMER_DSN, "reporter": settings.REPORTER_DSN}
    if role in per_role and (own := per_role[role].read()):
        return own
    external = external_warehouse_dsn()
    if external:
        return external
    from finhouse.embedded.cluster import default_cluster  # noqa: PLC0415 - avoid a cycle

    return default_cluster().dsn("warehouse", ROLES.admin if role == "admin" else role)


def warehouse_asset_base() -> str:
    """``postgres://host:port/db`` (or ``snowflake://account/db``) of the warehouse, for Asset
    URIs. Read from the environment only, so DAG files stay free of I/O at parse time:
    ``AIRFLOW_CONN_FINHOUSE_WAREHOUSE`` (URI form), else ``FINHOUSE_WAREHOUSE_DSN`` (a URL or
    libpq keyword/value string), else the embedded cluster's address."""
    airflow_conn = os.environ.get("AIRFLOW_CONN_FINHOUSE_WAREHOUSE", "")
    dsn = airflow_conn if "://" in airflow_conn else settings.WAREHOUSE_DSN.read()
    if not dsn:
        return f"postgres://127.0.0.1:{cluster_port()}/warehouse"
    if "://" in dsn:
        parts = urlsplit(dsn)
        if parts.scheme == "snowflake":
            account = parts.hostname or "account"
            database = parts.path.strip("/").split("/")[0] or "FINHOUSE"
            return f"snowflake://{account}/{database.upper()}"
        host, port = parts.hostname or "localhost", parts.port or 5432
        database = parts.path.strip("/").split("/")[0] or "warehouse"
    else:
        from finhouse.connections import postgres_fields  # noqa: PLC0415 - psycopg: lazily

        fields = postgres_fields(dsn)
        host = (fields.get("host") or fields.get("hostaddr") or "localhost").split(",")[0]
        port = int((fields.get("port") or "5432").split(",")[0])
        database = fields.get("dbname") or "warehouse"
    return f"postgres://{host}:{port}/{database}"


def raw_asset_uri(table: str) -> str:
    base = warehouse_asset_base()
    schema = "RAW" if base.startswith("snowflake://") else "raw"
    name = table.upper() if base.startswith("snowflake://") else table
    return f"{base}/{schema}/{name}"
