"""Month-end closes: the reporting marts' month-end figures frozen, versioned and compared.

The marts are restated: a payment entered late, a reversal or a backdated write-off changes
past months on the next build (docs/metrics.md "Restated, not frozen"). Reports to a board,
a lender or a regulator need the figures as they were closed. :func:`close_month` copies the
month's rows of each section (:data:`SECTIONS`) into the ``closes`` schema of the warehouse,
under a close id (``2026-11-v1``, ``2026-11-v2``…):

* **Immutable**: the close tables refuse UPDATE, DELETE and TRUNCATE (a trigger), for every
  role; a close is written in one transaction with its header (``closes.month_end_closes``),
  so a close is complete or absent.
* **Versioned**: closing a month again writes a new version only when a figure changed; the
  new version's **restatement** lists every figure that changed since the previous version
  (``closes.restated_figures``) and every loan whose month-end position changed, with the
  source changes that caused it (``closes.restated_loans``: a payment entered or reversed
  after the previous close, a write-off or closure recorded later, the borrower's branch…),
  found in RAW's versions between the two closes' knowledge of the loan
  (``loan_provisions_monthly.source_changed_at``).
* **Read** as closed (``closes.<section>_as_closed``: each month's latest version) or as
  restated (the marts), by the reporter role (Superset) and the report pack.

A month closes once the marts hold it complete (built as of a day after its last day). The
close runs as the transformer role (it reads the marts and the staging versions and owns the
``closes`` schema). PostgreSQL only for now, as the exports.
"""

from __future__ import annotations

import calendar
import datetime as dt
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from finhouse.connections import connect
from finhouse.errors import ConfigError

log = logging.getLogger("finhouse.closes")

SCHEMA = "closes"
MARTS = "marts"
STAGING = "staging"


@dataclass(frozen=True)
class Section:
    """A mart's rows frozen at each close: those of the month (``month_start``) or of its end
    day (``as_of_date`` = the month's last day), identified by ``keys`` within a close."""

    name: str
    mart: str
    keys: tuple[str, ...]
    #: the rows of the month (a date column equal to the month's first or last day); None: every
    #: row, as the mart holds it at the close
    month_column: str | None = "month_start"
    #: per-loan rows: compared loan by loan (closes.restated_loans), not figure by figure
    per_loan: bool = False
    #: also the rows of this many months before (a trend, frozen as known at the close)
    history_months: int = 0
    #: compared with the previous close (the restatement is about the month's own figures:
    #: not its trend, nor the state of the checks when it was closed)
    restated: bool = True
    #: month_column is a day: the rows of every day of the month
    daily: bool = False


SECTIONS: tuple[Section, ...] = (
    Section("portfolio_quality", "portfolio_daily", ("branch_code", "product", "loan_officer_id"),
            month_column="as_of_date"),
    Section("risk_coverage", "risk_coverage_monthly", ("branch_code",)),
    Section("provisions_by_bucket", "provisions_by_bucket_monthly", ("branch_code", "dpd_bucket")),
    Section("collections", "collections_monthly", ("branch_code", "loan_officer_id")),
    Section("yield_on_portfolio", "yield_on_portfolio_monthly", ()),
    Section("financial_summary", "monthly_financial_summary", ("summary_key",)),
    Section("roll_rates", "roll_rates_monthly", ("from_bucket", "to_bucket")),
    Section("loan_positions", "loan_provisions_monthly", ("loan_id",), per_loan=True),
    Section("investments", "investments_monthly", ("investment_product",)),
    Section("concentration", "concentration_monthly", ("population",)),
    Section("portfolio_trend", "risk_coverage_monthly", ("month_start", "branch_code"),
            history_months=11, restated=False),
    Section("data_quality", "data_quality_checks", ("check_key",), month_column=None,
            restated=False),
    Section("data_quality_record", "data_quality_daily", ("check_day_key",),
            month_column="check_date", daily=True, restated=False),
)  # fmt: skip

