"""docs/metrics.md's schedule rules, against the golden vectors and by their defining properties."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import itertools
import random
from decimal import Decimal
from pathlib import Path

import pytest

from finhouse.oltp.schedule import add_months, schedule

pytestmark = pytest.mark.unit

GOLDEN = Path(__file__).resolve().parents[3] / "dbt" / "finhouse" / "seeds" / "golden_schedules.csv"


def _golden_cases() -> list[list[dict[str, str]]]:
    rows = list(csv.DictReader(GOLDEN.open()))
    return [list(g) for _k, g in itertools.groupby(rows, key=lambda r: r["case"])]


@pytest.mark.parametrize("rows", _golden_cases(), ids=lambda rows: f"case{rows[0]['case']}")
def test_reproduces_golden_schedule_to_the_cent(rows: list[dict[str, str]]) -> None:
    first = rows[0]
    got = schedule(
        Decimal(first["principal"]),
        Decimal(first["annual_interest_rate"]),
        first["interest_method"],
        first["repayment_frequency"],
        int(first["installments"]),
        dt.date.fromisoformat(first["first_due_date"]),
    )
    assert [
        (str(i.number), i.due_date.isoformat(), str(i.principal_due), str(i.interest_due))
        for i in got
    ] == [(r["installment_no"], r["due_date"], r["principal_due"], r["interest_due"]) for r in rows]


#: sha256 of the golden vectors: they are the reference every implementation (this generator, the
#: dbt model on each warehouse) is tested against, so a change to them must be deliberate
GOLDEN_SHA256 = "143dd254568194380f4116f4ef4cf9d58539b8ec4992da7fc491fd2630ae9609"


def test_golden_file_is_the_signed_off_version() -> None:
    assert hashlib.sha256(GOLDEN.read_bytes()).hexdigest() == GOLDEN_SHA256, (
        f"{GOLDEN.name} changed: the golden schedules are the reference, not test output"
    )


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (dt.date(2024, 1, 31), 1, dt.date(2024, 2, 29)),  # leap-year clamp
        (dt.date(2023, 1, 31), 1, dt.date(2023, 2, 28)),
        (dt.date(2024, 8, 31), 1, dt.date(2024, 9, 30)),
        (dt.date(2024, 1, 31), 2, dt.date(2024, 3, 31)),  # from the first due date, not chained
        (dt.date(2024, 11, 15), 3, dt.date(2025, 2, 15)),  # year rollover
    ],
)
def test_add_months_clamps_like_postgresql(day: dt.date, months: int, expected: dt.date) -> None:
    assert add_months(day, months) == expected


def test_principal_parts_always_sum_to_the_principal() -> None:
    rng = random.Random(20261122)
    for _ in range(500):
        principal = Decimal(rng.randint(100, 5_000_000)) / 100
        rate = Decimal(rng.randint(0, 6000)) / 10_000
        method = rng.choice(("flat", "declining"))
        frequency = rng.choice(("weekly", "monthly"))
        n = rng.randint(1, 72)
        rows = schedule(principal, rate, method, frequency, n, dt.date(2025, 1, 31))
        assert sum(r.principal_due for r in rows) == principal
        assert len(rows) == n
        assert all(r.interest_due >= 0 for r in rows)
        assert [r.due_date for r in rows] == sorted(r.due_date for r in rows)


def test_zero_rate_declining_is_equal_principal_parts() -> None:
    rows = schedule(Decimal("100.00"), Decimal(0), "declining", "monthly", 3, dt.date(2025, 1, 1))
    assert [str(r.principal_due) for r in rows] == ["33.33", "33.33", "33.34"]
    assert all(r.interest_due == 0 for r in rows)


@pytest.mark.parametrize(
    ("method", "frequency", "n"),
    [("simple", "monthly", 3), ("flat", "daily", 3), ("flat", "monthly", 0)],
)
def test_rejects_unknown_terms(method: str, frequency: str, n: int) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message varies by field
        schedule(Decimal(100), Decimal("0.1"), method, frequency, n, dt.date(2025, 1, 1))


def test_a_half_cent_interest_tie_rounds_away_from_zero() -> None:
    """8100 x 0.2482 / 12 = 167.535 exactly: half away from zero gives 167.54. Multiplying
    by a periodic rate rounded to any finite number of decimals would land just below the
    tie and round down; the schedule must not depend on that precision."""
    first = schedule(
        Decimal("8100.00"), Decimal("0.2482"), "declining", "monthly", 18, dt.date(2026, 5, 16)
    )[0]
    assert (first.interest_due, first.principal_due) == (Decimal("167.54"), Decimal("376.00"))
    flat = schedule(
        Decimal("8100.00"), Decimal("0.2482"), "flat", "monthly", 18, dt.date(2026, 5, 16)
    )[0]
    assert flat.interest_due == Decimal("167.54")
