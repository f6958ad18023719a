"""finhouse_maintenance under real Airflow (dag.test()) on the test PostgreSQL's Airflow
metadata database: old rows and old task logs go, recent ones stay."""

from __future__ import annotations

import os
import time
from pathlib import Path

import psycopg
import pytest

from finhouse_local.airflow_env import metadata_connection
from finhouse_local.cluster import Provisioner
from tests.e2e.conftest import airflow_env, run_dag

pytestmark = pytest.mark.e2e

DAG_ID = "finhouse_maintenance"


def _runs(pg_server: Provisioner) -> dict[str, int]:
    """run_id -> task instances of the maintenance DAG's runs in the metadata database."""
    with psycopg.connect(pg_server.dsn("airflow", "airflow")) as conn:
        rows = conn.execute(
            "select r.run_id, count(ti.id) from dag_run r left join task_instance ti "
            "on ti.dag_id = r.dag_id and ti.run_id = r.run_id where r.dag_id = %s "
            "group by r.run_id",
            (DAG_ID,),
        ).fetchall()
    return dict(rows)


def _age_run(pg_server: Provisioner, run_id: str, days: int) -> None:
    """Make a run (its task instances, event log rows, XComs) look ``days`` old."""
    shift = f"{days} days"
    with psycopg.connect(pg_server.dsn("airflow", "airflow")) as conn:
        for table, column in (
            ("dag_run", "start_date"),
            ("dag_run", "logical_date"),
            ("task_instance", "start_date"),
            ("xcom", "timestamp"),
            ("log", "dttm"),
        ):
            conn.execute(
                f"update {table} set {column} = {column} - %s::interval "
                "where dag_id = %s and run_id = %s",
                (shift, DAG_ID, run_id),
            )


def test_maintenance_removes_old_metadata_and_task_logs_and_keeps_recent_ones(
    pg_server: Provisioner, airflow_db: None
) -> None:
    env = airflow_env(pg_server)
    env["AIRFLOW_CONN_FINHOUSE_AIRFLOW_DB"] = metadata_connection(
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    )
    env["FINHOUSE_METADATA_RETENTION_DAYS"] = "14"
    env["FINHOUSE_LOG_RETENTION_DAYS"] = "7"
    logs = Path(env["AIRFLOW__LOGGING__BASE_LOG_FOLDER"])
    old_log = logs / "dag_id=ingest_users" / "run_id=old" / "task_id=load" / "attempt=1.log"
    new_log = logs / "dag_id=ingest_users" / "run_id=new" / "task_id=load" / "attempt=1.log"
    for path, days in ((old_log, 30), (new_log, 1)):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("a task's log\n")
        stamp = time.time() - days * 86_400
        os.utime(path, (stamp, stamp))
    before = set(_runs(pg_server))

    first = run_dag(env, DAG_ID)
    assert first["state"] == "success", first
    (old_run,) = set(_runs(pg_server)) - before
    assert _runs(pg_server)[old_run] == 2
    assert not old_log.exists()  # the first run pruned the month-old task log already
    assert new_log.exists()
    _age_run(pg_server, old_run, days=30)

    second = run_dag(env, DAG_ID)
    assert second["state"] == "success", second
    assert second["tasks"] == {"clean_metadata": "success", "clean_logs": "success"}
    runs = _runs(pg_server)
    # the month-old run and its task instances are gone; the run that cleaned stays
    assert old_run not in runs
    (new_run,) = set(runs) - before
    assert runs[new_run] == 2
    assert new_log.exists()


def test_without_the_metadata_connection_the_clean_up_is_skipped(
    pg_server: Provisioner, airflow_db: None
) -> None:
    env = airflow_env(pg_server)
    env.pop("AIRFLOW_CONN_FINHOUSE_AIRFLOW_DB", None)
    run = run_dag(env, DAG_ID)
    assert run["tasks"] == {"clean_metadata": "skipped", "clean_logs": "success"}, run
