"""finhouse.closes without a database: months, the close DAG's month, the restatement's
arithmetic and what `finhouse close` prints."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from finhouse import closes
from finhouse.errors import ConfigError

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "month"),
    [("2026-11", dt.date(2026, 11, 1)), (" 2024-02 ", dt.date(2024, 2, 1))],
)
def test_parse_month(text: str, month: dt.date) -> None:
    assert closes.parse_month(text) == month


@pytest.mark.parametrize(
    "text", ["2026-13", "2026-00", "2026-1", "Nov 2026", "2026-11-01", "'; drop table x; --"]
)
def test_a_bad_month_is_one_clear_error(text: str) -> None:
    with pytest.raises(ConfigError, match=r"not a month: .* \(expected YYYY-MM"):
        closes.parse_month(text)


def test_month_ends_and_the_previous_month() -> None:
    assert closes.month_end(dt.date(2024, 2, 1)) == dt.date(2024, 2, 29)
    assert closes.month_end(dt.date(2026, 12, 1)) == dt.date(2026, 12, 31)
    assert closes.previous_month(dt.date(2026, 1, 5)) == dt.date(2025, 12, 1)
    assert closes.previous_month(dt.date(2026, 3, 31)) == dt.date(2026, 2, 1)


def test_the_close_dag_takes_the_param_else_the_month_before_its_date() -> None:
    from finhouse.orchestration.closing import month_to_close  # noqa: PLC0415

    run = dt.datetime(2026, 12, 5, 6, tzinfo=dt.UTC)
    assert month_to_close({}, run) == dt.date(2026, 11, 1)
    assert month_to_close({"month": None}, run) == dt.date(2026, 11, 1)
    assert month_to_close({"month": "2026-09"}, run) == dt.date(2026, 9, 1)
    with pytest.raises(ConfigError):
        month_to_close({"month": "september"}, run)


def test_differences_are_numeric_only() -> None:
    assert closes._numeric_difference(Decimal("10.00"), Decimal("7.50")) == Decimal("-2.50")
    assert closes._numeric_difference(None, Decimal("3")) == Decimal("3")
    assert closes._numeric_difference(Decimal("3"), None) == Decimal("-3")
    assert closes._numeric_difference("Nairobi", "Nakuru") is None
    assert closes._numeric_difference(True, False) is None


def test_describe_a_restatement_and_an_unchanged_month() -> None:
    month = dt.date(2026, 11, 1)
    result = closes.CloseResult(
        month,
        "2026-11-v2",
        2,
        "2026-11-v1",
        {"risk_coverage": 5, "loan_positions": 333},
        [("risk_coverage", "branch_code=NBO01", "loan_loss_reserve", Decimal(9), Decimal(7))],
        [
            closes.RestatedLoan(
                210, "ELD01", {}, {}, ["payment 8462 entered after the previous close"]
            )
        ],
    )
    text = result.describe()
    assert "2026-11: closed as 2026-11-v2 (2 sections, 338 rows); previous close 2026-11-v1" in text
    assert "1 figure, 1 loan" in text
    assert "risk_coverage branch_code=NBO01 loan_loss_reserve: 9 -> 7" in text
    assert "loan 210 (ELD01): payment 8462 entered after the previous close" in text
    # what the DAG logs: counts, no payment, amount or loan
    logged = result.describe(limit=0)
    assert "1 figure, 1 loan" in logged
    assert "payment" not in logged
    assert "loan 210" not in logged
    unchanged = closes.CloseResult(month, None, None, "2026-11-v1")
    assert unchanged.describe() == (
        "2026-11: unchanged since close 2026-11-v1: no new version written"
    )


def test_the_pdf_shows_money_ratios_and_counts_as_finance_reads_them() -> None:
    from finhouse.report_pack import display  # noqa: PLC0415

    assert display(Decimal("1271072.15"), "money") == "1,271,072.15"
    assert display(Decimal("-307.9"), "money") == "-307.90"
    assert display(Decimal("0.0429817"), "ratio") == "4.30 %"
    assert display(1234, "int") == "1,234"
    assert display(None, "money") == "-"
    assert display(dt.date(2026, 11, 1), "date") == "Nov 2026"
    assert display("NBO01", "text") == "NBO01"
