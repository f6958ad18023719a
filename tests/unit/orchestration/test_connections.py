"""Airflow tasks take their DSNs from Airflow connections first, then from FINHOUSE_*_DSN;
with neither, one line naming both - never a local server in their place. A PostgreSQL
connection becomes the DSN libpq reads back field for field (any password, IPv6 hosts,
socket directories), with every libpq extra kept and any other refused or ignored in one
line that shows no secret."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import Connection
from psycopg.conninfo import conninfo_to_dict

from finhouse.connections import redact
from finhouse.errors import ConfigError
from finhouse.orchestration import connections

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def nothing_configured(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith(("FINHOUSE_", "AIRFLOW_CONN_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))


def test_without_connection_or_dsn_a_task_gets_one_line_naming_both() -> None:
    with pytest.raises(ConfigError) as oltp:
        connections.oltp_extract_dsn()
    assert str(oltp.value) == (
        "no connection to the OLTP: define the Airflow connection finhouse_oltp "
        "or set FINHOUSE_OLTP_DSN"
    )
    with pytest.raises(ConfigError) as warehouse:
        connections.warehouse_loader_dsn()
    assert str(warehouse.value) == (
        "no connection to the warehouse: define the Airflow connection finhouse_warehouse "
        "or set FINHOUSE_WAREHOUSE_DSN"
    )


def test_the_environment_settings_serve_when_no_connection_is_defined(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FINHOUSE_OLTP_DSN", "postgresql://app:pw@oltp.example/oltp")
    monkeypatch.setenv("FINHOUSE_OLTP_EXTRACT_DSN", "postgresql://extract:pw@oltp.example/oltp")
    monkeypatch.setenv("FINHOUSE_WAREHOUSE_DSN", "postgresql://loader:pw@wh.example/warehouse")
    assert connections.oltp_extract_dsn() == "postgresql://extract:pw@oltp.example/oltp"
    assert connections.warehouse_loader_dsn() == "postgresql://loader:pw@wh.example/warehouse"


def test_an_airflow_connection_comes_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINHOUSE_OLTP_DSN", "postgresql://app:pw@oltp.example/oltp")
    monkeypatch.setenv(
        "AIRFLOW_CONN_FINHOUSE_OLTP",
        "postgres://extract:p%40w@db.example:5433/oltp?sslmode=require",
    )
    assert conninfo_to_dict(connections.oltp_extract_dsn()) == {
        "host": "db.example",
        "port": "5433",
        "dbname": "oltp",
        "user": "extract",
        "password": "p@w",
        "sslmode": "require",
    }


# ------------------------------------------------------------------ connection -> DSN
#: a password with every character a URL or a keyword/value string treats specially
AWKWARD = "p@ss:w/rd ?#%&=+ 'q' \\ é\t;"


def _connection(**fields: Any) -> Connection:
    extra = fields.pop("extra", None)
    return Connection(
        conn_id=fields.pop("conn_id", "finhouse_oltp"),
        conn_type=fields.pop("conn_type", "postgres"),
        extra=json.dumps(extra) if extra is not None else None,
        **fields,
    )


def _read(conn: Connection) -> dict[str, Any]:
    """The DSN as libpq reads it."""
    return dict(conninfo_to_dict(connections.dsn_of_connection(conn)))


def test_the_fields_become_libpq_parameters_whatever_characters_they_hold() -> None:
    conn = _connection(
        host="db.example", port=6432, schema="o ltp", login="ex'tract", password=AWKWARD
    )
    assert _read(conn) == {
        "host": "db.example",
        "port": "6432",
        "dbname": "o ltp",
        "user": "ex'tract",
        "password": AWKWARD,
    }


@pytest.mark.parametrize(
    ("host", "port"),
    [
        ("::1", 5432),
        ("2001:db8::10", 6543),
        ("fe80::1%eth0", None),
        ("/var/run/postgresql", None),  # a socket directory
        ("db1.example,db2.example", None),  # libpq tries each
        ("127.0.0.1", 1),
    ],
)
def test_hosts_and_ports_are_passed_as_libpq_reads_them(host: str, port: int | None) -> None:
    fields = _read(_connection(host=host, port=port, schema="oltp", login="u", password=AWKWARD))
    assert fields["host"] == host
    assert fields.get("port") == (str(port) if port else None)


def test_ipv6_hosts_in_an_airflow_connection_uri(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_FINHOUSE_OLTP",
        "postgres://extract:p%40w%3Ax@[2001:db8::1]:6543/oltp"
        "?sslmode=verify-full&sslrootcert=%2Fetc%2Fssl%2Fca.pem",
    )
    assert conninfo_to_dict(connections.oltp_extract_dsn()) == {
        "host": "2001:db8::1",
        "port": "6543",
        "dbname": "oltp",
        "user": "extract",
        "password": "p@w:x",
        "sslmode": "verify-full",
        "sslrootcert": "/etc/ssl/ca.pem",
    }


def test_empty_fields_are_left_to_libpq_defaults() -> None:
    assert _read(_connection(host="h", schema="", login=None, password="")) == {"host": "h"}


def test_every_extra_libpq_knows_is_kept() -> None:
    extra = {
        "sslmode": "verify-full",
        "sslrootcert": "/etc/ssl/ca.pem",
        "sslcert": "/etc/ssl/client.crt",
        "sslkey": "/etc/ssl/client.key",
        "sslcrl": "/etc/ssl/crl.pem",
        "options": "-c search_path=app,public -c statement_timeout=5min",
        "target_session_attrs": "read-write",
        "application_name": "finhouse it's",
        "connect_timeout": 7,
        "keepalives": True,
        "keepalives_idle": 30,
        "channel_binding": "require",
        "hostaddr": "10.0.0.5",
        "sslpassword": AWKWARD,
    }
    fields = _read(_connection(host="db.example", schema="oltp", extra=extra))
    expected = {k: str(v) for k, v in extra.items()} | {"keepalives": "1"}
    assert fields == {"host": "db.example", "dbname": "oltp", **expected}


def test_blank_extras_are_dropped() -> None:
    fields = _read(_connection(host="h", extra={"sslmode": "", "sslrootcert": None}))
    assert fields == {"host": "h"}


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ({"ssl_mode": "require"}, "ssl_mode"),  # a typo must not mean "no TLS"
        ({"iam": True, "aws_conn_id": "aws"}, "aws_conn_id, iam"),
        ({"sslmode": "require", "sslMode": "disable"}, "sslMode"),
    ],
)
def test_extras_libpq_does_not_know_are_refused_in_one_line(
    extra: dict[str, Any], named: str
) -> None:
    conn = _connection(host="h", login="u", password=AWKWARD, extra=extra)
    with pytest.raises(ConfigError) as refused:
        connections.dsn_of_connection(conn)
    text = str(refused.value)
    assert text == (
        f"the Airflow connection finhouse_oltp has extras libpq does not know: {named} "
        "(finhouse connects with libpq: its parameters only, e.g. sslmode, sslrootcert, "
        "options, target_session_attrs)"
    )
    assert "\n" not in text


def test_the_connections_own_fields_are_refused_as_extras() -> None:
    conn = _connection(host="h", extra={"password": AWKWARD, "dbname": "other"})
    with pytest.raises(ConfigError) as refused:
        connections.dsn_of_connection(conn)
    assert str(refused.value) == (
        "the Airflow connection finhouse_oltp gives dbname, password as extras: set them in "
        "the connection's fields (host, port, schema, login, password)"
    )
    assert AWKWARD not in str(refused.value)


def test_a_tls_key_log_is_refused() -> None:
    conn = _connection(host="h", extra={"sslkeylogfile": "/tmp/keys"})  # noqa: S108
    with pytest.raises(ConfigError, match="sslkeylogfile, which finhouse refuses: it writes"):
        connections.dsn_of_connection(conn)


def test_a_structured_extra_is_refused() -> None:
    conn = _connection(host="h", extra={"options": {"search_path": "x"}})
    with pytest.raises(ConfigError, match="extra options that is not a single value"):
        connections.dsn_of_connection(conn)


def test_the_postgres_hooks_own_extras_are_ignored_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    conn = _connection(
        host="h", extra={"cursor": "dictcursor", "sqlalchemy_scheme": "x", "sslmode": "require"}
    )
    with caplog.at_level(logging.WARNING, logger=connections.__name__):
        assert _read(conn) == {"host": "h", "sslmode": "require"}
    assert [r.getMessage() for r in caplog.records] == [
        "the Airflow connection finhouse_oltp: extras cursor, sqlalchemy_scheme are the "
        "Postgres hook's own; finhouse ignores them"
    ]


def test_the_dsn_shown_in_messages_hides_the_password() -> None:
    conn = _connection(
        host="db.example", login="u", password=AWKWARD, extra={"sslpassword": "key-" + AWKWARD}
    )
    dsn = connections.dsn_of_connection(conn)
    shown = redact(dsn)
    for secret in (AWKWARD, "p@ss", "rd ?#"):
        assert secret not in shown
    assert "host=db.example" in shown
    assert "user=u" in shown


def test_a_snowflake_connection_keeps_its_uri() -> None:
    conn = _connection(
        conn_id="finhouse_warehouse",
        conn_type="snowflake",
        host="acct",
        login="LOADER",
        password="pw-1",  # noqa: S106 - a made-up value
        schema="RAW",
        extra={"account": "acct", "warehouse": "LOADING"},
    )
    dsn = connections.dsn_of_connection(conn)
    assert dsn.startswith("snowflake://LOADER:pw-1@acct/RAW")
    assert "warehouse=LOADING" in dsn
