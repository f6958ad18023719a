"""`finhouse export` on the dbt-built warehouse, as a user runs it: the exported figures equal
the marts to the cent (CSV and Parquet), a re-run writes nothing, `--as-of` keeps the days up
to it, a killed export leaves the previous one current, bad requests get one line."""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import psycopg
import pyarrow.parquet as pq
import pytest

from finhouse import exports
from tests.conftest import FINHOUSE, run_cli
from tests.integration.dbt.conftest import AS_OF, Warehouse

pytestmark = pytest.mark.integration

D = decimal.Decimal


def _env(built: Warehouse) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("FINHOUSE_")},
        "FINHOUSE_WAREHOUSE_DSN": built.dsn("loader"),
        "FINHOUSE_REPORTER_DSN": built.dsn("reporter"),
    }


def _latest(dest: Path, mart: str) -> dict[str, object]:
    found: dict[str, object] = json.loads((dest / mart / exports.LATEST).read_text())
    return found


def _csv_rows(dest: Path, mart: str) -> list[dict[str, str]]:
    manifest = _latest(dest, mart)
    with (dest / mart / str(manifest["export_id"]) / f"{mart}.csv").open() as handle:
        return list(csv.DictReader(handle))


def test_exports_equal_the_marts_and_a_rerun_writes_nothing(
    built: Warehouse, tmp_path: Path
) -> None:
    dest = tmp_path / "exports"
    env = _env(built)
    out = run_cli(
        "export", "portfolio_daily", "loans_current", "--to", str(dest), env=env, check=True
    )
    assert "portfolio_daily:" in out.stdout
    assert " rows -> " in out.stdout
    with psycopg.connect(built.dsn("reporter")) as wh:
        glp_by_day = dict(
            wh.execute(
                "select as_of_date, sum(gross_loan_portfolio) from marts.portfolio_daily group by 1"
            ).fetchall()
        )
        (mart_rows,) = wh.execute("select count(*) from marts.portfolio_daily").fetchone() or (0,)
        loans = wh.execute(
            "select count(*), sum(outstanding_principal), sum(principal_paid) "
            "from marts.loans_current"
        ).fetchone()
    # the CSV, to the cent
    rows = _csv_rows(dest, "portfolio_daily")
    assert len(rows) == mart_rows > 1000
    exported: dict[dt.date, decimal.Decimal] = {}
    for row in rows:
        day = dt.date.fromisoformat(row["as_of_date"])
        exported[day] = exported.get(day, D(0)) + D(row["gross_loan_portfolio"])
    assert exported == glp_by_day
    # Parquet, a file per month, decimals kept
    manifest = _latest(dest, "portfolio_daily")
    folder = dest / "portfolio_daily" / str(manifest["export_id"])
    parts = sorted(folder.glob("parquet/month=*/part-*.parquet"))
    assert len(parts) > 12
    parquet_glp = D(0)
    parquet_rows = 0
    for part in parts:
        table = pq.read_table(part, columns=["gross_loan_portfolio"])
        parquet_rows += table.num_rows
        parquet_glp += sum((v for v in table.column(0).to_pylist() if v is not None), D(0))
    assert parquet_rows == mart_rows
    assert parquet_glp == sum(glp_by_day.values(), D(0))
    assert manifest["rows"] == mart_rows
    fs, root = exports.filesystem(str(dest))
    assert exports.verify(fs, root, "portfolio_daily").rows == mart_rows
    # a mart without a date: one Parquet file
    current = _csv_rows(dest, "loans_current")
    assert loans is not None
    assert len(current) == loans[0]
    assert sum(D(r["outstanding_principal"]) for r in current) == loans[1]
    assert sum(D(r["principal_paid"]) for r in current) == loans[2]

    # the same marts again: nothing written
    before = sorted(p.name for p in (dest / "portfolio_daily").iterdir())
    again = run_cli("export", "portfolio_daily", "--to", str(dest), env=env, check=True)
    assert "unchanged, already exported" in again.stdout
    assert sorted(p.name for p in (dest / "portfolio_daily").iterdir()) == before

    # as of a day: the rows up to it, a new export
    day = AS_OF - dt.timedelta(days=45)
    run_cli(
        "export", "portfolio_daily", "--as-of", day.isoformat(), "--to", str(dest), env=env,
        check=True,
    )  # fmt: skip
    dated = _latest(dest, "portfolio_daily")
    assert dated["as_of_date"] == day.isoformat()
    assert dated["rows"] == sum(1 for r in rows if dt.date.fromisoformat(r["as_of_date"]) <= day)


def test_a_killed_export_leaves_the_previous_one_current(built: Warehouse, tmp_path: Path) -> None:
    dest = tmp_path / "exports"
    env = _env(built)
    run_cli("export", "portfolio_daily", "--to", str(dest), env=env, check=True)
    first = _latest(dest, "portfolio_daily")
    # a second export (of fewer days: new content) killed while it writes
    day = AS_OF - dt.timedelta(days=10)
    process = subprocess.Popen(
        [FINHOUSE, "export", "portfolio_daily", "--as-of", day.isoformat(), "--to", str(dest)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    incomplete = dest / "portfolio_daily" / exports.INCOMPLETE
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if incomplete.exists() and any(incomplete.iterdir()):
            break
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert _latest(dest, "portfolio_daily") == first
    fs, root = exports.filesystem(str(dest))
    assert exports.verify(fs, root, "portfolio_daily").export_id == first["export_id"]


def test_bad_requests_get_one_line_and_write_nothing(built: Warehouse, tmp_path: Path) -> None:
    dest = tmp_path / "exports"
    env = _env(built)
    for args, said in (
        (["export", "stg_oltp__users"], "not marked for export"),
        (["export"], "name the marts, or --all"),
        (["export", "loans_current", "--as-of", "2026-01-01"], "no date to export as of"),
        (["export", "loans_current", "--to", "s3://key:secret@bucket/x"], "credentials"),
    ):
        out = (
            run_cli(*args, "--to", str(dest), env=env)
            if "--to" not in args
            else run_cli(*args, env=env)
        )
        assert out.returncode != 0, args
        assert said in out.stderr, (args, out.stderr)
        assert "secret" not in out.stderr
        assert "Traceback" not in out.stderr
    assert not dest.exists() or not any(dest.rglob("*.csv"))
