"""The dbt project on Snowflake's SQL: `dbt build` with a Snowflake profile (target
`emulator`, snowflake/emulator/profiles.yml) against the emulator served over HTTP, on RAW
loaded by the Snowflake loader from a seeded OLTP.

In `make test` (~70 s on two cores) the build covers the contract marts (`+portfolio_daily
+loans_current`: staging, schedules, delinquency, their unit and data tests) and the golden
schedules seed (its quoted columns, one named ``case``); ``FINHOUSE_SNOWFLAKE_DBT_FULL=1``
(`make snowflake-emulator-dbt`, 2-4 min) builds every model and test;
``FINHOUSE_SNOWFLAKE_DBT=0`` skips it. The golden schedules test runs too: it reproduces
the 170 golden installments to the cent on Snowflake's SQL."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from finhouse import pipeline
from finhouse.extract.postgres import PostgresSource
from finhouse.oltp import schema
from finhouse.oltp.seed import seed
from finhouse.tables import TABLES
from finhouse.targets import snowflake_connection, snowflake_setup
from finhouse.targets.snowflake import SnowflakeTarget
from tests.conftest import REPO, Databases, free_port
from tests.integration.snowflake.test_dbt_dispatch import POSTGRES_ONLY

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:Arrow output on a DB-API result:UserWarning"),
]

DBT = REPO / ".venv-dbt" / "bin" / "dbt"
DEFAULT_SELECT = ["+portfolio_daily", "+loans_current", "golden_schedules"]
DBT_TIMEOUT = int(os.environ.get("FINHOUSE_SNOWFLAKE_DBT_TIMEOUT", "900"))


@pytest.fixture(scope="module")
def emulator_port() -> Iterator[int]:
    """The emulator as an HTTP server in its own process (killed by pid afterwards)."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.snowflake.emulator", "--port", str(port)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                err = proc.stderr.read().decode() if proc.stderr else ""
                raise RuntimeError(f"the emulator did not start: {err[-2000:]}")
            time.sleep(0.2)
        yield port
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=20)


def _url(port: int, role: str) -> str:
    return (
        f"snowflake://finhouse_{role.lower()}:emulator@emulator/FINHOUSE?role={role}"
        f"&protocol=http&host=127.0.0.1&port={port}&network_timeout=120"
    )


def _dbt(port: int, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "FINHOUSE_EMULATOR_PORT": str(port),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
        "DO_NOT_TRACK": "1",
    }
    return subprocess.run(
        [
            str(DBT),
            *args,
            "--profiles-dir",
            str(REPO / "snowflake" / "emulator"),
            "--target",
            "emulator",
            "--target-path",
            str(tmp / "target"),
            "--log-path",
            str(tmp / "logs"),
        ],
        cwd=REPO / "dbt" / "finhouse",
        env=env,
        capture_output=True,
        text=True,
        timeout=DBT_TIMEOUT,
        check=False,
    )


def _query(port: int, sql: str) -> list[tuple[Any, ...]]:
    conn = snowflake_connection.connect(
        snowflake_connection.params_from_url(_url(port, "REPORTER"))
    )
    try:
        return list(conn.cursor().execute(sql).fetchall())
    finally:
        conn.close()


@pytest.mark.skipif(not DBT.exists(), reason="needs .venv-dbt (make install)")
@pytest.mark.skipif(
    os.environ.get("FINHOUSE_SNOWFLAKE_DBT") == "0", reason="FINHOUSE_SNOWFLAKE_DBT=0"
)
def test_dbt_build_on_snowflake_sql(dbs: Databases, emulator_port: int, tmp_path: Path) -> None:
    schema.init(dbs.oltp_dsn)
    seed(dbs.oltp_dsn, scale=0.05, seed=5, as_of=dt.datetime.now(dt.UTC).date())
    # the setup scripts as an administrator, then RAW as the loader: all over HTTP
    admin = snowflake_connection.connect(
        snowflake_connection.params_from_url(_url(emulator_port, "ACCOUNTADMIN"))
    )
    try:
        snowflake_setup.apply(admin, echo=lambda _line: None)
    finally:
        admin.close()
    target = SnowflakeTarget.from_url(_url(emulator_port, "LOADER"))
    source = PostgresSource(dbs.extract_dsn)
    try:
        for table in TABLES.values():
            pipeline.ingest(table, source, target)
    finally:
        target.close()
        source.close()

    full = os.environ.get("FINHOUSE_SNOWFLAKE_DBT_FULL") == "1"
    select = [] if full else ["--select", *DEFAULT_SELECT]
    out = _dbt(
        emulator_port,
        tmp_path,
        "build",
        *select,
        "--indirect-selection",
        "cautious",
    )
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-2000:]
    results = json.loads((tmp_path / "target" / "run_results.json").read_text())
    statuses = {r["status"] for r in results["results"]}
    assert statuses <= {"success", "pass"}, statuses
    assert len(results["results"]) > (300 if full else 60)
    # no model or test dbt ran on the emulator carries a PostgreSQL-only construct of
    # macros/postgres_performance/ (test_dbt_dispatch.py checks the macros themselves)
    ran = list((tmp_path / "target" / "run").rglob("*.sql"))
    assert len(ran) > 60
    for path in ran:
        assert not POSTGRES_ONLY.search(path.read_text()), path

    loans = _query(
        emulator_port,
        "select count(*), count(distinct loan_id), sum(outstanding_principal) "
        "from FINHOUSE.MARTS.LOANS_CURRENT",
    )[0]
    disbursed = _query(
        emulator_port,
        "select count(distinct id) from FINHOUSE.RAW.LOANS where disbursed_at is not null",
    )[0][0]
    assert loans[0] == loans[1] == disbursed > 0
    daily = _query(
        emulator_port,
        "select count(*), max(as_of_date) from FINHOUSE.MARTS.PORTFOLIO_DAILY",
    )[0]
    assert daily[0] > 0
    assert daily[1] == dt.datetime.now(dt.UTC).date()
