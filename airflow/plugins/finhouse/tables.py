"""The six source tables, configured in one place. The ingestion DAGs, the reconcile DAGs and
the CLI are all generated from ``TABLES``.

What a table needs is a primary key: incremental runs read what the source committed since the
last run in its own commit order (:mod:`finhouse.extract.postgres`), never by a timestamp. The
*cursor* (``updated_at`` on the five updatable tables, Django's ``auto_now``; ``created_at`` on
the append-only ledger) still names RAW's versions — one row per ``(id, updated_at)``, one per
``id`` on the ledger — and is what backfill windows (``--since/--until``) select by.

Per-table settings can be overridden from the environment (read at import, no I/O; see
:mod:`finhouse.settings`): ``FINHOUSE_<TABLE>_SCHEDULE`` and
``FINHOUSE_<TABLE>_RECONCILE_SCHEDULE`` (cron), ``FINHOUSE_<TABLE>_PARALLEL_THRESHOLD`` (rows,
a whole number). A bad value fails the import with one line naming the variable: the CLI
imports this module inside its commands, and a DAG file's import error names it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from finhouse import settings
from finhouse.errors import ConfigError

IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
Kind = Literal["updatable", "append_only"]


def checked_identifier(value: str, what: str) -> str:
    """A plain lower-case SQL identifier, or a ``ConfigError`` naming what was wrong."""
    if not isinstance(value, str) or not IDENTIFIER.match(value):
        raise ConfigError(
            f"{what} {value!r} is not a valid identifier "
            "(lower-case letters, digits and _; at most 63 characters)"
        )
    return value


@dataclass(frozen=True)
class TableSpec:
    name: str
    kind: Kind
    cursor: str
    #: the contract's columns (docs/interfaces.md §1): RAW needs them, so a drop fails the load
    required_columns: tuple[str, ...]
    #: numeric columns whose sums ``finhouse reconcile`` compares between source and RAW
    sum_columns: tuple[str, ...] = ()
    primary_key: str = "id"
    source_schema: str = "public"
    schedule: str = "*/15 * * * *"
    reconcile_schedule: str = "7 * * * *"
    #: full refreshes of tables with more rows than this run in parallel key ranges
    parallel_threshold: int = 2_000_000
    parallel_ranges: int = 4
    #: the tables this one's rows point to (the source's foreign keys): a dbt build reads each
    #: table as of a load no newer than those of the tables it references
    #: (:mod:`finhouse.cut`), so a row is never in the marts before what it references
    references: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for what, value in (
            ("table", self.name),
            ("cursor", self.cursor),
            ("primary key", self.primary_key),
            ("source schema", self.source_schema),
        ):
            checked_identifier(value, f"{what} of table {self.name!r}:")
        for table in self.references:
            checked_identifier(table, f"referenced table of table {self.name!r}:")
        for column in (*self.required_columns, *self.sum_columns):
            checked_identifier(column, f"column of table {self.name!r}:")
        if self.kind not in ("updatable", "append_only"):
            raise ConfigError(f"table {self.name!r}: kind must be updatable or append_only")
        if (
            self.cursor not in self.required_columns
            or self.primary_key not in self.required_columns
        ):
            raise ConfigError(f"table {self.name!r}: the key and cursor must be contract columns")

    @property
    def raw_key(self) -> tuple[str, ...]:
        """RAW keeps one row per (key, cursor) for updatable tables, one per key otherwise."""
        if self.kind == "updatable":
            return (self.primary_key, self.cursor)
        return (self.primary_key,)


def _spec(
    name: str, kind: Kind, cursor: str, columns: str, sums: str = "", references: str = ""
) -> TableSpec:
    configured = settings.load().table(name)
    return TableSpec(
        name=name,
        kind=kind,
        cursor=cursor,
        required_columns=tuple(columns.split()),
        sum_columns=tuple(sums.split()),
        references=tuple(references.split()),
        schedule=configured.schedule,
        reconcile_schedule=configured.reconcile_schedule,
        parallel_threshold=configured.parallel_threshold,
    )


TABLES: dict[str, TableSpec] = {
    spec.name: spec
    for spec in (
        _spec(
            "users",
            "updatable",
            "updated_at",
            "id username email first_name last_name phone national_id gender date_of_birth "
            "role branch_code region kyc_status monthly_income risk_appetite is_active "
            "date_joined updated_at",
            "monthly_income",
        ),
        _spec(
            "accounts",
            "updatable",
            "updated_at",
            "id user_id account_number account_type currency status balance interest_rate "
            "opened_at closed_at created_at updated_at",
            "balance",
            references="users",
        ),
        _spec(
            "loans",
            "updatable",
            "updated_at",
            "id borrower_id loan_officer_id account_id product principal annual_interest_rate "
            "interest_method repayment_frequency installments first_due_date status "
            "applied_at approved_at disbursed_at closed_at written_off_at written_off_amount "
            "created_at updated_at",
            "principal written_off_amount",
            references="users accounts",
        ),
        _spec(
            "payments",
            "updatable",
            "updated_at",
            "id loan_id amount principal_paid interest_paid penalty_paid channel status "
            "paid_at reference created_at updated_at",
            "amount principal_paid interest_paid penalty_paid",
            references="loans",
        ),
        _spec(
            "transactions",
            "append_only",
            "created_at",
            "id account_id txn_type amount balance_after reference description metadata "
            "occurred_at created_at",
            "amount balance_after",
            references="accounts",
        ),
        _spec(
            "investments",
            "updatable",
            "updated_at",
            "id user_id product principal annual_rate start_date maturity_date status "
            "current_value created_at updated_at",
            "principal current_value",
            references="users",
        ),
    )
}


def _check_references() -> None:
    for spec in TABLES.values():
        for table in spec.references:
            if table not in TABLES or table == spec.name:
                raise ConfigError(f"table {spec.name!r} references unknown table {table!r}")


_check_references()


def references_first() -> list[str]:
    """The tables, each after every table it references (a topological order)."""
    ordered: list[str] = []
    remaining = dict(TABLES)
    while remaining:
        ready = [n for n, s in remaining.items() if all(r in ordered for r in s.references)]
        if not ready:
            raise ConfigError(f"the tables' references form a cycle: {', '.join(remaining)}")
        for name in ready:
            ordered.append(name)
            del remaining[name]
    return ordered


def get_table(name: str) -> TableSpec:
    try:
        return TABLES[name]
    except KeyError:
        raise ConfigError(f"unknown table {name!r}; known tables: {', '.join(TABLES)}") from None
