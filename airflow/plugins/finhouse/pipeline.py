"""Ingestion runs: incremental, window (backfill), full refresh, reconcile and repair.

The CLI and the Airflow tasks both call these functions. Each run holds its table's lock from
reading the watermark to committing, reads the source in one snapshot (see
:mod:`finhouse.extract.postgres` for why that, and not the application's clock, decides what
is new), and hands the rows to the target, which commits rows, deletion marks, watermark and
audit in one transaction.

Modes:

* ``incremental``: every version written since the watermark's snapshot (commit order); the
  watermark moves to this run's snapshot, also when nothing changed. The first run of a table
  copies everything into its new RAW table.
* ``window``: the versions whose cursor (``updated_at``) lies in ``[since, until)``, for
  backfills and manual repair: idempotent, through the cursor's index, and it never moves the
  watermark.
* ``full``: RAW made equal to the source. Into an empty RAW table this is a bulk copy; over a
  loaded one, both sides are compared by row hashes (:mod:`finhouse.compare`) and exactly the
  keys that differ are reloaded, the keys gone from the source marked deleted. The watermark
  moves to the run's snapshot. An incremental run whose watermark cannot be used (another
  source, a source restored from a backup, more than 2^31 transactions since) does the same.
  Big empty tables are staged in parallel key ranges by Airflow (``plan_full_refresh``,
  ``extract_range``, ``publish_full_refresh``).
* ``reconcile``: brings RAW up to its snapshot with an ordinary incremental run, then compares
  every column of every row with the source in that same snapshot (exact, not "up to a
  watermark"); marks keys gone from the source deleted; with ``repair`` reloads the keys that
  differ in one transaction with its audit (a ``repair`` run).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

from finhouse import files
from finhouse.compare import Diff, batches, coalesce_ranges, compare_buckets, merge_sorted
from finhouse.drift import Column, DriftPlan, plan_drift
from finhouse.errors import ConfigError, FinhouseError, LoadError, WindowError, safe_error_text
from finhouse.extract.postgres import (
    ChangedSince,
    CursorWindow,
    Everything,
    KeyRanges,
    Keys,
    PostgresSource,
    Progress,
    Scope,
    Snapshot,
    progress_log,
)
from finhouse.state import Watermark
from finhouse.tables import TableSpec
from finhouse.targets.base import (
    LoadRequest,
    LoadResult,
    LoadSession,
    Mode,
    ReconcileReport,
    Target,
)

log = logging.getLogger("finhouse.ingest")

DEFAULT_LOCK_WAIT = 600.0
#: RAW's own columns: a source column of one of these names cannot be loaded
RESERVED_COLUMNS = ("_loaded_at", "_batch_id", "_deleted_at", "_first_loaded_at")


def new_run_id(prefix: str = "cli") -> str:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    return f"{prefix}-{stamp}-{uuid.uuid4().hex[:8]}"


@dataclass
class RunSummary:
    table: str
    run_id: str
    mode: str
    window_start: dt.datetime | None
    window_end: dt.datetime | None
    rows_extracted: int
    rows_loaded: int
    rows_replaced: int
    rows_deleted: int
    bytes: int
    watermark: dt.datetime | None
    held_back_by: str | None
    seconds: float
    detail: str = ""
    snapshot_xmin: int | None = None

    def describe(self) -> str:
        start = self.window_start.isoformat() if self.window_start else "the beginning"
        end = self.window_end.isoformat() if self.window_end else "-"
        span = (
            f"cursor window [{start}, {end})"
            if self.mode == "window"
            else f"changes committed from {start} to {end}"
        )
        text = (
            f"{self.table}: {self.mode}, {span}: extracted {self.rows_extracted:,}, "
            f"new versions {self.rows_loaded:,}, rewritten {self.rows_replaced:,}, "
            f"marked deleted {self.rows_deleted:,}, {self.bytes / 1e6:.1f} MB in "
            f"{self.seconds:.1f} s; watermark "
            f"{self.watermark.isoformat() if self.watermark else '-'}"
        )
        if self.detail:
            text += f" ({self.detail})"
        if self.held_back_by:
            text += f"; note: {self.held_back_by}"
        return text

    def as_json(self) -> dict[str, Any]:
        """A JSON-friendly form (asset event metadata, XCom)."""
        out = asdict(self)
        for key in ("window_start", "window_end", "watermark"):
            out[key] = out[key].isoformat() if out[key] else None
        out["seconds"] = round(self.seconds, 3)
        return out


# ---------------------------------------------------------------------- checks
def _check_window(mode: Mode, since: dt.datetime | None, until: dt.datetime | None) -> None:
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
    elif since is not None or until is not None:
        raise WindowError("--since/--until go together, without --full-refresh")


def _check_columns(spec: TableSpec, columns: Sequence[Column]) -> None:
    for column in columns:
        if column.name in RESERVED_COLUMNS or column.name.startswith("_finhouse"):
            raise ConfigError(
                f"{spec.name}: source column {column.name!r} has the name of one of RAW's own "
                f"columns ({', '.join(RESERVED_COLUMNS)}); rename it in the source"
            )
    names = {c.name for c in columns}
    if spec.primary_key not in names:
        raise ConfigError(f"{spec.name}: the source has no key column {spec.primary_key!r}")


def _prepare(spec: TableSpec, source: PostgresSource, target: Target, run_id: str) -> list[Column]:
    """Checks every run makes before it changes anything: the source answers and is
    PostgreSQL 13+, the warehouse is not the source itself, the columns can be loaded. Then
    the control schema, and the spreadsheet datasets' RAW tables (:mod:`finhouse.files`)."""
    identity = source.check()
    columns = source.columns(spec)
    _check_columns(spec, columns)
    if target.identity() == identity.key:
        raise ConfigError(
            "FINHOUSE_WAREHOUSE_DSN points at the OLTP database itself: RAW must live in "
            "another database (the warehouse)"
        )
    target.setup()
    files.ensure_raw_tables(target, run_id)
    return columns


