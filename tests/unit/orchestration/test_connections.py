"""Airflow tasks take their DSNs from Airflow connections first, then from FINHOUSE_*_DSN;
with neither, one line naming both - never a local server in their place."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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
    assert connections.oltp_extract_dsn() == (
        "postgresql://extract:p%40w@db.example:5433/oltp?sslmode=require"
    )
