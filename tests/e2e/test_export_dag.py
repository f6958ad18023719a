"""The export DAG under real Airflow (dag.test()): after a build of the marts, each marked
mart is written as verified files where FINHOUSE_EXPORT_URL says, recording the dbt run; a
second run of unchanged marts writes nothing. Then the close DAG closes the last complete month
and writes its report pack beside the exports."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import psycopg
import pytest

from finhouse import closes, exports
from finhouse_local.cluster import Provisioner
from tests.e2e.conftest import airflow_env, run_dags
from tests.integration.ingest.conftest import Pipeline

pytestmark = pytest.mark.e2e

MARTS = ("loans_current", "monthly_financial_summary", "portfolio_daily")
#: what a month-end close reads besides
CLOSED_MARTS = tuple(sorted({section.mart for section in closes.SECTIONS} - set(MARTS)))


def test_the_export_dag_writes_every_marked_mart_as_verified_files(
    pipe: Pipeline, pg_server: Provisioner, airflow_db: None, tmp_path: Path
) -> None:
    env = airflow_env(pg_server, pipe.dbs)
    env["AIRFLOW_CONN_FINHOUSE_DBT"] = pipe.dbs.warehouse_dsn("transformer")
    env["AIRFLOW_CONN_FINHOUSE_EXPORT"] = pipe.dbs.warehouse_dsn("reporter")
    env["FINHOUSE_DBT_SELECT"] = " ".join(f"+{m}" for m in (*MARTS, *CLOSED_MARTS))
    env["FINHOUSE_EXPORT_URL"] = str(tmp_path / "exports")
    time.sleep(0.4)
    pipe.ingest_all()
    built, exported, again, closed = run_dags(
        env,
        ("finhouse_dbt", None),
        ("finhouse_export", None),
        ("finhouse_export", None),
        ("finhouse_close", None),
    )
    assert built["state"] == "success", built.get("log")
    assert exported["state"] == "success", exported.get("log")
    assert again["state"] == "success", again.get("log")
    fs, root = exports.filesystem(str(tmp_path / "exports"))
    with psycopg.connect(pipe.dbs.warehouse_dsn("reporter")) as wh:
        for mart in MARTS:
            manifest = exports.verify(fs, root, mart)
            (rows,) = wh.execute(f"select count(*) from marts.{mart}").fetchone() or (0,)
            assert manifest.rows == rows > 0, mart
    # unchanged marts: the second run wrote no new export
    for mart in MARTS:
        folders = [p for p in (tmp_path / "exports" / mart).iterdir() if p.is_dir()]
        assert len([p for p in folders if p.name != exports.INCOMPLETE]) == 1, folders

    # the close DAG: the month before today closed, its report pack beside the exports
    assert closed["state"] == "success", closed.get("log")
    month = (dt.datetime.now(dt.UTC).date().replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    with psycopg.connect(pipe.dbs.warehouse_dsn("reporter")) as wh:
        closes = wh.execute(
            "select close_id, version from closes.month_end_closes where month = %s", (month,)
        ).fetchall()
    assert closes == [(f"{month:%Y-%m}-v1", 1)]
    pack = exports.verify(fs, root, "monthly_report")
    assert pack.export_id == f"{month:%Y-%m}-v1"
    assert sorted(f.path.rsplit(".", 1)[1] for f in pack.files) == ["pdf", "xlsx"]
