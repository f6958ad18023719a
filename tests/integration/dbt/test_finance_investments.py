"""Finance and investment marts against independent Python computations from the OLTP.

Each figure is recomputed here from the seeded OLTP (never from the warehouse) with exact
``Decimal`` arithmetic, following docs/metrics.md, and compared with the dbt build to the cent:
ledger flows per month and branch, end-of-day balances, savings interest, and the accrued
value of investments.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import psycopg
import pytest

from tests.integration.dbt.conftest import AS_OF

pytestmark = pytest.mark.integration

CENT = Decimal("0.01")
CREDITS = {"deposit", "transfer_in", "interest", "loan_disbursement"}
DEBITS = {"withdrawal", "transfer_out", "fee", "loan_repayment"}
FLOW_COLUMNS = {
    "deposit": "deposits",
    "withdrawal": "withdrawals",
    "loan_disbursement": "loan_disbursements",
    "loan_repayment": "loan_repayments",
    "fee": "fees",
    "interest": "interest_paid",
    "transfer_in": "transfers_in",
    "transfer_out": "transfers_out",
}
SAMPLE_ACCOUNTS = 40


def _cents(value: Decimal) -> Decimal:
    """Round half away from zero to cents (what round(x, 2) does on numeric)."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _utc_date(at: dt.datetime) -> dt.date:
    return at.astimezone(dt.UTC).date()


def _month(day: dt.date) -> dt.date:
    return day.replace(day=1)


