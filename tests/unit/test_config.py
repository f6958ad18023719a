"""The pipeline's configuration reads settings only: DSNs as configured or one line naming the
setting (never the embedded cluster), and the Asset URIs of RAW's tables."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from finhouse import config
from finhouse.errors import ConfigError

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def nothing_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("FINHOUSE_") or name == "AIRFLOW_CONN_FINHOUSE_WAREHOUSE":
            monkeypatch.delenv(name)


def test_unset_dsns_are_none_or_one_line_naming_the_setting() -> None:
    assert config.configured_oltp_dsn() is None
    assert config.configured_warehouse_dsn("reporter") is None
    with pytest.raises(ConfigError, match=r"^FINHOUSE_OLTP_DSN is not set"):
        config.oltp_dsn("extract")
    with pytest.raises(ConfigError, match=r"^FINHOUSE_WAREHOUSE_DSN is not set"):
        config.warehouse_dsn("loader")
    with pytest.raises(
        ConfigError, match=r"^FINHOUSE_TRANSFORMER_DSN or FINHOUSE_WAREHOUSE_DSN is not set"
    ):
        config.warehouse_dsn("transformer")


def test_each_purpose_and_role_takes_its_own_account_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FINHOUSE_OLTP_EXTRACT_DSN", "postgresql://extract:pw@oltp.example/oltp")
    # an extract account alone is ignored: it belongs to FINHOUSE_OLTP_DSN's server
    assert config.configured_oltp_dsn("extract") is None
    monkeypatch.setenv("FINHOUSE_OLTP_DSN", "postgresql://app:pw@oltp.example/oltp")
    assert config.oltp_dsn("app") == "postgresql://app:pw@oltp.example/oltp"
    assert config.oltp_dsn("extract") == "postgresql://extract:pw@oltp.example/oltp"
    monkeypatch.setenv("FINHOUSE_WAREHOUSE_DSN", "postgresql://loader:pw@wh.example/warehouse")
    monkeypatch.setenv("FINHOUSE_REPORTER_DSN", "postgresql://reporter:pw@wh.example/warehouse")
    assert config.warehouse_dsn("loader") == "postgresql://loader:pw@wh.example/warehouse"
    assert config.warehouse_dsn("transformer") == "postgresql://loader:pw@wh.example/warehouse"
    assert config.warehouse_dsn("reporter") == "postgresql://reporter:pw@wh.example/warehouse"


@pytest.mark.parametrize(
    ("airflow_conn", "dsn", "uri"),
    [
        (None, None, f"{config.UNCONFIGURED_WAREHOUSE}/raw/loans"),
        (None, "postgresql://loader:pw@wh.example/dw", "postgres://wh.example:5432/dw/raw/loans"),
        (
            None,
            "host=wh.example port=6432 dbname=dw user=loader",
            "postgres://wh.example:6432/dw/raw/loans",
        ),
        (
            None,
            "snowflake://loader:pw@acct/finhouse?role=LOADER",
            "snowflake://acct/FINHOUSE/RAW/LOANS",
        ),
        (
            "postgres://loader:pw@warehouse-db:5432/warehouse",
            "postgresql://x:pw@other/db",
            "postgres://warehouse-db:5432/warehouse/raw/loans",
        ),
    ],
)
def test_asset_uris_name_the_warehouse_of_the_environment(
    monkeypatch: pytest.MonkeyPatch, airflow_conn: str | None, dsn: str | None, uri: str
) -> None:
    if airflow_conn:
        monkeypatch.setenv("AIRFLOW_CONN_FINHOUSE_WAREHOUSE", airflow_conn)
    if dsn:
        monkeypatch.setenv("FINHOUSE_WAREHOUSE_DSN", dsn)
    assert config.raw_asset_uri("loans") == uri


def test_the_pipeline_imports_no_local_tooling() -> None:
    """What a DAG file imports, in a fresh interpreter: no finhouse_local, no embedded cluster."""
    code = (
        "import sys\n"
        "import finhouse.config, finhouse.pipeline, finhouse.endpoints, finhouse.tables\n"
        "print(sorted(m for m in sys.modules if m.startswith('finhouse_local')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "[]"
