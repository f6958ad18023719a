"""The contract marts (docs/interfaces.md §5) recomputed independently in Python from the OLTP,
matched to the cent.

At each of the last six month-ends and at the as-of date; then again after payments are
reversed, completed late and arrive late with an old paid_at (the incremental model must
restate every affected loan, however old the change).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

import psycopg
import pytest

from tests.integration.dbt.conftest import AS_OF, Warehouse
from tests.support.kpi_reference import LoanState, loan_states

pytestmark = pytest.mark.integration


def _month_ends(as_of: dt.date, count: int) -> list[dt.date]:
    ends, day = [], as_of.replace(day=1)
    for _ in range(count):
        day -= dt.timedelta(days=1)
        ends.append(day)
        day = day.replace(day=1)
    return ends


DATES = [AS_OF, *_month_ends(AS_OF, 6)]


def _bucket(dpd: int) -> str:
    for upper, name in (
        (0, "current"),
        (30, "1-30"),
        (60, "31-60"),
        (90, "61-90"),
        (180, "91-180"),
    ):
        if dpd <= upper:
            return name
    return "181+"


def _expected_portfolio(states: list[LoanState], disbursed: dict, day: dt.date) -> dict:
    rows: dict[tuple, dict] = defaultdict(
        lambda: {
            "active_loans": 0,
            "borrowers": set(),
            "gross_loan_portfolio": Decimal(0),
            "par1_amount": Decimal(0),
            "par30_amount": Decimal(0),
            "par60_amount": Decimal(0),
            "par90_amount": Decimal(0),
            "disbursed_amount": Decimal(0),
        }
    )
    for s in states:
        key = (s.branch_code, s.product, s.loan_officer_id)
        row = rows[key]
        if s.in_portfolio and s.outstanding > 0:
            row["active_loans"] += 1
            row["borrowers"].add(s.borrower_id)
        row["gross_loan_portfolio"] += s.outstanding
        for days in (1, 30, 60, 90):
            if s.dpd > days:
                row[f"par{days}_amount"] += s.outstanding
    for key, amount in disbursed.get(day, {}).items():
        rows[key]["disbursed_amount"] += amount
    return {
        key: {
            **{k: v for k, v in row.items() if k != "borrowers"},
            "active_borrowers": len(row["borrowers"]),
        }
        for key, row in rows.items()
    }


def _disbursements(oltp: psycopg.Connection) -> dict:
    out: dict[dt.date, dict[tuple, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for day, branch, product, officer, principal in oltp.execute("""
            select (l.disbursed_at at time zone 'UTC')::date, u.branch_code, l.product,
                   l.loan_officer_id, l.principal
            from loans l join users u on u.id = l.borrower_id
            where l.disbursed_at is not null"""):
        out[day][(branch, product, officer)] += principal
    return out


def _actual_portfolio(wh: psycopg.Connection, day: dt.date) -> dict:
    rows = wh.execute(
        """
        select branch_code, product, loan_officer_id, active_loans, active_borrowers,
               gross_loan_portfolio, par1_amount, par30_amount, par60_amount, par90_amount,
               disbursed_amount
        from marts.portfolio_daily where as_of_date = %s""",
        (day,),
    ).fetchall()
    names = (
        "active_loans",
        "active_borrowers",
        "gross_loan_portfolio",
        "par1_amount",
        "par30_amount",
        "par60_amount",
        "par90_amount",
        "disbursed_amount",
    )
    return {(r[0], r[1], r[2]): dict(zip(names, r[3:], strict=True)) for r in rows}


def _check_portfolio(built: Warehouse, days: list[dt.date]) -> None:
    with psycopg.connect(built.oltp_dsn) as oltp, psycopg.connect(built.dsn()) as wh:
        disbursed = _disbursements(oltp)
        for day in days:
            expected = _expected_portfolio(loan_states(oltp, day), disbursed, day)
            actual = _actual_portfolio(wh, day)
            # the mart also carries zero rows for combinations without loans that day
            nonzero = {k: v for k, v in actual.items() if any(v.values())}
            assert {k: v for k, v in expected.items() if any(v.values())} == nonzero, day


def _check_loans_current(built: Warehouse, day: dt.date) -> None:
    built.dbt("run", "--select", "loans_current", as_of=day)
    with psycopg.connect(built.oltp_dsn) as oltp, psycopg.connect(built.dsn()) as wh:
        expected = {
            s.loan_id: (
                s.borrower_id,
                s.branch_code,
                s.product,
                s.status_as_of,
                s.principal,
                s.principal_paid,
                s.outstanding,
                s.dpd,
                _bucket(s.dpd),
                s.disbursed_at,
            )
            for s in loan_states(oltp, day)
        }
        actual = {
            r[0]: tuple(r[1:])
            for r in wh.execute("""
            select loan_id, borrower_id, branch_code, product, status, principal,
                   principal_paid, outstanding_principal, days_past_due, dpd_bucket,
                   disbursed_at
            from marts.loans_current""")
        }
        assert wh.execute("select distinct as_of_date from marts.loans_current").fetchall() == [
            (day,)
        ]
    assert actual.keys() == expected.keys(), day
    wrong = {k: (expected[k], actual[k]) for k in expected if expected[k] != actual[k]}
    assert not wrong, (day, len(wrong), list(wrong.items())[:3])


def test_portfolio_daily_matches_python_at_month_ends_and_as_of(built: Warehouse) -> None:
    _check_portfolio(built, DATES)


@pytest.mark.parametrize("day", DATES, ids=str)
def test_loans_current_matches_python(built: Warehouse, day: dt.date) -> None:
    _check_loans_current(built, day)


def test_restated_after_reversed_completed_and_late_payments(built: Warehouse) -> None:
    stamp = dt.datetime.now(dt.UTC)
    with psycopg.connect(built.oltp_dsn, autocommit=True) as oltp:
        # a completed payment is reversed
        reversed_id = oltp.execute(
            """
            update payments set status = 'reversed', updated_at = %s
            where id = (select min(p.id) from payments p join loans l on l.id = p.loan_id
                        where p.status = 'completed' and l.status = 'active')
            returning loan_id""",
            (stamp,),
        ).fetchone()
        # a pending payment completes, long after it was made
        oltp.execute(
            """
            update payments set status = 'completed', updated_at = %s
            where id in (select id from payments where status = 'pending' limit 3)""",
            (stamp,),
        )
        # a payment arrives today for an installment paid months ago (old paid_at)
        late = oltp.execute(
            """
            select l.id, s.due from loans l
            cross join lateral (select l.first_due_date + interval '14 days' as due) s
            where l.status = 'active' and l.first_due_date < %s - 120
            order by l.id limit 1""",
            (AS_OF,),
        ).fetchone()
        assert late is not None
        oltp.execute(
            """
            insert into payments (loan_id, amount, principal_paid, interest_paid,
                                  penalty_paid, channel, status, paid_at, reference,
                                  created_at, updated_at)
            values (%s, 25.00, 25.00, 0, 0, 'cash', 'completed', %s, 'LATE-ARRIVAL-1', %s,
                    %s)""",
            (late[0], late[1], stamp, stamp),
        )
    assert reversed_id is not None
    built.ingest()
    built.dbt(
        "build",
        "--select",
        "+portfolio_daily",
        "+loans_current",
        "--indirect-selection",
        "cautious",
    )
    _check_portfolio(built, DATES)
    for day in (AS_OF, DATES[3]):
        _check_loans_current(built, day)


def test_sql_schedule_equals_python_schedule_for_every_loan(built: Warehouse) -> None:
    from finhouse.oltp.schedule import schedule  # noqa: PLC0415

    with psycopg.connect(built.oltp_dsn) as oltp, psycopg.connect(built.dsn()) as wh:
        expected = {}
        for loan_id, *terms in oltp.execute(
            "select id, principal, annual_interest_rate, interest_method, "
            "repayment_frequency, installments, first_due_date from loans "
            "where disbursed_at is not null"
        ):
            for inst in schedule(*terms):
                expected[(loan_id, inst.number)] = (
                    inst.due_date,
                    inst.principal_due,
                    inst.interest_due,
                )
        actual = {
            (r[0], r[1]): tuple(r[2:])
            for r in wh.execute(
                "select loan_id, installment_no, due_date, principal_due, interest_due "
                "from intermediate.int_loans__schedule"
            )
        }
    assert len(expected) > 1000
    assert actual == expected