#: columns that describe a row's computation, not a figure: never a restatement (nor are a
#: mart's surrogate keys, the columns named ``*_key``)
NOT_FIGURES = frozenset(
    {"month_start", "as_of_date", "period_end_date", "is_month_complete", "days_in_period",
     "source_changed_at", "computed_as_of"}
)  # fmt: skip
#: the loan positions' figures a restated loan is described by
LOAN_FIGURES = ("branch_code", "outstanding_principal", "dpd_bucket", "provision_amount")

MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def parse_month(text: str) -> dt.date:
    """``2026-11`` -> 2026-11-01; anything else is one clear error."""
    found = MONTH.match(text.strip())
    if not found or not 1 <= int(found.group(2)) <= 12:
        raise ConfigError(f"not a month: {text[:40]!r} (expected YYYY-MM, e.g. 2026-11)")
    return dt.date(int(found.group(1)), int(found.group(2)), 1)


def month_end(month: dt.date) -> dt.date:
    return month.replace(day=calendar.monthrange(month.year, month.month)[1])


def previous_month(today: dt.date) -> dt.date:
    """The last complete month before ``today``."""
    return (today.replace(day=1) - dt.timedelta(days=1)).replace(day=1)


@dataclass
class RestatedLoan:
    loan_id: int
    branch_code: str | None
    before: dict[str, Any]
    after: dict[str, Any]
    causes: list[str] = field(default_factory=list)


@dataclass
class CloseResult:
    month: dt.date
    close_id: str | None  # None: unchanged since ``previous``, nothing written
    version: int | None
    previous: str | None
    rows: dict[str, int] = field(default_factory=dict)
    restated_figures: list[tuple[str, str, str, Any, Any]] = field(default_factory=list)
    restated_loans: list[RestatedLoan] = field(default_factory=list)

    def describe(self, limit: int = 20) -> str:
        label = f"{self.month:%Y-%m}"
        if self.close_id is None:
            return f"{label}: unchanged since close {self.previous}: no new version written"
        total = sum(self.rows.values())
        lines = [
            f"{label}: closed as {self.close_id} ({len(self.rows)} sections, {total:,} rows)"
            + (f"; previous close {self.previous}" if self.previous else "")
        ]
        if self.previous:
            lines.append(
                f"restatement since {self.previous}: {_count(self.restated_figures, 'figure')}, "
                f"{_count(self.restated_loans, 'loan')} (closes.restated_figures, "
                "closes.restated_loans)"
            )
            for section, key, figure, before, after in self.restated_figures[:limit]:
                lines.append(f"  {section} {key or '(month)'} {figure}: {before} -> {after}")
            if len(self.restated_figures) > limit:
                lines.append(f"  ... and {_count(self.restated_figures[limit:], 'more figure')}")
            for loan in self.restated_loans[:limit]:
                lines.append(
                    f"  loan {loan.loan_id} ({loan.branch_code}): "
                    + "; ".join(loan.causes or ["no source change found"])
                )
            if len(self.restated_loans) > limit:
                lines.append(f"  ... and {_count(self.restated_loans[limit:], 'more loan')}")
        return "\n".join(lines)


def _count(items: Sequence[Any], noun: str) -> str:
    return f"{len(items):,} {noun}{'' if len(items) == 1 else 's'}"


# ---------------------------------------------------------------------- the schema
def _q(name: str) -> str:
    """A quoted identifier (the names here are the code's own, never the user's)."""
    return '"' + name.replace('"', '""') + '"'


def _columns(conn: Any, schema: str, table: str) -> list[tuple[str, str]]:
    return [
        (name, kind)
        for name, kind in conn.execute(
            "select a.attname, format_type(a.atttypid, a.atttypmod) from pg_attribute a "
            "join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = %s and c.relname = %s and a.attnum > 0 and not a.attisdropped "
            "order by a.attnum",
            (schema, table),
        ).fetchall()
    ]


