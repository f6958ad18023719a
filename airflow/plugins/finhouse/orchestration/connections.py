"""DSNs for the pipeline from Airflow connections (``AIRFLOW_CONN_*`` works), falling back
to finhouse's own environment configuration (``FINHOUSE_OLTP_DSN``…, validated by
:mod:`finhouse.settings`) when a connection is not defined. When neither is there, the task
fails at once with one line naming both (a ``ConfigError``, which no retry fixes), never
reaching for a local server."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote, urlencode

from finhouse import config, settings
from finhouse.errors import ConfigError

log = logging.getLogger(__name__)

OLTP_CONN_ID = "finhouse_oltp"
WAREHOUSE_CONN_ID = "finhouse_warehouse"


def _from_airflow(conn_id: str) -> str | None:
    from airflow.sdk import BaseHook  # noqa: PLC0415 - only inside tasks
    from airflow.sdk.exceptions import AirflowRuntimeError  # noqa: PLC0415

    try:
        conn = BaseHook.get_connection(conn_id)
    except (AirflowRuntimeError, KeyError, LookupError):
        return None
    except Exception as exc:
        if "isn't defined" in str(exc) or "not found" in str(exc).lower():
            return None
        raise
    if conn.conn_type == "snowflake":
        return conn.get_uri()
    user = quote(conn.login or "", safe="")
    password = quote(conn.password or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    # percent-encoded, a host may be a socket directory (/var/run/postgresql)
    host = quote(conn.host or "localhost", safe="")
    database = quote(conn.schema or "", safe="")
    options = _libpq_options(conn.extra_dejson)
    query = f"?{urlencode(options)}" if options else ""
    return f"postgresql://{auth}{host}:{conn.port or 5432}/{database}{query}"


def _libpq_options(extra: dict[str, Any]) -> dict[str, str]:
    """The connection's extras libpq knows (``sslmode``, ``sslrootcert``…: a URI's query
    lands there), without the provider's own (``cursor``, ``iam``…), which libpq refuses."""
    from psycopg import pq  # noqa: PLC0415

    known = {o.keyword.decode() for o in pq.Conninfo.get_defaults()}
    return {k: str(v) for k, v in extra.items() if k in known and v not in (None, "")}


def oltp_extract_dsn() -> str:
    dsn = _from_airflow(OLTP_CONN_ID) or config.configured_oltp_dsn("extract")
    if dsn is None:
        raise ConfigError(
            f"no connection to the OLTP: define the Airflow connection {OLTP_CONN_ID} "
            f"or set {settings.variable_of('oltp_dsn')}"
        )
    return dsn


def warehouse_loader_dsn() -> str:
    dsn = _from_airflow(WAREHOUSE_CONN_ID) or config.configured_warehouse_dsn("loader")
    if dsn is None:
        raise ConfigError(
            f"no connection to the warehouse: define the Airflow connection "
            f"{WAREHOUSE_CONN_ID} or set {settings.variable_of('warehouse_dsn')}"
        )
    return dsn
