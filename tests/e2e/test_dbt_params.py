"""The dbt DAG triggered with params, under real Airflow (dag.test()) and real dbt, against the
test databases (the project rendered down to +portfolio_daily, as in test_dbt_dag.py):

1. ``as_of_date`` builds the marts as of that day (portfolio_daily ends on it), and the run
   records its params and dbt's own account of the build (the producer's XCom ``dbt_build``);
2. ``select`` builds only the selection: the run succeeds, the selected model's tasks
   succeed, every other model task ends skipped, no other relation is rebuilt;
3. ``full_refresh`` rebuilds an incremental model from scratch (a new relation), where an
   ordinary run only restates what changed in it.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

import psycopg
import pytest

from finhouse.tables import TABLES
from finhouse_local.cluster import Provisioner
from tests.e2e.conftest import airflow_env, run_dags
from tests.integration.ingest.conftest import Pipeline

pytestmark = pytest.mark.e2e

RENDERED = "+portfolio_daily"
SEGMENT_DAYS = "intermediate.int_portfolio__segment_days"  # incremental
STAGED_LOANS = "staging.stg_oltp__loans"  # a view, rebuilt by every build that selects it
DAILY = "models.marts.portfolio.portfolio_daily"


def _dbt_record(pg_server: Provisioner, run_id: str) -> dict[str, Any]:
    """The producer's XCom ``dbt_build`` of a run, as Airflow stored it."""
    with psycopg.connect(pg_server.dsn("airflow", "airflow")) as conn:
        row = conn.execute(
            "select value from xcom where dag_id = 'finhouse_dbt' and run_id = %s "
            "and task_id = 'dbt_producer_watcher' and key = 'dbt_build'",
            (run_id,),
        ).fetchone()
    assert row is not None, f"no dbt_build record for {run_id}"
    value = row[0]
    return json.loads(value) if isinstance(value, str) else value  # type: ignore[no-any-return]


def _oid(conn: psycopg.Connection, relation: str) -> int:
    row = conn.execute("select %s::regclass::oid", (relation,)).fetchone()
    assert row is not None
    return int(row[0])


def _model_tasks(tasks: dict[str, str]) -> dict[str, str]:
    return {t: s for t, s in tasks.items() if t.startswith("models.")}


def test_triggered_runs_build_as_of_a_date_a_selection_and_from_scratch(
    pipe: Pipeline, pg_server: Provisioner, airflow_db: None
) -> None:
    env = airflow_env(pg_server, pipe.dbs)
    env["AIRFLOW_CONN_FINHOUSE_DBT"] = pipe.dbs.warehouse_dsn("transformer")
    env["FINHOUSE_DBT_SELECT"] = RENDERED
    as_of = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=40)
    time.sleep(0.4)

    # 1. as_of_date
    *loads, full = run_dags(
        env,
        *((f"ingest_{t}", None) for t in TABLES),
        ("finhouse_dbt", {"as_of_date": as_of.isoformat()}),
    )
    for result in [*loads, full]:
        assert result["state"] == "success", result.get("log")
    assert all(s == "success" for s in _model_tasks(full["tasks"]).values()), full["tasks"]
    with psycopg.connect(pipe.dbs.warehouse_dsn("reporter")) as reporter:
        last_day, glp = reporter.execute(
            "select max(as_of_date), sum(gross_loan_portfolio) filter (where as_of_date = "
            "(select max(as_of_date) from marts.portfolio_daily)) from marts.portfolio_daily"
        ).fetchone() or (None, None)
    assert last_day == as_of
    assert glp is not None
    assert glp > 0
    record = _dbt_record(pg_server, full["run_id"])
    assert record["as_of_date"] == as_of.isoformat()
    assert record["full_refresh"] is False
    assert record["select"] is None
    assert record["dbt_select"] == RENDERED
    dbt_vars = record["dbt"]["args"]["vars"]
    assert dbt_vars["as_of_date"] == as_of.isoformat()
    # the RAW cut the run's raw_cut task chose: every table up to one of its loads
    assert set(json.loads(dbt_vars["raw_cut"])) == set(TABLES)
    assert dbt_vars["raw_cut_id"] == full["run_id"]
    assert record["dbt"]["models"]["model.finhouse.portfolio_daily"] == "success"
    with psycopg.connect(pipe.dbs.warehouse_dsn("admin")) as wh:
        segment_days, staged_loans = _oid(wh, SEGMENT_DAYS), _oid(wh, STAGED_LOANS)

    # 2. select (portfolio_daily is a view), then 3. full_refresh of the incremental model
    # and what reads it, both as of the same day
    selective, rebuilt = run_dags(
        env,
        ("finhouse_dbt", {"as_of_date": as_of.isoformat(), "select": "portfolio_daily"}),
        (
            "finhouse_dbt",
            {
                "as_of_date": as_of.isoformat(),
                "full_refresh": True,
                "select": "int_portfolio__segment_days+",
            },
        ),
    )

    assert selective["state"] == "success", selective.get("log")
    models = _model_tasks(selective["tasks"])
    assert models[f"{DAILY}_run"] == "success"
    others = {t: s for t, s in models.items() if not t.startswith(DAILY)}
    assert others
    assert set(others.values()) == {"skipped"}, others
    # it built the view alone (dbt's own account; durations prove nothing on a busy machine)
    record = _dbt_record(pg_server, selective["run_id"])
    assert record["select"] == "portfolio_daily"
    assert record["dbt_select"] == f"{RENDERED},portfolio_daily"
    assert record["dbt"]["models"] == {"model.finhouse.portfolio_daily": "success"}
    assert record["dbt"]["statuses"].get("test pass", 0) > 0  # and its tests, in the build

    assert rebuilt["state"] == "success", rebuilt.get("log")
    models = _model_tasks(rebuilt["tasks"])
    assert models["models.intermediate.portfolio.int_portfolio__segment_days_run"] == "success"
    assert models[f"{DAILY}_run"] == "success"
    assert models["models.staging.stg_oltp__loans_run"] == "skipped"
    record = _dbt_record(pg_server, rebuilt["run_id"])
    assert record["full_refresh"] is True
    assert record["dbt"]["args"]["full_refresh"] is True
    assert set(record["dbt"]["models"]) == {
        "model.finhouse.int_portfolio__segment_days",
        "model.finhouse.portfolio_daily",
    }
    with psycopg.connect(pipe.dbs.warehouse_dsn("admin")) as wh:
        # the incremental table is a new relation (an ordinary run restates rows in place);
        # the staging view, outside both selections, was not rebuilt by either run
        assert _oid(wh, SEGMENT_DAYS) != segment_days
        assert _oid(wh, STAGED_LOANS) == staged_loans
        row = wh.execute("select max(as_of_date) from marts.portfolio_daily").fetchone()
    assert row is not None
    last_day = row[0]
    assert last_day == as_of
