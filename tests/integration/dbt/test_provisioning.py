"""Provisioning and risk coverage (docs/metrics.md "Provisioning and risk coverage")
recomputed in Python from the OLTP and the provisioning schedule, matched to the cent.

At each of the last six month-ends before the as-of date, per branch: GLP, PAR30, the
loan-loss reserve (each loan's outstanding principal x its bucket's rate, rounded to cents),
the opening reserve (the previous month-end's), the month's write-offs and the provision
expense; the risk coverage ratio to ten decimals.
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal

import psycopg
import pytest

from tests.conftest import REPO
from tests.integration.dbt.conftest import AS_OF, Warehouse
from tests.support.kpi_reference import loan_states

pytestmark = pytest.mark.integration

CENT = Decimal("0.01")
RATES_CSV = REPO / "dbt" / "finhouse" / "seeds" / "provisioning_rates.csv"


def _month_ends(as_of: dt.date, count: int) -> list[dt.date]:
    ends, day = [], as_of.replace(day=1)
    for _ in range(count + 1):
        day -= dt.timedelta(days=1)
        ends.append(day)
        day = day.replace(day=1)
    return sorted(ends)


def _rates() -> dict[str, Decimal]:
    with RATES_CSV.open() as f:
        return {row["dpd_bucket"]: Decimal(row["provision_rate"]) for row in csv.DictReader(f)}


def _position(oltp: psycopg.Connection, day: dt.date, rates: dict) -> dict[str, dict]:
    """Per branch at ``day``: GLP, PAR30 and the reserve."""
    out: dict[str, dict] = defaultdict(lambda: defaultdict(Decimal))
    for s in loan_states(oltp, day):
        if not s.in_portfolio:
            continue
        row = out[s.branch_code]
        row["gross_loan_portfolio"] += s.outstanding
        if s.dpd > 30:
            row["par30_amount"] += s.outstanding
        row["loan_loss_reserve"] += (s.outstanding * rates[s.bucket]).quantize(CENT, ROUND_HALF_UP)
    return out


def _write_offs(oltp: psycopg.Connection) -> dict[tuple[dt.date, str], Decimal]:
    out: dict[tuple[dt.date, str], Decimal] = defaultdict(Decimal)
    for month, branch, amount in oltp.execute("""
            select date_trunc('month', l.written_off_at at time zone 'UTC')::date,
                   u.branch_code, coalesce(l.written_off_amount, 0)
            from loans l join users u on u.id = l.borrower_id
            where l.written_off_at is not null and l.disbursed_at is not null"""):
        out[(month, branch)] += amount
    return out


def test_reserve_expense_and_coverage_match_python_at_month_ends(built: Warehouse) -> None:
    # tests before this one may have changed the OLTP and rebuilt other marts only
    built.ingest()
    built.dbt("run", "--select", "+risk_coverage_monthly")
    rates = _rates()
    ends = _month_ends(AS_OF, 6)
    with psycopg.connect(built.oltp_dsn) as oltp, psycopg.connect(built.dsn()) as wh:
        positions = {day: _position(oltp, day, rates) for day in ends}
        write_offs = _write_offs(oltp)
        actual = {
            (r[0], r[1]): r[2:]
            for r in wh.execute(
                """
                select month_start, branch_code, gross_loan_portfolio, par30_amount,
                       opening_loan_loss_reserve, loan_loss_reserve, written_off_amount,
                       provision_expense, risk_coverage_ratio
                from marts.risk_coverage_monthly
                where period_end_date = any(%s)""",
                (ends[1:],),
            )
        }
    expected = {}
    for previous, day in itertools.pairwise(ends):
        month = day.replace(day=1)
        for branch in {*positions[day], *(b for m, b in write_offs if m == month)}:
            now = positions[day].get(branch, {})
            reserve = now.get("loan_loss_reserve", Decimal(0))
            opening = positions[previous].get(branch, {}).get("loan_loss_reserve", Decimal(0))
            written_off = write_offs.get((month, branch), Decimal(0))
            par30 = now.get("par30_amount", Decimal(0))
            expected[(month, branch)] = (
                now.get("gross_loan_portfolio", Decimal(0)),
                par30,
                opening,
                reserve,
                written_off,
                reserve - opening + written_off,
                (reserve / par30).quantize(Decimal("1e-10"), ROUND_HALF_UP) if par30 else None,
            )
    assert sum(e[3] for e in expected.values()) > 0, "no reserve at all: nothing tested"
    assert actual.keys() == expected.keys()
    wrong = {k: (expected[k], actual[k]) for k in expected if expected[k] != actual[k]}
    assert not wrong, (len(wrong), list(wrong.items())[:3])


def test_every_bucket_of_the_schedule_has_its_row(built: Warehouse) -> None:
    rates = _rates()
    with psycopg.connect(built.dsn()) as wh:
        rows = wh.execute("""
            select month_start, branch_code, array_agg(dpd_bucket order by bucket_order),
                   array_agg(provision_rate order by bucket_order)
            from marts.provisions_by_bucket_monthly group by 1, 2""").fetchall()
    assert rows
    order = ["current", "1-30", "31-60", "61-90", "91-180", "181+"]
    assert {tuple(r[2]) for r in rows} == {tuple(order)}
    assert {tuple(r[3]) for r in rows} == {tuple(rates[b] for b in order)}
