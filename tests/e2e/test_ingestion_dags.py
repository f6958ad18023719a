"""The ingestion DAGs under real Airflow (dag.test()), against the test databases."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import psycopg
import pytest

from finhouse.tables import TABLES
from finhouse_local.cluster import Provisioner
from tests.e2e.conftest import PROBE, airflow_env, run_dag, run_dags
from tests.integration.ingest.conftest import Pipeline
from tests.support.raw import assert_raw_equals_oltp, versions

pytestmark = pytest.mark.e2e


def _asset_events(pg_server: Provisioner, since: dt.datetime) -> list[tuple[str, dict]]:
    with psycopg.connect(pg_server.dsn("airflow", "airflow")) as conn:
        return conn.execute(
            "select a.uri, ae.extra from asset_event ae join asset a on a.id = ae.asset_id "
            "where ae.timestamp >= %s order by ae.id",
            (since,),
        ).fetchall()


def test_a_task_without_its_connection_fails_at_once_naming_it(
    pg_server: Provisioner, airflow_db: None
) -> None:
    """No Airflow connection and no FINHOUSE_OLTP_DSN: one line naming both, no retry, and
    never the local cluster in their place."""
    env = airflow_env(pg_server)
    for name in ("AIRFLOW_CONN_FINHOUSE_OLTP", "AIRFLOW_CONN_FINHOUSE_WAREHOUSE"):
        env.pop(name, None)
    for name in [n for n in env if n.startswith("FINHOUSE_") and n.endswith("_DSN")]:
        env.pop(name)
    out = subprocess.run(
        [sys.executable, str(PROBE), "test", json.dumps([["ingest_users", None]])],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    marker = out.stdout.rfind("@@RESULT@@")
    assert marker >= 0, (out.stdout[-3000:], out.stderr[-3000:])
    (run,) = json.loads(out.stdout[marker + len("@@RESULT@@") :])
    assert run["state"] == "failed"
    assert run["tasks"]["extract_load"] == "failed"
    line = (
        "ConfigError: no connection to the OLTP: define the Airflow connection finhouse_oltp "
        "or set FINHOUSE_OLTP_DSN"
    )
    assert line in out.stdout + out.stderr, (out.stdout[-3000:], out.stderr[-3000:])


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
