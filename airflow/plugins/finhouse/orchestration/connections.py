"""DSNs for the pipeline from Airflow connections (``AIRFLOW_CONN_*`` works), falling back
to finhouse's own environment configuration (``FINHOUSE_OLTP_DSN``…, validated by
:mod:`finhouse.settings`) when a connection is not defined. When neither is there, the task
fails at once with one line naming both (a ``ConfigError``, which no retry fixes), never
reaching for a local server.

A PostgreSQL connection becomes a libpq keyword/value string built by psycopg
(:func:`psycopg.conninfo.make_conninfo`, which quotes every value: passwords with any
character, IPv6 hosts, socket directories, several hosts). Its fields give ``host``, ``port``,
``dbname`` (the connection's *schema*), ``user`` and ``password``; a field left empty is left
to libpq's defaults (``PGHOST``…, as Airflow's own ``PostgresHook``). Its extras:

* every parameter libpq knows is kept as given: ``sslmode``, ``sslrootcert``, ``sslcert``,
  ``sslkey``, ``sslcrl``, ``options`` (``-c search_path=…``), ``target_session_attrs``,
  ``application_name``, ``keepalives*``, ``connect_timeout``, ``hostaddr``,
  ``channel_binding``… (:func:`libpq_parameters`);
* the Postgres provider's own extras that only shape its hook (``cursor``,
  ``sqlalchemy_scheme``, ``sqlalchemy_query``, ``enable_log_db_messages``) are ignored, with
  one warning line naming them;
* anything else is refused with one line naming the connection and the extras (never their
  values): a misspelt ``ssl_mode`` silently dropped would connect without TLS; ``iam``,
  ``redshift``, ``aws_conn_id``, ``azure_conn_id``… ask for token logins finhouse does not
  make; ``host``, ``port``, ``dbname``, ``user`` and ``password`` belong in the connection's
  fields; ``sslkeylogfile`` would write the TLS session keys to a file.

Messages and logs never show a password: errors name the connection id and the extras' names;
a connection that cannot be reached is reported by :func:`finhouse.connections.connect`, which
shows the DSN redacted.
"""

from __future__ import annotations

import logging
from typing import Any

from finhouse import config, settings
from finhouse.errors import ConfigError

log = logging.getLogger(__name__)

OLTP_CONN_ID = "finhouse_oltp"
WAREHOUSE_CONN_ID = "finhouse_warehouse"

#: the connection's own fields: given as extras too, which would win is a guess
FIELD_PARAMETERS = frozenset({"host", "port", "dbname", "user", "password"})
#: extras of the Postgres provider that shape its hook only, not how a session is opened
IGNORED_EXTRAS = frozenset(
    {"cursor", "sqlalchemy_scheme", "sqlalchemy_query", "enable_log_db_messages"}
)
#: libpq parameters refused, and why
REFUSED_PARAMETERS = {
    "sslkeylogfile": "it writes the TLS session keys to a file",
}


def libpq_parameters() -> frozenset[str]:
    """Every connection parameter the libpq psycopg runs on knows."""
    from psycopg import pq  # noqa: PLC0415

    return frozenset(o.keyword.decode() for o in pq.Conninfo.get_defaults())


def _value(value: Any) -> str:
    if isinstance(value, bool):  # JSON true/false: libpq's switches take 1/0
        return "1" if value else "0"
    return str(value)


def _libpq_extras(conn_id: str, extra: dict[str, Any]) -> dict[str, str]:
    """The extras libpq reads, checked (see the module doc)."""
    known = libpq_parameters()
    kept: dict[str, str] = {}
    ignored, unknown, fields, refused = [], [], [], []
    for key, value in extra.items():
        if key in IGNORED_EXTRAS:
            ignored.append(key)
        elif key in FIELD_PARAMETERS:
            fields.append(key)
        elif key in REFUSED_PARAMETERS:
            refused.append(key)
        elif key not in known:
            unknown.append(key)
        elif isinstance(value, dict | list):
            raise ConfigError(
                f"the Airflow connection {conn_id} has an extra {key} that is not a single "
                "value: libpq parameters are text"
            )
        elif value is not None and value != "":
            kept[key] = _value(value)
    if unknown:
        raise ConfigError(
            f"the Airflow connection {conn_id} has extras libpq does not know: "
            f"{', '.join(sorted(unknown))} (finhouse connects with libpq: its parameters "
            "only, e.g. sslmode, sslrootcert, options, target_session_attrs)"
        )
    if fields:
        raise ConfigError(
            f"the Airflow connection {conn_id} gives {', '.join(sorted(fields))} as extras: "
            "set them in the connection's fields (host, port, schema, login, password)"
        )
    if refused:
        raise ConfigError(
            f"the Airflow connection {conn_id} sets "
            + "; ".join(
                f"{key}, which finhouse refuses: {REFUSED_PARAMETERS[key]}" for key in refused
            )
        )
    if ignored:
        log.warning(
            "the Airflow connection %s: extras %s are the Postgres hook's own; finhouse "
            "ignores them",
            conn_id,
            ", ".join(sorted(ignored)),
        )
    return kept


def dsn_of_connection(conn: Any) -> str:
    """An Airflow connection as a DSN: a Snowflake connection's URI (the Snowflake target
    reads it, extras included); a PostgreSQL one as a libpq keyword/value string (module
    doc)."""
    if conn.conn_type == "snowflake":
        return str(conn.get_uri())
    from psycopg.conninfo import make_conninfo  # noqa: PLC0415

    fields = {
        "host": conn.host,
        "port": conn.port,
        "dbname": conn.schema,
        "user": conn.login,
        "password": conn.password,
    }
    given = {key: _value(value) for key, value in fields.items() if value not in (None, "")}
    return make_conninfo("", **given, **_libpq_extras(conn.conn_id, conn.extra_dejson))


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
    return dsn_of_connection(conn)


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


#: the connection the export DAG reads the marts through (a role that reads the marts: the
#: reporter; without it, the dbt DAG's own connection)
EXPORT_CONN_ID = "finhouse_export"
DBT_CONN_ID = "finhouse_dbt"


def export_reader_dsn() -> str:
    dsn = (
        _from_airflow(EXPORT_CONN_ID)
        or _from_airflow(DBT_CONN_ID)
        or config.configured_warehouse_dsn("reporter")
    )
    if dsn is None:
        raise ConfigError(
            f"no connection to read the marts: define the Airflow connection {EXPORT_CONN_ID} "
            f"(or {DBT_CONN_ID}), or set {settings.variable_of('warehouse_dsn')}"
        )
    return dsn


def transformer_dsn() -> str:
    """The warehouse as the transformer role (the dbt DAG's connection): what the month-end
    close writes with (it owns the ``closes`` schema)."""
    dsn = _from_airflow(DBT_CONN_ID) or config.configured_warehouse_dsn("transformer")
    if dsn is None:
        raise ConfigError(
            f"no connection to the warehouse as the transformer: define the Airflow connection "
            f"{DBT_CONN_ID}, or set {settings.variable_of('warehouse_dsn')}"
        )
    return dsn
