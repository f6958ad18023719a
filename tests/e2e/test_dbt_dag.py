"""The Cosmos dbt DAG under real Airflow (dag.test()) and real dbt, against the test databases:
loads through the ingestion DAGs, then the dbt DAG builds staging -> intermediate -> marts,
emits the marts' Assets, and a stale RAW table fails source freshness and alerts a person."""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import psycopg
import pytest

from finhouse.tables import TABLES
from finhouse_local.cluster import Provisioner
from tests.e2e.conftest import airflow_env, run_dags
from tests.integration.ingest.conftest import Pipeline

pytestmark = pytest.mark.e2e

#: a slice of the project through every layer (the whole DAG runs in `make demo`)
SELECT = "+portfolio_daily"


def _dbt_env(pg_server: Provisioner, pipe: Pipeline) -> dict[str, str]:
    env = airflow_env(pg_server, pipe.dbs)
    env["AIRFLOW_CONN_FINHOUSE_DBT"] = pipe.dbs.warehouse_dsn("transformer")
    env["FINHOUSE_DBT_SELECT"] = SELECT
    return env


#: ``finhouse_dbt: 12/40 dbt models, seeds and snapshots built, 1/83 tasks done (9 s)``
PROGRESS = re.compile(r": (\d+)/(\d+) dbt models, seeds and snapshots built, (\d+)/\d+ tasks")


def test_ingestion_then_dbt_dag_builds_the_marts_and_emits_their_assets(
    pipe: Pipeline, pg_server: Provisioner, airflow_db: None
) -> None:
    env = _dbt_env(pg_server, pipe)
    started = dt.datetime.now(dt.UTC)
    time.sleep(0.4)
    results = run_dags(env, *((f"ingest_{t}", None) for t in TABLES), ("finhouse_dbt", None))
    for result in results:
        assert result["state"] == "success", result.get("log")
    tasks = results[-1]["tasks"]
    assert tasks["dbt_producer_watcher"] == "success"
    assert tasks["models.marts.portfolio.portfolio_daily_run"] == "success"
    assert not [t for t in tasks if t.endswith(".test")]  # tests run inside the build
    assert tasks["models.intermediate.loans.int_loans__daily_delinquency_run"] == "success"
    # the progress line moves while the producer's one `dbt build` runs, before the tasks
    # that report each model finish: it counts the models dbt has finished
    seen = [
        tuple(map(int, m.groups()))
        for m in map(PROGRESS.search, results[-1]["progress"])
        if m is not None
    ]
    nodes_total = seen[0][1] if seen else 0
    assert nodes_total > 1, results[-1]["progress"]
    # while the producer builds, the tasks done are at most what may run before it: raw_cut
    # and source_freshness
    during_build = {built for built, _total, done in seen if done <= 2}
    assert any(0 < built < nodes_total for built in during_build), results[-1]["progress"]
    assert [s[0] for s in seen] == sorted(s[0] for s in seen)  # never goes back
    with psycopg.connect(pipe.dbs.warehouse_dsn("reporter")) as reporter:
        days, glp = reporter.execute(
            "select count(*), sum(gross_loan_portfolio) from marts.portfolio_daily "
            "where as_of_date = current_date"
        ).fetchone() or (0, 0)
    assert days > 0
    assert glp > 0
    # the build is recorded: when its dbt command ended (the marts held its cut) and, later,
    # when the run did, once every model task had reported
    with psycopg.connect(pipe.dbs.warehouse_dsn("admin")) as wh:
        build = wh.execute(
            "select status, built_at, finished_at from finhouse_meta.mart_builds "
            "where dag_run_id = %s",
            (results[-1]["run_id"],),
        ).fetchone()
    assert build is not None
    assert build[0] == "success"
    assert build[1] is not None
    assert build[1] <= build[2]
    with psycopg.connect(pg_server.dsn("airflow", "airflow")) as conn:
        uris = {
            uri
            for (uri,) in conn.execute(
                "select a.uri from asset_event ae join asset a on a.id = ae.asset_id "
                "where ae.timestamp >= %s",
                (started,),
            )
        }
    warehouse = f"postgres://127.0.0.1:{pg_server.port}/{pipe.dbs.warehouse}"
    assert f"{warehouse}/raw/loans" in uris
    assert f"{warehouse}/marts/portfolio_daily" in uris, sorted(uris)