FIXED_TABLES = {
    "month_end_closes": """
        close_id text primary key,
        month date not null,
        version integer not null,
        period_end_date date not null,
        closed_at timestamptz not null,
        marts_as_of date not null,
        previous_close_id text,
        closed_by text not null,
        section_rows text not null,
        restated_figures integer not null,
        restated_loans integer not null,
        unique (month, version)""",
    "restated_figures": """
        close_id text not null,
        previous_close_id text not null,
        month date not null,
        section text not null,
        row_key text not null,
        figure text not null,
        previous_value text,
        restated_value text,
        difference numeric""",
    "restated_loans": """
        close_id text not null,
        previous_close_id text not null,
        month date not null,
        loan_id bigint not null,
        branch_code text,
        previous_outstanding_principal numeric(18,2),
        restated_outstanding_principal numeric(18,2),
        previous_dpd_bucket text,
        restated_dpd_bucket text,
        previous_provision_amount numeric(18,2),
        restated_provision_amount numeric(18,2),
        causes text not null""",
}

REFUSE = f"""
create or replace function {SCHEMA}.refuse_change() returns trigger language plpgsql as $$
begin
    raise exception 'closes are immutable: % on %.% refused (close the month again instead)',
        tg_op, tg_table_schema, tg_table_name;
end $$"""


def _immutable(conn: Any, table: str) -> None:
    conn.execute(
        f"create or replace trigger closes_immutable before update or delete on "
        f"{SCHEMA}.{_q(table)} for each row execute function {SCHEMA}.refuse_change()"
    )
    conn.execute(
        f"create or replace trigger closes_no_truncate before truncate on "
        f"{SCHEMA}.{_q(table)} for each statement execute function {SCHEMA}.refuse_change()"
    )


def ensure_schema(conn: Any, reader_role: str | None) -> None:
    """The ``closes`` schema, its fixed tables, one table per section (the mart's columns,
    after ``close_id`` and ``close_month``; columns a mart gained since are added) and the
    ``*_as_closed`` views; select granted to ``reader_role``. Idempotent."""
    conn.execute(f"create schema if not exists {SCHEMA}")
    conn.execute(REFUSE)
    for table, body in FIXED_TABLES.items():
        conn.execute(f"create table if not exists {SCHEMA}.{table} ({body})")
        _immutable(conn, table)
    for section in SECTIONS:
        mart_columns = _columns(conn, MARTS, section.mart)
        if not mart_columns:
            raise ConfigError(
                f"the mart {MARTS}.{section.mart} does not exist: build the marts first "
                "(`finhouse dbt build`, or the finhouse_dbt DAG)"
            )
        conn.execute(
            f"create table if not exists {SCHEMA}.{_q(section.name)} "
            "(close_id text not null, close_month date not null)"
        )
        have = {name for name, _ in _columns(conn, SCHEMA, section.name)}
        for name, kind in mart_columns:
            if name not in have:
                conn.execute(
                    f"alter table {SCHEMA}.{_q(section.name)} add column {_q(name)} {kind}"
                )
        conn.execute(
            f"create index if not exists {_q(section.name + '_close')} "
            f"on {SCHEMA}.{_q(section.name)} (close_id)"
        )
        _immutable(conn, section.name)
        conn.execute(
            f"create or replace view {SCHEMA}.{_q(section.name + '_as_closed')} as "
            f"select s.* from {SCHEMA}.{_q(section.name)} s "
            f"where s.close_id in (select distinct on (month) close_id "
            f"from {SCHEMA}.month_end_closes order by month, version desc)"
        )
    if reader_role:
        role = _q(reader_role)
        conn.execute(f"grant usage on schema {SCHEMA} to {role}")
        conn.execute(f"grant select on all tables in schema {SCHEMA} to {role}")


# ---------------------------------------------------------------------- closing
def _marts_as_of(conn: Any) -> dt.date | None:
    row = conn.execute(f"select max(as_of_date) from {MARTS}.risk_coverage_monthly").fetchone()
    return row[0] if row else None


