"""The warehouse side of ingestion, as an interface every target implements completely.

A run (see :mod:`finhouse.pipeline`) asks its target to:

1. ``setup()`` the control schema (``finhouse_meta``, :mod:`finhouse.state`) and RAW's schema;
2. ``lock(table)`` for the whole run, so two runs of one table never interleave;
3. read the ``watermark`` and the ``recorded_columns`` (for drift planning);
4. ``start_run`` an audit row, then ``load(...)``: a context manager yielding a
   :class:`LoadSession` that takes the extract's CSV chunks (``write``), compares RAW's current
   state with the source by row hashes (``bucket_sums``, ``row_hashes``) and collects keys
   found deleted (``mark_gone``); leaving it without an error merges the rows into RAW, marks
   deletions, moves the watermark and completes the audit row in **one** transaction;
5. ``fail_run`` when anything went wrong (the data transaction rolled back).

:class:`finhouse.targets.sql.SqlTarget` implements the algorithm once; ``PostgresTarget``
(local/CI) and ``SnowflakeTarget`` (production) supply the dialect and the bulk path.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Literal, Protocol

from finhouse.compare import BucketSum
from finhouse.drift import Column, DriftPlan
from finhouse.state import Watermark
from finhouse.tables import TableSpec

Mode = Literal["incremental", "window", "full", "repair"]


@dataclass
class LoadRequest:
    spec: TableSpec
    run_id: str
    mode: Mode
    columns: list[Column]
    #: the source times the run covers, for the audit (changes committed in between)
    window_start: dt.datetime | None
    window_end: dt.datetime | None
    #: the watermark after success; None leaves it alone (window and repair runs)
    new_watermark: Watermark | None
    #: whether the run has an audit row (``start_run``) to complete
    audited: bool = True
    held_back_by: str | None = None
    held_back_seconds: float = 0.0
    #: a staged (parallel) full refresh publishes rows staged earlier under this name
    staged_from: str | None = None
    #: the source's snapshot (audit): its xmin, the whole snapshot (``xmin:xmax:xip,…``) and
    #: when it was taken (the source's clock); a dbt build's cut orders loads by them
    snapshot_xmin: int | None = None
    snapshot: str | None = None
    snapshot_at: dt.datetime | None = None
    #: a note for the audit (e.g. why a run compared the whole table)
    detail: str = ""
    #: may a load into an empty RAW copy straight into it (no merge)?
    allow_direct: bool = True
    #: when the run began (``time.monotonic()``), for the audit's duration
    started: float = field(default_factory=time.monotonic)


@dataclass
class LoadResult:
    rows_extracted: int = 0
    rows_loaded: int = 0
    rows_replaced: int = 0
    rows_deleted: int = 0
    bytes: int = 0
    watermark_before: dt.datetime | None = None
    watermark_after: dt.datetime | None = None
    #: the ``_loaded_at`` of every version this run wrote (and of its deletion marks)
    loaded_at: dt.datetime | None = None
    direct: bool = False
    analyzed: bool = False


@dataclass
class ReconcileReport:
    table: str
    source_rows: int = 0
    raw_current_rows: int = 0
    deleted_marked: int = 0
    missing_in_raw: int = 0
    extra_in_raw: int = 0
    changed_in_raw: int = 0
    sum_differences: dict[str, str] = field(default_factory=dict)
    #: rows the catch-up load brought in before comparing (an ordinary incremental run)
    caught_up: int = 0
    repaired: int = 0
    marked_deletes: bool = True
    watermark: dt.datetime | None = None
    never_loaded: bool = False
    examples: dict[str, list[int]] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        """RAW's current state equals the source's (after marks and repairs, if made)."""
        if self.never_loaded:
            return self.source_rows == 0
        differing = self.missing_in_raw + self.changed_in_raw + self.extra_in_raw
        if not differing:
            # the rows agree; the sums are a second, independent check of the same thing
            return not self.sum_differences
        unfixed = self.missing_in_raw + self.changed_in_raw - self.repaired
        return unfixed <= 0 and (self.marked_deletes or not self.extra_in_raw)

    def describe(self) -> str:
        if self.never_loaded:
            return (
                f"{self.table}: source {self.source_rows:,} rows, RAW has none: the table was "
                "never loaded (run `finhouse ingest` first)"
            )
        parts = [
            f"{self.table}: source {self.source_rows:,} rows, RAW current "
            f"{self.raw_current_rows:,}",
        ]
        if self.caught_up:
            parts.append(f"caught up {self.caught_up:,} changed rows first")
        parts.append(
            f"{self.missing_in_raw:,} missing, {self.changed_in_raw:,} differ, "
            f"{self.extra_in_raw:,} deleted in the source"
            + (f" ({self.deleted_marked:,} newly marked)" if self.marked_deletes else "")
        )
        if self.examples:
            shown = "; ".join(f"{k} e.g. keys {v}" for k, v in self.examples.items() if v)
            if shown:
                parts.append(shown)
        if self.repaired:
            parts.append(f"repaired {self.repaired:,} rows")
        sums = ", ".join(f"{k}: {v}" for k, v in self.sum_differences.items())
        when = " before the repair" if self.repaired else ""
        parts.append(f"sums differ{when} ({sums})" if sums else "sums agree")
        parts.append("equal" if self.clean else "DIFFERENT")
        return "; ".join(parts)


class LoadSession(Protocol):
    """One run's open load (see :meth:`Target.load`)."""

    result: LoadResult
    #: how the target hashes rows for comparisons (``postgres`` or ``portable``)
    flavor: str

    @property
    def direct(self) -> bool:
        """Rows go straight into a new or empty RAW table (nothing to compare or merge)."""
        ...

    def write(self, chunks: Iterable[bytes]) -> int:
        """Add extracted rows (CSV chunks); returns rows added."""
        ...

    def hash_probe(self) -> object:
        """A known string's hash, compared with the source's before a ``postgres``-flavor
        comparison (None: the target always compares in the portable form)."""
        ...

    def bucket_sums(
        self, columns: Sequence[Column], sum_columns: Sequence[str], flavor: str
    ) -> dict[int, BucketSum]: ...

    def row_hashes(
        self, columns: Sequence[Column], ranges: Sequence[tuple[int, int]], flavor: str
    ) -> Iterator[tuple[int, object]]: ...

    def mark_gone(self, keys: Sequence[int]) -> None:
        """Keys RAW holds as current that the source no longer has: marked at commit."""
        ...

    def record_reconcile(self, report: ReconcileReport) -> None:
        """Commit the reconcile's record with this session."""
        ...