def _rows(dsn: str, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(query, params).fetchall()


@pytest.fixture(scope="module")
def ledger(built: Any) -> list[tuple[int, int, str, Decimal, Decimal, dt.datetime, str]]:
    """The OLTP ledger with each account owner's current branch, in ledger order."""
    return _rows(
        built.oltp_dsn,
        "select t.id, t.account_id, t.txn_type, t.amount, t.balance_after, t.occurred_at, "
        "u.branch_code from transactions t join accounts a on a.id = t.account_id "
        "join users u on u.id = a.user_id order by t.account_id, t.occurred_at, t.id",
    )


@pytest.fixture(scope="module")
def daily_balances(ledger: list[tuple[Any, ...]]) -> dict[int, dict[dt.date, Decimal]]:
    """End-of-day balances of a sample of accounts, from the first ledger day to AS_OF."""
    last_of_day: dict[int, dict[dt.date, Decimal]] = defaultdict(dict)
    for _id, account_id, _type, _amount, balance_after, occurred_at, _branch in ledger:
        day = _utc_date(occurred_at)
        if day <= AS_OF:
            last_of_day[account_id][day] = balance_after  # rows come in ledger order
    sample = sorted(last_of_day)[:: max(1, len(last_of_day) // SAMPLE_ACCOUNTS)]
    balances: dict[int, dict[dt.date, Decimal]] = {}
    for account_id in sample:
        movements = last_of_day[account_id]
        day, balance, per_day = min(movements), Decimal(0), {}
        while day <= AS_OF:
            balance = movements.get(day, balance)
            per_day[day] = balance
            day += dt.timedelta(days=1)
        balances[account_id] = per_day
    return balances


def test_monthly_flows_per_branch_match_the_ledger(
    built: Any, ledger: list[tuple[Any, ...]]
) -> None:
    expected: dict[tuple[dt.date, str], dict[str, Decimal]] = defaultdict(
        lambda: defaultdict(Decimal)
    )
    for _id, _account, txn_type, amount, _balance, occurred_at, branch in ledger:
        day = _utc_date(occurred_at)
        if day > AS_OF:
            continue
        flows = expected[_month(day), branch]
        flows[FLOW_COLUMNS[txn_type]] += amount
        flows["net_flow"] += amount if txn_type in CREDITS else -amount
        assert txn_type in CREDITS | DEBITS

    columns = [*FLOW_COLUMNS.values(), "net_flow"]
    mart = {
        (row[0], row[1]): dict(zip(columns, row[2:], strict=True))
        for row in _rows(
            built.dsn(),
            f"select month_start, branch_code, {', '.join(columns)} "
            "from marts.monthly_financial_summary",
        )
    }
    # every month and branch with movements, exact to the cent, on every flow
    for key, flows in expected.items():
        assert key in mart, f"no summary row for {key}"
        for column in columns:
            assert mart[key][column] == flows[column], (key, column)
    # rows without movements are all zeros
    for key, row in mart.items():
        if key not in expected:
            assert all(value == 0 for value in row.values()), key
    # the spot check asked for: a few recent months of deposits, withdrawals and net flow
    recent = sorted({month for month, _branch in expected})[-3:]
    for month in recent:
        for (m, branch), flows in expected.items():
            if m == month:
                got = mart[m, branch]
                assert (got["deposits"], got["withdrawals"], got["net_flow"]) == (
                    flows["deposits"],
                    flows["withdrawals"],
                    flows["net_flow"],
                )
    total = _rows(built.dsn(), "select sum(net_flow) from marts.monthly_financial_summary")
    assert total[0][0] == sum(f["net_flow"] for f in expected.values())


def test_end_of_day_balances_match_the_ledger(
    built: Any, daily_balances: dict[int, dict[dt.date, Decimal]]
) -> None:
    rows = _rows(
        built.dsn(),
        "select account_id, balance_date, end_of_day_balance "
        "from intermediate.int_accounts__daily_balances "
        "where account_id = any(%s)",
        (list(daily_balances),),
    )
    mart: dict[int, dict[dt.date, Decimal]] = defaultdict(dict)
    for account_id, day, balance in rows:
        mart[account_id][day] = balance
    assert len(daily_balances) >= 10
    for account_id, expected in daily_balances.items():
        assert mart[account_id] == expected, account_id


def test_end_of_day_balance_at_as_of_is_the_account_balance(built: Any) -> None:
    """The as-of balance is the ledger's last balance_after up to the as-of date; for
    accounts the app has not touched since (other tests simulate activity after it), it is
    also the account's current balance."""
    ledger = dict(
        _rows(
            built.oltp_dsn,
            """
        select distinct on (account_id) account_id, balance_after from transactions
        where (occurred_at at time zone 'UTC')::date <= %s
        order by account_id, occurred_at desc, id desc""",
            (AS_OF,),
        )
    )
    untouched = dict(
        _rows(
            built.oltp_dsn,
            """
        select a.id, a.balance from accounts a
        where not exists (select 1 from transactions t where t.account_id = a.id
                          and (t.occurred_at at time zone 'UTC')::date > %s)""",
            (AS_OF,),
        )
    )
    mart = dict(
        _rows(
            built.dsn(),
            "select account_id, end_of_day_balance from intermediate.int_accounts__daily_balances "
            "where balance_date = %s",
            (AS_OF,),
        )
    )
    assert mart
    assert mart == ledger
    checked = 0
    for account_id, balance in mart.items():
        if account_id in untouched:
            assert balance == untouched[account_id], account_id
            checked += 1
    assert checked > len(mart) // 2


def test_savings_interest_accrues_daily_and_rounds_the_month(
    built: Any, daily_balances: dict[int, dict[dt.date, Decimal]]
) -> None:
    rates = dict(_rows(built.oltp_dsn, "select id, interest_rate from accounts"))
    expected: dict[tuple[int, dt.date], Decimal] = {}
    for account_id, per_day in daily_balances.items():
        if rates[account_id] <= 0:
            continue
        unrounded: dict[dt.date, Decimal] = defaultdict(Decimal)
        for day, balance in per_day.items():
            unrounded[_month(day)] += balance * rates[account_id]
        for month, total in unrounded.items():
            expected[account_id, month] = _cents(total / 365)
    assert expected
    mart = {
        (account_id, month): interest
        for account_id, month, interest in _rows(
            built.dsn(),
            "select account_id, month_start, accrued_interest "
            "from intermediate.int_accounts__savings_interest",
        )
        if account_id in daily_balances
    }
    assert mart == expected


def test_investment_accrued_values(built: Any) -> None:
    expected = {}
    for inv_id, status, principal, rate, start, maturity, updated_at in _rows(
        built.oltp_dsn,
        "select id, status, principal, annual_rate, start_date, maturity_date, updated_at "
        "from investments",
    ):
        if start > AS_OF:
            continue
        end = min(AS_OF, maturity)
        if status == "withdrawn":
            end = min(end, _utc_date(updated_at))
        days = max(0, (end - start).days)
        value = _cents(principal * (1 + rate * Decimal(days) / 365))
        annualised = (
            ((value - principal) * 365 / (principal * days)).quantize(
                Decimal("0.000001"), rounding=ROUND_HALF_UP
            )
            if days
            else None
        )
        expected[inv_id] = (status, days, value, value - principal, annualised)
    assert expected
    mart = {
        row[0]: tuple(row[1:])
        for row in _rows(
            built.dsn(),
            "select investment_id, investment_status, days_held, accrued_value, accrued_return, "
            "annualised_return from marts.investments_current",
        )
    }
    assert mart == expected

    by_product: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    ladder: dict[dt.date, Decimal] = defaultdict(Decimal)
    for inv_id, product, status, principal, maturity in _rows(
        built.oltp_dsn,
        "select id, product, status, principal, maturity_date from investments",
    ):
        if inv_id in expected and status == "active":
            by_product[product][0] += principal
            by_product[product][1] += expected[inv_id][2]
            ladder[_month(maturity)] += principal
    products = {
        product: [principal, value]
        for product, principal, value in _rows(
            built.dsn(),
            "select investment_product, active_principal, active_accrued_value "
            "from marts.investments_by_product",
        )
        if principal
    }
    assert products == dict(by_product)
    assert (
        dict(
            _rows(
                built.dsn(),
                "select maturity_month, principal_maturing from marts.investment_maturity_ladder",
            )
        )
        == ladder
    )


def test_investment_book_at_month_ends(built: Any) -> None:
    """investments_monthly recomputed from the OLTP: every month-end's book per product (in the
    book = started and not ended by that day; ended = matured on maturity_date, withdrawn on the
    UTC date of the last update, capped at maturity), its value, and the month's movements."""
    investments = [
        row
        for row in _rows(
            built.oltp_dsn,
            "select product, status, principal, annual_rate, start_date, maturity_date, "
            "updated_at from investments",
        )
        if row[4] <= AS_OF
    ]
    assert investments
    expected: dict[tuple[dt.date, str], list[Any]] = {}
    products = {row[0] for row in investments}
    month = _month(min(row[4] for row in investments))
    while month <= AS_OF:
        following = (month + dt.timedelta(days=32)).replace(day=1)
        period_end = min(following - dt.timedelta(days=1), AS_OF)
        for product in products:
            expected[month, product] = [0, Decimal("0.00"), Decimal("0.00"), 0, 0, 0]
        for product, status, principal, rate, start, maturity, updated_at in investments:
            ended = {
                "matured": maturity,
                "withdrawn": max(start, min(_utc_date(updated_at), maturity)),
            }.get(status)
            if ended is not None and ended > AS_OF:
                ended = None
            figures = expected[month, product]
            if start <= period_end and (ended is None or ended > period_end):
                days = (min(period_end, maturity) - start).days
                figures[0] += 1
                figures[1] += principal
                figures[2] += _cents(principal * (1 + rate * Decimal(days) / 365))
            figures[3] += month <= start <= period_end
            figures[4] += status == "matured" and ended is not None and month <= ended <= period_end
            figures[5] += (
                status == "withdrawn" and ended is not None and month <= ended <= period_end
            )
        month = following
    mart = {
        (row[0], row[1]): list(row[2:])
        for row in _rows(
            built.dsn(),
            "select month_start, investment_product, investment_count, principal, accrued_value, "
            "started_count, matured_count, withdrawn_count from marts.investments_monthly",
        )
    }
    assert mart == expected
