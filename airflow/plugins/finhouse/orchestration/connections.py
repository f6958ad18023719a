"""DSNs for the pipeline from Airflow connections (``AIRFLOW_CONN_*`` works), falling back
to finhouse's own environment configuration when a connection is not defined."""

from __future__ import annotations

import logging
from urllib.parse import quote

from finhouse import config

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
    return f"postgresql://{auth}{conn.host or 'localhost'}:{conn.port or 5432}/{conn.schema or ''}"


def oltp_extract_dsn() -> str:
    return _from_airflow(OLTP_CONN_ID) or config.oltp_dsn("extract")


def warehouse_loader_dsn() -> str:
    return _from_airflow(WAREHOUSE_CONN_ID) or config.warehouse_dsn("loader")
