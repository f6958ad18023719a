"""The data-quality record under real Airflow (dag.test()), real dbt and a real source: a
deliberately broken row in the OLTP raises a warning (a warn-severity test: the run still
succeeds), a second one an error (the run fails, naming it). Both are kept in finhouse_meta
with their model, severity and failing rows, reach the ops marts and `finhouse quality`, and
no row value is written anywhere."""

from __future__ import annotations

import os
import time

import psycopg
import pytest

from finhouse_local.cluster import Provisioner
from tests.conftest import run_cli
from tests.e2e.conftest import airflow_env, run_dags
from tests.integration.ingest.conftest import Pipeline

pytestmark = pytest.mark.e2e

#: the two rules broken here, their models, and the marts of the record
SELECT = "+stg_oltp__accounts +stg_oltp__payments +data_quality_daily +data_quality_checks"
WARN, ERROR = "accounts_not_overdrawn", "payment_parts_sum_to_amount"
#: the broken rows' values: none may appear in the record or the report
BALANCE, SHIFT = "-12345.67", "7.77"


def _states(admin: str) -> dict[str, tuple[object, ...]]:
    with psycopg.connect(admin) as wh:
        rows = wh.execute(
            "select check_name, subject, severity, status, failures, status_since, message "
            "from finhouse_meta.quality_states where kind = 'test'"
        ).fetchall()
    return {row[0]: row[1:] for row in rows}


def test_a_warning_and_an_error_are_recorded_shown_and_only_the_error_fails_the_run(
    pipe: Pipeline, pg_server: Provisioner, airflow_db: None
) -> None:
    env = airflow_env(pg_server, pipe.dbs)
    env["AIRFLOW_CONN_FINHOUSE_DBT"] = pipe.dbs.warehouse_dsn("transformer")
    env["FINHOUSE_DBT_SELECT"] = SELECT
    time.sleep(0.4)
    pipe.ingest_all()
    admin = pipe.dbs.admin_dsn(pipe.dbs.warehouse)

    # 1. an overdrawn account (the app allows it; a warn-severity rule): the run succeeds
    with psycopg.connect(pipe.dbs.oltp_dsn, autocommit=True) as oltp:
        oltp.execute(
            f"update accounts set balance = {BALANCE}, updated_at = now() "
            "where id = (select min(id) from accounts)"
        )
    (warned,) = run_dags(env, ("finhouse_dbt", None))
    assert warned["state"] == "success", warned.get("log")
    assert warned["tasks"]["dbt_build_check"] == "success"
    states = _states(admin)
    subject, severity, status, failures, since, _ = states[WARN]
    assert (subject, severity, status, failures) == ("stg_oltp__accounts", "warn", "warn", 1)
    assert states[ERROR][1:4] == ("error", "pass", 0)
    with psycopg.connect(admin) as wh:
        commands = wh.execute(
            "select command, warned, failed from finhouse_meta.quality_runs where run_id = %s",
            (warned["run_id"],),
        ).fetchall()
    assert sorted(c for c, _, _ in commands) == ["build", "freshness"]
    assert {c: (w, f) for c, w, f in commands}["build"] == (1, 0)

    # 2. a payment whose split no longer adds up (error severity): the run fails, naming it.
    # The stand-in's table checks the split itself; a Django model's does not (its choices
    # and validators live in the application), so this source's copy drops the check
    with psycopg.connect(pipe.dbs.oltp_dsn, autocommit=True) as oltp:
        oltp.execute("alter table payments drop constraint payments_parts_sum")
        oltp.execute(
            f"update payments set interest_paid = interest_paid + {SHIFT}, "
            "updated_at = now() where id = (select min(id) from payments)"
        )
    (failed,) = run_dags(env, ("finhouse_dbt", None))
    assert failed["state"] == "failed"
    assert failed["tasks"]["dbt_build_check"] == "failed"
    states = _states(admin)
    assert states[ERROR][:4] == ("stg_oltp__payments", "error", "fail", 1)
    assert states[WARN][2] == "warn"
    assert states[WARN][4] == since  # still warning, since the first run
    with psycopg.connect(admin) as wh:
        (failed_nodes,) = wh.execute(
            "select failed_nodes from finhouse_meta.mart_builds where cut_id = %s",
            (failed["run_id"],),
        ).fetchone() or (None,)
        problems = wh.execute(
            "select check_name, severity, status, failures from finhouse_meta.quality_results "
            "where run_id = %s order by check_name",
            (failed["run_id"],),
        ).fetchall()
        # the marts of run 2 hold the record up to run 1: the warning, per model and per day
        now = wh.execute(
            "select severity, check_status, failing_rows from marts.data_quality_checks "
            "where is_problem and check_name = %s",
            (WARN,),
        ).fetchall()
        daily = wh.execute(
            "select sum(warned), sum(checks) from marts.data_quality_daily "
            "where check_kind = 'tests'"
        ).fetchone()
        stored = " ".join(
            str(v)
            for table in ("quality_results", "quality_states", "quality_runs")
            for row in wh.execute(f"select * from finhouse_meta.{table}").fetchall()
            for v in row
        )
    assert failed_nodes is not None
    assert ERROR in failed_nodes
    assert WARN not in failed_nodes  # a warning never fails a build
    assert problems == [(WARN, "warn", "warn", 1), (ERROR, "error", "fail", 1)]
    assert now == [("warn", "warn", 1)]
    assert daily is not None
    assert daily[0] >= 1
    assert daily[1] > 10
    for value in (BALANCE, SHIFT, BALANCE.lstrip("-")):
        assert value not in stored

    # 3. `finhouse quality` prints the same at once
    cli_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("FINHOUSE_")},
        "FINHOUSE_WAREHOUSE_DSN": pipe.dbs.warehouse_dsn("loader"),
    }
    out = run_cli("quality", env=cli_env, check=True)
    lines = out.stdout.splitlines()
    assert any(
        line.split()[:2] == ["error", "fail"] and f"{ERROR} on stg_oltp__payments, 1 rows" in line
        for line in lines
    ), out.stdout
    assert any(
        line.split()[:2] == ["warn", "warn"] and f"{WARN} on stg_oltp__accounts, 1 rows" in line
        for line in lines
    ), out.stdout
    assert any(line.split()[1:2] == ["tests"] for line in lines), out.stdout
    for value in (BALANCE, SHIFT):
        assert value not in out.stdout
    bad = run_cli("quality", "--since", "yesterday", env=cli_env)
    assert bad.returncode != 0
    assert "yesterday" in bad.stderr
