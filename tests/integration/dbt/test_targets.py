"""The targets marts and the branch names (docs/metrics.md "Targets"), recomputed in Python.

branch_targets_vs_actuals and officer_targets_vs_actuals are compared, for a few months, with
an independent reading of RAW's target files and the OLTP: disbursements to the cent,
attainment to the mart's 10 decimals, new borrowers (first-ever disbursed loan) by count, PAR30
at the month's end from kpi_reference's loan states; portfolio_daily and loans_current carry
the branch file's names without a row more or less.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import psycopg
import pytest

from tests.integration.dbt.conftest import AS_OF, Warehouse
from tests.support.kpi_reference import loan_states

pytestmark = pytest.mark.integration

MARTS = ("branch_targets_vs_actuals", "officer_targets_vs_actuals", "loan_officer_performance")
TEN = Decimal("1e-10")
CENT = Decimal("0.01")


def _utc_date(ts: dt.datetime) -> dt.date:
    return ts.astimezone(dt.UTC).date()


def _month_end(month: dt.date) -> dt.date:
    return (month + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)


def _ratio(numerator: Decimal, denominator: Decimal) -> Decimal | None:
    if not denominator:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(TEN, ROUND_HALF_UP)


@pytest.fixture(scope="module")
def wh(built: Warehouse) -> Iterator[psycopg.Connection]:
    # other modules rebuild the marts at other dates: rebuild these as of AS_OF
    built.dbt("run", "--select", *(f"+{name}" for name in MARTS))
    with psycopg.connect(built.dsn()) as conn:
        yield conn


@pytest.fixture(scope="module")
def oltp(built: Warehouse) -> Iterator[psycopg.Connection]:
    with psycopg.connect(built.oltp_dsn) as conn:
        yield conn


@pytest.fixture(scope="module")
def loans(oltp: psycopg.Connection) -> list[tuple[Any, ...]]:
    """(loan id, borrower, officer, borrower's current branch, principal, disbursement date)
    of every loan disbursed on or before the as-of date."""
    rows = oltp.execute(
        "select l.id, l.borrower_id, l.loan_officer_id, u.branch_code, l.principal,"
        " l.disbursed_at from loans l join users u on u.id = l.borrower_id"
        " where l.disbursed_at is not null"
    ).fetchall()
    return [(*row[:5], _utc_date(row[5])) for row in rows if _utc_date(row[5]) <= AS_OF]


def _current(wh: psycopg.Connection, table: str, columns: str) -> list[tuple[Any, ...]]:
    return wh.execute(f"select {columns} from raw.{table} where _deleted_at is null").fetchall()


def _actuals(
    loans: list[tuple[Any, ...]], key: int
) -> tuple[dict[tuple[dt.date, Any], list[Decimal]], dict[tuple[dt.date, Any], int]]:
    """Per (month, branch or officer): [disbursed amount, loans]; and new borrowers (the
    borrower's first-ever disbursed loan: earliest disbursement, then lowest id)."""
    disbursed: dict[tuple[dt.date, Any], list[Decimal]] = defaultdict(
        lambda: [Decimal(0), Decimal(0)]
    )
    first: dict[int, tuple[Any, ...]] = {}
    for loan in loans:
        month = loan[5].replace(day=1)
        disbursed[(month, loan[key])][0] += loan[4]
        disbursed[(month, loan[key])][1] += 1
        if loan[1] not in first or (loan[5], loan[0]) < (first[loan[1]][5], first[loan[1]][0]):
            first[loan[1]] = loan
    new: dict[tuple[dt.date, Any], int] = defaultdict(int)
    for loan in first.values():
        new[(loan[5].replace(day=1), loan[key])] += 1
    return disbursed, new


def _months(targets: list[tuple[Any, ...]]) -> list[dt.date]:
    """The months checked: the three before the as-of date's (complete), the as-of month
    (complete: AS_OF is its last day) and the first month with a target."""
    past = sorted({t[0] for t in targets if t[0] <= AS_OF})
    assert len(past) >= 6, past
    return sorted({past[0], *past[-4:]})


@pytest.mark.parametrize(
    ("mart", "table", "key_column", "key_index"),
    [
        ("branch_targets_vs_actuals", "file_branch_targets", "branch_code", 3),
        ("officer_targets_vs_actuals", "file_officer_targets", "loan_officer_id", 2),
    ],
)
def test_targets_marts_match_python(
    wh: psycopg.Connection,
    oltp: psycopg.Connection,
    loans: list[tuple[Any, ...]],
    mart: str,
    table: str,
    key_column: str,
    key_index: int,
) -> None:
    targets = _current(
        wh,
        table,
        f"month, {key_column}, disbursement_target, new_borrowers_target, par30_ceiling",
    )
    if key_column == "branch_code":
        targets = [(t[0], t[1].strip().upper(), *t[2:]) for t in targets]
    rows = {
        (r[0], r[1]): r[2:]
        for r in wh.execute(
            f"select month_start, {key_column}, period_end_date, is_month_complete,"
            " is_latest_complete_month, disbursement_target, loans_disbursed, disbursed_amount,"
            " disbursement_attainment, new_borrowers_target, new_borrowers,"
            " new_borrowers_attainment, par30_ceiling, gross_loan_portfolio, par30_amount,"
            f" par30_ratio, is_within_par30_ceiling from marts.{mart}"
        )
    }
    # one row per target row, and a target row for every row
    assert sorted(rows) == sorted((t[0], t[1]) for t in targets)
    assert len(targets) > 50

    disbursed, new = _actuals(loans, key_index)
    months = _months(targets)
    latest = max(t[0] for t in targets if _month_end(t[0]) <= AS_OF)
    checked = 0
    for month in months:
        states = loan_states(oltp, _month_end(month))
        glp: dict[Any, Decimal] = defaultdict(Decimal)
        par30: dict[Any, Decimal] = defaultdict(Decimal)
        for state in states:
            who = state.branch_code if key_column == "branch_code" else state.loan_officer_id
            glp[who] += state.outstanding
            if state.dpd > 30:
                par30[who] += state.outstanding
        for month_start, who, target, borrowers_target, ceiling in targets:
            if month_start != month:
                continue
            amount, count = disbursed.get((month, who), [Decimal(0), Decimal(0)])
            news = new.get((month, who), 0)
            expected = (
                _month_end(month),
                True,
                month == latest,
                target,
                int(count),
                amount.quantize(CENT),
                _ratio(amount, target),
                borrowers_target,
                news,
                _ratio(Decimal(news), Decimal(borrowers_target or 0)),
                ceiling,
                glp[who].quantize(CENT),
                par30[who].quantize(CENT),
                _ratio(par30[who], glp[who]),
                par30[who] <= ceiling * glp[who] if glp[who] > 0 else None,
            )
            assert tuple(rows[(month, who)]) == expected, (month, who)
            checked += 1
    assert checked > 10
    # the checked months have activity, targets and a verdict on each side of the ceiling
    verdicts = {rows[(t[0], t[1])][-1] for t in targets if t[0] in months}
    assert {True, False} <= verdicts, verdicts
    assert any(rows[(t[0], t[1])][8] for t in targets if t[0] in months), "no new borrower"

    # a month after the as-of date: its targets, no actuals
    future = [t for t in targets if t[0] > AS_OF]
    assert future
    for month_start, who, target, borrowers_target, ceiling in future:
        row = rows[(month_start, who)]
        assert row == (
            None, False, False, target, None, None, None, borrowers_target, None, None,
            ceiling, None, None, None, None,
        ), (month_start, who)  # fmt: skip


def test_portfolio_marts_carry_the_branch_file_names_without_a_row_more(
    wh: psycopg.Connection,
) -> None:
    listed = {
        code.strip().upper(): (name.strip(), region.strip())
        for code, name, region in _current(wh, "file_branches", "branch_code, branch_name, region")
    }
    assert len(listed) >= 3
    for mart in ("portfolio_daily", "loans_current", "loan_officer_performance"):
        shown = wh.execute(
            f"select distinct branch_code, branch_name, branch_region from marts.{mart}"
        ).fetchall()
        assert shown, mart
        for code, name, region in shown:
            assert (name, region) == listed.get(code, (None, None)), (mart, code)
        assert any(name is not None for _, name, _ in shown), mart
    ((daily, segment_days),) = wh.execute(
        "select (select count(*) from marts.portfolio_daily),"
        " (select count(*) from intermediate.int_portfolio__segment_days)"
    ).fetchall()
    assert daily == segment_days > 1000
    ((current, disbursed),) = wh.execute(
        "select count(*), count(distinct loan_id) from marts.loans_current"
    ).fetchall()
    assert current == disbursed > 0


def test_portfolio_daily_skips_the_branch_join_when_no_branch_column_is_read(
    wh: psycopg.Connection,
) -> None:
    """The view's left join on the directory's unique key is removed by PostgreSQL from a
    query that reads no branch name or region (the key test reads the segment days' index)."""

    def plan(columns: str) -> str:
        ((document,),) = wh.execute(
            f"explain (format json) select {columns} from marts.portfolio_daily"
        ).fetchall()
        return json.dumps(document)

    assert "int_portfolio__branch_directory" not in plan(
        "branch_code, product, loan_officer_id, as_of_date, gross_loan_portfolio"
    )
    assert "int_portfolio__branch_directory" in plan("as_of_date, branch_name")
