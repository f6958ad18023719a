"""The ingestion DAGs under real Airflow (dag.test()), against the test databases."""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest

from finhouse.tables import TABLES
from finhouse_local.cluster import Provisioner
from tests.e2e.conftest import airflow_env, probe, run_dag, run_dags
from tests.integration.ingest.conftest import Pipeline
from tests.support.raw import assert_raw_equals_oltp, versions

pytestmark = pytest.mark.e2e

#: tasks without retries: a check whose answer a retry would not change ("is RAW fresh
#: now?"), and the dbt watcher's producer (its model tasks retry model by model)
CHECKS_WITHOUT_RETRIES = {
    ("finhouse_dbt", "source_freshness"),
    ("finhouse_dbt", "dbt_producer_watcher"),
}


def _asset_events(pg_server: Provisioner, since: dt.datetime) -> list[tuple[str, dict]]:
    with psycopg.connect(pg_server.dsn("airflow", "airflow")) as conn:
        return conn.execute(
            "select a.uri, ae.extra from asset_event ae join asset a on a.id = ae.asset_id "
            "where ae.timestamp >= %s order by ae.id",
            (since,),
        ).fetchall()


def test_dag_integrity(pg_server: Provisioner, airflow_db: None) -> None:
    report = probe(airflow_env(pg_server), "integrity")
    assert report["errors"] == {}
    dags = report["dags"]
    assert {f"ingest_{t}" for t in TABLES} | {f"reconcile_{t}" for t in TABLES} | {
        "finhouse_dbt"
    } == set(dags)
    for dag_id, dag in dags.items():
        assert dag["tags"], dag_id
        assert dag["doc_md"], dag_id
        assert dag["max_active_runs"] == 1, dag_id
        for task_id, task in dag["tasks"].items():
            assert task["owner"] == "finhouse-data", (dag_id, task_id)
            if (dag_id, task_id) not in CHECKS_WITHOUT_RETRIES:
                assert task["retries"] >= 2, (dag_id, task_id)
    for table in TABLES:
        ingest = dags[f"ingest_{table}"]
        assert ingest["params"] == ["full_refresh", "window_end", "window_start"]
        assert ingest["schedule"] == "CronDataIntervalTimetable"
        assert ingest["tasks"]["publish"]["outlets"] == [
            f"postgres://127.0.0.1:{pg_server.port}/warehouse/raw/{table}"
        ]


def test_every_ingestion_dag_runs_and_emits_its_asset(
    pipe: Pipeline, pg_server: Provisioner, airflow_db: None
) -> None:
    env = airflow_env(pg_server, pipe.dbs)
    started = dt.datetime.now(dt.UTC)
    results = run_dags(
        env, *((f"ingest_{table}", None) for table in TABLES), ("ingest_investments", None)
    )
    for result in results:
        assert result["state"] == "success", result.get("log")
        assert result["tasks"]["publish"] == "success"
        assert result["tasks"]["extract_range"] == "skipped"
    with pipe.oltp() as oltp, pipe.warehouse() as wh:
        assert_raw_equals_oltp(oltp, wh)
    events = _asset_events(pg_server, started)
    uris = [uri for uri, _extra in events]
    host = f"postgres://127.0.0.1:{pg_server.port}/{pipe.dbs.warehouse}/raw/"
    assert uris == [host + t for t in TABLES] + [host + "investments"]
    for uri, extra in events[:-1]:
        table = uri.rsplit("/", 1)[1]
        assert extra["table"] == table
        assert extra["rows_loaded"] > 0
    # the second investments run found nothing new and emitted all the same: the event
    # means "fresh up to the new watermark"
    assert events[-1][1]["rows_extracted"] == 0
    assert events[-1][1]["watermark"] == pipe.target.watermark("investments").at.isoformat()  # type: ignore[union-attr]


