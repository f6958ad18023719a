"""The monthly report pack: a closed month's figures as a PDF and an Excel workbook.

Everything in the pack is read from one month-end close (:mod:`finhouse.closes`; the month's
latest version unless a close id is given), never from the restated marts: the pack of a close
is the same whenever it is produced. :func:`read_pack` turns the close into tables (each a
query of the close tables, its total computed by the database, exact); :func:`excel` writes one
sheet per table with typed cells and number formats; :func:`pdf` renders the HTML template
``templates/monthly_report.html`` (Jinja2) with charts drawn by matplotlib into a PDF
(xhtml2pdf: HTML and CSS to PDF in Python, no system library). :func:`publish` stores both with
the exports' manifest, atomicity and retention, under ``monthly_report/<close id>/``.

Read as the reporter role: the closes are all it needs.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import logging
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from finhouse.closes import SCHEMA, month_end
from finhouse.connections import connect
from finhouse.errors import ConfigError

log = logging.getLogger("finhouse.report_pack")

TEMPLATES = Path(__file__).resolve().parent / "templates"
TEMPLATE = "monthly_report.html"
NAME = "monthly_report"
BUCKETS = ("current", "1-30", "31-60", "61-90", "91-180", "181+")


@dataclass(frozen=True)
class Column:
    name: str
    label: str
    kind: str = "text"  # text, int, money, ratio, index (0.1234), date


@dataclass
class Table:
    """A table of the pack: its rows (dicts by column name) and, when it has one, the total
    row (the last row, its first column "Total")."""

    key: str
    title: str
    columns: list[Column]
    rows: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""


@dataclass
class Pack:
    month: dt.date
    close_id: str
    version: int
    closed_at: dt.datetime
    marts_as_of: dt.date
    previous_close_id: str | None
    tables: dict[str, Table]
    figures: dict[str, Any]  # the key figures by name (the summary table's values)

    @property
    def period_end(self) -> dt.date:
        return month_end(self.month)


def _c(name: str, label: str, kind: str = "text") -> Column:
    return Column(name, label, kind)


#: the key figures: (name, label, kind, SQL over the close tables; %(close)s is the close id)
KEY_FIGURES: tuple[tuple[str, str, str, str], ...] = (
    ("gross_loan_portfolio", "Gross loan portfolio", "money",
     "select sum(gross_loan_portfolio) from closes.portfolio_quality where close_id = %(close)s"),
    ("active_loans", "Active loans", "int",
     "select sum(active_loans) from closes.portfolio_quality where close_id = %(close)s"),
    ("active_borrowers", "Active borrowers", "int",
     "select count(distinct borrower_id) from closes.loan_positions "
     "where close_id = %(close)s and outstanding_principal > 0"),
    ("par30_amount", "PAR30 amount", "money",
     "select sum(par30_amount) from closes.portfolio_quality where close_id = %(close)s"),
    ("par1_ratio", "PAR1", "ratio",
     "select sum(par1_amount) / nullif(sum(gross_loan_portfolio), 0) "
     "from closes.portfolio_quality where close_id = %(close)s"),
    ("par30_ratio", "PAR30", "ratio",
     "select sum(par30_amount) / nullif(sum(gross_loan_portfolio), 0) "
     "from closes.portfolio_quality where close_id = %(close)s"),
    ("par90_ratio", "PAR90", "ratio",
     "select sum(par90_amount) / nullif(sum(gross_loan_portfolio), 0) "
     "from closes.portfolio_quality where close_id = %(close)s"),
    ("loan_loss_reserve", "Loan-loss reserve", "money",
     "select sum(loan_loss_reserve) from closes.risk_coverage where close_id = %(close)s"),
    ("provision_expense", "Provision expense (month)", "money",
     "select sum(provision_expense) from closes.risk_coverage where close_id = %(close)s"),
    ("risk_coverage_ratio", "Risk coverage (reserve / PAR30)", "ratio",
     "select sum(loan_loss_reserve) / nullif(sum(par30_amount), 0) "
     "from closes.risk_coverage where close_id = %(close)s"),
    ("written_off_amount", "Write-offs (month)", "money",
     "select sum(written_off_amount) from closes.risk_coverage where close_id = %(close)s"),
    ("on_time_collection_rate", "On-time collection rate", "ratio",
     "select sum(amount_paid_on_time) / nullif(sum(amount_due), 0) "
     "from closes.collections where close_id = %(close)s"),
    ("annualised_yield", "Yield on gross portfolio (annualised)", "ratio",
     "select max(annualised_yield) from closes.yield_on_portfolio where close_id = %(close)s"),
    ("deposits", "Deposits (month)", "money",
     "select sum(deposits) from closes.financial_summary where close_id = %(close)s"),
    ("net_flow", "Net flow (month)", "money",
     "select sum(net_flow) from closes.financial_summary where close_id = %(close)s"),
    ("investment_book", "Investment book (principal)", "money",
     "select sum(principal) from closes.investments where close_id = %(close)s"),
    ("glp_top_10_pct_share", "GLP held by the top 10 % of loans", "ratio",
     "select top_10_pct_share from closes.concentration "
     "where close_id = %(close)s and population = 'glp'"),
    ("quality_checks", "Data-quality checks at the close", "int",
     "select count(*) from closes.data_quality where close_id = %(close)s"),
    ("quality_problems", "... of which not passing", "int",
     "select count(*) filter (where is_problem) from closes.data_quality "
     "where close_id = %(close)s"),
)  # fmt: skip

#: the tables: (key, title, columns, SQL with the total as its last row, note)
TABLES: tuple[tuple[str, str, list[Column], str, str], ...] = (
    (
        "portfolio_by_branch",
        "Portfolio quality by branch",
        [_c("branch_code", "Branch"), _c("branch_name", "Name"),
         _c("active_loans", "Active loans", "int"), _c("gross_loan_portfolio", "GLP", "money"),
         _c("par30_amount", "PAR30 amount", "money"), _c("par30_ratio", "PAR30", "ratio")],
        """select coalesce(branch_code, 'Total'), case when grouping(branch_code) = 0
                  then max(branch_name) end,
                  sum(active_loans), sum(gross_loan_portfolio), sum(par30_amount),
                  sum(par30_amount) / nullif(sum(gross_loan_portfolio), 0)
           from closes.portfolio_quality where close_id = %(close)s
           group by grouping sets ((branch_code), ())
           order by grouping(branch_code), branch_code""",
        "",
    ),
    (
        "portfolio_by_product",
        "Portfolio quality by product",
        [_c("product", "Product"), _c("active_loans", "Active loans", "int"),
         _c("gross_loan_portfolio", "GLP", "money"), _c("par30_amount", "PAR30 amount", "money"),
         _c("par30_ratio", "PAR30", "ratio")],
        """select coalesce(product, 'Total'), sum(active_loans), sum(gross_loan_portfolio),
                  sum(par30_amount), sum(par30_amount) / nullif(sum(gross_loan_portfolio), 0)
           from closes.portfolio_quality where close_id = %(close)s
           group by grouping sets ((product), ())
           order by grouping(product), product""",
        "",
    ),
    (
        "dpd_buckets",
        "Outstanding principal and provisions by DPD bucket",
        [_c("dpd_bucket", "DPD bucket"), _c("loans", "Loans", "int"),
         _c("outstanding_principal", "Outstanding principal", "money"),
         _c("provision_rate", "Provision rate", "ratio"),
         _c("provision_amount", "Provision", "money")],
        """select coalesce(dpd_bucket, 'Total'), sum(loans), sum(outstanding_principal),
                  case when grouping(dpd_bucket) = 0 then max(provision_rate) end,
                  sum(provision_amount)
           from closes.provisions_by_bucket where close_id = %(close)s
           group by grouping sets ((dpd_bucket, bucket_order), ())
           order by grouping(dpd_bucket), bucket_order""",
        "Provision = outstanding principal x the bucket's rate (the provisioning_rates seed), "
        "per loan, rounded to cents.",
    ),
    (
        "risk_coverage",
        "Provisioning and risk coverage by branch",
        [_c("branch_code", "Branch"), _c("gross_loan_portfolio", "GLP", "money"),
         _c("par30_amount", "PAR30 amount", "money"),
         _c("opening_loan_loss_reserve", "Opening reserve", "money"),
         _c("loan_loss_reserve", "Loan-loss reserve", "money"),
         _c("provision_expense", "Provision expense", "money"),
         _c("risk_coverage_ratio", "Risk coverage", "ratio"),
         _c("written_off_amount", "Write-offs", "money"),
         _c("write_off_ratio", "Write-off ratio", "ratio")],
        """select coalesce(branch_code, 'Total'), sum(gross_loan_portfolio), sum(par30_amount),
                  sum(opening_loan_loss_reserve), sum(loan_loss_reserve),
                  sum(provision_expense),
                  sum(loan_loss_reserve) / nullif(sum(par30_amount), 0),
                  sum(written_off_amount),
                  sum(written_off_amount) / nullif(sum(average_gross_loan_portfolio), 0)
           from closes.risk_coverage where close_id = %(close)s
           group by grouping sets ((branch_code), ())
           order by grouping(branch_code), branch_code""",
        "Risk coverage = loan-loss reserve / PAR30 amount (CGAP). Provision expense = reserve - "
        "opening reserve + write-offs.",
    ),
    (
        "collections",
        "Collections by branch",
        [_c("branch_code", "Branch"), _c("installments_due", "Installments due", "int"),
         _c("amount_due", "Amount due", "money"),
         _c("amount_paid_on_time", "Paid on time", "money"),
         _c("on_time_collection_rate", "On-time rate", "ratio")],
        """select coalesce(branch_code, 'Total'), sum(installments_due), sum(amount_due),
                  sum(amount_paid_on_time),
                  sum(amount_paid_on_time) / nullif(sum(amount_due), 0)
           from closes.collections where close_id = %(close)s
           group by grouping sets ((branch_code), ())
           order by grouping(branch_code), branch_code""",
        "On-time collection rate (CGAP): principal and interest due in the month paid by each "
        "installment's due date / due.",
    ),
    (
        "financial_summary",
        "Financial summary by branch",
        [_c("branch_code", "Branch"), _c("deposits", "Deposits", "money"),
         _c("withdrawals", "Withdrawals", "money"),
         _c("loan_disbursements", "Disbursements", "money"),
         _c("loan_repayments", "Repayments", "money"),
         _c("fees_and_interest", "Fees and interest", "money"),
         _c("net_flow", "Net flow", "money")],
        """select coalesce(branch_code, 'Total'), sum(deposits), sum(withdrawals),
                  sum(loan_disbursements), sum(loan_repayments), sum(fees) + sum(interest_paid),
                  sum(net_flow)
           from closes.financial_summary where close_id = %(close)s
           group by grouping sets ((branch_code), ())
           order by grouping(branch_code), branch_code""",
        "",
    ),
    (
        "roll_rates",
        "Roll rates over the month",
        [_c("from_bucket", "From"), _c("to_bucket", "To"),
         _c("start_outstanding_principal", "Outstanding at start", "money"),
         _c("roll_rate", "Roll rate", "ratio")],
        """select from_bucket, to_bucket, start_outstanding_principal, roll_rate
           from closes.roll_rates where close_id = %(close)s
           order by array_position(array['current', '1-30', '31-60', '61-90', '91-180',
                                         '181+', 'closed', 'written_off'], from_bucket),
                    array_position(array['current', '1-30', '31-60', '61-90', '91-180',
                                         '181+', 'closed', 'written_off'], to_bucket)""",
        "",
    ),
    (
        "trend",
        "Twelve-month trend (as known at the close)",
        [_c("month_start", "Month", "date"), _c("gross_loan_portfolio", "GLP", "money"),
         _c("par30_amount", "PAR30 amount", "money"), _c("par30_ratio", "PAR30", "ratio"),
         _c("loan_loss_reserve", "Loan-loss reserve", "money"),
         _c("risk_coverage_ratio", "Risk coverage", "ratio"),
         _c("written_off_amount", "Write-offs", "money")],
        """select month_start, sum(gross_loan_portfolio), sum(par30_amount),
                  sum(par30_amount) / nullif(sum(gross_loan_portfolio), 0),
                  sum(loan_loss_reserve), sum(loan_loss_reserve) / nullif(sum(par30_amount), 0),
                  sum(written_off_amount)
           from closes.portfolio_trend where close_id = %(close)s
           group by month_start order by month_start""",
        "Month-end figures of the twelve months to the close, as the marts held them when it "
        "was taken.",
    ),
    (
        "investments",
        "Investment book by product",
        [_c("investment_product", "Product"),
         _c("opening_principal", "Opening principal", "money"),
         _c("started_principal", "Started", "money"),
         _c("matured_principal", "Matured", "money"),
         _c("withdrawn_principal", "Withdrawn", "money"),
         _c("principal", "Closing principal", "money"),
         _c("investment_count", "Investments", "int"),
         _c("accrued_value", "Accrued value", "money"),
         _c("weighted_annual_rate", "Weighted rate", "ratio")],
        """select coalesce(investment_product, 'Total'), sum(opening_principal),
                  sum(started_principal), sum(matured_principal), sum(withdrawn_principal),
                  sum(principal), sum(investment_count), sum(accrued_value),
                  sum(principal * weighted_annual_rate) / nullif(sum(principal), 0)
           from closes.investments where close_id = %(close)s
           group by grouping sets ((investment_product), ())
           order by grouping(investment_product), investment_product""",
        "Investments in the book at the month's end, valued at simple interest to that day "
        "(capped at maturity), each rounded to cents. Closing = opening + started - matured - "
        "withdrawn; an active investment past maturity is still owed.",
    ),
    (
        "concentration",
        "Concentration at the month's end",
        [_c("population", "Population"), _c("holders", "Holders", "int"),
         _c("total_balance", "Total balance", "money"),
         _c("top_10_pct_holders", "Top 10 % holders", "int"),
         _c("top_10_pct_balance", "Top 10 % balance", "money"),
         _c("top_10_pct_share", "Top 10 % share", "ratio"), _c("gini", "Gini", "index")],
        """select case population when 'glp' then 'Loans (GLP)'
                  when 'deposits' then 'Deposit accounts' else population end,
                  holders, total_balance, top_10_pct_holders, top_10_pct_balance,
                  top_10_pct_share, gini
           from closes.concentration where close_id = %(close)s
           order by population desc""",
        "Loans with outstanding principal and accounts with a positive balance at the month's "
        "end. Top 10 % = the largest ceil(n / 10) holders; Gini 0 = equal balances, 1 = one "
        "holder has everything.",
    ),
    (
        "data_quality_record",
        "Data-quality record of the month",
        [_c("check_kind", "Kind"), _c("days", "Days", "int"), _c("runs", "Runs", "int"),
         _c("checks", "Checks", "int"), _c("passed", "Passed", "int"),
         _c("warned", "Warned", "int"), _c("failed", "Failed", "int"),
         _c("errored", "Errored", "int"), _c("failing_rows", "Failing rows", "int")],
        """select coalesce(check_kind, 'Total'), count(distinct check_date), sum(runs),
                  sum(checks), sum(passed), sum(warned), sum(failed), sum(errored),
                  sum(failing_rows)
           from closes.data_quality_record where close_id = %(close)s
           group by grouping sets ((check_kind), ()) having count(*) > 0
           order by grouping(check_kind), check_kind""",
        "Every check run during the month (the dbt builds' tests and source freshness, the "
        "spreadsheet files, the daily reconciles), from the data-quality record.",
    ),
    (
        "data_quality",
        "Data-quality checks not passing at the close",
        [_c("check_kind", "Kind"), _c("check_name", "Check"), _c("subject", "Subject"),
         _c("severity", "Severity"), _c("check_status", "Status"),
         _c("failing_rows", "Failing rows", "int")],
        """select check_kind, check_name, subject, severity, check_status, failing_rows
           from closes.data_quality where close_id = %(close)s and is_problem
           order by severity, check_kind, check_name, subject""",
        "The checks of the data-quality record (the dbt builds' tests and source freshness, the "
        "spreadsheet files, the daily reconciles) as they stood when the month was closed.",
    ),
    (
        "restatement",
        "Restatement since the previous close",
        [_c("loan_id", "Loan", "int"), _c("branch_code", "Branch"),
         _c("previous_outstanding_principal", "Outstanding before", "money"),
         _c("restated_outstanding_principal", "Outstanding now", "money"),
         _c("previous_dpd_bucket", "Bucket before"), _c("restated_dpd_bucket", "Bucket now"),
         _c("causes", "Causes")],
        """select loan_id, branch_code, previous_outstanding_principal,
                  restated_outstanding_principal, previous_dpd_bucket, restated_dpd_bucket,
                  causes
           from closes.restated_loans where close_id = %(close)s order by loan_id""",
        "The loans whose month-end position differs from the previous close of this month, with "
        "the source changes found for them.",
    ),
    (
        "restated_figures",
        "Figures restated since the previous close",
        [_c("section", "Table"), _c("row_key", "Row"), _c("figure", "Figure"),
         _c("previous_value", "Before"), _c("restated_value", "Now"),
         _c("difference", "Difference")],
        """select section, regexp_replace(row_key, '[a-z_0-9]+=', '', 'g'), figure,
                  previous_value, restated_value, difference
           from closes.restated_figures where close_id = %(close)s
           order by section, row_key, figure""",
        "Every figure of the close tables that differs from the previous close of this month "
        "(- : the row was not in that close).",
    ),
)  # fmt: skip


def read_pack(dsn: str, month: dt.date, close_id: str | None = None) -> Pack:
    """The close's tables: the month's latest close, or ``close_id`` (one of its versions)."""

    month = month.replace(day=1)
    with connect(dsn) as conn:
        conn.execute("set transaction isolation level repeatable read, read only")
        found = conn.execute("select to_regclass('closes.month_end_closes') is not null").fetchone()
        if not found or not found[0]:
            raise ConfigError(f"no month closed yet: close {month:%Y-%m} first (finhouse close)")
        header = conn.execute(
            f"select close_id, version, closed_at, marts_as_of, previous_close_id "
            f"from {SCHEMA}.month_end_closes where month = %s "
            "and (close_id = %s or %s::text is null) order by version desc limit 1",
            (month, close_id, close_id),
        ).fetchone()
        if header is None:
            which = f"close {close_id}" if close_id else "no close"
            raise ConfigError(
                f"{month:%Y-%m}: {which} on record: close the month first "
                f"(finhouse close {month:%Y-%m})"
            )
        params = {"close": header[0]}
        figures = {
            name: (conn.execute(query, params).fetchone() or (None,))[0]
            for name, _label, _kind, query in KEY_FIGURES
        }
        tables = {
            "summary": Table(
                "summary",
                "Key figures",
                [_c("figure", "Figure"), _c("value", "Value", "mixed")],
                [
                    {"figure": label, "value": figures[name], "kind": kind}
                    for name, label, kind, _query in KEY_FIGURES
                ],
            )
        }
        for key, title, columns, query, note in TABLES:
            rows = conn.execute(query, params).fetchall()
            tables[key] = Table(
                key,
                title,
                columns,
                [dict(zip((c.name for c in columns), row, strict=True)) for row in rows],
                note,
            )
    return Pack(month, header[0], header[1], header[2], header[3], header[4], tables, figures)


# ---------------------------------------------------------------------- formatting
def display(value: Any, kind: str) -> str:
    """A value as the PDF prints it: money 1,234.50, ratios 12.34 %, indices 0.1234, counts
    1,234."""
    if value is None:
        return "-"
    if kind == "money":
        return f"{Decimal(value):,.2f}"
    if kind == "index":
        return f"{Decimal(value):.4f}"
    if kind == "ratio":
        return f"{Decimal(value) * 100:,.2f} %"
    if kind == "int":
        return f"{int(value):,}"
    if isinstance(value, dt.date):
        return f"{value:%b %Y}" if value.day == 1 else value.isoformat()
    return str(value)


NUMBER_FORMATS = {
    "money": "#,##0.00", "ratio": "0.00%", "index": "0.0000", "int": "#,##0", "date": "yyyy-mm-dd"
}  # fmt: skip


def excel(pack: Pack) -> bytes:
    """One sheet per table (the key figures first, then a sheet about the close): a bold
    header row, cells typed (numbers as numbers, dates as dates) with number formats."""
    from openpyxl import Workbook  # noqa: PLC0415
    from openpyxl.styles import Font  # noqa: PLC0415
    from openpyxl.utils import get_column_letter  # noqa: PLC0415

    book = Workbook()
    book.remove(book.active)
    stamp = pack.closed_at.replace(tzinfo=None)
    book.properties.created = book.properties.modified = stamp
    book.properties.title = f"Monthly report {pack.month:%Y-%m} ({pack.close_id})"
    about = book.create_sheet("close")
    for label, value in (
        ("Month", pack.month),
        ("Month-end", pack.period_end),
        ("Close", pack.close_id),
        ("Version", pack.version),
        ("Closed at (UTC)", stamp),
        ("Marts as of", pack.marts_as_of),
        ("Previous close", pack.previous_close_id or "-"),
    ):
        about.append([label, value])
        cell = about.cell(row=about.max_row, column=2)
        if isinstance(value, dt.datetime):
            cell.number_format = "yyyy-mm-dd hh:mm:ss"
        elif isinstance(value, dt.date):
            cell.number_format = "yyyy-mm-dd"
    about.column_dimensions["A"].width = 18
    about.column_dimensions["B"].width = 22
    for table in pack.tables.values():
        sheet = book.create_sheet(table.key[:31])
        sheet.append([c.label for c in table.columns])
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for row in table.rows:
            sheet.append([row.get(c.name) for c in table.columns])
            for index, column in enumerate(table.columns, start=1):
                kind = row.get("kind", "text") if column.kind == "mixed" else column.kind
                if kind in NUMBER_FORMATS:
                    sheet.cell(row=sheet.max_row, column=index).number_format = NUMBER_FORMATS[kind]
            if row.get(table.columns[0].name) == "Total":
                for cell in sheet[sheet.max_row]:
                    cell.font = Font(bold=True)
        for index, column in enumerate(table.columns, start=1):
            sheet.column_dimensions[get_column_letter(index)].width = max(
                12, min(60, len(column.label) + 4)
            )
        sheet.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# ---------------------------------------------------------------------- charts
def _png(figure: Any) -> str:
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


def _thousands() -> Any:
    from matplotlib.ticker import FuncFormatter  # noqa: PLC0415

    return FuncFormatter(lambda value, _position: f"{value:,.0f}")


def charts(pack: Pack) -> dict[str, str]:
    """The pack's charts as PNG data URIs: the PAR30 and risk-coverage trend, outstanding
    principal and provisions by DPD bucket, GLP and PAR30 by branch, the investment book."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    out = {}
    trend = pack.tables["trend"].rows
    figure, left = plt.subplots(figsize=(7.5, 2.8))
    months = [r["month_start"] for r in trend]
    left.plot(months, [float(r["par30_ratio"] or 0) * 100 for r in trend], marker="o",
              color="#c0392b", label="PAR30 (%)")  # fmt: skip
    left.set_ylabel("PAR30 (%)")
    right = left.twinx()
    right.plot(months, [float(r["risk_coverage_ratio"] or 0) * 100 for r in trend], marker="s",
               color="#2c7fb8", label="Risk coverage (%)")  # fmt: skip
    right.set_ylabel("Risk coverage (%)")
    left.set_title("PAR30 and risk coverage at each month-end")
    lines = left.get_lines() + right.get_lines()
    left.legend(
        handles=lines, labels=[str(line.get_label()) for line in lines], loc="upper left",
        fontsize=7,
    )  # fmt: skip
    figure.autofmt_xdate()
    out["trend"] = _png(figure)

    # (current loans dwarf the rest: the chart is about the past-due buckets)
    buckets = [
        r for r in pack.tables["dpd_buckets"].rows if r["dpd_bucket"] not in ("Total", "current")
    ]
    figure, axis = plt.subplots(figsize=(7.5, 2.6))
    names = [r["dpd_bucket"] for r in buckets]
    axis.bar(names, [float(r["outstanding_principal"]) for r in buckets], color="#7fa7c9",
             label="Outstanding principal")  # fmt: skip
    axis.bar(names, [float(r["provision_amount"]) for r in buckets], color="#c0392b",
             label="Provision")  # fmt: skip
    axis.set_title("Past-due outstanding principal and provisions by DPD bucket")
    axis.yaxis.set_major_formatter(_thousands())
    axis.legend(fontsize=8)
    out["buckets"] = _png(figure)

    branches = [r for r in pack.tables["portfolio_by_branch"].rows if r["branch_code"] != "Total"]
    figure, axis = plt.subplots(figsize=(7.5, 2.6))
    names = [r["branch_code"] for r in branches]
    axis.bar(names, [float(r["gross_loan_portfolio"]) for r in branches], color="#7fa7c9",
             label="GLP")  # fmt: skip
    axis.bar(names, [float(r["par30_amount"]) for r in branches], color="#c0392b",
             label="PAR30 amount")  # fmt: skip
    axis.set_title("GLP and PAR30 by branch")
    axis.yaxis.set_major_formatter(_thousands())
    axis.legend(fontsize=8)
    out["branches"] = _png(figure)

    products = [r for r in pack.tables["investments"].rows if r["investment_product"] != "Total"]
    figure, axis = plt.subplots(figsize=(7.5, 2.4))
    names = [r["investment_product"] for r in products]
    axis.bar(names, [float(r["accrued_value"]) for r in products], color="#7fa7c9",
             label="Accrued value")  # fmt: skip
    axis.bar(names, [float(r["principal"]) for r in products], color="#1f3b57",
             label="Principal")  # fmt: skip
    axis.set_title("Investment book at the month's end by product")
    axis.yaxis.set_major_formatter(_thousands())
    axis.legend(fontsize=8)
    out["investments"] = _png(figure)
    return out


