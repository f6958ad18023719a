"""The cut's rules (finhouse.cut) on snapshots written out by hand: which snapshot precedes
which, and which load of each table a build reads (the warehouse side:
tests/integration/dbt/test_cut.py)."""

from __future__ import annotations

import datetime as dt

import pytest

from finhouse.cut import Load, NoConsistentCutError, SourceSnapshot, choose, refresh_order
from finhouse.errors import ConfigError
from finhouse.orchestration.builds import verdict
from finhouse.tables import TABLES

T0 = dt.datetime(2026, 12, 3, 10, 0, tzinfo=dt.UTC)


def snap(text: str) -> SourceSnapshot:
    return SourceSnapshot.parse(text)


@pytest.mark.parametrize(
    ("earlier", "later", "expected"),
    [
        ("100:100:", "100:100:", True),  # the same quiet source
        ("100:100:", "105:110:", True),  # every transaction of the first had ended
        ("100:104:100,102,103", "103:110:103", True),  # 103 ran then and runs now
        ("100:104:", "103:110:103", False),  # 103 committed for the first, running for the second
        ("100:110:", "100:104:", False),  # the first saw 104..109 end, the second had not
        ("100:106:104,105", "100:104:", True),  # 104, 105 had not ended for the first either
        ("105:110:", "100:104:", False),  # an older snapshot cannot see what a newer one does
    ],
)
def test_precedes(earlier: str, later: str, expected: bool) -> None:
    assert snap(earlier).precedes(snap(later)) is expected


@pytest.mark.parametrize("text", ["", "1:2", "a:b:", "5:3:", "3:9:2", "3:9:9", "1:2:3:4"])
def test_a_malformed_snapshot_is_one_clear_error(text: str) -> None:
    with pytest.raises(ConfigError, match="not a snapshot"):
        SourceSnapshot.parse(text)


def load(table: str, minute: int, text: str) -> Load:
    at = T0 + dt.timedelta(minutes=minute)
    return Load(table, f"{table}-{minute}", at, snap(text), at)


REFS = {"users": (), "accounts": ("users",), "transactions": ("accounts",)}


def test_each_table_takes_its_latest_load_preceding_the_tables_it_references() -> None:
    loads = {
        # newest first; the users' latest load ran before accounts' latest one
        "users": [load("users", 4, "200:200:"), load("users", 2, "150:150:")],
        "accounts": [load("accounts", 5, "210:210:"), load("accounts", 3, "180:180:")],
        "transactions": [
            load("transactions", 6, "220:220:"),
            load("transactions", 1, "120:120:"),
        ],
    }
    chosen = choose(loads, REFS)
    assert chosen.loads["users"] == loads["users"][0]
    assert chosen.loads["accounts"] == loads["accounts"][1]  # 210 is newer than users' 200
    assert chosen.loads["transactions"] == loads["transactions"][1]  # bound by accounts' 180
    assert chosen.held_back == ("accounts", "transactions")
    assert chosen.as_of == T0 + dt.timedelta(minutes=1)
    horizons = chosen.horizons()
    assert horizons["accounts"] == (T0 + dt.timedelta(minutes=3)).isoformat()


def test_loads_in_reference_order_are_all_taken() -> None:
    loads = {
        "transactions": [load("transactions", 1, "100:100:")],
        "accounts": [load("accounts", 2, "101:101:")],
        "users": [load("users", 3, "102:103:102")],  # a transaction still runs: harmless
    }
    chosen = choose(loads, REFS)
    assert chosen.held_back == ()
    assert [chosen.loads[t] for t in loads] == [v[0] for v in loads.values()]


def test_a_table_without_loads_is_read_as_it_stands() -> None:
    chosen = choose({"users": [], "accounts": [load("accounts", 1, "5:5:")]}, REFS)
    assert chosen.loads["users"] is None
    assert chosen.horizons() == {"users": None, "accounts": T0.replace(minute=1).isoformat()}
    assert chosen.as_of is None


def test_no_load_preceding_the_referenced_ones_is_one_clear_error() -> None:
    loads = {
        "users": [load("users", 1, "100:100:")],
        "accounts": [load("accounts", 2, "120:120:")],
    }
    with pytest.raises(NoConsistentCutError, match=r"no load of accounts precedes .* users"):
        choose(loads, REFS)


def test_the_dbt_dag_loads_every_table_after_the_tables_that_reference_it() -> None:
    # payments -> loans -> accounts -> users; transactions -> accounts; investments -> users
    order = refresh_order()
    assert sorted(order) == sorted(TABLES)
    for name, spec in TABLES.items():
        for referenced in spec.references:
            assert order.index(name) < order.index(referenced), (name, referenced)


def test_the_verdict_names_failed_nodes_even_when_every_task_passed_later() -> None:
    record = {"dbt": {"failed": ["test.finhouse.relationships_x"]}}
    states = {"dbt_producer_watcher": "failed", "models.a.run": "success"}
    assert verdict(states, record, "dbt_producer_watcher") == [
        "dbt node test.finhouse.relationships_x"
    ]
    # the producer failed before dbt reported anything (a bad selection, no warehouse)
    assert verdict(states, None, "dbt_producer_watcher") == [
        "task dbt_producer_watcher failed (dbt did not report the nodes)"
    ]
    assert verdict({"raw_cut": "failed", "dbt_producer_watcher": "upstream_failed"}, None, "p") == [
        "task dbt_producer_watcher upstream_failed",
        "task raw_cut failed",
    ]
    assert verdict({"dbt_producer_watcher": "success"}, {"dbt": {"failed": []}}, "p") == []