def test_params_full_refresh_in_parallel_ranges_and_manual_window(
    pipe: Pipeline, pg_server: Provisioner, airflow_db: None
) -> None:
    env = airflow_env(pg_server, pipe.dbs)
    env["FINHOUSE_TRANSACTIONS_PARALLEL_THRESHOLD"] = "0"  # force the staged, mapped path
    # a first load as a full refresh: staged in parallel key ranges (mapped tasks)
    first = run_dag(env, "ingest_transactions", {"full_refresh": True})
    assert first["state"] == "success", first.get("log")
    mapped = [t for t in first["tasks"] if t.startswith("extract_range[")]
    assert len(mapped) == TABLES["transactions"].parallel_ranges
    assert all(first["tasks"][t] == "success" for t in mapped)
    with pipe.oltp() as oltp, pipe.warehouse() as wh:
        assert_raw_equals_oltp(oltp, wh, ["transactions"])
        assert wh.execute(
            "select count(*) from pg_tables where schemaname = 'finhouse_meta' "
            "and tablename like '_stage_%%'"
        ).fetchone() == (0,)
    with pipe.oltp() as oltp:
        gone = oltp.execute(
            "delete from transactions where id = (select max(id) from transactions) returning id"
        ).fetchone()
    # over a loaded RAW: one task compares every row and marks the deletion
    result = run_dag(env, "ingest_transactions", {"full_refresh": True})
    assert result["state"] == "success", result
    assert result["tasks"]["extract_range"] == "skipped"
    with pipe.oltp() as oltp, pipe.warehouse() as wh:
        assert_raw_equals_oltp(oltp, wh, ["transactions"])
        assert wh.execute(
            "select _deleted_at is not null from raw.transactions where id = %s", gone
        ).fetchone() == (True,)
        before = versions(wh, "transactions")
    watermark = pipe.target.watermark("transactions")
    now = dt.datetime.now(dt.UTC)
    window = {
        "window_start": (now - dt.timedelta(days=30)).isoformat(),
        "window_end": now.isoformat(),
    }
    assert run_dag(env, "ingest_transactions", window)["state"] == "success"
    with pipe.warehouse() as wh:
        assert versions(wh, "transactions") == before
        mode = wh.execute(
            "select mode, window_start from finhouse_meta.load_runs order by load_id desc limit 1"
        ).fetchone()
        assert mode is not None
        assert mode[0] == "window"
    assert pipe.target.watermark("transactions") == watermark


def test_bad_params_fail_the_run_and_change_nothing(
    pipe: Pipeline, pg_server: Provisioner, airflow_db: None
) -> None:
    env = airflow_env(pg_server, pipe.dbs)
    result = run_dag(
        env,
        "ingest_users",
        {"window_start": "2026-02-01T00:00:00Z", "window_end": "2026-01-01T00:00:00Z"},
    )
    assert result["state"] == "failed"
    assert result["tasks"]["extract_load"] == "failed"
    with pipe.warehouse() as wh:
        assert wh.execute("select to_regclass('raw.users')").fetchone() == (None,)


def test_reconcile_dag_marks_deletes_fails_on_damage_and_repairs(
    pipe: Pipeline, pg_server: Provisioner, airflow_db: None
) -> None:
    env = airflow_env(pg_server, pipe.dbs)
    pipe.ingest("payments")
    with pipe.oltp() as oltp:
        oltp.execute("delete from payments where id = (select max(id) from payments)")
    assert run_dag(env, "reconcile_payments")["state"] == "success"
    with pipe.oltp() as oltp, pipe.warehouse() as wh:
        assert_raw_equals_oltp(oltp, wh, ["payments"])
        wh.execute(
            "update raw.payments set amount = amount + 1 "
            "where id = (select min(id) from raw.payments)"
        )
    assert run_dag(env, "reconcile_payments")["state"] == "failed"
    assert run_dag(env, "reconcile_payments", {"repair": True})["state"] == "success"
    with pipe.oltp() as oltp, pipe.warehouse() as wh:
        assert_raw_equals_oltp(oltp, wh, ["payments"])