def _copy_section(conn: Any, section: Section, close_id: str, month: dt.date) -> int:
    mart_columns = [name for name, _ in _columns(conn, MARTS, section.mart)]
    names = ", ".join(_q(n) for n in mart_columns)
    insert = (
        f"insert into {SCHEMA}.{_q(section.name)} (close_id, close_month, {names}) "
        f"select %s, %s, {names} from {MARTS}.{_q(section.mart)}"
    )
    if section.month_column is None:
        return int(conn.execute(insert, (close_id, month)).rowcount)
    value = month_end(month) if section.month_column == "as_of_date" or section.daily else month
    first = month
    for _ in range(section.history_months):
        first = previous_month(first)
    cur = conn.execute(
        insert + f" where {_q(section.month_column)} between %s and %s",
        (close_id, month, first if section.history_months or section.daily else value, value),
    )
    return int(cur.rowcount)


def _diff(
    conn: Any, section: Section, new: str, old: str
) -> list[tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any] | None]]:
    """Rows of ``section`` that differ between two closes: (key, before, after), with the
    figures only (None: the row is absent from that close)."""
    columns = [n for n, _ in _columns(conn, SCHEMA, section.name)][2:]
    figures = [
        c
        for c in columns
        if c not in NOT_FIGURES and c not in section.keys and not c.endswith("_key")
    ]
    # (a full join needs equalities: keys may be null)
    join = " and ".join(
        f"coalesce(n.{_q(k)}::text, '') = coalesce(p.{_q(k)}::text, '') "
        f"and (n.{_q(k)} is null) = (p.{_q(k)} is null)"
        for k in section.keys
    )
    changed = " or ".join(f"n.{_q(c)} is distinct from p.{_q(c)}" for c in figures)
    keys = ", ".join(f"coalesce(n.{_q(k)}, p.{_q(k)})" for k in section.keys) or "null"
    rows = conn.execute(
        f"select {keys}, n.close_id is not null, p.close_id is not null, "
        + ", ".join(f"p.{_q(c)}, n.{_q(c)}" for c in figures)
        + f" from (select * from {SCHEMA}.{_q(section.name)} where close_id = %s) n "
        f"full join (select * from {SCHEMA}.{_q(section.name)} where close_id = %s) p "
        f"on {join or 'true'} where n.close_id is null or p.close_id is null or ({changed})",
        (new, old),
    ).fetchall()
    width = max(len(section.keys), 1)
    out = []
    for row in rows:
        key = dict(zip(section.keys, row[: len(section.keys)], strict=True))
        in_new, in_old = row[width], row[width + 1]
        values = row[width + 2 :]
        before = {c: values[2 * i] for i, c in enumerate(figures)} if in_old else None
        after = {c: values[2 * i + 1] for i, c in enumerate(figures)} if in_new else None
        out.append((key, before, after))
    return out


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _figure_changes(
    section: Section, key: dict[str, Any], before: dict | None, after: dict | None
) -> list[tuple[str, str, str, Any, Any]]:
    label = ", ".join(f"{k}={v}" for k, v in key.items())
    names = (after or before or {}).keys()
    out = []
    for name in names:
        old = before.get(name) if before else None
        new = after.get(name) if after else None
        if old != new:
            out.append((section.name, label, name, old, new))
    return out


