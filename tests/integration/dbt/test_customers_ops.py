"""Customer and ops marts against independent Python computations.

Deposits concentration (docs/metrics.md "Customers and concentration") and customer balances are
recomputed from the OLTP ledger at the as-of date; pipeline_health is compared with the
loader's own finhouse_meta.watermarks.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import psycopg
import pytest

from finhouse.tables import TABLES
from tests.integration.dbt.conftest import AS_OF

pytestmark = pytest.mark.integration

SIX_PLACES = Decimal("0.000001")


def _balances_at(oltp_dsn: str, as_of: dt.date) -> dict[int, tuple[int, str, Decimal]]:
    """account_id -> (user_id, account_type, balance at the end of the UTC as-of date)."""
    with psycopg.connect(oltp_dsn) as conn:
        conn.execute("set time zone 'UTC'")
        accounts = conn.execute(
            "select id, user_id, account_type from accounts where opened_at::date <= %s",
            (as_of,),
        ).fetchall()
        last_balance = dict(
            conn.execute(
                "select distinct on (account_id) account_id, balance_after from transactions "
                "where occurred_at::date <= %s order by account_id, occurred_at desc, id desc",
                (as_of,),
            ).fetchall()
        )
    return {
        account_id: (user_id, account_type, last_balance.get(account_id, Decimal("0.00")))
        for account_id, user_id, account_type in accounts
    }


def _gini(values: list[Decimal]) -> Decimal:
    x = sorted(values)
    n = len(x)
    numerator = sum((2 * i - n - 1) * value for i, value in enumerate(x, start=1))
    return Decimal(numerator) / (n * sum(x))


def _top_share(values: list[Decimal]) -> Decimal:
    x = sorted(values, reverse=True)
    top = -(-len(x) // 10)  # ceil(n / 10)
    return sum(x[:top]) / sum(x)


def test_gini_and_top_share_reference() -> None:
    # the hand-computed cases of the dbt unit tests, through the Python reference
    assert _gini([Decimal(v) for v in (1, 2, 3, 4)]) == Decimal("0.25")
    assert _gini([Decimal(5)] * 4) == 0
    assert _top_share([Decimal(v) for v in (1, 2, 3, 4)]) == Decimal("0.4")


def test_deposits_concentration_matches_the_oltp(built: Any) -> None:
    balances = [b for _, _, b in _balances_at(built.oltp_dsn, AS_OF).values() if b > 0]
    with psycopg.connect(built.dsn()) as conn:
        row = conn.execute(
            "select holders, total_balance, top_10_pct_share, gini, as_of_date "
            "from marts.concentration_summary where population = 'deposits'"
        ).fetchone()
    assert row is not None
    holders, total, top_share, gini, as_of = row
    assert as_of == AS_OF
    assert holders == len(balances) > 10
    assert total == sum(balances)
    assert top_share == _top_share(balances).quantize(SIX_PLACES, ROUND_HALF_UP)
    assert gini == _gini(balances).quantize(SIX_PLACES, ROUND_HALF_UP)


def test_deposit_deciles_add_up(built: Any) -> None:
    with psycopg.connect(built.dsn()) as conn:
        deciles = conn.execute(
            "select decile, holders, balance from marts.concentration_deciles "
            "where population = 'deposits' order by decile"
        ).fetchall()
        holders, total, top = conn.execute(
            "select holders, total_balance, top_10_pct_balance from marts.concentration_summary "
            "where population = 'deposits'"
        ).fetchone()  # type: ignore[misc]
    assert [d for d, _, _ in deciles] == list(range(1, 11))
    assert sum(h for _, h, _ in deciles) == holders
    assert sum(b for _, _, b in deciles) == total
    assert deciles[-1][2] == top


def test_customer_360_balances_match_the_oltp(built: Any) -> None:
    deposits: dict[int, Decimal] = defaultdict(Decimal)
    savings: dict[int, Decimal] = defaultdict(Decimal)
    for user_id, account_type, balance in _balances_at(built.oltp_dsn, AS_OF).values():
        deposits[user_id] += balance
        if account_type == "savings":
            savings[user_id] += balance
    with psycopg.connect(built.oltp_dsn) as conn:
        conn.execute("set time zone 'UTC'")
        customers = {
            user_id
            for (user_id,) in conn.execute(
                "select id from users where role = 'customer' and date_joined::date <= %s",
                (AS_OF,),
            )
        }
    with psycopg.connect(built.dsn()) as conn:
        mart = {
            user_id: (deposit_balance, savings_balance)
            for user_id, deposit_balance, savings_balance in conn.execute(
                "select user_id, deposit_balance, savings_balance from marts.customer_360"
            )
        }
    assert set(mart) == customers
    sample = sorted(customers)[::7]
    assert sample
    for user_id in sample:
        assert mart[user_id] == (deposits[user_id], savings[user_id]), user_id


def test_pipeline_health_has_each_table_and_its_watermark(built: Any) -> None:
    with psycopg.connect(built.dsn()) as conn:
        watermarks = dict(
            conn.execute("select table_name, watermark from finhouse_meta.watermarks").fetchall()
        )
        health = conn.execute(
            "select table_name, current_watermark, last_run_status, runs_total, "
            "freshness_minutes from marts.pipeline_health"
        ).fetchall()
    assert sorted(row[0] for row in health) == sorted(TABLES)
    for table, watermark, status, runs, freshness in health:
        assert watermark == watermarks[table], table
        assert status == "success"
        assert runs >= 1
        assert freshness is not None
        assert freshness >= 0


def _month_ends(first: dt.date, last: dt.date) -> list[dt.date]:
    """Every month's last day from first's month to last's month, last itself for its month."""
    ends = []
    month = first.replace(day=1)
    while month <= last:
        following = (month + dt.timedelta(days=32)).replace(day=1)
        ends.append(min(following - dt.timedelta(days=1), last))
        month = following
    return ends


