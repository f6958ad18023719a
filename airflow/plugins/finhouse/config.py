"""The pipeline's configuration, as read from the settings (:mod:`finhouse.settings`): how to
reach the databases, the Asset URIs of RAW's tables, where the dbt project is and the
environment of its tasks.

Connections come from the environment (docs/interfaces.md §4), validated by the settings (URL or
libpq keyword/value DSNs; a bad one is one line naming it):

* ``FINHOUSE_OLTP_DSN`` - the source system (``FINHOUSE_OLTP_EXTRACT_DSN`` may name a separate
  read-only account for extracts).
* ``FINHOUSE_WAREHOUSE_DSN`` - the warehouse (``postgresql://`` or ``snowflake://``);
  ``FINHOUSE_TRANSFORMER_DSN`` / ``FINHOUSE_REPORTER_DSN`` the accounts of those roles.

Nothing here falls back to a local server: a DSN that is not set is None
(``configured_*``) or one line naming the setting (``oltp_dsn``, ``warehouse_dsn``). The CLI
supplies the embedded cluster's DSNs itself when none is set (``finhouse_local.dsns``); Airflow
tasks read their Airflow connections first (:mod:`finhouse.orchestration.connections`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from finhouse import settings
from finhouse.errors import ConfigError

OltpPurpose = Literal["app", "extract"]
WarehouseRole = Literal["loader", "transformer", "reporter"]
#: the Asset URIs' warehouse when neither the warehouse connection nor FINHOUSE_WAREHOUSE_DSN
#: is in the environment (e.g. connections kept in Airflow's metadata database, which DAG
#: files do not read while parsing): a name shared by the ingestion and dbt DAGs, naming no
#: server
UNCONFIGURED_WAREHOUSE = "postgres://unconfigured-warehouse:5432/warehouse"


def configured_oltp_dsn(purpose: OltpPurpose = "app") -> str | None:
    """The OLTP for ``purpose`` as configured: ``FINHOUSE_OLTP_DSN``, for extracts
    ``FINHOUSE_OLTP_EXTRACT_DSN`` when set beside it; None when ``FINHOUSE_OLTP_DSN`` is not
    set (an extract DSN alone is ignored, and :func:`settings.validate_all` warns about it)."""
    configured = settings.load()
    if configured.oltp_dsn and purpose == "extract":
        return configured.oltp_extract_dsn or configured.oltp_dsn
    return configured.oltp_dsn


#: the settings naming a warehouse role's own account (the others use FINHOUSE_WAREHOUSE_DSN)
_ROLE_DSN = {"transformer": "transformer_dsn", "reporter": "reporter_dsn"}


def configured_warehouse_dsn(role: WarehouseRole = "loader") -> str | None:
    """The warehouse as one of the role-matrix roles (docs/architecture.md, principle 6) as
    configured: ``FINHOUSE_TRANSFORMER_DSN`` / ``FINHOUSE_REPORTER_DSN`` for those roles when
    set, else ``FINHOUSE_WAREHOUSE_DSN``; None when neither is set."""
    configured = settings.load()
    own: str | None = getattr(configured, _ROLE_DSN[role]) if role in _ROLE_DSN else None
    return own or configured.warehouse_dsn


def oltp_dsn(purpose: OltpPurpose = "app") -> str:
    """:func:`configured_oltp_dsn`, or a ``ConfigError`` naming the setting to set."""
    dsn = configured_oltp_dsn(purpose)
    if dsn is None:
        raise ConfigError(
            f"{settings.variable_of('oltp_dsn')} is not set: the OLTP's connection string"
        )
    return dsn


def warehouse_dsn(role: WarehouseRole = "loader") -> str:
    """:func:`configured_warehouse_dsn`, or a ``ConfigError`` naming the setting to set."""
    dsn = configured_warehouse_dsn(role)
    if dsn is None:
        names = [settings.variable_of(_ROLE_DSN[role])] if role in _ROLE_DSN else []
        raise ConfigError(
            f"{' or '.join([*names, settings.variable_of('warehouse_dsn')])} is not set: "
            f"the warehouse's connection string (as {role})"
        )
    return dsn


# ------------------------------------------------------------------------------ Assets
def warehouse_asset_base() -> str:
    """``postgres://host:port/db`` (or ``snowflake://account/db``) of the warehouse, for Asset
    URIs. Read from the environment only, so DAG files stay free of I/O at parse time:
    ``AIRFLOW_CONN_FINHOUSE_WAREHOUSE`` (URI form), else ``FINHOUSE_WAREHOUSE_DSN`` (a URL or
    libpq keyword/value string), else :data:`UNCONFIGURED_WAREHOUSE`."""
    airflow_conn = os.environ.get("AIRFLOW_CONN_FINHOUSE_WAREHOUSE", "")
    dsn = airflow_conn if "://" in airflow_conn else settings.load().warehouse_dsn
    if not dsn:
        return UNCONFIGURED_WAREHOUSE
    return database_location(dsn, "warehouse")


def database_location(dsn: str, default_database: str) -> str:
    """Where a DSN (a URL or libpq keyword/value string) points, as Asset URIs and
    OpenLineage name databases: ``postgres://host:port/database`` or
    ``snowflake://account/DATABASE``; no user, no secret."""
    if "://" in dsn:
        parts = urlsplit(dsn)
        if parts.scheme == "snowflake":
            account = parts.hostname or "account"
            database = parts.path.strip("/").split("/")[0] or "FINHOUSE"
            return f"snowflake://{account}/{database.upper()}"
        host, port = parts.hostname or "localhost", parts.port or 5432
        database = parts.path.strip("/").split("/")[0] or default_database
    else:
        from finhouse.connections import postgres_fields  # noqa: PLC0415 - psycopg: lazily

        fields = postgres_fields(dsn)
        host = (fields.get("host") or fields.get("hostaddr") or "localhost").split(",")[0]
        port = int((fields.get("port") or "5432").split(",")[0])
        database = fields.get("dbname") or default_database
    return f"postgres://{host}:{port}/{database}"