@dataclass
class _SourceVersions:
    """RAW's versions of some loans and of their payments (staging's ``*_versions`` views),
    read once for every restated loan: (changed_at, ...) rows by loan."""

    payments: dict[int, list[tuple[Any, ...]]]
    loans: dict[int, list[tuple[Any, ...]]]

    @classmethod
    def read(cls, conn: Any, loan_ids: list[int], period_end: dt.date) -> _SourceVersions:
        payments: dict[int, list[tuple[Any, ...]]] = {}
        for row in conn.execute(
            f"select v.loan_id, v.changed_at, v.payment_id, v.payment_status, "
            f"(v.paid_at at time zone 'UTC')::date, v.principal_paid, v.deleted_at is not null, "
            f"min(v.loaded_at) over (partition by v.payment_id) "
            f"from {STAGING}.stg_oltp__payments_versions v "
            f"where v.loan_id = any(%s) and (v.paid_at at time zone 'UTC')::date <= %s "
            f"order by v.loan_id, v.payment_id, v.changed_at",
            (loan_ids, period_end),
        ):
            payments.setdefault(row[0], []).append(row[1:])
        loans: dict[int, list[tuple[Any, ...]]] = {}
        for row in conn.execute(
            f"select loan_id, changed_at, (written_off_at at time zone 'UTC')::date, "
            f"(closed_at at time zone 'UTC')::date, (disbursed_at at time zone 'UTC')::date "
            f"from {STAGING}.stg_oltp__loans_versions where loan_id = any(%s) "
            f"order by loan_id, changed_at",
            (loan_ids,),
        ):
            loans.setdefault(row[0], []).append(row[1:])
        return cls(payments, loans)


def _loan_causes(
    versions: _SourceVersions,
    loan_id: int,
    period_end: dt.date,
    window_of_changes: tuple[Any, Any],
    branch_moved: tuple[Any, Any],
    *,
    in_previous: bool,
) -> list[str]:
    """The source changes of a loan between two closes' knowledge of it: RAW versions of the
    loan and its payments (paid by the month's end) that changed in ``window_of_changes``
    (after the previous close's change time of the loan, up to this close's)."""
    since, until = window_of_changes
    causes = []
    if branch_moved[0] != branch_moved[1] and branch_moved[0] is not None:
        causes.append(
            f"borrower's branch {branch_moved[0]} -> {branch_moved[1]} (figures follow the "
            "current branch)"
        )
    latest: dict[int, tuple[Any, ...]] = {}  # each payment's latest change in the window
    for changed_at, payment_id, *rest in versions.payments.get(loan_id, []):
        if since < changed_at <= until:
            latest[payment_id] = tuple(rest)
    for payment_id, (status, paid_on, principal, deleted, first_loaded) in sorted(latest.items()):
        if deleted:
            causes.append(f"payment {payment_id} (paid {paid_on}) deleted in the source")
        elif first_loaded is not None and first_loaded > since:
            causes.append(
                f"payment {payment_id} entered after the previous close (paid {paid_on}, "
                f"principal {principal}, {status})"
            )
        elif status == "reversed":
            causes.append(f"payment {payment_id} (paid {paid_on}) reversed")
        else:
            causes.append(f"payment {payment_id} (paid {paid_on}) changed: now {status}")
    changes = [v for v in versions.loans.get(loan_id, []) if since < v[0] <= until]
    if changes:
        _changed_at, written_off, closed, disbursed = changes[-1]
        if written_off is not None and written_off <= period_end:
            causes.append(f"written off, dated {written_off}")
        elif closed is not None and closed <= period_end:
            causes.append(f"closed, dated {closed}")
        elif disbursed is not None and not in_previous:
            causes.append(f"disbursement dated {disbursed} recorded after the previous close")
        else:
            causes.append("loan terms changed")
    return causes


