"""Collections, write-offs, yield, roll rates and vintages (docs/metrics.md), recomputed in
Python.

The marts (collections_monthly, write_offs_monthly, yield_on_portfolio_monthly,
roll_rates_monthly, vintage_curves, loan_officer_performance) are compared with an
independent reading of the OLTP: money to the cent, ratios to 8 decimals.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal

import psycopg
import pytest

from finhouse.oltp.schedule import schedule
from tests.integration.dbt.conftest import AS_OF, Warehouse
from tests.support.kpi_reference import LoanState, loan_states

pytestmark = pytest.mark.integration

MARTS = (
    "collections_monthly",
    "write_offs_monthly",
    "yield_on_portfolio_monthly",
    "roll_rates_monthly",
    "vintage_curves",
    "loan_officer_performance",
)
#: the last two full months before the as-of date (June 2026 ends on it)
COLLECTION_MONTHS = (dt.date(2026, 5, 1), dt.date(2026, 6, 1))
ROLL_MONTH = dt.date(2026, 5, 1)
YIELD_MONTH = dt.date(2026, 5, 1)
EIGHT = Decimal("1e-8")


def _ratio(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(EIGHT)


def _utc_date(ts: dt.datetime) -> dt.date:
    return ts.astimezone(dt.UTC).date()


def _month_days(month_start: dt.date) -> list[dt.date]:
    next_month = (month_start + dt.timedelta(days=32)).replace(day=1)
    last = min(next_month - dt.timedelta(days=1), AS_OF)
    return [month_start + dt.timedelta(days=i) for i in range((last - month_start).days + 1)]


@pytest.fixture(scope="module")
def wh(built: Warehouse) -> Iterator[psycopg.Connection]:
    # other modules rebuild loans_current at other dates: rebuild these marts as of AS_OF
    built.dbt("run", "--select", *(f"+{name}" for name in MARTS))
    with psycopg.connect(built.dsn()) as conn:
        yield conn


@pytest.fixture(scope="module")
def oltp(built: Warehouse) -> Iterator[psycopg.Connection]:
    with psycopg.connect(built.oltp_dsn) as conn:
        yield conn


@pytest.fixture(scope="module")
def write_off_month(oltp: psycopg.Connection) -> dt.date:
    """The latest month up to AS_OF in which the seeded OLTP wrote a loan off."""
    oltp.execute("set time zone 'UTC'")
    row = oltp.execute(
        "select max(date_trunc('month', written_off_at)::date) from loans "
        "where written_off_at is not null and disbursed_at is not null "
        "and written_off_at::date <= %s",
        (AS_OF,),
    ).fetchone()
    assert row is not None
    assert row[0] is not None, "the check needs a month with write-offs"
    return row[0]


@pytest.fixture(scope="module")
def daily_states(
    oltp: psycopg.Connection, write_off_month: dt.date
) -> dict[dt.date, list[LoanState]]:
    """Loan states on every day of the months the write-off and yield checks average."""
    days = sorted(
        set(_month_days(YIELD_MONTH))
        | set(_month_days(write_off_month))
        | {ROLL_MONTH.replace(day=31)}
    )
    return {day: loan_states(oltp, day) for day in days}


# --- on-time collection rate ------------------------------------------------------------


def _expected_collections(oltp: psycopg.Connection) -> dict[tuple, list[Decimal]]:
    payments: dict[int, list[tuple[dt.date, Decimal]]] = defaultdict(list)
    for loan_id, paid_at, amount in oltp.execute(
        "select loan_id, paid_at, principal_paid + interest_paid from payments "
        "where status = 'completed' order by paid_at, id"
    ):
        if _utc_date(paid_at) <= AS_OF:
            payments[loan_id].append((_utc_date(paid_at), amount))
    out: dict[tuple, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for (
        loan_id,
        officer,
        branch,
        principal,
        rate,
        method,
        freq,
        n,
        first_due,
        disbursed_at,
        written_off_at,
    ) in oltp.execute("""
            select l.id, l.loan_officer_id, u.branch_code, l.principal,
                   l.annual_interest_rate, l.interest_method, l.repayment_frequency,
                   l.installments, l.first_due_date, l.disbursed_at, l.written_off_at
            from loans l join users u on u.id = l.borrower_id
            where l.disbursed_at is not null"""):
        if _utc_date(disbursed_at) > AS_OF:
            continue
        due_before = Decimal(0)
        for inst in schedule(principal, rate, method, freq, n, first_due):
            month = inst.due_date.replace(day=1)
            written_off = written_off_at is not None and _utc_date(written_off_at) <= inst.due_date
            if month in COLLECTION_MONTHS and inst.due_date <= AS_OF and not written_off:
                paid_by_due = sum(
                    (amount for day, amount in payments[loan_id] if day <= inst.due_date),
                    Decimal(0),
                )
                on_time = min(max(paid_by_due - due_before, Decimal(0)), inst.total_due)
                row = out[(month, branch, officer)]
                row[0] += inst.total_due
                row[1] += on_time
            due_before += inst.total_due
    return out


def test_on_time_collection_rate_matches_python(
    oltp: psycopg.Connection, wh: psycopg.Connection
) -> None:
    expected = {
        key: (due, paid, _ratio(paid / due) if due else None)
        for key, (due, paid) in _expected_collections(oltp).items()
    }
    actual = {
        (month, branch, officer): (due, paid, _ratio(rate))
        for month, branch, officer, due, paid, rate in wh.execute(
            """
            select month_start, branch_code, loan_officer_id, amount_due,
                   amount_paid_on_time, on_time_collection_rate
            from marts.collections_monthly where month_start = any(%s)""",
            (list(COLLECTION_MONTHS),),
        )
    }
    assert expected
    assert actual == expected
    # the partially paid and late amounts make the rate informative, not trivially 1
    assert any(paid < due for due, paid, _ in expected.values())


# --- write-offs ---------------------------------------------------------------------------


def test_write_offs_and_ratio_match_python(
    oltp: psycopg.Connection,
    wh: psycopg.Connection,
    daily_states: dict[dt.date, list[LoanState]],
    write_off_month: dt.date,
) -> None:
    days = _month_days(write_off_month)
    written_off: dict[str, Decimal] = defaultdict(Decimal)
    for branch, amount, written_off_at in oltp.execute("""
            select u.branch_code, l.written_off_amount, l.written_off_at
            from loans l join users u on u.id = l.borrower_id
            where l.written_off_at is not null and l.disbursed_at is not null"""):
        if _utc_date(written_off_at).replace(day=1) == write_off_month:
            written_off[branch] += amount
    assert written_off, "the check needs a month with write-offs"
    for branch, amount in written_off.items():
        glp_sum = sum(
            (s.outstanding for day in days for s in daily_states[day] if s.branch_code == branch),
            Decimal(0),
        )
        actual = wh.execute(
            """
            select written_off_amount, days_in_period, write_off_ratio
            from marts.write_offs_monthly where month_start = %s and branch_code = %s""",
            (write_off_month, branch),
        ).fetchone()
        assert actual is not None, branch
        ratio = amount / (glp_sum / len(days))
        assert actual == (amount, len(days), actual[2])
        assert _ratio(actual[2]) == _ratio(ratio), branch


# --- yield on gross portfolio -------------------------------------------------------------


def test_yield_on_portfolio_matches_python(
    oltp: psycopg.Connection,
    wh: psycopg.Connection,
    daily_states: dict[dt.date, list[LoanState]],
) -> None:
    days = _month_days(YIELD_MONTH)
    income = Decimal(0)
    for paid_at, interest, penalty in oltp.execute(
        "select paid_at, interest_paid, penalty_paid from payments where status = 'completed'"
    ):
        day = _utc_date(paid_at)
        if day.replace(day=1) == YIELD_MONTH and day <= AS_OF:
            income += interest + penalty
    average_glp = sum((s.outstanding for day in days for s in daily_states[day]), Decimal(0)) / len(
        days
    )
    expected = income / average_glp * 365 / len(days)
    actual = wh.execute(
        """
        select income_collected, days_in_period, annualised_yield
        from marts.yield_on_portfolio_monthly where month_start = %s""",
        (YIELD_MONTH,),
    ).fetchone()
    assert actual is not None
    assert actual[:2] == (income, len(days))
    assert _ratio(actual[2]) == _ratio(expected)


# --- roll rates ---------------------------------------------------------------------------


def test_roll_rates_match_python(
    oltp: psycopg.Connection,
    wh: psycopg.Connection,
    daily_states: dict[dt.date, list[LoanState]],
) -> None:
    start = {s.loan_id: s for s in daily_states[ROLL_MONTH] if s.in_portfolio}
    end = {s.loan_id: s for s in daily_states[ROLL_MONTH.replace(day=31)]}
    moved: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for loan_id, s in start.items():
        later = end[loan_id]
        to_bucket = later.bucket if later.in_portfolio else later.status_as_of
        moved[(s.bucket, to_bucket)] += s.outstanding
        totals[s.bucket] += s.outstanding
    expected = {
        key: (amount, _ratio(amount / totals[key[0]]) if totals[key[0]] else None)
        for key, amount in moved.items()
    }
    actual = {
        (from_bucket, to_bucket): (amount, _ratio(rate))
        for from_bucket, to_bucket, amount, rate in wh.execute(
            """
            select from_bucket, to_bucket, start_outstanding_principal, roll_rate
            from marts.roll_rates_monthly where month_start = %s""",
            (ROLL_MONTH,),
        )
    }
    assert actual == expected
    # one cell spelled out: current -> 1-30
    assert ("current", "1-30") in actual


# --- vintage curve and loan officers ------------------------------------------------------


def test_vintage_par30_matches_python(
    wh: psycopg.Connection, daily_states: dict[dt.date, list[LoanState]]
) -> None:
    day = ROLL_MONTH.replace(day=31)
    cohorts: dict[dt.date, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for s in daily_states[day]:
        assert s.disbursed_at is not None
        cohort = _utc_date(s.disbursed_at).replace(day=1)
        if cohort < day.replace(day=1):
            cohorts[cohort][0] += s.outstanding
            cohorts[cohort][1] += s.outstanding if s.dpd > 30 else Decimal(0)
    actual = {
        cohort: (glp, par30, _ratio(ratio))
        for cohort, glp, par30, ratio in wh.execute(
            """
            select cohort_month, gross_loan_portfolio, par30_amount, par30_ratio
            from marts.vintage_curves where observation_date = %s""",
            (day,),
        )
    }
    expected = {
        cohort: (glp, par30, _ratio(par30 / glp) if glp else None)
        for cohort, (glp, par30) in cohorts.items()
    }
    assert actual == expected


def test_loan_officer_performance_matches_python(
    oltp: psycopg.Connection, wh: psycopg.Connection
) -> None:
    states = loan_states(oltp, AS_OF)
    active = [s for s in states if s.in_portfolio and s.outstanding > 0]
    expected: dict[tuple, tuple] = {}
    for branch, officer in {(s.branch_code, s.loan_officer_id) for s in states}:
        mine = [s for s in active if (s.branch_code, s.loan_officer_id) == (branch, officer)]
        in_branch = [s for s in active if s.branch_code == branch]
        officers = len({s.loan_officer_id for s in in_branch})
        glp = sum((s.outstanding for s in mine), Decimal(0))
        par30 = sum((s.outstanding for s in mine if s.dpd > 30), Decimal(0))
        expected[(officer, branch)] = (
            len(mine),
            len({s.borrower_id for s in mine}),
            glp,
            par30,
            _ratio(par30 / glp) if glp else None,
            _ratio(Decimal(len({s.borrower_id for s in in_branch})) / officers)
            if officers
            else None,
        )
    actual = {
        (r[0], r[1]): (r[2], r[3], r[4], r[5], _ratio(r[6]), _ratio(r[7]))
        for r in wh.execute("""
            select loan_officer_id, branch_code, active_loans, active_borrowers,
                   gross_loan_portfolio, par30_amount, par30_ratio, branch_caseload
            from marts.loan_officer_performance""")
    }
    assert actual == expected