class _Webhook(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []  # noqa: RUF012 - shared with the test

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    _Webhook.received = []
    server = HTTPServer(("127.0.0.1", 0), _Webhook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hook", _Webhook.received
    finally:
        server.shutdown()


def test_stale_raw_table_fails_freshness_and_alerts_the_webhook(
    pipe: Pipeline,
    pg_server: Provisioner,
    airflow_db: None,
    webhook: tuple[str, list[dict[str, Any]]],
) -> None:
    url, received = webhook
    time.sleep(0.4)
    pipe.ingest_all()
    # the loans table stopped loading 13 hours ago (error_after: 12 hours)
    with psycopg.connect(pipe.dbs.admin_dsn(pipe.dbs.warehouse), autocommit=True) as wh:
        wh.execute("update raw.loans set _loaded_at = _loaded_at - interval '13 hours'")
    env = _dbt_env(pg_server, pipe)
    env["FINHOUSE_ALERT_WEBHOOK_URL"] = url
    # (the current loans are picked from their RAW versions view)
    env["FINHOUSE_DBT_SELECT"] = "+stg_oltp__loans"
    (result,) = run_dags(env, ("finhouse_dbt", None))
    assert result["tasks"]["source_freshness"] == "failed"
    # the marts are not frozen by it: the models still built
    assert result["tasks"]["models.staging.stg_oltp__loans_run"] == "success"
    alerts = [a for a in received if a["task_id"] == "source_freshness"]
    assert len(alerts) == 1, received
    assert alerts[0]["dag_id"] == "finhouse_dbt"
    assert alerts[0]["state"] == "failed"
    assert "finhouse_dbt.source_freshness failed" in alerts[0]["text"]
    assert url not in json.dumps(received)


def test_a_failing_model_fails_its_task_and_builds_nothing_downstream(
    pipe: Pipeline, pg_server: Provisioner, airflow_db: None
) -> None:
    """The producer's one `dbt build` fails on a model: that model's task fails, its
    dependants are not reported built, and the run fails; what did not depend on it built.
    (RAW is read by the *_versions staging views: the payments' one fails on the renamed
    column, and the current payments built from it never build.)"""
    time.sleep(0.4)
    pipe.ingest_all()
    admin = pipe.dbs.admin_dsn(pipe.dbs.warehouse)
    with psycopg.connect(admin, autocommit=True) as wh:
        wh.execute("drop view if exists staging.stg_oltp__payments_versions cascade")
        wh.execute("alter table raw.payments rename column amount to amount_gone")
    try:
        env = _dbt_env(pg_server, pipe)
        env["FINHOUSE_DBT_SELECT"] = "+stg_oltp__payments+1 +stg_oltp__users"
        env["FINHOUSE_RETRY_DELAY_SECONDS"] = "0.5"
        (result,) = run_dags(env, ("finhouse_dbt", None))
    finally:
        with psycopg.connect(admin, autocommit=True) as wh:
            wh.execute("alter table raw.payments rename column amount_gone to amount")
    tasks = result["tasks"]
    assert result["state"] == "failed"
    assert tasks["raw_cut"] == "success"
    assert tasks["dbt_build_check"] == "failed"
    assert tasks["models.staging.versions.stg_oltp__payments_versions_run"] == "failed"
    assert tasks["models.staging.stg_oltp__payments_run"] != "success"
    assert tasks["models.staging.stg_oltp__users_run"] == "success"
    dependants = [t for t in tasks if t.startswith("models.intermediate.") and t.endswith("_run")]
    assert dependants
    assert not [t for t in dependants if tasks[t] == "success"], tasks
    with psycopg.connect(admin) as wh:
        (views,) = wh.execute(
            "select count(*) from information_schema.views "
            "where table_schema = 'staging' and table_name = 'stg_oltp__payments'"
        ).fetchone() or (0,)
    assert views == 0


def test_a_failed_build_fails_the_run_and_alerts_once_naming_the_failing_nodes(
    pipe: Pipeline,
    pg_server: Provisioner,
    airflow_db: None,
    webhook: tuple[str, list[dict[str, Any]]],
) -> None:
    """The producer's `dbt build` fails a test (a real orphan: an account whose user RAW
    does not hold): the run fails even though Airflow judges runs by their last tasks, its
    verdict task names the failing node, the build is recorded failed, and exactly one alert
    goes out (the dbt tasks themselves do not alert)."""
    url, received = webhook
    time.sleep(0.4)
    pipe.ingest_all()
    admin = pipe.dbs.admin_dsn(pipe.dbs.warehouse)
    with psycopg.connect(admin, autocommit=True) as wh:
        (account_id, user_id) = wh.execute(
            "update raw.accounts set user_id = 99999999 "
            "where id = (select min(id) from raw.accounts) returning id, "
            "(select min(user_id) from raw.accounts)"
        ).fetchone() or (0, 0)
    try:
        env = _dbt_env(pg_server, pipe)
        env["FINHOUSE_ALERT_WEBHOOK_URL"] = url
        env["FINHOUSE_DBT_SELECT"] = "+stg_oltp__accounts +stg_oltp__users"
        env["FINHOUSE_RETRY_DELAY_SECONDS"] = "0.5"
        (result,) = run_dags(env, ("finhouse_dbt", None))
    finally:
        with psycopg.connect(pipe.dbs.oltp_dsn) as oltp:
            row = oltp.execute("select user_id from accounts where id = %s", (account_id,))
            owner = (row.fetchone() or (user_id,))[0]
        with psycopg.connect(admin, autocommit=True) as wh:
            wh.execute("update raw.accounts set user_id = %s where id = %s", (owner, account_id))
    tasks = result["tasks"]
    assert result["state"] == "failed"
    assert tasks["raw_cut"] == "success"
    assert tasks["dbt_producer_watcher"] == "failed"
    assert tasks["dbt_build_check"] == "failed"
    assert tasks["models.staging.stg_oltp__users_run"] == "success"
    # (source_freshness alerts on its own, about stale tables)
    build_alerts = [a for a in received if a["task_id"] != "source_freshness"]
    assert len(build_alerts) == 1, received
    (alert,) = build_alerts
    assert alert["task_id"] == "dbt_build_check"
    assert "relationships_stg_oltp__accounts_user_id" in alert["text"]
    with psycopg.connect(admin) as wh:
        status, failed = wh.execute(
            "select status, failed_nodes from finhouse_meta.mart_builds "
            "order by started_at desc limit 1"
        ).fetchone() or (None, None)
    assert status == "failed"
    assert failed is not None
    assert "relationships_stg_oltp__accounts_user_id" in failed
