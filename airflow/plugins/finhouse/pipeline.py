"""Ingestion runs: incremental, window (backfill), full refresh, and reconcile.

The CLI and the Airflow tasks both call these functions. Each run holds its table's lock from
reading the watermark to committing, measures safe bounds on the source *before* opening its
snapshot (see :mod:`finhouse.extract.postgres`), and hands the streamed extract to the target,
which commits rows, deletion marks, watermark and audit in one transaction.

Modes:

* ``incremental``: the window ``[watermark, upper)``; the watermark moves to ``upper`` (also
  when no row fell in the window: the event then means "fresh up to the new watermark").
* ``window``: ``[since, until)`` capped at ``upper``, for backfills and manual repair; it
  reloads idempotently and never moves the watermark (neither back nor forward, which would
  skip the rows between the old watermark and ``since``).
* ``full``: every source row, merged into RAW with history kept; keys RAW holds that the
  source no longer has are marked deleted; the watermark becomes ``max(watermark, upper)``.
  Big tables run as a *staged* full refresh: key ranges extracted in parallel into a staging
  table under one frozen ``upper``, then one atomic publish.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from finhouse.drift import Column, plan_drift
from finhouse.errors import WindowError
from finhouse.extract.postgres import Bounds, PostgresSource
from finhouse.tables import TableSpec
from finhouse.targets.base import LoadRequest, LoadResult, Mode, ReconcileReport, Target

log = logging.getLogger("finhouse.ingest")

DEFAULT_LOCK_WAIT = 600.0


def new_run_id(prefix: str = "cli") -> str:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    return f"{prefix}-{stamp}-{uuid.uuid4().hex[:8]}"


@dataclass
class RunSummary:
    table: str
    run_id: str
    mode: str
    window_start: dt.datetime | None
    window_end: dt.datetime
    rows_extracted: int
    rows_loaded: int
    rows_replaced: int
    rows_deleted: int
    bytes: int
    watermark: dt.datetime | None
    held_back_by: str | None
    seconds: float

    def describe(self) -> str:
        start = self.window_start.isoformat() if self.window_start else "the beginning"
        text = (
            f"{self.table}: {self.mode} [{start}, {self.window_end.isoformat()}) "
            f"extracted {self.rows_extracted:,}, new versions {self.rows_loaded:,}, "
            f"replaced {self.rows_replaced:,}, marked deleted {self.rows_deleted:,}, "
            f"{self.bytes / 1e6:.1f} MB in {self.seconds:.1f} s; watermark "
            f"{self.watermark.isoformat() if self.watermark else '-'}"
        )
        if self.held_back_by:
            text += f"; held back by {self.held_back_by}"
        return text

    def as_json(self) -> dict[str, Any]:
        """A JSON-friendly form (asset event metadata, XCom)."""
        out = asdict(self)
        for key in ("window_start", "window_end", "watermark"):
            out[key] = out[key].isoformat() if out[key] else None
        out["seconds"] = round(self.seconds, 3)
        return out


def _warn_hold_back(spec: TableSpec, bounds: Bounds) -> str | None:
    if bounds.blocker is None:
        return None
    text = bounds.blocker.describe()
    log.warning(
        "%s: the window's upper bound is held back to %s by a long-running source "
        "transaction, %s; rows after it wait for a later run",
        spec.name,
        bounds.upper.isoformat(),
        text,
    )
    return text


def _window(
    mode: Mode,
    bounds: Bounds,
    watermark: dt.datetime | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
) -> tuple[dt.datetime | None, dt.datetime, dt.datetime | None]:
    """(start, end, new watermark) of a run."""
    if mode == "window":
        if since is None or until is None:
            raise WindowError("a window needs both --since and --until")
        for value, name in ((since, "since"), (until, "until")):
            if value.tzinfo is None:
                raise WindowError(f"--{name} needs a time zone (e.g. 2026-01-01T00:00:00Z)")
        if since >= until:
            raise WindowError(
                f"impossible window: since {since.isoformat()} is not before "
                f"until {until.isoformat()}"
            )
        if since >= bounds.upper:
            raise WindowError(
                f"impossible window: it starts at {since.isoformat()}, after the "
                f"newest safely readable time {bounds.upper.isoformat()}"
            )
        return since, min(until, bounds.upper), None
    if since is not None or until is not None:
        raise WindowError("--since/--until go together, without --full-refresh")
    if mode == "full":
        return None, bounds.upper, bounds.upper
    end = bounds.upper if watermark is None else max(watermark, bounds.upper)
    return watermark, end, end


def _summary(request: LoadRequest, result: LoadResult, started: float) -> RunSummary:
    return RunSummary(
        table=request.spec.name,
        run_id=request.run_id,
        mode=request.mode,
        window_start=request.window_start,
        window_end=request.window_end,
        rows_extracted=result.rows_extracted,
        rows_loaded=result.rows_loaded,
        rows_replaced=result.rows_replaced,
        rows_deleted=result.rows_deleted,
        bytes=result.bytes,
        watermark=result.watermark_after,
        held_back_by=request.held_back_by,
        seconds=time.monotonic() - started,
    )


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".strip()


def ingest(
    spec: TableSpec,
    source: PostgresSource,
    target: Target,
    *,
    mode: Mode = "incremental",
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    run_id: str | None = None,
    lock_wait: float = DEFAULT_LOCK_WAIT,
) -> RunSummary:
    """One extract-load run of ``spec`` (see the module doc for the modes)."""
    run_id = run_id or new_run_id()
    started = time.monotonic()
    # Validate before touching the warehouse: a bad window or an unreachable or
    # under-privileged source changes nothing.
    _window(mode, source.bounds(), None, since, until)
    target.setup()
    with target.lock(spec.name, run_id, lock_wait):
        bounds = source.bounds()  # measured again: the lock may have been waited for
        watermark = target.watermark(spec.name)
        start, end, new_watermark = _window(mode, bounds, watermark, since, until)
        columns = source.columns(spec)
        held = _warn_hold_back(spec, bounds)
        request = LoadRequest(
            spec=spec,
            run_id=run_id,
            mode=mode,
            columns=columns,
            window_start=start,
            window_end=end,
            new_watermark=new_watermark,
            mark_absent_deleted=mode == "full",
            held_back_by=held,
            held_back_seconds=bounds.held_back.total_seconds(),
        )
        target.start_run(request)
        try:
            drift = plan_drift(
                spec.name, columns, target.recorded_columns(spec.name), spec.required_columns
            )
            empty = mode == "incremental" and start is not None and end <= start
            with source.snapshot() as snap, target.load(request, drift) as writer:
                if not empty:
                    upper = None if mode == "full" else end
                    for chunk in source.copy_out(snap, spec, columns, start, upper):
                        writer.write(chunk)
            result: LoadResult = writer.result  # type: ignore[attr-defined]
        except BaseException as exc:
            target.fail_run(request, _error_text(exc), time.monotonic() - started)
            raise
    summary = _summary(request, result, started)
    log.info("%s", summary.describe())
    return summary


# ---------------------------------------------------------------------- staged full refresh
@dataclass
class FullRefreshPlan:
    table: str
    run_id: str
    upper: str
    columns: list[list[str]]
    ranges: list[list[int]]
    held_back_by: str | None

    def request(self, spec: TableSpec) -> LoadRequest:
        upper = dt.datetime.fromisoformat(self.upper)
        return LoadRequest(
            spec=spec,
            run_id=self.run_id,
            mode="full",
            columns=[Column(n, t) for n, t in self.columns],
            window_start=None,
            window_end=upper,
            new_watermark=upper,
            mark_absent_deleted=True,
            held_back_by=self.held_back_by,
        )


def needs_parallel_full_refresh(spec: TableSpec, source: PostgresSource) -> bool:
    return source.row_estimate(spec) > spec.parallel_threshold


def plan_full_refresh(
    spec: TableSpec, source: PostgresSource, target: Target, run_id: str, parts: int | None = None
) -> FullRefreshPlan:
    """Freeze one upper bound and split the key space; nothing is written to RAW yet."""
    target.setup()
    bounds = source.bounds()
    columns = source.columns(spec)
    plan_drift(spec.name, columns, target.recorded_columns(spec.name), spec.required_columns)
    ranges = source.key_ranges(spec, parts or spec.parallel_ranges)
    plan = FullRefreshPlan(
        spec.name,
        run_id,
        bounds.upper.isoformat(),
        [[c.name, c.type] for c in columns],
        [list(r) for r in ranges],
        _warn_hold_back(spec, bounds),
    )
    target.drop_stage(plan.request(spec))
    return plan


def extract_range(
    spec: TableSpec,
    source: PostgresSource,
    target: Target,
    plan: FullRefreshPlan,
    key_range: tuple[int, int],
) -> int:
    """Stage one key range (a mapped Airflow task); re-running replaces the range."""
    request = plan.request(spec)
    with source.snapshot() as snap:
        rows = target.stage_range(
            request, key_range, source.copy_out(snap, spec, request.columns, key_range=key_range)
        )
    log.info("%s: staged keys %s..%s: %s rows", spec.name, key_range[0], key_range[1], rows)
    return rows


def publish_full_refresh(
    spec: TableSpec, target: Target, plan: FullRefreshPlan, lock_wait: float = DEFAULT_LOCK_WAIT
) -> RunSummary:
    """Merge the staged ranges into RAW in one transaction (history kept, deletes marked)."""
    started = time.monotonic()
    request = plan.request(spec)
    request.staged_from = target.stage_name(request)  # type: ignore[attr-defined]
    with target.lock(spec.name, plan.run_id, lock_wait):
        target.start_run(request)
        try:
            drift = plan_drift(
                spec.name,
                request.columns,
                target.recorded_columns(spec.name),
                spec.required_columns,
            )
            with target.load(request, drift) as writer:
                pass
            result: LoadResult = writer.result  # type: ignore[attr-defined]
        except BaseException as exc:
            target.fail_run(request, _error_text(exc), time.monotonic() - started)
            raise
    summary = _summary(request, result, started)
    log.info("%s", summary.describe())
    return summary


# ---------------------------------------------------------------------- reconcile
def reconcile(
    spec: TableSpec,
    source: PostgresSource,
    target: Target,
    *,
    run_id: str | None = None,
    mark_deleted: bool = True,
    lock_wait: float = DEFAULT_LOCK_WAIT,
) -> ReconcileReport:
    """Find hard deletes (keys only, streamed) and compare counts and sums with RAW."""
    run_id = run_id or new_run_id("reconcile")
    target.setup()
    if not target.recorded_columns(spec.name):
        report = ReconcileReport(spec.name)
        log.info("%s: nothing loaded yet; nothing to reconcile", spec.name)
        return report
    columns = {c.name: c for c in source.columns(spec)}
    wanted = [
        columns[spec.primary_key],
        columns[spec.cursor],
        *(columns[c] for c in spec.sum_columns if c in columns),
    ]
    with target.lock(spec.name, run_id, lock_wait), source.snapshot() as snap:
        chunks: Iterator[bytes] = source.copy_keys(snap, spec, tuple(c.name for c in wanted[2:]))
        report = target.reconcile(spec, run_id, wanted, chunks, mark_deleted)
    (log.info if report.clean else log.warning)("%s", report.describe())
    return report
