"""The six source tables, configured in one place. The ingestion DAGs, the reconcile DAGs and
the CLI are all generated from ``TABLES``.

Cursors: the five updatable tables carry Django's ``updated_at`` (auto_now). The append-only
ledger has no ``updated_at``; its cursor is ``created_at`` (auto_now_add), which is written by
the application inside the inserting transaction exactly like ``updated_at``, so the same
window rule (capped below the oldest open writing transaction) keeps a late-committing insert
from being skipped. The sequence-assigned ``id`` would not: ids are handed out at insert time,
not at commit time, so a smaller id can become visible after a larger one.

Per-table settings can be overridden from the environment (read at import, no I/O):
``FINHOUSE_<TABLE>_SCHEDULE``, ``FINHOUSE_<TABLE>_RECONCILE_SCHEDULE``,
``FINHOUSE_<TABLE>_PARALLEL_THRESHOLD``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Literal

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
    #: the contract's columns (contracts.md §1): RAW needs them, so a drop fails the load
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
    extra: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for what, value in (
            ("table", self.name),
            ("cursor", self.cursor),
            ("primary key", self.primary_key),
            ("source schema", self.source_schema),
        ):
            checked_identifier(value, f"{what} of table {self.name!r}:")
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


def _env(table: str, setting: str, default: str) -> str:
    return os.environ.get(f"FINHOUSE_{table.upper()}_{setting}", default)


def _spec(name: str, kind: Kind, cursor: str, columns: str, sums: str = "") -> TableSpec:
    threshold = _env(name, "PARALLEL_THRESHOLD", "2000000")
    if not threshold.isdigit():
        raise ConfigError(f"FINHOUSE_{name.upper()}_PARALLEL_THRESHOLD must be a whole number")
    return TableSpec(
        name=name,
        kind=kind,
        cursor=cursor,
        required_columns=tuple(columns.split()),
        sum_columns=tuple(sums.split()),
        schedule=_env(name, "SCHEDULE", "*/15 * * * *"),
        reconcile_schedule=_env(name, "RECONCILE_SCHEDULE", "7 * * * *"),
        parallel_threshold=int(threshold),
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
        ),
        _spec(
            "payments",
            "updatable",
            "updated_at",
            "id loan_id amount principal_paid interest_paid penalty_paid channel status "
            "paid_at reference created_at updated_at",
            "amount principal_paid interest_paid penalty_paid",
        ),
        _spec(
            "transactions",
            "append_only",
            "created_at",
            "id account_id txn_type amount balance_after reference description metadata "
            "occurred_at created_at",
            "amount balance_after",
        ),
        _spec(
            "investments",
            "updatable",
            "updated_at",
            "id user_id product principal annual_rate start_date maturity_date status "
            "current_value created_at updated_at",
            "principal current_value",
        ),
    )
}


def get_table(name: str) -> TableSpec:
    try:
        return TABLES[name]
    except KeyError:
        raise ConfigError(f"unknown table {name!r}; known tables: {', '.join(TABLES)}") from None
