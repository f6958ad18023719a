"""An independent Python reading of docs/metrics.md's delinquency rules, straight from the OLTP.

Tests use it to check the generator's realism (PAR30 range) and, later, to recompute the
marts to the cent. It reads the source tables directly and shares only the schedule rules
(themselves checked against golden_schedules.csv) with the code under test.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

import psycopg

from finhouse.oltp.schedule import schedule


@dataclass(frozen=True)
class LoanState:
    loan_id: int
    borrower_id: int
    loan_officer_id: int
    branch_code: str
    product: str
    status: str
    principal: Decimal
    principal_paid: Decimal
    outstanding: Decimal
    dpd: int
    in_portfolio: bool
    disbursed_at: dt.datetime | None = None
    status_as_of: str = "active"

    @property
    def bucket(self) -> str:
        if self.dpd == 0:
            return "current"
        for upper, name in ((30, "1-30"), (60, "31-60"), (90, "61-90"), (180, "91-180")):
            if self.dpd <= upper:
                return name
        return "181+"


def _utc_date(ts: dt.datetime) -> dt.date:
    return ts.astimezone(dt.UTC).date()


def loan_states(conn: psycopg.Connection, as_of: dt.date) -> list[LoanState]:
    """Per disbursed loan: principal paid, outstanding principal and DPD at ``as_of``."""
    paid: dict[int, Decimal] = defaultdict(Decimal)
    for loan_id, principal_paid, paid_at in conn.execute(
        "select loan_id, principal_paid, paid_at from payments where status = 'completed'"
    ):
        if _utc_date(paid_at) <= as_of:
            paid[loan_id] += principal_paid
    states = []
    rows = conn.execute("""
        select l.id, l.borrower_id, l.loan_officer_id, u.branch_code, l.product, l.status,
               l.principal, l.annual_interest_rate, l.interest_method, l.repayment_frequency,
               l.installments, l.first_due_date, l.disbursed_at, l.closed_at, l.written_off_at
        from loans l join users u on u.id = l.borrower_id
        where l.disbursed_at is not null""").fetchall()
    for (
        loan_id,
        borrower,
        officer,
        branch,
        product,
        status,
        principal,
        rate,
        method,
        freq,
        n,
        first_due,
        disbursed_at,
        closed_at,
        written_off_at,
    ) in rows:
        if _utc_date(disbursed_at) > as_of:
            continue
        in_portfolio = not any(
            ts is not None and _utc_date(ts) <= as_of for ts in (closed_at, written_off_at)
        )
        principal_paid = paid[loan_id]
        outstanding = max(Decimal(0), principal - principal_paid) if in_portfolio else Decimal(0)
        # DPD follows the definition for every loan (a written-off loan keeps its age);
        # only loans in the portfolio carry outstanding principal into GLP and PAR.
        dpd = 0
        cumulative = Decimal(0)
        for inst in schedule(principal, rate, method, freq, n, first_due):
            cumulative += inst.principal_due
            if cumulative > principal_paid:
                if inst.due_date < as_of:
                    dpd = (as_of - inst.due_date).days
                break
        status_as_of = (
            "written_off"
            if written_off_at is not None and _utc_date(written_off_at) <= as_of
            else "closed"
            if closed_at is not None and _utc_date(closed_at) <= as_of
            else "active"
        )
        states.append(
            LoanState(
                loan_id,
                borrower,
                officer,
                branch,
                product,
                status,
                principal,
                principal_paid,
                outstanding,
                dpd,
                in_portfolio,
                disbursed_at,
                status_as_of,
            )
        )
    return states


def portfolio_summary(states: list[LoanState]) -> dict[str, Decimal | int]:
    glp = sum((s.outstanding for s in states), Decimal(0))
    active = [s for s in states if s.in_portfolio and s.outstanding > 0]

    def par(days: int) -> Decimal:
        return sum((s.outstanding for s in active if s.dpd > days), Decimal(0))

    return {
        "gross_loan_portfolio": glp,
        "active_loans": len(active),
        "active_borrowers": len({s.borrower_id for s in active}),
        "par1_amount": par(1),
        "par30_amount": par(30),
        "par60_amount": par(60),
        "par90_amount": par(90),
    }
