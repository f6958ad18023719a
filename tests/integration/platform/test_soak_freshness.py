"""The soak's commit -> mart freshness, read from a real OLTP and warehouse: the commit times
are the rows' cursor stamps, the builds ``finhouse_meta.mart_builds`` and ``mart_cuts``
(created by the loader's setup, filled here as the dbt DAG fills them)."""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest

from finhouse import endpoints
from finhouse.oltp import schema
from finhouse.oltp.seed import seed
from finhouse_local import soak
from tests.conftest import Databases

pytestmark = pytest.mark.integration

#: the soak's window: far from the seeded history (which ends before today)
T0 = dt.datetime(2031, 3, 1, 9, 0, tzinfo=dt.UTC)


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def test_freshness_matches_commits_to_the_first_build_covering_them(dbs: Databases) -> None:
    schema.init(dbs.oltp_dsn)
    seed(dbs.oltp_dsn, scale=0.01, seed=5, as_of=dt.date(2030, 1, 1))
    with psycopg.connect(dbs.oltp_dsn, autocommit=True) as oltp:
        # commits of the soak: users at minutes 1 and 3 (updated_at), ledger rows at minute 2
        # and 8 (created_at: the ledger's cursor); everything else is older history
        oltp.execute(
            "update users set updated_at = %s where id = (select min(id) from users)", (at(1),)
        )
        oltp.execute(
            "update users set updated_at = %s where id = (select max(id) from users)", (at(3),)
        )
        oltp.execute(
            "update transactions set created_at = %s where id = (select min(id) from transactions)",
            (at(2),),
        )
        oltp.execute(
            "update transactions set created_at = %s where id = (select max(id) from transactions)",
            (at(8),),
        )
    endpoints.target(dbs.warehouse_dsn("loader")).setup()  # the control tables, as loads do
    with psycopg.connect(dbs.warehouse_dsn("loader"), autocommit=True) as wh:
        builds = [
            # each: the cut, its status, when its dbt command ended (none recorded: the run's
            # end counts) and when its run did, the watermark per table
            ("b1", "success", None, at(4), {"users": at(2), "transactions": at(2.5)}),
            ("b2", "failed", at(4.5), at(5), {"users": at(4), "transactions": at(4)}),
            ("b3", "success", at(6.5), at(7), {"users": at(6), "transactions": at(6)}),
            ("b4", "running", at(10), None, {"users": at(9), "transactions": at(9)}),
        ]
        for cut, status, built, finished, cuts in builds:
            wh.execute(
                "insert into finhouse_meta.mart_builds (cut_id, dag_run_id, status, started_at, "
                "built_at, finished_at) values (%s, %s, %s, %s, %s, %s)",
                (cut, cut, status, at(0), built, finished),
            )
            for table, watermark in cuts.items():
                wh.execute(
                    "insert into finhouse_meta.mart_cuts (cut_id, table_name, watermark, "
                    "recorded_at) values (%s, %s, %s, %s)",
                    (cut, table, watermark, at(0)),
                )
    with (
        psycopg.connect(dbs.extract_dsn, autocommit=True) as oltp,
        psycopg.connect(dbs.warehouse_dsn("loader"), autocommit=True) as wh,
    ):
        found = soak.measure_freshness(oltp, wh, since=at(0), end=at(12), goal=300)
    assert found["measured"], found
    users, ledger = found["tables"]["users"], found["tables"]["transactions"]
    # users: 1 -> b1 (run ended at 4): 3 min; 3 -> b3 (built at 6.5), b2 failed: 3.5 min
    assert (users["commits"], users["covered"], users["max"]) == (2, 2, 210.0)
    assert users["p50"] == 195.0
    # ledger: 2 -> b1: 2 min; 8: in no successful build by minute 12 (4 min old: not late)
    assert (ledger["commits"], ledger["covered"], ledger["uncovered"]) == (2, 1, 1)
    assert ledger["oldest_uncovered"] == 240.0
    assert ledger["uncovered_over_goal"] == 0
    overall = found["overall"]
    assert (overall["commits"], overall["covered"], overall["uncovered"]) == (4, 3, 1)
    assert overall["max"] == 210.0
    assert found["tables"]["loans"]["commits"] == 0
    # a minute later than the goal, the pending ledger commit is late
    with (
        psycopg.connect(dbs.extract_dsn, autocommit=True) as oltp,
        psycopg.connect(dbs.warehouse_dsn("loader"), autocommit=True) as wh,
    ):
        later = soak.measure_freshness(oltp, wh, since=at(0), end=at(14), goal=300)
    assert later["overall"]["uncovered_over_goal"] == 1


def test_freshness_without_the_build_tables_says_why(dbs: Databases) -> None:
    schema.init(dbs.oltp_dsn)
    with (
        psycopg.connect(dbs.extract_dsn, autocommit=True) as oltp,
        psycopg.connect(dbs.warehouse_dsn("loader"), autocommit=True) as wh,
    ):
        if soak.mart_builds(wh)[0] is not None:
            pytest.skip("a fresh warehouse has the build tables already")
        found = soak.measure_freshness(oltp, wh, since=at(0), end=at(12), goal=300)
    assert found == {
        "measured": False,
        "reason": "finhouse_meta.mart_builds / mart_cuts do not exist in the warehouse",
    }
