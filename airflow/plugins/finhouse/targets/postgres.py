"""The PostgreSQL warehouse target (local and CI): RAW by COPY and one set-based merge.

Everything a run changes (RAW rows, deletion marks, new RAW columns, the watermark, the
audit row's completion) happens in one transaction, so a run killed at any point leaves the
warehouse as if it never started. Runs of one table are serialised by a session advisory lock,
which PostgreSQL releases by itself when the holder's connection dies (e.g. a SIGKILLed
loader), so the next run never waits for a dead one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from finhouse.connections import ReusedConnection, connect
from finhouse.drift import Column, DriftPlan
from finhouse.errors import LockTimeoutError
from finhouse.tables import TableSpec
from finhouse.targets.base import LoadRequest, LoadResult, ReconcileReport

log = logging.getLogger(__name__)

RAW = "raw"
META = "finhouse_meta"

_META_DDL = f"""
create schema if not exists {META};
create table if not exists {META}.watermarks (
    table_name  text primary key,
    watermark   timestamptz not null,
    run_id      text not null,
    updated_at  timestamptz not null default now()
);
create table if not exists {META}.load_runs (
    load_id            bigint generated always as identity primary key,
    run_id             text not null,
    table_name         text not null,
    mode               text not null check (mode in ('incremental', 'window', 'full')),
    window_start       timestamptz,
    window_end         timestamptz,
    status             text not null
        check (status in ('running', 'success', 'failed', 'abandoned')),
    rows_extracted     bigint,
    rows_loaded        bigint,
    rows_replaced      bigint,
    rows_deleted       bigint,
    bytes              bigint,
    seconds            numeric(12, 3),
    watermark_before   timestamptz,
    watermark_after    timestamptz,
    held_back_by       text,
    held_back_seconds  numeric(12, 3),
    error              text,
    target             text not null default 'postgres',
    started_at         timestamptz not null default now(),
    finished_at        timestamptz
);
create index if not exists load_runs_table_started_idx
    on {META}.load_runs (table_name, started_at);