def test_concentration_at_month_ends_matches_the_oltp(built: Any) -> None:
    """Deposits at past month-ends from the OLTP ledger; GLP from each loan's month-end position;
    the as-of month's row is concentration_summary."""
    with psycopg.connect(built.dsn()) as conn:
        monthly = {
            (population, period_end): (holders, total, top_share, gini)
            for population, period_end, holders, total, top_share, gini in conn.execute(
                "select population, period_end_date, holders, total_balance, top_10_pct_share, "
                "gini from marts.concentration_monthly"
            )
        }
        positions: dict[dt.date, list[Decimal]] = defaultdict(list)
        for period_end, outstanding in conn.execute(
            "select period_end_date, outstanding_principal from marts.loan_provisions_monthly "
            "where outstanding_principal > 0"
        ):
            positions[period_end].append(outstanding)
        summary = {
            population: (holders, total, top_share, gini)
            for population, holders, total, top_share, gini in conn.execute(
                "select population, holders, total_balance, top_10_pct_share, gini "
                "from marts.concentration_summary"
            )
        }

    def figures(values: list[Decimal]) -> tuple[int, Decimal, Decimal, Decimal]:
        return (
            len(values),
            sum(values, Decimal("0.00")),
            _top_share(values).quantize(SIX_PLACES, ROUND_HALF_UP),
            _gini(values).quantize(SIX_PLACES, ROUND_HALF_UP),
        )

    for period_end in (dt.date(2025, 12, 31), dt.date(2026, 3, 31), AS_OF):
        balances = [b for _, _, b in _balances_at(built.oltp_dsn, period_end).values() if b > 0]
        assert len(balances) > 10
        assert monthly["deposits", period_end] == figures(balances), period_end
    ends = _month_ends(min(positions), AS_OF)
    assert sorted(end for p, end in monthly if p == "glp") == sorted(positions) == ends
    for period_end, values in positions.items():
        assert monthly["glp", period_end] == figures(values), period_end
    assert summary == {p: monthly[p, AS_OF] for p in ("deposits", "glp")}