def raw_asset_uri(table: str) -> str:
    base = warehouse_asset_base()
    schema = "RAW" if base.startswith("snowflake://") else "raw"
    name = table.upper() if base.startswith("snowflake://") else table
    return f"{base}/{schema}/{name}"


# ------------------------------------------------------------------------------ dbt
def dbt_project_dir() -> Path:
    """``FINHOUSE_DBT_PROJECT_DIR`` (the Docker images copy the project), else the repo's."""
    return settings.load().dbt_project_dir


def dbt_executable_path() -> Path:
    """Where dbt is (``FINHOUSE_DBT_EXECUTABLE``), not checked to exist: DAG parsing does no
    I/O; what runs dbt checks first."""
    return settings.load().dbt_executable


def dbt_task_environment() -> dict[str, str]:
    """What a dbt task run by Cosmos needs beyond its profile: no telemetry, the role the
    marts are granted to, and cautious indirect selection for every command (the watcher's
    producer builds a selection without it, and would run the tests of a selected model that
    also reference one outside the selection). dbt unit tests are left out: their inputs are
    fixed fixtures, so they prove the code, not the data; they run in development and CI
    (`make test`, `finhouse dbt build`), as dbt advises, not on every scheduled run. The
    file log (target/logs/dbt.log) keeps info and above: at dbt's default, debug, it also
    logs every statement of every node, from every thread through one lock, which cost a
    scheduled build seconds (`make bench`)."""
    return {
        "DBT_EXCLUDE_RESOURCE_TYPES": "unit_test",
        "DBT_INDIRECT_SELECTION": "cautious",
        "DBT_LOG_LEVEL_FILE": "info",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
        "DO_NOT_TRACK": "1",
        "FINHOUSE_REPORTER_ROLE": settings.load().reporter_role,
    }