def _restated_loans(
    conn: Any,
    section: Section,
    new: str,
    old: str,
    period_end: dt.date,
    previous_closed_at: dt.datetime,
) -> list[RestatedLoan]:
    columns = [n for n, _ in _columns(conn, SCHEMA, section.name)]
    wanted = [c for c in (*LOAN_FIGURES, "days_past_due", "source_changed_at") if c in columns]
    changed = " or ".join(f"n.{_q(c)} is distinct from p.{_q(c)}" for c in LOAN_FIGURES)
    rows = conn.execute(
        "select coalesce(n.loan_id, p.loan_id), "
        + ", ".join(f"p.{_q(c)}, n.{_q(c)}" for c in wanted)
        + f", p.close_id is not null, n.close_id is not null "
        f"from (select * from {SCHEMA}.{_q(section.name)} where close_id = %s) n "
        f"full join (select * from {SCHEMA}.{_q(section.name)} where close_id = %s) p "
        f"on n.loan_id = p.loan_id "
        f"where n.close_id is null or p.close_id is null or ({changed}) order by 1",
        (new, old),
    ).fetchall()
    versions = _SourceVersions.read(conn, [row[0] for row in rows], period_end)
    out = []
    for row in rows:
        loan_id, values, (in_old, in_new) = row[0], row[1:-2], row[-2:]
        before = {c: values[2 * i] for i, c in enumerate(wanted)} if in_old else {}
        after = {c: values[2 * i + 1] for i, c in enumerate(wanted)} if in_new else {}
        # a loan the previous close did not hold: what changed since that close
        since = (before.get("source_changed_at") if in_old else None) or previous_closed_at
        until = after.get("source_changed_at") or dt.datetime.now(dt.UTC)
        causes = _loan_causes(
            versions,
            loan_id,
            period_end,
            (since, until),
            (before.get("branch_code"), after.get("branch_code")),
            in_previous=bool(in_old),
        )
        if not in_new and not any("written off" in c or "closed" in c for c in causes):
            causes.append("no longer in the portfolio at the month's end")
        out.append(
            RestatedLoan(
                loan_id,
                after.get("branch_code") or before.get("branch_code"),
                before,
                after,
                causes,
            )
        )
    return out


def _numeric_difference(before: Any, after: Any) -> Decimal | None:
    numbers = (int, Decimal, float)
    if isinstance(before, bool) or isinstance(after, bool):
        return None
    if (before is None or isinstance(before, numbers)) and isinstance(after, numbers):
        return Decimal(str(after)) - Decimal(str(before or 0))
    if isinstance(before, numbers) and after is None:
        return -Decimal(str(before))
    return None


def close_month(
    dsn: str,
    month: dt.date,
    *,
    reader_role: str | None = None,
    closed_by: str = "finhouse close",
    now: dt.datetime | None = None,
) -> CloseResult:
    """Freeze ``month`` (its first day) from the marts: a new close version when any figure
    differs from the month's latest close (or none exists), with its restatement; else
    nothing is written. One transaction; concurrent closes of a month are serialised."""
    import psycopg  # noqa: PLC0415

    month = month.replace(day=1)
    period_end = month_end(month)
    unchanged: CloseResult | None = None
    with connect(dsn) as conn:
        conn.execute("set time zone 'UTC'")
        with conn.transaction():
            conn.execute("select pg_advisory_xact_lock(hashtext('finhouse.closes'))")
            ensure_schema(conn, reader_role)
        with conn.transaction():
            conn.execute("select pg_advisory_xact_lock(hashtext('finhouse.closes'))")
            as_of = _marts_as_of(conn)
            if as_of is None or as_of <= period_end:
                raise ConfigError(
                    f"{month:%Y-%m} is not complete in the marts (built as of {as_of}): "
                    f"build them as of a day after {period_end} first"
                )
            has_rows = conn.execute(
                f"select count(*) from {MARTS}.risk_coverage_monthly where month_start = %s",
                (month,),
            ).fetchone()
            if not has_rows or not has_rows[0]:
                raise ConfigError(f"{month:%Y-%m}: the marts hold no figure for this month")
            latest = conn.execute(
                f"select close_id, version, closed_at from {SCHEMA}.month_end_closes "
                "where month = %s order by version desc limit 1",
                (month,),
            ).fetchone()
            previous, version = (latest[0], latest[1] + 1) if latest else (None, 1)
            previous_closed_at: Any = latest[2] if latest else None
            close_id = f"{month:%Y-%m}-v{version}"
            result = CloseResult(month, close_id, version, previous)
            for section in SECTIONS:
                result.rows[section.name] = _copy_section(conn, section, close_id, month)
            if previous is not None:
                for section in SECTIONS:
                    if not section.restated:
                        continue
                    if section.per_loan:
                        result.restated_loans = _restated_loans(
                            conn, section, close_id, previous, period_end, previous_closed_at
                        )
                        continue
                    changes = []
                    for key, before, after in _diff(conn, section, close_id, previous):
                        changes += _figure_changes(section, key, before, after)
                    result.restated_figures += sorted(changes, key=lambda c: (c[1], c[2]))
                if not result.restated_figures and not result.restated_loans:
                    unchanged = CloseResult(month, None, None, previous, result.rows)
                    raise psycopg.Rollback()  # nothing written
                _record_restatement(conn, result)
            conn.execute(
                f"insert into {SCHEMA}.month_end_closes (close_id, month, version, "
                "period_end_date, closed_at, marts_as_of, previous_close_id, closed_by, "
                "section_rows, restated_figures, restated_loans) "
                "values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    close_id,
                    month,
                    version,
                    period_end,
                    now or dt.datetime.now(dt.UTC),
                    as_of,
                    previous,
                    closed_by,
                    ", ".join(f"{k}={v}" for k, v in result.rows.items()),
                    len(result.restated_figures),
                    len(result.restated_loans),
                ),
            )
    if unchanged is not None:
        return unchanged
    log.info("%s", result.describe(limit=0))
    return result