class Target(Protocol):
    kind: str

    def setup(self) -> None: ...

    def close(self) -> None: ...

    def identity(self) -> str | None:
        """``system/database`` of a PostgreSQL warehouse (to refuse the OLTP itself)."""
        ...

    def lock(
        self, table: str, run_id: str, wait_seconds: float
    ) -> AbstractContextManager[None]: ...

    def watermark(self, table: str) -> Watermark | None: ...

    def recorded_columns(self, table: str) -> list[Column]: ...

    def raw_is_empty(self, table: str) -> bool:
        """RAW's table holds no row (or does not exist)."""
        ...

    def start_run(self, request: LoadRequest) -> None: ...

    def fail_run(self, request: LoadRequest, error: str, seconds: float) -> None: ...

    def load(
        self, request: LoadRequest, drift: DriftPlan
    ) -> AbstractContextManager[LoadSession]: ...

    def stage_name(self, request: LoadRequest) -> str: ...

    def register_stage(self, request: LoadRequest, lease_seconds: float) -> None: ...

    def stage_range(
        self,
        request: LoadRequest,
        key_range: tuple[int, int],
        chunks: Iterable[bytes],
        snapshot_xmin: int,
        lease_seconds: float,
    ) -> int: ...

    def stage_xmin(self, request: LoadRequest) -> int | None:
        """The oldest snapshot xmin the staged ranges were read at (None: no stage)."""
        ...

    def drop_stage(self, request: LoadRequest) -> None: ...

    def drop_expired_stages(self, table: str) -> list[str]:
        """Drop staged refreshes of ``table`` whose lease ran out (killed runs)."""
        ...
