"""Repayment schedules derived from loan terms, as docs/metrics.md ("Repayment schedule") defines.

The OLTP stores terms, not schedules. The generator uses this module so that an on-time
borrower's payments match what the warehouse derives (dbt model ``int_loans__schedule``),
and both reproduce ``golden_schedules.csv`` to the cent.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext

CENT = Decimal("0.01")
#: 40 significant digits keeps the periodic rate and annuity factor well past 18 decimals.
_CTX = Context(prec=40)


@dataclass(frozen=True, slots=True)
class Installment:
    number: int
    due_date: dt.date
    principal_due: Decimal
    interest_due: Decimal

    @property
    def total_due(self) -> Decimal:
        return self.principal_due + self.interest_due


def cents(value: Decimal) -> Decimal:
    """Round to cents, half away from zero (ROUND_HALF_UP is away from zero in decimal)."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def add_months(day: dt.date, months: int) -> dt.date:
    """``day + interval 'N months'`` as PostgreSQL does it: clamp to the month's last day."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def due_date(first_due_date: dt.date, frequency: str, number: int) -> dt.date:
    if frequency == "weekly":
        return first_due_date + dt.timedelta(weeks=number - 1)
    if frequency == "monthly":
        return add_months(first_due_date, number - 1)
    raise ValueError(f"unknown repayment frequency {frequency!r}")


def periodic_rate(annual_rate: Decimal, frequency: str) -> Decimal:
    periods = {"weekly": 52, "monthly": 12}.get(frequency)
    if periods is None:
        raise ValueError(f"unknown repayment frequency {frequency!r}")
    return _CTX.divide(Decimal(annual_rate), Decimal(periods))


def schedule(
    principal: Decimal,
    annual_interest_rate: Decimal,
    interest_method: str,
    repayment_frequency: str,
    installments: int,
    first_due_date: dt.date,
) -> list[Installment]:
    """The installments of a loan: due dates, principal and interest parts (docs/metrics.md)."""
    if installments < 1:
        raise ValueError("a loan has at least one installment")
    principal = Decimal(principal)
    annual = Decimal(annual_interest_rate)
    rate = periodic_rate(annual, repayment_frequency)
    periods = 52 if repayment_frequency == "weekly" else 12
    n = installments

    def interest_on(amount: Decimal) -> Decimal:
        # annual x amount / periods: the product is exact and one division keeps a
        # half-cent tie exact (8100 x 0.2482 / 12 = 167.535 -> 167.54), where multiplying
        # by a rounded periodic rate would land a hair below the tie.
        return cents(annual * amount / periods)

    rows: list[Installment] = []
    with localcontext(_CTX):
        if interest_method == "flat":
            principal_part = cents(principal / n)
            interest_part = interest_on(principal)
            paid = Decimal(0)
            for k in range(1, n + 1):
                part = principal - paid if k == n else principal_part
                paid += part
                rows.append(
                    Installment(
                        k, due_date(first_due_date, repayment_frequency, k), part, interest_part
                    )
                )
        elif interest_method == "declining":
            if rate == 0:
                payment = cents(principal / n)
            else:
                payment = cents(principal * rate / (1 - (1 + rate) ** -n))
            outstanding = principal
            for k in range(1, n + 1):
                interest = interest_on(outstanding)
                part = outstanding if k == n else payment - interest
                outstanding -= part
                rows.append(
                    Installment(k, due_date(first_due_date, repayment_frequency, k), part, interest)
                )
        else:
            raise ValueError(f"unknown interest method {interest_method!r}")
    return rows
