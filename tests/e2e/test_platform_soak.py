"""A short ``make soak``: ``finhouse platform soak`` for 3 minutes at 1-minute schedules, on
the test databases, in its own state folder and on a free port. It starts the platform, runs
it, reports and stops it (no process survives). The criteria that hold in 3 minutes are
checked: no run failed (dbt builds included: they read RAW as of a consistent cut), the
final reconcile is exact and commit -> mart freshness was measured from the builds' cuts
(``finhouse_meta.mart_builds``, ``mart_cuts``). The report's figures are those of
what ran: every ingestion DAG succeeded more than once, dbt ran, every long-lived process
was sampled, the logs and databases measured. RSS and log growth are judged by the 60-minute
soak only (a platform 3 minutes old is still warming up)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from finhouse.tables import TABLES
from finhouse_local import services
from finhouse_local.cluster import Provisioner
from tests.conftest import Databases, free_port, run_cli
from tests.e2e.test_platform_rest import _platform_env, _tail, seeded_platform_databases

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

MINUTES = 3
#: the processes every soak samples (Superset only where it is bootstrapped)
LONG_LIVED = (
    "airflow standalone",
    "scheduler",
    "executor workers",
    "dag-processor",
    "api-server",
    "triggerer",
    "simulator",
)


def test_a_short_soak_runs_reports_and_stops(
    pg_server: Provisioner, dbs: Databases, tmp_path: Path
) -> None:
    meta_db = seeded_platform_databases(pg_server, dbs)
    state = tmp_path / "state"
    env = {
        k: v
        for k, v in _platform_env(pg_server, dbs, meta_db, state, free_port()).items()
        if not k.startswith("AIRFLOW__OPENLINEAGE")
    }
    report_file = tmp_path / "report.json"
    try:
        out = run_cli(
            "platform", "soak", "--minutes", str(MINUTES), "--schedule-minutes", "1",
            "--reconcile-minutes", "2", "--simulate-seconds", "10", "--sample-seconds", "10",
            "--rss-growth-max-pct", "1000", "--log-mb-per-hour-max", "100000",
            # measured from the start: a 3-minute window after a first build of 2-3 min under
            # CI's load would hold no build of its own commits (the warm-up: the long soak)
            "--warm-up-minutes", "0",
            "--report", str(report_file),
            env=env, timeout=1200,
        )  # fmt: skip
        survivors = services.service_processes(state)
    finally:
        run_cli("platform", "down", env=env, timeout=180)
        pg_server.drop_database(meta_db)
    detail = f"{out.stdout[-6000:]}\n{out.stderr[-3000:]}\n" + _tail(
        services.Layout(state).airflow_log, 40
    )
    assert report_file.exists(), detail
    assert not survivors, f"processes survived the soak: {survivors}"
    report = json.loads(report_file.read_text())

    # the criteria that hold in 3 minutes
    runs, dbt = report["runs"], report["dbt"]
    for table in TABLES:
        for dag_id in (f"ingest_{table}", f"reconcile_{table}"):
            assert runs["dags"][dag_id]["failed"] == 0, runs["failed"]
        assert runs["dags"][f"ingest_{table}"]["success"] >= 2, runs["dags"]
    assert dbt["runs"] >= 1, dbt
    assert isinstance(runs["tasks_failed_a_try"], list)
    # a build reads RAW as of a consistent cut (finhouse.cut): nothing fails, not even a
    # cross-table relationships test, and the builds' cuts give commit -> mart freshness
    assert report["violations"] == [], detail
    assert out.returncode == 0, detail
    assert runs["totals"]["failed"] == 0, runs["failed"]
    assert 0 < dbt["p50_s"] <= dbt["max_s"] < 600, dbt
    assert report["warm_up"] == {"seconds": 0.0, "first_build": None, "timed_out": False}
    fresh = report["freshness"]
    assert fresh["measured"], fresh
    assert fresh["overall"]["commits"] > 0
    assert fresh["overall"]["covered"] > 0
    assert 0 < fresh["overall"]["p50"] <= fresh["overall"]["p95"] <= fresh["overall"]["max"]

    # the figures: what ran
    assert MINUTES <= report["minutes"] < MINUTES + 2, report["minutes"]
    assert report["reconcile"]["exact"], report["reconcile"]
    processes = report["rss"]["processes"]
    for name in LONG_LIVED:
        assert name in processes, sorted(processes)
        assert 20 < processes[name]["mid_mb"] < 2000, (name, processes[name])
        assert processes[name]["samples"] >= 10, (name, processes[name])
    assert "postgres" in processes, sorted(processes)  # the test server runs on this machine
    assert len(report["rss"]["samples"]) >= MINUTES * 6
    logs = report["logs"]
    assert logs["dirs"]["airflow logs"]["end"] > logs["dirs"]["airflow logs"]["start"]
    assert logs["mb_per_hour"] > 0
    databases = report["databases"]
    for name in (dbs.oltp, dbs.warehouse, meta_db):
        assert databases[name]["end"] >= databases[name]["start"] > 0, databases

    # every task's log is written once, to its file (the scheduler's output no longer holds a
    # copy); the dbt task logs hold dbt's results, not its START lines or the watcher's pokes
    task_logs = state / "airflow" / "logs"
    dbt_logs = list((task_logs / "dag_id=finhouse_dbt").rglob("*.log"))
    producer = [p for p in dbt_logs if "task_id=dbt_producer_watcher" in str(p)]
    assert producer, sorted(str(p) for p in dbt_logs)[:5]
    assert any("Pre Execute" in p.read_text() for p in dbt_logs)
    scheduler_output = services.Layout(state).airflow_log.read_text()
    assert "Pre Execute" not in scheduler_output
    assert "Pulling status" not in scheduler_output
    producer_text = "\n".join(p.read_text() for p in producer)
    assert " PASS " in producer_text
    assert not re.search(r"\d+ of \d+ START ", producer_text)
    for path in dbt_logs:
        assert "poke attempt #" not in path.read_text(), path

    # the readable report and the progress lines
    assert f"soak    1/{MINUTES} min:" in out.stdout, out.stdout[-3000:]
    for heading in ("DAG", "dbt builds (finhouse_dbt)", "RSS, MB", "final reconcile: exact"):
        assert heading in out.stdout, out.stdout[-3000:]
    assert "stopped Airflow" in out.stdout