# ---------------------------------------------------------------------- the PDF
def html(pack: Pack) -> str:
    """The report as HTML (the template filled): what :func:`pdf` renders."""
    import jinja2  # noqa: PLC0415

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
    )
    environment.filters["show"] = display
    return environment.get_template(TEMPLATE).render(
        pack=pack,
        tables=pack.tables,
        charts=charts(pack),
        buckets=BUCKETS,
    )


def pdf(pack: Pack) -> bytes:
    from reportlab import rl_config  # noqa: PLC0415
    from xhtml2pdf import pisa  # noqa: PLC0415

    rl_config.invariant = 1  # no creation time or random id in the file: same close, same bytes
    out = io.BytesIO()
    status = pisa.CreatePDF(html(pack), dest=out, encoding="utf-8")
    if status.err:
        raise ConfigError(f"the report's PDF did not render ({status.err} errors)")
    return out.getvalue()


# ---------------------------------------------------------------------- publishing
def file_names(pack: Pack) -> tuple[str, str]:
    stem = f"finhouse_monthly_report_{pack.month:%Y-%m}_{pack.close_id}"
    return f"{stem}.pdf", f"{stem}.xlsx"


def publish(pack: Pack, url: str, *, keep_days: float | None = None) -> tuple[Any, bool]:
    """Render the pack and store the PDF and the workbook under ``<url>/monthly_report/<close
    id>/`` with a manifest, atomically (a close already published is left as it is); then the
    packs past ``keep_days`` go (the current one stays)."""
    from finhouse import exports  # noqa: PLC0415

    fs, root = exports.filesystem(url)
    pdf_name, excel_name = file_names(pack)
    done = fs.exists(f"{root}/{NAME}/{pack.close_id}/{exports.MANIFEST}")
    # a close published already is not rendered again (publish_files keeps the files on record)
    contents = {} if done else {pdf_name: pdf(pack), excel_name: excel(pack)}
    manifest, wrote = exports.publish_files(
        fs, root, NAME, pack.close_id, contents, as_of=pack.period_end
    )
    if keep_days is not None:
        exports.prune(fs, root, NAME, keep_days=keep_days)
    return manifest, wrote


def describe(pack: Pack, url: str, wrote: bool) -> str:
    where = f"{url.rstrip('/')}/{NAME}/{pack.close_id}"
    pdf_name, excel_name = file_names(pack)
    if not wrote:
        return f"{pack.month:%Y-%m}: report pack of close {pack.close_id} already at {where}"
    return (
        f"{pack.month:%Y-%m}: report pack of close {pack.close_id} -> {where}/{pdf_name}, "
        f"{excel_name}"
    )