def _record_restatement(conn: Any, result: CloseResult) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            f"insert into {SCHEMA}.restated_figures (close_id, previous_close_id, month, "
            "section, row_key, figure, previous_value, restated_value, difference) "
            "values (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [
                (
                    result.close_id,
                    result.previous,
                    result.month,
                    section,
                    key,
                    figure,
                    _text(before),
                    _text(after),
                    _numeric_difference(before, after),
                )
                for section, key, figure, before, after in result.restated_figures
            ],
        )
        cur.executemany(
            f"insert into {SCHEMA}.restated_loans (close_id, previous_close_id, month, loan_id, "
            "branch_code, previous_outstanding_principal, restated_outstanding_principal, "
            "previous_dpd_bucket, restated_dpd_bucket, previous_provision_amount, "
            "restated_provision_amount, causes) "
            "values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [
                (
                    result.close_id,
                    result.previous,
                    result.month,
                    loan.loan_id,
                    loan.branch_code,
                    loan.before.get("outstanding_principal"),
                    loan.after.get("outstanding_principal"),
                    loan.before.get("dpd_bucket"),
                    loan.after.get("dpd_bucket"),
                    loan.before.get("provision_amount"),
                    loan.after.get("provision_amount"),
                    "; ".join(loan.causes) or "no source change found",
                )
                for loan in result.restated_loans
            ],
        )


def list_closes(dsn: str) -> list[tuple[Any, ...]]:
    """Every close: (close_id, month, version, closed_at, marts_as_of, previous, restated
    figures, restated loans), newest month first."""

    with connect(dsn) as conn:
        exists = conn.execute(
            "select to_regclass(%s) is not null", (f"{SCHEMA}.month_end_closes",)
        ).fetchone()
        if not exists or not exists[0]:
            return []
        return conn.execute(
            f"select close_id, month, version, closed_at, marts_as_of, previous_close_id, "
            f"restated_figures, restated_loans from {SCHEMA}.month_end_closes "
            "order by month desc, version desc"
        ).fetchall()


def describe_closes(rows: Sequence[tuple[Any, ...]]) -> str:
    if not rows:
        return "no month closed yet (finhouse close YYYY-MM)"
    lines = [f"{'close':<12} {'closed at (UTC)':<19}  marts as of  restated"]
    for close_id, _month, _version, closed_at, as_of, previous, figures, loans in rows:
        restated = f"{figures} figures, {loans} loans since {previous}" if previous else "-"
        lines.append(f"{close_id:<12} {closed_at:%Y-%m-%d %H:%M:%S}  {as_of}   {restated}")
    return "\n".join(lines)
