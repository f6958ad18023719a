"""The warehouse side of ingestion, as an interface every target implements.

A run (see :mod:`finhouse.pipeline`) asks its target to:

1. ``setup()`` the control schema (``finhouse_meta``): watermarks, load runs, columns, locks;
2. ``lock(table)`` for the whole run, so two runs of one table never interleave;
3. read the ``watermark`` and the ``recorded_columns`` (for drift planning);
4. ``start_run`` an audit row, then ``load(...)``: a context manager whose writer takes the
   extract's CSV chunks; leaving it without an error merges the rows into RAW, marks
   deletions, moves the watermark and completes the audit row in **one** transaction;
5. ``fail_run`` when anything went wrong (the data transaction rolled back).

``PostgresTarget`` implements it for the local/CI warehouse, ``SnowflakeTarget`` for
production (Parquet + PUT + COPY INTO + MERGE).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Literal, Protocol

from finhouse.drift import Column, DriftPlan
from finhouse.tables import TableSpec

Mode = Literal["incremental", "window", "full"]


@dataclass
class LoadRequest:
    spec: TableSpec
    run_id: str
    mode: Mode
    columns: list[Column]
    window_start: dt.datetime | None
    window_end: dt.datetime
    #: the watermark after success; None leaves it alone (window/backfill runs)
    new_watermark: dt.datetime | None
    #: full refresh: mark keys absent from the extract (and older than window_end) deleted
    mark_absent_deleted: bool = False
    held_back_by: str | None = None
    held_back_seconds: float = 0.0
    #: a staged (parallel) full refresh publishes rows staged earlier under this name
    staged_from: str | None = None


@dataclass
class LoadResult:
    rows_extracted: int = 0
    rows_loaded: int = 0
    rows_replaced: int = 0
    rows_deleted: int = 0
    bytes: int = 0
    watermark_before: dt.datetime | None = None
    watermark_after: dt.datetime | None = None


@dataclass
class ReconcileReport:
    table: str
    source_rows: int = 0
    raw_current_rows: int = 0
    deleted_marked: int = 0
    missing_in_raw: int = 0
    stale_in_raw: int = 0
    sum_differences: dict[str, str] = field(default_factory=dict)
    watermark: dt.datetime | None = None

    @property
    def clean(self) -> bool:
        return not (self.missing_in_raw or self.stale_in_raw or self.sum_differences)

    def describe(self) -> str:
        sums = ", ".join(f"{k} differs by {v}" for k, v in self.sum_differences.items())
        return (
            f"{self.table}: source {self.source_rows:,} rows, RAW current "
            f"{self.raw_current_rows:,}; {self.deleted_marked:,} newly marked deleted; "
            f"up to the watermark {self.watermark.isoformat() if self.watermark else '-'}: "
            f"{self.missing_in_raw:,} missing, {self.stale_in_raw:,} stale"
            + (f"; {sums}" if sums else "; sums agree")
        )


class Writer(Protocol):
    def write(self, chunk: bytes) -> None: ...


class Target(Protocol):
    kind: str

    def setup(self) -> None: ...

    def lock(
        self, table: str, run_id: str, wait_seconds: float
    ) -> AbstractContextManager[None]: ...

    def watermark(self, table: str) -> dt.datetime | None: ...

    def recorded_columns(self, table: str) -> list[Column]: ...

    def start_run(self, request: LoadRequest) -> None: ...

    def fail_run(self, request: LoadRequest, error: str, seconds: float) -> None: ...

    def load(self, request: LoadRequest, drift: DriftPlan) -> AbstractContextManager[Writer]: ...

    def stage_range(
        self, request: LoadRequest, key_range: tuple[int, int], chunks: Iterable[bytes]
    ) -> int: ...

    def drop_stage(self, request: LoadRequest) -> None: ...

    def reconcile(
        self,
        spec: TableSpec,
        run_id: str,
        columns: list[Column],
        chunks: Iterable[bytes],
        mark_deleted: bool,
    ) -> ReconcileReport: ...