# ---------------------------------------------------------------------- one run
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
    _check_window(mode, since, until)
    if mode == "window":
        assert since is not None  # noqa: S101 - checked above
        now = source.now()
        if since >= now:
            raise WindowError(
                f"impossible window: it starts at {since.isoformat()}, after the source's "
                f"current time {now.isoformat()}"
            )
    columns = _prepare(spec, source, target, run_id)
    with target.lock(spec.name, run_id, lock_wait):
        for name in target.drop_expired_stages(spec.name):
            log.warning("%s: dropped %s, left by a staged full refresh that died", spec.name, name)
        with _caught_up_snapshot(spec, source, target) as snap:
            return _run(spec, snap, target, columns, mode, since, until, run_id)


@contextmanager
def _caught_up_snapshot(
    spec: TableSpec, source: PostgresSource, target: Target
) -> Iterator[Snapshot]:
    """The run's snapshot, never older than the previous run's: a replica source is waited
    for (``FINHOUSE_REPLICA_WAIT_SECONDS``) until it has replayed what that run read, and
    refused if it has not by then."""
    from finhouse import settings  # noqa: PLC0415

    mark = target.watermark(spec.name)
    source.wait_for_replay(mark, settings.load().replica_wait_seconds)
    with source.snapshot() as snap:
        snap.check_not_behind(mark)
        yield snap


def _mark(snap: Snapshot, run_id: str) -> Watermark:
    """The watermark a run over ``snap`` leaves (see :class:`finhouse.state.Watermark`)."""
    return Watermark(
        at=snap.taken_at,
        xmin=snap.xmin,
        source=snap.identity.key,
        run_id=run_id,
        xmax=snap.xmax,
        lsn=snap.lsn_after,
        timeline=snap.timeline,
    )


