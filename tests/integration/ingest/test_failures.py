"""Whatever fails when, nothing is lost or duplicated: kills, concurrency, bad input."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import threading
import time

import psycopg
import pytest

from finhouse.oltp.seed import seed
from tests.conftest import FINHOUSE, free_port, run_cli
from tests.integration.ingest.conftest import Pipeline
from tests.support.raw import assert_raw_equals_oltp, versions

pytestmark = pytest.mark.integration


def _wait_for(predicate: object, timeout: float = 30.0, step: float = 0.005) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(step)
    return False


def test_sigkill_mid_load_leaves_raw_and_watermark_unchanged(pipe: Pipeline) -> None:
    # a bigger ledger so the COPY lasts long enough to be caught mid-stream
    seed(pipe.dbs.oltp_dsn, scale=1, seed=6, as_of=dt.date.today(), replace=True)  # noqa: DTZ011
    pipe.ingest("users")  # some state exists beforehand
    with pipe.warehouse() as wh:
        users_before = versions(wh, "users")
    watermark_before = pipe.target.watermark("transactions")
    proc = subprocess.Popen(
        [FINHOUSE, "ingest", "transactions"],
        env=pipe.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    with pipe.warehouse() as wh:
        copying = _wait_for(
            lambda: (
                wh.execute(
                    "select count(*) from pg_stat_activity where application_name = "
                    "'finhouse-load' and query ilike 'copy%%from stdin%%' and state = 'active'"
                ).fetchone()[0]
                > 0
            )
        )
        assert copying, "the load never reached its COPY"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        # the server aborts the orphaned transaction and releases the lock by itself
        assert _wait_for(
            lambda: (
                wh.execute(
                    "select count(*) from pg_stat_activity where application_name = 'finhouse-load'"
                ).fetchone()[0]
                == 0
            ),
            timeout=60,
            step=0.1,
        )
        # the killed run's table creation rolled back with its rows
        assert wh.execute("select to_regclass('raw.transactions')").fetchone() == (None,)
        assert versions(wh, "users") == users_before
    assert pipe.target.watermark("transactions") == watermark_before
    rerun = run_cli("ingest", "transactions", env=pipe.env(), check=True)
    assert "transactions: incremental" in rerun.stdout
    with pipe.oltp() as oltp, pipe.warehouse() as wh:
        assert_raw_equals_oltp(oltp, wh, ["transactions"])
        statuses = dict(
            wh.execute(
                "select status, count(*) from finhouse_meta.load_runs where table_name = "
                "'transactions' group by 1"
            ).fetchall()
        )
        assert statuses == {"abandoned": 1, "success": 1}


def test_two_concurrent_runs_do_not_interleave(pipe: Pipeline) -> None:
    procs = [
        subprocess.Popen(
            [FINHOUSE, "ingest", "payments", "transactions"],
            env=pipe.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outs
    with pipe.oltp() as oltp, pipe.warehouse() as wh:
        assert_raw_equals_oltp(oltp, wh, ["payments", "transactions"])
        overlaps = wh.execute("""
            select count(*) from finhouse_meta.load_runs a join finhouse_meta.load_runs b
              on a.table_name = b.table_name and a.load_id < b.load_id
             and a.started_at < b.finished_at and b.started_at < a.finished_at""").fetchone()
        assert overlaps == (0,)
        assert wh.execute(
            "select count(*) from finhouse_meta.load_runs where status = 'success'"
        ).fetchone() == (6,)


def test_a_run_waits_for_the_lock_then_fails_clearly(pipe: Pipeline) -> None:
    pipe.target.setup()
    release = threading.Event()
    held = threading.Event()

    def hold() -> None:
        with pipe.target.lock("loans", "backfill-run-42", 60):
            held.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(10)
        out = run_cli("ingest", "loans", "--lock-wait", "1", env=pipe.env())
        assert out.returncode == 1
        assert out.stderr.count("\n") == 1
        assert "loans is being loaded by run backfill-run-42" in out.stderr
        assert "gave up after waiting 1 s" in out.stderr
        waiter = subprocess.Popen(
            [FINHOUSE, "ingest", "loans", "--lock-wait", "30"],
            env=pipe.env(),
            stdout=subprocess.PIPE,
            text=True,
        )
        time.sleep(1.5)
        assert waiter.poll() is None  # still waiting
        release.set()
        assert waiter.wait(timeout=60) == 0
    finally:
        release.set()
        holder.join()
    with pipe.warehouse() as wh:
        assert versions(wh, "loans") > 0


def _one_line_failure(out: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert out.returncode != 0
    assert out.stderr.count("\n") == 1, out.stderr
    assert out.stderr.startswith("finhouse: error: ")
    for needle in needles:
        assert needle in out.stderr


def _nothing_loaded(pipe: Pipeline) -> None:
    with pipe.warehouse() as wh:
        assert wh.execute(
            "select count(*) from pg_tables where schemaname in ('raw', 'finhouse_meta')"
        ).fetchone() == (0,)


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["ingest", "loanz"], ["unknown table 'loanz'", "users, accounts"]),
        (["ingest", "users", "loanz"], ["unknown table 'loanz'"]),
        (["ingest"], ["name at least one table"]),
        (["ingest", "users", "--all"], ["not both"]),
        (["reconcile", "ledger"], ["unknown table 'ledger'"]),
        (
            [
                "ingest",
                "users",
                "--since",
                "2026-01-02T00:00:00Z",
                "--until",
                "2026-01-01T00:00:00Z",
            ],
            ["impossible window"],
        ),
        (["ingest", "users", "--since", "2026-01-01T00:00:00Z"], ["go together"]),
        (
            ["ingest", "users", "--since", "2026-01-01", "--until", "2026-01-02T00:00:00Z"],
            ["needs a time zone"],
        ),
        (["ingest", "users", "--since", "yesterday", "--until", "today"], ["not an ISO 8601"]),
        (
            [
                "ingest",
                "users",
                "--full-refresh",
                "--since",
                "2026-01-01T00:00:00Z",
                "--until",
                "2026-01-02T00:00:00Z",
            ],
            ["takes no window"],
        ),
    ],
)
def test_bad_input_gets_one_clear_line_and_changes_nothing(
    pipe: Pipeline, args: list[str], needles: list[str]
) -> None:
    _one_line_failure(run_cli(*args, env=pipe.env()), *needles)
    _nothing_loaded(pipe)


@pytest.mark.parametrize("which", ["FINHOUSE_OLTP_EXTRACT_DSN", "FINHOUSE_WAREHOUSE_DSN"])
def test_unreachable_database_gets_one_clear_line(pipe: Pipeline, which: str) -> None:
    env = {**pipe.env(), which: f"postgresql://loader:pw@127.0.0.1:{free_port()}/warehouse"}
    _one_line_failure(
        run_cli("ingest", "users", env=env),
        "cannot connect to",
        "postgresql://loader:***@127.0.0.1",
    )
    _nothing_loaded(pipe)


def test_reconcile_reports_a_real_gap_exits_nonzero_and_repairs_it(pipe: Pipeline) -> None:
    pipe.ingest("investments")
    with psycopg.connect(pipe.dbs.warehouse_dsn("admin"), autocommit=True) as wh:
        # RAW damaged behind the loader's back: a row lost, a value changed
        wh.execute("delete from raw.investments where id = (select min(id) from raw.investments)")
        wh.execute(
            "update raw.investments set current_value = current_value + 1 "
            "where id = (select max(id) from raw.investments)"
        )
    out = run_cli("reconcile", "investments", env=pipe.env())
    assert out.returncode == 1
    assert "1 missing, 1 differ" in out.stdout
    assert "differences found in investments" in out.stderr
    repaired = run_cli("reconcile", "investments", "--repair", env=pipe.env())
    assert repaired.returncode == 0, repaired.stderr
    assert "repaired 2 rows" in repaired.stdout
    assert run_cli("reconcile", "investments", env=pipe.env()).returncode == 0
    with pipe.oltp() as oltp, pipe.warehouse() as wh:
        assert_raw_equals_oltp(oltp, wh, ["investments"])
        assert wh.execute(
            "select status, rows_loaded + rows_replaced from finhouse_meta.load_runs "
            "where mode = 'repair'"
        ).fetchall() == [("success", 2)]
    assert os.environ.get("FINHOUSE_OLTP_DSN") is None  # the test env never leaked


def test_reconcile_of_a_table_never_loaded_fails(pipe: Pipeline) -> None:
    out = run_cli("reconcile", "payments", env=pipe.env())
    assert out.returncode == 1
    assert "never loaded" in out.stdout
