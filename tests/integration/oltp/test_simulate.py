"""The simulator behaves like the live app and keeps every invariant."""

from __future__ import annotations

import datetime as dt
import threading
import time

import psycopg
import pytest

from finhouse.oltp.simulate import simulate
from tests.conftest import Databases, SeededOltps, run_cli
from tests.support.invariants import assert_invariants

pytestmark = pytest.mark.integration


@pytest.fixture
def seeded(dbs: Databases, seeded_oltps: SeededOltps) -> Databases:
    seeded_oltps.restore(dbs.oltp, scale=0.1, seed=21, as_of=dt.datetime.now(dt.UTC).date())
    return dbs


def _ids(conn: psycopg.Connection, table: str) -> set[int]:
    return {r[0] for r in conn.execute(f"select id from {table}")}


def test_simulation_mutates_like_the_app_and_keeps_invariants(seeded: Databases) -> None:
    with psycopg.connect(seeded.oltp_dsn, autocommit=True) as conn:
        before = {t: _ids(conn, t) for t in ("users", "loans", "payments", "transactions")}
        started = dt.datetime.now(dt.UTC)
        stats = simulate(seeded.oltp_dsn, ticks=40, seed=3)
        finished = dt.datetime.now(dt.UTC)
        assert_invariants(conn)
        after = {t: _ids(conn, t) for t in before}
        assert after["users"] > before["users"]  # sign-ups
        assert len(after["transactions"] - before["transactions"]) == stats.ledger_rows > 0
        assert before["transactions"] <= after["transactions"]  # the ledger is append-only
        assert stats.payments > 0
        assert stats.settlements > 0
        assert stats.disbursements + stats.approvals > 0
        # every change is stamped by the app's clock during the run, none in the future
        changed = conn.execute(
            "select min(updated_at), max(updated_at), count(*) from loans where updated_at >= %s",
            (started,),
        ).fetchone()
        assert changed is not None
        assert changed[2] > 0
        assert started <= changed[0] <= changed[1] <= finished
    assert stats.operations > 40 * 10


def _count(dsn: str, table: str) -> int:
    with psycopg.connect(dsn) as conn:
        return int(conn.execute(f"select count(*) from {table}").fetchone()[0])  # type: ignore[index]


def test_hard_deletes_really_delete(seeded: Databases) -> None:
    payments, loans = _count(seeded.oltp_dsn, "payments"), _count(seeded.oltp_dsn, "loans")
    stats = simulate(seeded.oltp_dsn, ticks=120, seed=4)
    assert stats.cancellations > 0
    assert _count(seeded.oltp_dsn, "payments") == payments + stats.payments - stats.cancellations
    assert _count(seeded.oltp_dsn, "loans") == loans + stats.applications - stats.abandons


def test_hold_open_commits_rows_stamped_before_rows_committed_meanwhile(seeded: Databases) -> None:
    result: dict[str, object] = {}

    def run() -> None:
        result["stats"] = simulate(seeded.oltp_dsn, ticks=8, seed=5, interval=0.25, hold_open=3.0)

    thread = threading.Thread(target=run)
    started = dt.datetime.now(dt.UTC)
    thread.start()
    with psycopg.connect(seeded.extract_dsn, autocommit=True) as monitor:
        time.sleep(1.0)
        holders = monitor.execute(
            "select count(*) from pg_stat_activity where datname = current_database() "
            "and backend_xid is not null and xact_start < now() - interval '0.5 s'"
        ).fetchone()
        assert holders == (1,)  # the long writer is visible to pg_monitor, as extracts need
    thread.join(timeout=60)
    stats = result["stats"]
    assert stats.held_rows > 0  # type: ignore[attr-defined]
    with psycopg.connect(seeded.oltp_dsn, autocommit=True) as conn:
        held_user = conn.execute(
            "select updated_at, xmin::text::bigint from users "
            "where date_joined >= %s order by id limit 1",
            (started,),
        ).fetchone()
        assert held_user is not None
        # rows committed by other transactions during the hold carry later stamps
        later = conn.execute(
            "select count(*) from transactions where created_at > %s and xmin::text::bigint > %s",
            held_user,
        ).fetchone()
        assert later is not None
        assert later[0] > 0
        assert_invariants(conn)


def test_simulate_cli_shows_progress_and_a_summary(seeded: Databases) -> None:
    out = run_cli("oltp", "simulate", "--ticks", "3", "--seed", "1", env=seeded.env(), check=True)
    assert "ticks" in out.stderr or "━" in out.stderr
    assert "3 ticks" in out.stdout or "ticks" in out.stdout