def _run(
    spec: TableSpec,
    snap: Snapshot,
    target: Target,
    columns: list[Column],
    mode: Mode,
    since: dt.datetime | None,
    until: dt.datetime | None,
    run_id: str,
) -> RunSummary:
    """One run inside the lock and the snapshot."""
    watermark = target.watermark(spec.name)
    open_tx = snap.oldest_open_transaction()
    held_by, held_seconds = None, 0.0
    if open_tx is not None and mode != "window":
        held_seconds = max((snap.taken_at - open_tx.xact_start).total_seconds(), 0.0)
        if held_seconds >= 60:
            held_by = f"{open_tx.describe()}: the next run re-reads what committed since"
    request = LoadRequest(
        spec=spec,
        run_id=run_id,
        mode=mode,
        columns=columns,
        window_start=since if mode == "window" else (watermark.at if watermark else None),
        window_end=until if mode == "window" else snap.taken_at,
        new_watermark=(None if mode == "window" else _mark(snap, run_id)),
        held_back_by=held_by,
        held_back_seconds=held_seconds if held_by else 0.0,
        snapshot_xmin=snap.xmin,
        snapshot=snap.text,
        snapshot_at=snap.taken_at,
    )
    target.start_run(request)
    with _failures_recorded(target, request):
        drift = plan_drift(
            spec.name, columns, target.recorded_columns(spec.name), spec.required_columns
        )
        scope = _scope(snap, mode, since, until, watermark, drift)
        with target.load(request, drift) as session:
            if session.direct and mode != "window":
                # RAW holds nothing (a first load, or an emptied table): copy it all
                session.write(snap.copy(spec, columns, Everything()))
            elif isinstance(scope, str):
                diff = sync(spec, snap, session, columns, write=True, mark=True)
                request.detail = _compared(scope, diff)
            else:
                session.write(snap.copy(spec, columns, scope))
        result: LoadResult = session.result
    summary = _summary(request, result)
    log.info("%s", summary.describe())
    return summary


def _scope(
    snap: Snapshot,
    mode: Mode,
    since: dt.datetime | None,
    until: dt.datetime | None,
    watermark: Watermark | None,
    drift: DriftPlan,
) -> Scope | str:
    """What a run reads: a scope of rows, or (a string: why) a comparison of every row."""
    if mode == "window":
        assert since is not None  # noqa: S101 - checked by _check_window
        assert until is not None  # noqa: S101
        return CursorWindow(since, until)
    if mode == "full":
        return "full refresh"
    if watermark is None:
        return "no watermark yet"
    from_xmin, why = snap.incremental_from(watermark)
    if from_xmin is None:
        return why
    if drift.add:
        # a new column: every row's value of it must reach RAW, not only changed rows'
        return f"new source columns {', '.join(c.name for c in drift.add)}"
    return ChangedSince(from_xmin)


def _compared(why: str, diff: Diff) -> str:
    text = (
        f"compared {diff.source_rows:,} source rows in {diff.buckets:,} key buckets: "
        f"{diff.missing:,} missing, {diff.changed:,} changed, {diff.extra:,} deleted"
    )
    return f"{why}: {text}" if why else text


def _fail(target: Target, request: LoadRequest, exc: BaseException) -> None:
    try:
        target.fail_run(request, safe_error_text(exc), time.monotonic() - request.started)
    except Exception:  # the original error matters more than the audit of it
        log.warning("%s: could not record the failed run", request.spec.name, exc_info=True)


@contextmanager
def _failures_recorded(target: Target, request: LoadRequest) -> Iterator[None]:
    """A run that fails is audited as failed, with its error as one line without row values;
    database errors leave as that line (PostgreSQL's DETAIL, e.g. "Failing row contains
    (…)", never leaves this function: not in the message, not in a chained traceback)."""
    try:
        yield
    except FinhouseError as exc:
        _fail(target, request, exc)
        raise
    except Exception as exc:  # noqa: BLE001 - recorded, then raised as one safe line
        _fail(target, request, exc)
        raise LoadError(f"{request.spec.name}: {safe_error_text(exc)}") from None
    except BaseException as exc:  # interrupted: recorded, and passed on as it is
        _fail(target, request, exc)
        raise


def _summary(request: LoadRequest, result: LoadResult) -> RunSummary:
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
        seconds=time.monotonic() - request.started,
        detail=request.detail,
        snapshot_xmin=request.snapshot_xmin,
    )


