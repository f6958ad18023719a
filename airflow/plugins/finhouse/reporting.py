"""A short portfolio summary read from the marts (what `make demo` prints at the end).

It connects as the ``reporter`` role when the embedded cluster is used, so it can read the
marts and nothing else, like Superset.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from finhouse.connections import connect


@dataclass
class PortfolioSummary:
    as_of_date: dt.date | None
    gross_loan_portfolio: Decimal
    par30_amount: Decimal
    active_loans: int
    active_borrowers: int
    deposits: Decimal
    loads: list[tuple[str, dt.datetime | None, dt.datetime | None, Decimal | None]]

    @property
    def par30_ratio(self) -> Decimal | None:
        if not self.gross_loan_portfolio:
            return None
        return self.par30_amount / self.gross_loan_portfolio

    def describe(self) -> str:
        ratio = self.par30_ratio
        lines = [
            f"portfolio as of {self.as_of_date}:",
            f"  gross loan portfolio  {self.gross_loan_portfolio:>16,.2f}",
            f"  PAR30                 {self.par30_amount:>16,.2f}"
            + (f"  ({ratio:.2%})" if ratio is not None else ""),
            f"  active loans          {self.active_loans:>16,}",
            f"  active borrowers      {self.active_borrowers:>16,}",
            f"  deposits              {self.deposits:>16,.2f}",
            "last load per table (UTC):",
        ]
        for table, loaded, watermark, freshness in self.loads:
            lines.append(
                f"  {table:<14}{loaded:%Y-%m-%d %H:%M:%S}  watermark {watermark:%H:%M:%S}"
                f"  ({freshness:,.0f} min behind)"
                if loaded and watermark and freshness is not None
                else f"  {table:<14}never loaded"
            )
        return "\n".join(lines)


def portfolio_summary(dsn: str) -> PortfolioSummary:
    with connect(dsn) as conn:
        as_of, glp, par30, loans = conn.execute("""
            select max(as_of_date), coalesce(sum(gross_loan_portfolio), 0),
                   coalesce(sum(par30_amount), 0), coalesce(sum(active_loans), 0)
            from marts.portfolio_daily
            where as_of_date = (select max(as_of_date) from marts.portfolio_daily)""").fetchone()  # type: ignore[misc]
        (borrowers,) = conn.execute(
            "select count(distinct borrower_id) from marts.loans_current where is_active"
        ).fetchone()  # type: ignore[misc]
        (deposits,) = conn.execute(
            "select coalesce(sum(deposit_balance), 0) from marts.customer_360"
        ).fetchone()  # type: ignore[misc]
        loads = conn.execute("""
            select table_name, last_success_at, current_watermark, freshness_minutes
            from marts.pipeline_health order by table_name""").fetchall()
    return PortfolioSummary(as_of, glp, par30, int(loans), int(borrowers), deposits, loads)
