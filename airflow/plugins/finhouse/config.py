"""One place for finhouse's configuration: where state lives and how to reach the databases.

Connections come from the environment (contracts.md §3):

* ``FINHOUSE_OLTP_DSN`` - the source system. When set, everything that talks to the OLTP
  uses it (``FINHOUSE_OLTP_EXTRACT_DSN`` may name a separate read-only account for extracts).
* ``FINHOUSE_WAREHOUSE_DSN`` - the warehouse (``postgresql://`` or ``snowflake://``).

When they are not set, the embedded cluster started by ``finhouse db up`` is used, each
purpose through its own least-privilege role (the OLTP owner for the stand-in app, the
read-only extract role for ingestion, ``loader``/``transformer``/``reporter`` in the
warehouse).
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from finhouse.errors import ConfigError

OltpPurpose = Literal["app", "extract", "admin"]
WarehouseRole = Literal["loader", "transformer", "reporter", "admin"]

#: airflow/plugins/finhouse/config.py -> the repository root
REPO_ROOT = Path(__file__).resolve().parents[3]


def state_dir() -> Path:
    """The ignored folder holding the embedded cluster, AIRFLOW_HOME and stamps."""
    return Path(os.environ.get("FINHOUSE_STATE_DIR", str(REPO_ROOT / ".finhouse"))).resolve()


def cluster_dir() -> Path:
    return state_dir() / "pg"


def port_from_env(name: str, default: int) -> int:
    """A TCP port from the environment variable ``name``, validated (1024-65535)."""
    raw = os.environ.get(name, str(default))
    try:
        port = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a port number, got {raw!r}") from None
    if not 1024 <= port <= 65535:
        raise ConfigError(f"{name} must be between 1024 and 65535, got {port}")
    return port


def cluster_port() -> int:
    return port_from_env("FINHOUSE_PG_PORT", 54329)


def _validated(name: str, value: str, schemes: tuple[str, ...]) -> str:
    scheme = urlsplit(value).scheme
    if scheme not in schemes:
        raise ConfigError(
            f"{name} must be a URL starting with {' or '.join(s + '://' for s in schemes)}"
            f" (got scheme {scheme or 'none'!r})"
        )
    return value


def external_oltp_dsn() -> str | None:
    value = os.environ.get("FINHOUSE_OLTP_DSN")
    return _validated("FINHOUSE_OLTP_DSN", value, ("postgresql", "postgres")) if value else None


def external_warehouse_dsn() -> str | None:
    value = os.environ.get("FINHOUSE_WAREHOUSE_DSN")
    if not value:
        return None
    return _validated("FINHOUSE_WAREHOUSE_DSN", value, ("postgresql", "postgres", "snowflake"))


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
            return os.environ.get("FINHOUSE_OLTP_EXTRACT_DSN") or external
        return external
    from finhouse.embedded.cluster import default_cluster  # noqa: PLC0415 - avoid a cycle

    role = {"app": ROLES.app, "extract": ROLES.extract, "admin": ROLES.admin}[purpose]
    return default_cluster().dsn("oltp", role)


def warehouse_dsn(role: WarehouseRole = "loader") -> str:
    """DSN of the warehouse as one of the role-matrix roles (architecture.md §6).

    With FINHOUSE_WAREHOUSE_DSN set, FINHOUSE_TRANSFORMER_DSN / FINHOUSE_REPORTER_DSN may name
    the other roles' accounts; otherwise that one DSN serves every purpose."""
    external = external_warehouse_dsn()
    if external:
        per_role = {"transformer": "FINHOUSE_TRANSFORMER_DSN", "reporter": "FINHOUSE_REPORTER_DSN"}
        return os.environ.get(per_role.get(role, ""), "") or external
    from finhouse.embedded.cluster import default_cluster  # noqa: PLC0415 - avoid a cycle

    return default_cluster().dsn("warehouse", ROLES.admin if role == "admin" else role)


def _seconds(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, got {raw!r}") from None
    if value < 0:
        raise ConfigError(f"{name} must not be negative, got {raw!r}")
    return value


def extract_margins() -> tuple[dt.timedelta, dt.timedelta]:
    """(lag, skew) of the extract window's upper bound (see finhouse.extract.postgres).

    ``FINHOUSE_EXTRACT_LAG_SECONDS`` (default 30) must exceed the worst app-to-database clock
    skew plus statement latency; ``FINHOUSE_EXTRACT_SKEW_SECONDS`` (default 5) is the worst
    skew of the application servers' clocks behind the database's.
    """
    return (
        dt.timedelta(seconds=_seconds("FINHOUSE_EXTRACT_LAG_SECONDS", 30.0)),
        dt.timedelta(seconds=_seconds("FINHOUSE_EXTRACT_SKEW_SECONDS", 5.0)),
    )


def warehouse_asset_base() -> str:
    """``postgres://host:port/db`` (or ``snowflake://account/db``) of the warehouse, for Asset
    URIs. Read from the environment only, so DAG files stay free of I/O at parse time:
    ``AIRFLOW_CONN_FINHOUSE_WAREHOUSE`` (URI form), else ``FINHOUSE_WAREHOUSE_DSN``, else the
    embedded cluster's address."""
    from urllib.parse import urlsplit  # noqa: PLC0415

    for name in ("AIRFLOW_CONN_FINHOUSE_WAREHOUSE", "FINHOUSE_WAREHOUSE_DSN"):
        value = os.environ.get(name, "")
        if "://" in value:
            parts = urlsplit(value)
            if parts.scheme == "snowflake":
                account = parts.hostname or "account"
                database = parts.path.strip("/").split("/")[0] or "FINHOUSE"
                return f"snowflake://{account}/{database.upper()}"
            database = parts.path.strip("/").split("/")[0] or "warehouse"
            return f"postgres://{parts.hostname or 'localhost'}:{parts.port or 5432}/{database}"
    return f"postgres://127.0.0.1:{cluster_port()}/warehouse"


def raw_asset_uri(table: str) -> str:
    base = warehouse_asset_base()
    schema = "RAW" if base.startswith("snowflake://") else "raw"
    name = table.upper() if base.startswith("snowflake://") else table
    return f"{base}/{schema}/{name}"