# ---------------------------------------------------------------------- comparing
def sync(
    spec: TableSpec,
    snap: Snapshot,
    session: LoadSession,
    columns: Sequence[Column],
    *,
    write: bool,
    mark: bool,
) -> Diff:
    """Compare the source (in ``snap``) with RAW's current state; with ``write`` reload the
    keys that are missing or differ, with ``mark`` mark the keys gone from the source."""
    names = [c.name for c in columns]
    sums = [c for c in spec.sum_columns if c in names]
    flavor = session.flavor
    if flavor == "postgres" and snap.hash_probe() != session.hash_probe():
        flavor = "portable"  # the two servers hash text differently (another byte order)
    pool = ThreadPoolExecutor(max_workers=2)  # one query per server, both at once
    with pool:
        source_side = pool.submit(snap.bucket_sums, spec, columns, sums, flavor)
        raw_side = pool.submit(session.bucket_sums, columns, sums, flavor)
        source_buckets, raw_buckets = source_side.result(), raw_side.result()
    diff = Diff()
    differing = compare_buckets(diff, sums, source_buckets, raw_buckets)
    whole_ranges: list[tuple[int, int]] = []
    if differing:
        progress_log.info(
            "%s: %s of %s key buckets differ; reading them row by row",
            spec.name,
            f"{len(differing):,}",
            f"{diff.buckets:,}",
        )
    progress = Progress(f"{spec.name}: compared")
    for number, batch in enumerate(batches(differing), start=1):
        progress.tick(f"{min(number * len(batch), len(differing)):,} of {len(differing):,} buckets")
        ranges = coalesce_ranges(batch)
        if write and all(raw_buckets.get(b) is None for b in batch):
            # RAW holds none of these keys: everything in them is missing, read by range
            for bucket in batch:
                found = source_buckets.get(bucket)
                if found:
                    diff.missing += found.rows
            whole_ranges.extend(ranges)
            continue
        to_load: list[int] = []
        gone: list[int] = []
        with ThreadPoolExecutor(max_workers=2) as pair:
            source_rows = pair.submit(_listed, snap.row_hashes(spec, columns, ranges, flavor))
            raw_rows = pair.submit(_listed, session.row_hashes(columns, ranges, flavor))
            pairs = merge_sorted(diff, iter(source_rows.result()), iter(raw_rows.result()))
        for kind, key in pairs:
            (gone if kind == "extra" else to_load).append(key)
        if write and to_load:
            session.write(snap.copy(spec, columns, Keys(tuple(to_load))))
        if mark and gone:
            session.mark_gone(gone)
    if whole_ranges:
        for start in range(0, len(whole_ranges), 1000):
            session.write(
                snap.copy(spec, columns, KeyRanges(tuple(whole_ranges[start : start + 1000])))
            )
    return diff


def _listed(rows: Iterator[tuple[int, object]]) -> list[tuple[int, object]]:
    return list(rows)


# ---------------------------------------------------------------------- staged full refresh
@dataclass
class FullRefreshPlan:
    table: str
    run_id: str
    columns: list[list[str]]
    ranges: list[list[int]]

    def request(self, spec: TableSpec) -> LoadRequest:
        return LoadRequest(
            spec=spec,
            run_id=self.run_id,
            mode="full",
            columns=[Column(n, t) for n, t in self.columns],
            window_start=None,
            window_end=None,
            new_watermark=None,
        )


def stage_lease_seconds() -> float:
    from finhouse import settings  # noqa: PLC0415

    return settings.load().stage_lease_seconds


def needs_parallel_full_refresh(spec: TableSpec, source: PostgresSource, target: Target) -> bool:
    """Stage a full refresh in parallel key ranges: only a big table RAW holds nothing of (a
    loaded table is compared by hashes, cheaply, in one task)."""
    return source.row_estimate(spec) > spec.parallel_threshold and target.raw_is_empty(spec.name)


def plan_full_refresh(
    spec: TableSpec, source: PostgresSource, target: Target, run_id: str, parts: int | None = None
) -> FullRefreshPlan:
    """Split the key space and create the run's staging table; nothing is written to RAW yet.
    A newer plan replaces any older staged refresh of the table."""
    columns = _prepare(spec, source, target, run_id)
    plan_drift(spec.name, columns, target.recorded_columns(spec.name), spec.required_columns)
    ranges = source.key_ranges(spec, parts or spec.parallel_ranges)
    plan = FullRefreshPlan(
        spec.name, run_id, [[c.name, c.type] for c in columns], [list(r) for r in ranges]
    )
    with target.lock(spec.name, run_id, DEFAULT_LOCK_WAIT):
        target.drop_expired_stages(spec.name)
        target.register_stage(plan.request(spec), stage_lease_seconds())
    return plan


def extract_range(
    spec: TableSpec,
    source: PostgresSource,
    target: Target,
    plan: FullRefreshPlan,
    key_range: tuple[int, int],
) -> int:
    """Stage one key range (a mapped Airflow task), in a snapshot of its own; re-running
    replaces the range."""
    request = plan.request(spec)
    with source.snapshot() as snap:
        rows = target.stage_range(
            request,
            key_range,
            snap.copy(spec, request.columns, KeyRanges((key_range,))),
            snap.xmin,
            stage_lease_seconds(),
        )
    log.info("%s: staged keys %s..%s: %s rows", spec.name, key_range[0], key_range[1], rows)
    return rows