create table if not exists {META}.source_columns (
    table_name    text not null,
    column_name   text not null,
    source_type   text not null,
    ordinal       integer not null,
    added_by_run  text not null,
    added_at      timestamptz not null default now(),
    primary key (table_name, column_name)
);
create table if not exists {META}.locks (
    table_name   text primary key,
    run_id       text not null,
    acquired_at  timestamptz not null default now(),
    holder       text not null
);
create table if not exists {META}.reconcile_runs (
    reconcile_id      bigint generated always as identity primary key,
    run_id            text not null,
    table_name        text not null,
    source_rows       bigint not null,
    raw_current_rows  bigint not null,
    deleted_marked    bigint not null,
    missing_in_raw    bigint not null,
    stale_in_raw      bigint not null,
    sum_differences   jsonb not null,
    watermark         timestamptz,
    finished_at       timestamptz not null default now()
);
"""


_META_TABLES = ("watermarks", "load_runs", "source_columns", "locks", "reconcile_runs")


def _lock_key(table: str) -> tuple[int, int]:
    digest = hashlib.sha256(f"finhouse.ingest:{table}".encode()).digest()
    return 0x46480001, int.from_bytes(digest[:4], "big", signed=True)


class _CopyWriter:
    def __init__(self, copy: psycopg.Copy, result: LoadResult) -> None:
        self._copy = copy
        self.result = result

    def write(self, chunk: bytes) -> None:
        self._copy.write(chunk)
        self.result.bytes += len(chunk)


class PostgresTarget:
    kind = "postgres"

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._setup_done = False
        # one reused connection for the small control-schema statements of a run
        self._control = ReusedConnection(
            dsn, application_name="finhouse-control", options="-c TimeZone=UTC"
        )

    # ------------------------------------------------------------------ plumbing
    def close(self) -> None:
        self._control.close()

    @contextmanager
    def _connect(self, *, autocommit: bool = False) -> Iterator[psycopg.Connection]:
        conn = connect(
            self.dsn,
            autocommit=autocommit,
            application_name="finhouse-load",
            options="-c TimeZone=UTC -c DateStyle=ISO",
        )
        with conn:
            yield conn

    @staticmethod
    def _raw(table: str) -> sql.Composed:
        return sql.SQL("{}.{}").format(sql.Identifier(RAW), sql.Identifier(table))

    def setup(self) -> None:
        if self._setup_done:
            return
        with self._control() as conn:
            present = conn.execute(
                "select count(to_regclass(t)) = %s from unnest(%s::text[]) t",
                (len(_META_TABLES), [f"{META}.{t}" for t in _META_TABLES]),
            ).fetchone()
        if present and present[0]:
            self._setup_done = True
            return
        with self._connect() as conn, conn.transaction():
            conn.execute("select pg_advisory_xact_lock(%s, 0)", (_lock_key("")[0],))
            conn.execute(_META_DDL)
        self._setup_done = True

    # ------------------------------------------------------------------ lock
    @contextmanager
    def lock(self, table: str, run_id: str, wait_seconds: float) -> Iterator[None]:
        """Hold the table's advisory lock for the block; wait at most ``wait_seconds``."""
        key = _lock_key(table)
        with self._connect(autocommit=True) as conn:
            deadline = time.monotonic() + wait_seconds
            while not conn.execute("select pg_try_advisory_lock(%s, %s)", key).fetchone()[0]:  # type: ignore[index]
                if time.monotonic() >= deadline:
                    holder = conn.execute(
                        f"select run_id, acquired_at from {META}.locks where table_name = %s",
                        (table,),
                    ).fetchone()
                    who = (
                        f"run {holder[0]} since {holder[1].isoformat()}"
                        if holder
                        else "another run"
                    )
                    raise LockTimeoutError(
                        f"{table} is being loaded by {who}; gave up after waiting "
                        f"{wait_seconds:g} s (runs of one table never overlap)"
                    )
                time.sleep(min(0.5, max(0.05, deadline - time.monotonic())))
            try:
                conn.execute(
                    f"insert into {META}.locks (table_name, run_id, holder) "
                    "values (%s, %s, %s) on conflict (table_name) do update set "
                    "run_id = excluded.run_id, acquired_at = now(), holder = excluded.holder",
                    (table, run_id, f"postgres backend {conn.info.backend_pid}"),
                )
                yield
            finally:
                if not conn.closed:
                    conn.execute(
                        f"delete from {META}.locks where table_name = %s and run_id = %s",
                        (table, run_id),
                    )
                    conn.execute("select pg_advisory_unlock(%s, %s)", key)

    # ------------------------------------------------------------------ state
    def watermark(self, table: str) -> dt.datetime | None:
        with self._control() as conn:
            row = conn.execute(
                f"select watermark from {META}.watermarks where table_name = %s", (table,)
            ).fetchone()
        return row[0] if row else None

    def recorded_columns(self, table: str) -> list[Column]:
        with self._control() as conn:
            rows = conn.execute(
                f"select column_name, source_type from {META}.source_columns "
                "where table_name = %s order by ordinal",
                (table,),
            ).fetchall()
        return [Column(name, type_) for name, type_ in rows]

    def start_run(self, request: LoadRequest) -> None:
        with self._control() as conn:
            # We hold the table's lock: any other 'running' row is from a killed run.
            conn.execute(
                f"update {META}.load_runs set status = 'abandoned', finished_at = now(), "
                "error = 'the run ended without finishing (killed or lost its connection)' "
                "where table_name = %s and status = 'running'",
                (request.spec.name,),
            )
            conn.execute(
                f"insert into {META}.load_runs (run_id, table_name, mode, window_start, "
                "window_end, status, held_back_by, held_back_seconds, target) "
                "values (%s, %s, %s, %s, %s, 'running', %s, %s, 'postgres')",
                (
                    request.run_id,
                    request.spec.name,
                    request.mode,
                    request.window_start,
                    request.window_end,
                    request.held_back_by,
                    request.held_back_seconds,
                ),
            )

    def fail_run(self, request: LoadRequest, error: str, seconds: float) -> None:
        with self._control() as conn:
            conn.execute(
                f"update {META}.load_runs set status = 'failed', error = %s, seconds = %s, "
                "finished_at = now() where run_id = %s and table_name = %s "
                "and status = 'running'",
                (error[:4000], round(seconds, 3), request.run_id, request.spec.name),
            )

    # ------------------------------------------------------------------ RAW DDL
    def _ensure_raw(self, conn: psycopg.Connection, request: LoadRequest, drift: DriftPlan) -> bool:
        """Create RAW's table (without indexes yet: see ``_index_new_raw``) or follow drift.

        Returns whether the table was created by this transaction."""
        spec = request.spec
        raw = self._raw(spec.name)
        exists = conn.execute("select to_regclass(%s)", (f"{RAW}.{spec.name}",)).fetchone() != (
            None,
        )
        if not exists:
            cols: list[sql.Composable] = [
                sql.SQL("{} {}").format(sql.Identifier(c.name), sql.SQL(_pg_type(c.type)))
                for c in request.columns
            ]
            cols += [
                sql.SQL("_loaded_at timestamptz not null default now()"),
                # a literal for the first load's COPY (no per-row function call)
                sql.SQL("_batch_id text not null default {}").format(sql.Literal(request.run_id)),
                sql.SQL("_deleted_at timestamptz"),
            ]
            conn.execute(sql.SQL("create table {} ({})").format(raw, sql.SQL(", ").join(cols)))
            if conn.execute("select 1 from pg_roles where rolname = 'transformer'").fetchone():
                conn.execute(sql.SQL("grant select on {} to transformer").format(raw))
        else:
            for column in drift.add:
                conn.execute(
                    sql.SQL("alter table {} add column if not exists {} {}").format(
                        raw, sql.Identifier(column.name), sql.SQL(_pg_type(column.type))
                    )
                )
                log.warning(
                    "schema drift: added column %s %s to %s.%s",
                    column.name,
                    column.type,
                    RAW,
                    spec.name,
                )
            for column in drift.widen:
                conn.execute(
                    sql.SQL("alter table {} alter column {} type {}").format(
                        raw, sql.Identifier(column.name), sql.SQL(_pg_type(column.type))
                    )
                )
                log.warning(
                    "schema drift: widened %s.%s.%s to %s", RAW, spec.name, column.name, column.type
                )
        if not exists or drift.changes:
            for ordinal, column in enumerate(request.columns, start=1):
                conn.execute(
                    f"insert into {META}.source_columns (table_name, column_name, source_type,"
                    " ordinal, added_by_run) values (%s, %s, %s, %s, %s) "
                    "on conflict (table_name, column_name) do update set "
                    "source_type = excluded.source_type",
                    (spec.name, column.name, column.type, ordinal, request.run_id),
                )
        return not exists

    def _index_new_raw(self, conn: psycopg.Connection, spec: TableSpec) -> None:
        """Indexes of a RAW table made by this load, built once after its bulk COPY."""
        raw = self._raw(spec.name)
        conn.execute(
            sql.SQL("alter table {} add primary key ({})").format(
                raw, sql.SQL(", ").join(map(sql.Identifier, spec.raw_key))
            )
        )
        # dbt reads RAW incrementally by change time; lookups by key use the primary key's
        # leading column.
        conn.execute(sql.SQL("create index on {} (_loaded_at)").format(raw))
        # deletion marks are rare: dbt's clean-up hooks find the deleted rows through this
        conn.execute(
            sql.SQL("create index on {} (_deleted_at) where _deleted_at is not null").format(raw)
        )
        conn.execute(
            sql.SQL(
                "alter table {} alter column _batch_id set default "
                "current_setting('finhouse.batch_id')"
            ).format(raw)
        )

    # ------------------------------------------------------------------ load
    @contextmanager
    def load(self, request: LoadRequest, drift: DriftPlan) -> Iterator[_CopyWriter]:
        spec = request.spec
        result = LoadResult()
        with self._connect() as conn, conn.transaction():
            conn.execute("select set_config('finhouse.batch_id', %s, true)", (request.run_id,))
            created = self._ensure_raw(conn, request, drift)
            result.watermark_before = _one(
                conn,
                sql.SQL("select watermark from {}.watermarks where table_name = %s").format(
                    sql.Identifier(META)
                ),
                (spec.name,),
            )
            raw_empty = _one(
                conn, sql.SQL("select not exists (select 1 from {})").format(self._raw(spec.name))
            )
            direct = bool(raw_empty) and request.staged_from is None
            if created and not direct:
                self._index_new_raw(conn, spec)  # the merge's ON CONFLICT needs the key
            cols = sql.SQL(", ").join(sql.Identifier(c.name) for c in request.columns)
            dest: sql.Composable
            if direct:
                # First load: nothing to merge with, COPY straight into RAW (same transaction).
                dest = self._raw(spec.name)
            else:
                dest = sql.Identifier("_finhouse_stage")
                conn.execute(
                    sql.SQL(
                        "create temp table _finhouse_stage on commit drop as "
                        "select {} from {} with no data"
                    ).format(cols, self._raw(spec.name))
                )
            if request.staged_from is not None:
                conn.execute(
                    sql.SQL("insert into _finhouse_stage select {} from {}").format(
                        cols, sql.Identifier(META, request.staged_from)
                    )
                )
                writer = _CopyWriter(None, result)  # type: ignore[arg-type]
                result.rows_extracted = _count(
                    conn, sql.SQL("select count(*) from _finhouse_stage")
                )
                yield writer
            else:
                with conn.cursor() as cur:
                    # FREEZE: rows of a table created by this transaction are written
                    # already frozen (no later vacuum rewrite), as a bulk load should be.
                    options = sql.SQL("format csv, freeze" if direct and created else "format csv")
                    with cur.copy(
                        sql.SQL("copy {} ({}) from stdin ({})").format(dest, cols, options)
                    ) as copy:
                        writer = _CopyWriter(copy, result)
                        yield writer
                    result.rows_extracted = max(cur.rowcount, 0)
            if created and direct:
                self._index_new_raw(conn, spec)
            if direct:
                result.rows_loaded = result.rows_extracted
            else:
                conn.execute("analyze _finhouse_stage")
                result.rows_loaded, result.rows_replaced = self._merge(conn, request)
            if request.mark_absent_deleted and not direct:
                # (a first load filled an empty RAW: nothing in it can be absent)
                result.rows_deleted = self._mark_absent(conn, request)
            if request.new_watermark is not None:
                conn.execute(
                    f"insert into {META}.watermarks (table_name, watermark, run_id) "
                    "values (%s, %s, %s) on conflict (table_name) do update set "
                    "watermark = greatest(watermarks.watermark, excluded.watermark), "
                    "run_id = excluded.run_id, updated_at = now()",
                    (spec.name, request.new_watermark, request.run_id),
                )
            result.watermark_after = _one(
                conn,
                sql.SQL("select watermark from {}.watermarks where table_name = %s").format(
                    sql.Identifier(META)
                ),
                (spec.name,),
            )
            conn.execute(
                f"update {META}.load_runs set status = 'success', rows_extracted = %s, "
                "rows_loaded = %s, rows_replaced = %s, rows_deleted = %s, bytes = %s, "
                "watermark_before = %s, watermark_after = %s, "
                "seconds = extract(epoch from clock_timestamp() - started_at), "
                "finished_at = clock_timestamp() "
                "where run_id = %s and table_name = %s and status = 'running'",
                (
                    result.rows_extracted,
                    result.rows_loaded,
                    result.rows_replaced,
                    result.rows_deleted,
                    result.bytes,
                    result.watermark_before,
                    result.watermark_after,
                    request.run_id,
                    spec.name,
                ),
            )
            if request.staged_from is not None:
                conn.execute(
                    sql.SQL("drop table if exists {}").format(
                        sql.Identifier(META, request.staged_from)
                    )
                )

    def _merge(self, conn: psycopg.Connection, request: LoadRequest) -> tuple[int, int]:
        """Upsert staged versions: new (key, cursor) pairs insert, changed content replaces."""
        spec = request.spec
        names = [c.name for c in request.columns]
        key = set(spec.raw_key)
        ident = sql.Identifier
        non_key = [n for n in names if n not in key]
        assignments: list[sql.Composable] = [
            sql.SQL("{} = excluded.{}").format(ident(n), ident(n)) for n in non_key
        ]
        assignments += [
            sql.SQL("_loaded_at = excluded._loaded_at"),
            sql.SQL("_batch_id = excluded._batch_id"),
            sql.SQL("_deleted_at = null"),
        ]
        changed = sql.SQL(" or ").join(
            [
                sql.SQL("r.{} is distinct from excluded.{}").format(ident(n), ident(n))
                for n in non_key
            ]
            + [sql.SQL("r._deleted_at is not null")]
        )
        cols = sql.SQL(", ").join(map(ident, names))
        query = sql.SQL("""
            with upserted as (
                insert into {raw} as r ({cols}, _loaded_at, _batch_id)
                select {cols}, now(), %s from _finhouse_stage
                on conflict ({key}) do update set {assign} where {changed}
                returning (xmax = 0) as inserted)
            select count(*) filter (where inserted), count(*) filter (where not inserted)
            from upserted""").format(
            raw=self._raw(spec.name),
            cols=cols,
            key=sql.SQL(", ").join(map(ident, spec.raw_key)),
            assign=sql.SQL(", ").join(assignments),
            changed=changed,
        )
        row = conn.execute(query, (request.run_id,)).fetchone()
        assert row is not None  # noqa: S101
        return int(row[0]), int(row[1])

    def _mark_absent(self, conn: psycopg.Connection, request: LoadRequest) -> int:
        """Full refresh: keys RAW holds but the complete extract lacks are deleted.

        Only keys whose latest version is older than the run's frozen upper bound: a key
        that appeared after a (parallel) extraction is not absent, just new."""
        spec = request.spec
        key, cursor = sql.Identifier(spec.primary_key), sql.Identifier(spec.cursor)
        row = conn.execute(
            sql.SQL("""
            with gone as (
                select {key} from {raw} group by {key}
                having max({cursor}) < %s and bool_or(_deleted_at is null)
                except all
                select {key} from _finhouse_stage),
            marked as (
                update {raw} r set _deleted_at = now() from gone
                where r.{key} = gone.{key} and r._deleted_at is null
                returning r.{key})
            select count(distinct {key}) from marked""").format(
                key=key, cursor=cursor, raw=self._raw(spec.name)
            ),
            (request.window_end,),
        ).fetchone()
        return int(row[0]) if row else 0

    # ------------------------------------------------------------------ parallel staging
    def stage_name(self, request: LoadRequest) -> str:
        digest = hashlib.sha256(request.run_id.encode()).hexdigest()[:16]
        return f"_stage_{request.spec.name}_{digest}"

    def stage_range(
        self, request: LoadRequest, key_range: tuple[int, int], chunks: Iterable[bytes]
    ) -> int:
        """Copy one key range into the run's staging table (idempotent per range)."""
        name = self.stage_name(request)
        stage = sql.Identifier(META, name)
        cols = sql.SQL(", ").join(sql.Identifier(c.name) for c in request.columns)
        with self._connect() as conn, conn.transaction():
            conn.execute("select pg_advisory_xact_lock(%s, 1)", (_lock_key(name)[1],))
            if conn.execute("select to_regclass(%s)", (f"{META}.{name}",)).fetchone() == (None,):
                conn.execute(
                    sql.SQL("create unlogged table {} as select {} from {} with no data").format(
                        stage, cols, self._raw(request.spec.name)
                    )
                )
            conn.execute(
                sql.SQL("delete from {} where {} between %s and %s").format(
                    stage, sql.Identifier(request.spec.primary_key)
                ),
                key_range,
            )
            with conn.cursor() as cur:
                with cur.copy(
                    sql.SQL("copy {} ({}) from stdin (format csv)").format(stage, cols)
                ) as copy:
                    for chunk in chunks:
                        copy.write(chunk)
                return max(cur.rowcount, 0)

    def drop_stage(self, request: LoadRequest) -> None:
        with self._control() as conn:
            conn.execute(
                sql.SQL("drop table if exists {}").format(
                    sql.Identifier(META, self.stage_name(request))
                )
            )

    # ------------------------------------------------------------------ reconcile
    def reconcile(
        self,
        spec: TableSpec,
        run_id: str,
        columns: list[Column],
        chunks: Iterable[bytes],
        mark_deleted: bool,
    ) -> ReconcileReport:
        """Compare the streamed source keys (+cursor, +sum columns) with RAW's current state."""
        report = ReconcileReport(spec.name)
        ident = sql.Identifier
        key, cursor = ident(spec.primary_key), ident(spec.cursor)
        raw = self._raw(spec.name)
        sums = list(columns[2:])
        with self._connect() as conn, conn.transaction():
            report.watermark = _one(
                conn,
                sql.SQL("select watermark from {}.watermarks where table_name = %s").format(
                    ident(META)
                ),
                (spec.name,),
            )
            conn.execute(
                sql.SQL("create temp table _src ({}) on commit drop").format(
                    sql.SQL(", ").join(
                        sql.SQL("{} {}").format(ident(c.name), sql.SQL(_pg_type(c.type)))
                        for c in columns
                    )
                )
            )
            with (
                conn.cursor() as cur,
                cur.copy(sql.SQL("copy _src from stdin (format csv)")) as copy,
            ):
                for chunk in chunks:
                    copy.write(chunk)
            conn.execute(sql.SQL("create index on _src ({})").format(key))
            conn.execute("analyze _src")
            if mark_deleted:
                report.deleted_marked = _count(
                    conn,
                    sql.SQL("""
                    with gone as (
                        select distinct r.{key} from {raw} r
                        where r._deleted_at is null
                          and not exists (select 1 from _src s where s.{key} = r.{key})),
                    marked as (
                        update {raw} r set _deleted_at = now() from gone
                        where r.{key} = gone.{key} and r._deleted_at is null returning r.{key})
                    select count(distinct {key}) from marked""").format(key=key, raw=raw),
                )
            conn.execute(
                sql.SQL("""
                create temp table _cur on commit drop as
                select distinct on ({key}) * from {raw}
                order by {key}, {cursor} desc, _loaded_at desc""").format(
                    key=key, raw=raw, cursor=cursor
                )
            )
            conn.execute(sql.SQL("delete from _cur where _deleted_at is not null"))
            conn.execute(sql.SQL("create index on _cur ({})").format(key))
            report.source_rows = _count(conn, sql.SQL("select count(*) from _src"))
            report.raw_current_rows = _count(conn, sql.SQL("select count(*) from _cur"))
            if report.watermark is not None:
                wm = report.watermark
                report.missing_in_raw = _count(
                    conn,
                    sql.SQL("""
                    select count(*) from _src s where s.{cursor} < %s
                      and not exists (select 1 from _cur c where c.{key} = s.{key})""").format(
                        key=key, cursor=cursor
                    ),
                    (wm,),
                )
                report.stale_in_raw = _count(
                    conn,
                    sql.SQL("""
                    select count(*) from _src s join _cur c on c.{key} = s.{key}
                    where s.{cursor} < %s and c.{cursor} < s.{cursor}""").format(
                        key=key, cursor=cursor
                    ),
                    (wm,),
                )
                for column in sums:
                    col = ident(column.name)
                    diff = _one(
                        conn,
                        sql.SQL("""
                        select coalesce(sum(s.{col}), 0) - coalesce(sum(c.{col}), 0)
                        from _src s join _cur c on c.{key} = s.{key} and c.{cursor} = s.{cursor}
                        where s.{cursor} < %s""").format(col=col, key=key, cursor=cursor),
                        (wm,),
                    )
                    if diff:
                        report.sum_differences[column.name] = str(diff)
            conn.execute(
                f"insert into {META}.reconcile_runs (run_id, table_name, source_rows, "
                "raw_current_rows, deleted_marked, missing_in_raw, stale_in_raw, "
                "sum_differences, watermark) values (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    run_id,
                    spec.name,
                    report.source_rows,
                    report.raw_current_rows,
                    report.deleted_marked,
                    report.missing_in_raw,
                    report.stale_in_raw,
                    Jsonb(report.sum_differences),
                    report.watermark,
                ),
            )
        return report


_BUILTIN_TYPE = re.compile(
    r"^(smallint|integer|bigint|numeric(\(\d{1,4},\d{1,4}\))?|real|double precision|text"
    r"|character varying(\(\d{1,8}\))?|character(\(\d{1,8}\))?|boolean|date|uuid|bytea"
    r"|json|jsonb|interval|time (with|without) time zone|timestamp(\(\d\))? with time zone"
    r"|timestamp(\(\d\))? without time zone)(\[\])?$"
)


def _pg_type(source_type: str) -> str:
    """RAW keeps the source's exact built-in type; anything else (enums, domains, composite
    types the warehouse does not have) lands as text, its exact text form."""
    return source_type if _BUILTIN_TYPE.match(source_type) else "text"


def _one(conn: psycopg.Connection, query: sql.Composable, params: tuple[object, ...] = ()) -> Any:
    row = conn.execute(query, params or None).fetchone()  # type: ignore[call-overload]
    return row[0] if row else None


def _count(conn: psycopg.Connection, query: sql.Composable, params: tuple[object, ...] = ()) -> int:
    value = _one(conn, query, params)
    return int(value) if value is not None else 0
