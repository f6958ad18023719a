"""The load algorithm, written once for every SQL warehouse.

A target subclasses :class:`SqlTarget` (connections, names, RAW's DDL, its bulk path, its lock)
and :class:`SqlSession` (how extracted rows land next to RAW and how RAW's rows are hashed);
everything else is here: the control schema's use, and the publish that makes a run visible —
the merge into RAW, deletion marks, source columns, watermark and audit in one transaction.

The merge, for every landed version (one per key: a run reads one snapshot):

* a version RAW does not hold (a new ``(id, updated_at)``; a new ``id`` on the ledger) is
  inserted;
* a version RAW holds is rewritten when its content differs (``QuerySet.update()`` keeps the
  stamp and changes the row), when it was marked deleted, or when another version of its key
  was loaded later (an app clock that went back re-stamped an older value): RAW's current
  version of a key is the one the latest load saw (docs/interfaces.md §2), so the re-extracted
  version takes the new ``_loaded_at``;
* anything else is left alone: a version loaded again unchanged keeps its ``_loaded_at``, so
  dbt's incremental models see no change.

A rewritten version keeps when it first landed in ``_first_loaded_at`` (null on a version never
rewritten: ``_loaded_at`` says it), so that a dbt build reading RAW as of an earlier load (its
cut, :mod:`finhouse.cut`) still finds the key.

``_loaded_at`` of a run is ``greatest(now, every _loaded_at and _deleted_at already in the
table + 1 µs)``: strictly increasing per table even if the warehouse clock steps back.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from finhouse.compare import BucketSum
from finhouse.drift import Column, DriftPlan
from finhouse.errors import ConfigError, FinhouseError
from finhouse.state import Control, Watermark
from finhouse.state.control import SCHEMA_VERSION
from finhouse.state.dialect import Dialect, column_list
from finhouse.targets.base import LoadRequest, LoadResult, ReconcileReport

log = logging.getLogger(__name__)

#: a load that writes at least this share of a RAW table's rows analyzes it in the same run
ANALYZE_SHARE = 0.1


class SqlSession:
    """An open load: rows land next to RAW, then :meth:`publish` merges them."""

    #: the relation the rows landed in (merge source)
    landing: str
    #: value expression of a landed column for RAW (e.g. parsing JSON kept as text)
    value: Callable[[str], str]
    #: how rows are hashed for comparisons (the source hashes the same way)
    flavor = "postgres"

    def __init__(
        self,
        target: SqlTarget,
        conn: Any,
        request: LoadRequest,
        drift: DriftPlan,
        *,
        created: bool,
        direct: bool,
    ) -> None:
        self.target = target
        self.d = target.dialect
        self.conn = conn
        self.request = request
        self.drift = drift
        self.created = created
        self._direct = direct
        self.result = LoadResult(direct=direct)
        self.gone: list[int] = []
        self.reconcile: ReconcileReport | None = None
        self.value = lambda name: f"s.{self.d.ident(name)}"

    @property
    def direct(self) -> bool:
        return self._direct

    def mark_gone(self, keys: Sequence[int]) -> None:
        self.gone.extend(keys)

    def record_reconcile(self, report: ReconcileReport) -> None:
        self.reconcile = report

    # hooks ---------------------------------------------------------------
    def write(self, chunks: Iterable[bytes]) -> int:
        raise NotImplementedError

    def hash_probe(self) -> object:
        raise NotImplementedError

    def bucket_sums(
        self, columns: Sequence[Column], sum_columns: Sequence[str], flavor: str
    ) -> dict[int, BucketSum]:
        raise NotImplementedError

    def row_hashes(
        self, columns: Sequence[Column], ranges: Sequence[tuple[int, int]], flavor: str
    ) -> Iterator[tuple[int, object]]:
        raise NotImplementedError

    def landed_rows(self) -> int:
        """Rows in the landing relation (0: nothing to merge)."""
        raise NotImplementedError

    def load_gone(self) -> str:
        """The relation holding :attr:`gone` keys (one column named like the key)."""
        raise NotImplementedError

    def finish(self) -> None:
        """Dialect steps after the merge, inside the transaction (indexes, statistics)."""

    # the shared publish -------------------------------------------------
    def publish(self) -> None:
        """Everything a run changes, inside the caller's transaction."""
        spec, request, result = self.request.spec, self.request, self.result
        control = self.target.control
        before = control.watermark(self.conn, spec.name)
        result.watermark_before = before.at if before else None
        result.rows_replaced, result.rows_loaded = self.merge()
        if self.gone:
            result.rows_deleted = self._mark_gone()
        if self.created or self.drift.changes:
            control.record_columns(self.conn, spec.name, request.columns, request.run_id)
        if request.new_watermark is not None:
            control.set_watermark(self.conn, spec.name, request.new_watermark)
            result.watermark_after = request.new_watermark.at
        else:
            result.watermark_after = result.watermark_before
        self.finish()
        if request.audited:
            audited = control.finish_run(
                self.conn,
                spec.name,
                request.run_id,
                {
                    "rows_extracted": result.rows_extracted,
                    "rows_loaded": result.rows_loaded,
                    "rows_replaced": result.rows_replaced,
                    "rows_deleted": result.rows_deleted,
                    "bytes": result.bytes,
                    "watermark_before": result.watermark_before,
                    "watermark_after": result.watermark_after,
                    "held_back_by": request.held_back_by,
                    "held_back_seconds": round(request.held_back_seconds, 3),
                    "snapshot_xmin": request.snapshot_xmin,
                    "snapshot": request.snapshot,
                    "snapshot_at": request.snapshot_at,
                    "loaded_at": result.loaded_at,
                    "detail": request.detail or None,
                    "seconds": round(time.monotonic() - request.started, 3),
                },
            )
            if audited != 1:
                raise FinhouseError(
                    f"{spec.name}: run {request.run_id} has no running audit row (another run "
                    "took over the table); nothing was committed"
                )
        if self.reconcile is not None:
            report = self.reconcile
            control.record_reconcile(
                self.conn,
                request.run_id,
                {
                    "table_name": spec.name,
                    "source_rows": report.source_rows,
                    "raw_current_rows": report.raw_current_rows,
                    "deleted_marked": report.deleted_marked,
                    "missing_in_raw": report.missing_in_raw,
                    "stale_in_raw": report.changed_in_raw,
                    "extra_in_raw": report.extra_in_raw,
                    "repaired_rows": report.repaired,
                    "caught_up_rows": report.caught_up,
                    "sum_differences": report.sum_differences,
                    "watermark": report.watermark,
                },
            )
        log.debug("%s: published %s", spec.name, result)

    def merge(self) -> tuple[int, int]:
        """Rewrite changed versions, insert new ones (see the module doc); returns
        ``(rewritten, inserted)``."""
        if not self.landed_rows():
            return 0, 0
        spec, d = self.request.spec, self.d
        raw, landing = self.target.raw(spec.name), self.landing
        names = [c.name for c in self.request.columns]
        key = d.ident(spec.primary_key)
        updatable = spec.kind == "updatable"
        match = f"r.{key} = s.{key}"
        if updatable:
            cursor = d.ident(spec.cursor)
            match += f" and r.{cursor} is not distinct from s.{cursor}"
        non_key = [n for n in names if n not in spec.raw_key]
        changed = [f"r.{d.ident(n)} is distinct from {self.value(n)}" for n in non_key]
        changed.append("r._deleted_at is not null")
        source = landing
        if updatable:
            # the latest _loaded_at among the key's versions: a version loaded before it is
            # not current, and must take the new _loaded_at when extracted again
            source = (
                f"(select l.*, m._finhouse_latest from {landing} as l left join "
                f"(select r.{key}, max(r._loaded_at) as _finhouse_latest from {raw} as r "
                f"where r.{key} in (select {key} from {landing}) group by r.{key}) as m "
                f"on m.{key} = l.{key})"
            )
            changed.append("r._loaded_at < s._finhouse_latest")
        sets = ", ".join(
            [f"{d.ident(n)} = {self.value(n)}" for n in non_key]
            + [
                f"_loaded_at = {d.ts()}",
                "_batch_id = %s",
                "_deleted_at = null",
                # when the version first landed: a cut at an earlier load still holds it
                "_first_loaded_at = coalesce(r._first_loaded_at, r._loaded_at)",
            ]
        )
        loaded_at = d.ts_value(self.result.loaded_at)
        rewritten = d.execute(
            self.conn,
            f"update {raw} as r set {sets} from {source} as s "
            f"where {match} and ({' or '.join(changed)})",
            (loaded_at, self.request.run_id),
        )
        inserted = d.execute(
            self.conn,
            f"insert into {raw} ({column_list(d, names)}, _loaded_at, _batch_id) "
            f"select {', '.join(self.value(n) for n in names)}, {d.ts()}, %s "
            f"from {landing} as s where not exists (select 1 from {raw} as r where {match})",
            (loaded_at, self.request.run_id),
        )
        return rewritten, inserted

    def _mark_gone(self) -> int:
        """Every version of every gone key gets ``_deleted_at`` (the detection time)."""
        spec, d = self.request.spec, self.d
        key = d.ident(spec.primary_key)
        gone = self.load_gone()
        d.execute(
            self.conn,
            f"update {self.target.raw(spec.name)} set _deleted_at = {d.ts()} "
            f"where _deleted_at is null and {key} in (select {key} from {gone})",
            (d.ts_value(self.result.loaded_at),),
        )
        return len(set(self.gone))