def publish_full_refresh(
    spec: TableSpec,
    source: PostgresSource,
    target: Target,
    plan: FullRefreshPlan,
    lock_wait: float = DEFAULT_LOCK_WAIT,
) -> RunSummary:
    """Merge the staged ranges into RAW in one transaction. The ranges were read in snapshots
    of their own: every version written since the oldest of them is read again now, in the
    publish's snapshot, and replaces the staged version of its key."""
    base = plan.request(spec)
    with (
        target.lock(spec.name, plan.run_id, lock_wait),
        _caught_up_snapshot(spec, source, target) as snap,
    ):
        staged_xmin = target.stage_xmin(base)
        if staged_xmin is None:
            raise LoadError(
                f"{spec.name}: the staged refresh {plan.run_id} is gone or never staged a "
                "range (its lease ran out, or a newer full refresh replaced it); run it again"
            )
        request = LoadRequest(
            spec=spec,
            run_id=plan.run_id,
            mode="full",
            columns=base.columns,
            window_start=None,
            window_end=snap.taken_at,
            new_watermark=_mark(snap, plan.run_id),
            staged_from=target.stage_name(base),
            snapshot_xmin=snap.xmin,
            snapshot=snap.text,
            snapshot_at=snap.taken_at,
            detail=f"staged in {len(plan.ranges)} key ranges",
            allow_direct=False,
        )
        drift = plan_drift(
            spec.name, request.columns, target.recorded_columns(spec.name), spec.required_columns
        )
        target.start_run(request)
        with _failures_recorded(target, request):
            with target.load(request, drift) as session:
                session.write(snap.copy(spec, request.columns, ChangedSince(staged_xmin)))
            result = session.result
    summary = _summary(request, result)
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
    repair: bool = False,
    lock_wait: float = DEFAULT_LOCK_WAIT,
) -> ReconcileReport:
    """Compare RAW's current state with the source, every column of every row (see the
    module doc); mark deletes; with ``repair`` reload what differs."""
    run_id = run_id or new_run_id("reconcile")
    columns = _prepare(spec, source, target, run_id)
    report = ReconcileReport(spec.name, marked_deletes=mark_deleted)
    with (
        target.lock(spec.name, run_id, lock_wait),
        _caught_up_snapshot(spec, source, target) as snap,
    ):
        target.drop_expired_stages(spec.name)
        watermark = target.watermark(spec.name)
        if watermark is None and target.raw_is_empty(spec.name):
            report.never_loaded = True
            report.source_rows = sum(
                b.rows
                for b in snap.bucket_sums(
                    spec, [c for c in columns if c.name == spec.primary_key], []
                ).values()
            )
            (log.info if report.clean else log.warning)("%s", report.describe())
            return report
        if watermark is not None and snap.incremental_from(watermark)[0] is not None:
            caught = _run(spec, snap, target, columns, "incremental", None, None, f"{run_id}#load")
            report.caught_up = caught.rows_extracted
            watermark = target.watermark(spec.name)
        report.watermark = watermark.at if watermark else None
        drift = plan_drift(
            spec.name, columns, target.recorded_columns(spec.name), spec.required_columns
        )
        request = LoadRequest(
            spec=spec,
            run_id=run_id,
            mode="repair",
            columns=columns,
            window_start=None,
            window_end=snap.taken_at,
            new_watermark=None,
            audited=repair,
            snapshot_xmin=snap.xmin,
            snapshot=snap.text,
            snapshot_at=snap.taken_at,
            allow_direct=False,
        )
        if repair:
            target.start_run(request)
        with _failures_recorded(target, request), target.load(request, drift) as session:
            diff = sync(spec, snap, session, columns, write=repair, mark=mark_deleted)
            report.source_rows, report.raw_current_rows = diff.source_rows, diff.raw_rows
            report.missing_in_raw, report.changed_in_raw = diff.missing, diff.changed
            report.extra_in_raw = diff.extra
            report.deleted_marked = diff.extra if mark_deleted else 0
            report.repaired = diff.missing + diff.changed if repair else 0
            report.examples = {k: v for k, v in diff.examples.items() if v}
            report.sum_differences = diff.sum_differences()
            request.detail = _compared("", diff)
            session.record_reconcile(report)
    (log.info if report.clean else log.warning)("%s", report.describe())
    return report