class SqlTarget:
    """The shared half of a warehouse target (see the module doc)."""

    kind = "sql"
    dialect: Dialect
    control: Control

    # hooks ---------------------------------------------------------------
    def control_connection(self) -> AbstractContextManager[Any]:
        """An autocommit connection for control statements (reused within a run)."""
        raise NotImplementedError

    def raw(self, table: str) -> str:
        raise NotImplementedError

    def meta(self, name: str) -> str:
        raise NotImplementedError

    def schemas(self) -> dict[str, str]:
        """``{purpose: qualified schema}`` of RAW and the control schema."""
        raise NotImplementedError

    def bulk_insert(
        self, conn: Any, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        """Insert ``rows`` into the qualified ``table`` (the spreadsheet loader's staging)."""
        listed = column_list(self.dialect, columns)
        marks = ", ".join("%s" for _ in columns)
        cur = conn.cursor()
        try:
            cur.executemany(f"insert into {table} ({listed}) values ({marks})", list(rows))
        finally:
            cur.close()

    def analyze(self, conn: Any, relation: str) -> None:
        """Gather the planner's statistics of a table just filled (where the warehouse has
        them to gather)."""
        del conn, relation

    def grant_read(self, conn: Any, relation: str) -> None:
        """Let the transformer read a RAW table the loader created outside a load."""
        del conn, relation

    # shared --------------------------------------------------------------
    _setup_done = False

    def setup(self) -> None:
        """Create RAW's and the control schema if missing, and bring the control tables up
        to the current version (idempotent; concurrent runs are harmless)."""
        if self._setup_done:
            return
        d = self.dialect
        with self.control_connection() as conn, self.setup_guard(conn):
            for purpose, schema in self.schemas().items():
                if self._schema_exists(conn, schema):
                    continue
                try:
                    d.execute(conn, f"create schema if not exists {schema}")
                except Exception as exc:
                    if not _is_permission_error(exc):
                        raise
                    raise ConfigError(
                        f"the warehouse has no schema {schema} ({purpose}) and the loader's "
                        "role may not create it: create it and make the loader its owner (see "
                        "the role matrix in docs/architecture.md)"
                    ) from None
                self.schema_created(conn, schema)
            version = self.control.version(conn) if self._has_version_table(conn) else None
            if version is None:
                version = 1 if self._has_table(conn, "watermarks") else 0
            if version < SCHEMA_VERSION:
                for statement in self.control.ddl(version):
                    d.execute(conn, statement)
                self.control.set_version(conn)
        self._setup_done = True

    def schema_created(self, conn: Any, schema: str) -> None:
        """A schema this setup created (e.g. to grant the transformer its use)."""
        del conn, schema

    def setup_guard(self, conn: Any) -> AbstractContextManager[None]:
        """Serialises concurrent setups where the warehouse's DDL would race."""
        del conn
        return nullcontext()

    def _schema_exists(self, conn: Any, schema: str) -> bool:
        raise NotImplementedError

    def _has_table(self, conn: Any, name: str) -> bool:
        raise NotImplementedError

    def _has_version_table(self, conn: Any) -> bool:
        return self._has_table(conn, "schema_version")

    def watermark(self, table: str) -> Watermark | None:
        with self.control_connection() as conn:
            return self.control.watermark(conn, table)

    def recorded_columns(self, table: str) -> list[Column]:
        with self.control_connection() as conn:
            return self.control.recorded_columns(conn, table)

    def start_run(self, request: LoadRequest) -> None:
        with self.control_connection() as conn:
            self.control.start_run(
                conn,
                table=request.spec.name,
                run_id=request.run_id,
                mode=request.mode,
                window_start=request.window_start,
                window_end=request.window_end,
            )

    def fail_run(self, request: LoadRequest, error: str, seconds: float) -> None:
        if not request.audited:
            return
        with self.control_connection() as conn:
            self.control.fail_run(conn, request.spec.name, request.run_id, error, seconds)

    def stage_xmin(self, request: LoadRequest) -> int | None:
        name = self.stage_name(request)
        with self.control_connection() as conn:
            value = self.dialect.rows(
                conn,
                f"select snapshot_xmin from {self.meta('stages')} where stage_name = %s",
                (name,),
            )
        return int(value[0][0]) if value and value[0][0] is not None else None

    def stage_name(self, request: LoadRequest) -> str:
        raise NotImplementedError

    def note_stage_xmin(self, conn: Any, stage: str, xmin: int) -> None:
        """Keep the oldest snapshot a staged range was read at (its publish re-reads every
        version written since)."""
        self.dialect.execute(
            conn,
            f"update {self.meta('stages')} set snapshot_xmin = %s where stage_name = %s "
            "and (snapshot_xmin is null or snapshot_xmin > %s)",
            (xmin, stage, xmin),
        )


def loaded_at(now: dt.datetime, *latest: dt.datetime | None) -> dt.datetime:
    """This run's ``_loaded_at``: now, or just after the latest already in the table."""
    floor = max((t for t in latest if t is not None), default=None)
    if floor is None:
        return now
    return max(now, floor + dt.timedelta(microseconds=1))


def _is_permission_error(exc: BaseException) -> bool:
    text = str(exc).lower()
    return (
        "permission denied" in text
        or "insufficient privileges" in text
        or (getattr(getattr(exc, "diag", None), "sqlstate", None) == "42501")
    )
