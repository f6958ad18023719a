"""The PostgreSQL warehouse target (local and CI): RAW by COPY and set-based SQL.

What is PostgreSQL's own here (the algorithm is :mod:`finhouse.targets.sql`'s):

* **Landing.** Rows land by ``COPY`` in a temporary table of RAW's types, in the run's
  transaction; the shared merge reads it. A load into a RAW table that is new, or empty,
  copies straight into it instead (``COPY … FREEZE``: the rows are written frozen, no later
  vacuum rewrite), and its indexes are built once, after the copy.
* **One transaction.** RAW rows, deletion marks, new RAW columns, the watermark and the audit
  row's completion commit together, so a run killed at any point leaves the warehouse as if it
  never started. A table created or largely rewritten by the run is ``ANALYZE``-d in the same
  transaction: the first dbt build after a load never plans over RAW without statistics.
* **Lock.** Runs of one table serialise on a session advisory lock, which PostgreSQL releases
  by itself when the holder's connection dies (a SIGKILLed loader), so the next run never waits
  for a dead one.
* **RAW's key.** ``(id, updated_at)`` is unique with ``NULLS NOT DISTINCT`` (PostgreSQL 15+):
  a row whose ``updated_at`` is null is still one version, loaded once.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql

from finhouse import pgsql
from finhouse.compare import BucketSum
from finhouse.connections import ReusedConnection, connect
from finhouse.drift import Column, DriftPlan
from finhouse.errors import LockTimeoutError
from finhouse.extract.postgres import bucket_sums, row_hashes
from finhouse.state import Control
from finhouse.state.dialect import DialectBase
from finhouse.tables import TableSpec
from finhouse.targets.base import LoadRequest
from finhouse.targets.sql import ANALYZE_SHARE, SqlSession, SqlTarget, loaded_at

log = logging.getLogger(__name__)

RAW = "raw"
META = "finhouse_meta"
LANDING = "_finhouse_landing"
GONE = "_finhouse_gone"
CATCH_UP = "_finhouse_catch_up"
#: the role that reads RAW (the role matrix, docs/architecture.md), granted what is created here
TRANSFORMER = "transformer"


class PostgresDialect(DialectBase):
    name = "postgres"
    text = "text"
    bigint = "bigint"
    timestamp = "timestamptz"
    seconds = "numeric(12, 3)"
    json = "jsonb"
    identity = "bigint generated always as identity primary key"
    now = "now()"

    def json_placeholder(self) -> str:
        return "%s::jsonb"

    def execute(self, conn: Any, statement: str, params: Any = None) -> int:
        cur = conn.execute(statement, params)
        return max(cur.rowcount, 0)

    def rows(self, conn: Any, statement: str, params: Any = None) -> list[tuple[Any, ...]]:
        return list(conn.execute(statement, params).fetchall())


def _lock_key(table: str) -> tuple[int, int]:
    digest = hashlib.sha256(f"finhouse.ingest:{table}".encode()).digest()
    return 0x46480001, int.from_bytes(digest[:4], "big", signed=True)


class PostgresSession(SqlSession):
    landing = LANDING
    flavor = "postgres"
    target: PostgresTarget

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._landing_ready = False
        self.raw_rel = sql.SQL("{}.{}").format(
            sql.Identifier(RAW), sql.Identifier(self.request.spec.name)
        )
        if self.request.staged_from:
            self.landing = self.d.qualified(META, self.request.staged_from)

    # ------------------------------------------------------------------ rows in
    def write(self, chunks: Iterable[bytes]) -> int:
        names = [c.name for c in self.request.columns]
        cols = sql.SQL(", ").join(map(sql.Identifier, names))
        if self.direct:
            dest: sql.Composable = self.raw_rel
            options = sql.SQL("format csv, freeze")
        else:
            dest = sql.Identifier(CATCH_UP if self.request.staged_from else LANDING)
            options = sql.SQL("format csv")
            self._ensure_landing(dest)
        with self.conn.cursor() as cur:
            statement = sql.SQL("copy {} ({}) from stdin ({})").format(dest, cols, options)
            with cur.copy(statement) as copy:
                for chunk in chunks:
                    copy.write(chunk)
                    self.result.bytes += len(chunk)
            rows = max(cur.rowcount, 0)
        self.result.rows_extracted += rows
        return rows

    def _ensure_landing(self, name: sql.Composable) -> None:
        if self._landing_ready:
            return
        cols = sql.SQL(", ").join(sql.Identifier(c.name) for c in self.request.columns)
        self.conn.execute(
            sql.SQL("create temp table {} on commit drop as select {} from {} with no data").format(
                name, cols, self.raw_rel
            )
        )
        self._landing_ready = True

    def merge(self) -> tuple[int, int]:
        if self.direct:  # the rows were copied straight into RAW
            return 0, self.result.rows_extracted
        return super().merge()

    def landed_rows(self) -> int:
        if self.request.staged_from:
            if self._landing_ready:
                # rows the catch-up read replace the staged version of their key
                key = sql.Identifier(self.request.spec.primary_key)
                stage = sql.Identifier(META, self.request.staged_from)
                self.conn.execute(
                    sql.SQL("delete from {s} where {k} in (select {k} from {c})").format(
                        s=stage, k=key, c=sql.Identifier(CATCH_UP)
                    )
                )
                self.conn.execute(
                    sql.SQL("insert into {} select * from {}").format(
                        stage, sql.Identifier(CATCH_UP)
                    )
                )
            stage = sql.Identifier(META, self.request.staged_from)
            count = self.conn.execute(sql.SQL("select count(*) from {}").format(stage)).fetchone()
            self.result.rows_extracted = int(count[0]) if count else 0
            if self.result.rows_extracted:
                self.conn.execute(sql.SQL("analyze {}").format(stage))
            return self.result.rows_extracted
        if not self._landing_ready:
            return 0
        if self.result.rows_extracted > 100_000:  # smaller: its size (pages) is estimate enough
            self.conn.execute(sql.SQL("analyze {}").format(sql.Identifier(LANDING)))
        return self.result.rows_extracted

    def load_gone(self) -> str:
        key = sql.Identifier(self.request.spec.primary_key)
        self.conn.execute(
            sql.SQL("create temp table {} ({} bigint primary key) on commit drop").format(
                sql.Identifier(GONE), key
            )
        )
        self.conn.execute(
            sql.SQL("insert into {} select distinct unnest(%s::bigint[])").format(
                sql.Identifier(GONE)
            ),
            (self.gone,),
        )
        return GONE

    # ------------------------------------------------------------------ comparing RAW
    def _current(self) -> sql.Composable:
        """RAW's current rows (docs/interfaces.md §2): per key the version the latest load saw."""
        spec = self.request.spec
        if spec.kind == "append_only":
            return sql.SQL("(select * from {} where _deleted_at is null)").format(self.raw_rel)
        return sql.SQL(
            "(select * from (select distinct on ({k}) * from {raw} "
            "order by {k}, _loaded_at desc, {c} desc nulls last) as v "
            "where v._deleted_at is null)"
        ).format(
            k=sql.Identifier(spec.primary_key),
            raw=self.raw_rel,
            c=sql.Identifier(spec.cursor),
        )

    def hash_probe(self) -> object:
        row = self.conn.execute(pgsql.HASH_PROBE).fetchone()
        return row[0] if row else None

    def bucket_sums(
        self, columns: Sequence[Column], sum_columns: Sequence[str], flavor: str
    ) -> dict[int, BucketSum]:
        if self.created:
            return {}
        return bucket_sums(
            self.conn,
            self._current(),
            self.request.spec.primary_key,
            columns,
            sum_columns,
            flavor=flavor,
        )

    def row_hashes(
        self, columns: Sequence[Column], ranges: Sequence[tuple[int, int]], flavor: str
    ) -> Iterator[tuple[int, object]]:
        if self.created or not ranges:
            return iter(())
        spec = self.request.spec
        if spec.kind == "append_only":
            return row_hashes(
                self.conn,
                self.raw_rel,
                spec.primary_key,
                columns,
                ranges,
                where=sql.SQL("t._deleted_at is null"),
                flavor=flavor,
            )
        lows, highs = zip(*ranges, strict=True)
        key = sql.Identifier(spec.primary_key)
        hashed = (
            pgsql.row_hash([c.name for c in columns], "t")
            if flavor == "postgres"
            else pgsql.portable_row_hash([(c.name, c.type) for c in columns], "t")
        )
        query = sql.SQL(
            "select t.{k}, {h} from unnest(%s::bigint[], %s::bigint[]) as _r(lo, hi) "
            "cross join lateral (select distinct on ({k}) * from {raw} "
            "where {k} between _r.lo and _r.hi "
            "order by {k}, _loaded_at desc, {c} desc nulls last) as t "
            "where t._deleted_at is null order by t.{k}"
        ).format(
            k=key,
            h=hashed,
            raw=self.raw_rel,
            c=sql.Identifier(spec.cursor),
        )
        return self._rows(query, [list(lows), list(highs)])

    def _rows(self, query: sql.Composed, params: list[object]) -> Iterator[tuple[int, object]]:
        # a generator: the query runs where it is consumed (beside the source's, in sync)
        for row in self.conn.execute(query, params):
            yield int(row[0]), row[1]

    # ------------------------------------------------------------------ after the merge
    def finish(self) -> None:
        spec = self.request.spec
        if self.created:
            self.target.index_raw(self.conn, spec)
        if self.direct:
            # the literal defaults served the bulk copy only
            self.conn.execute(
                sql.SQL(
                    "alter table {} alter column _loaded_at set default now(), "
                    "alter column _batch_id drop default"
                ).format(self.raw_rel)
            )
        written = self.result.rows_loaded + self.result.rows_replaced + self.result.rows_deleted
        if self.created or written >= ANALYZE_SHARE * max(self.target.rows_before, 1):
            started = time.monotonic()
            self.conn.execute(sql.SQL("analyze {}").format(self.raw_rel))
            self.result.analyzed = True
            log.info(
                "%s: analyzed raw.%s (%s rows written) in %.2f s",
                spec.name,
                spec.name,
                f"{written:,}",
                time.monotonic() - started,
            )
        if self.request.staged_from:
            self.conn.execute(
                sql.SQL("drop table if exists {}").format(
                    sql.Identifier(META, self.request.staged_from)
                )
            )
            self.target.control.forget_stage(self.conn, self.request.staged_from)


class PostgresTarget(SqlTarget):
    kind = "postgres"

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.dialect = PostgresDialect()
        self.control = Control(self.dialect, self.meta, "postgres")
        self._setup_done = False
        self.rows_before = 0
        # one reused connection for the small control-schema statements of a run
        self._control = ReusedConnection(
            dsn, application_name="finhouse-control", options=pgsql.SESSION_OPTIONS
        )

    # ------------------------------------------------------------------ plumbing
    def close(self) -> None:
        self._control.close()

    def control_connection(self) -> Any:
        return self._control()

    @contextmanager
    def _connect(self, *, autocommit: bool = False) -> Iterator[psycopg.Connection]:
        conn = connect(
            self.dsn,
            autocommit=autocommit,
            application_name="finhouse-load",
            options=pgsql.SESSION_OPTIONS,
        )
        with conn:
            yield conn

    def raw(self, table: str) -> str:
        return self.dialect.qualified(RAW, table)

    def meta(self, name: str) -> str:
        return self.dialect.qualified(META, name)

    def schemas(self) -> dict[str, str]:
        return {"RAW": self.dialect.ident(RAW), "control": self.dialect.ident(META)}

    @contextmanager
    def setup_guard(self, conn: Any) -> Iterator[None]:
        # concurrent CREATE … IF NOT EXISTS of one name can fail on PostgreSQL's catalogs
        with conn.transaction():
            conn.execute("select pg_advisory_xact_lock(%s, 0)", (_lock_key("")[0],))
            yield

    def schema_created(self, conn: Any, schema: str) -> None:
        """``schema`` as the dialect quoted it. The role matrix: the transformer reads what
        the loader writes."""
        if conn.execute("select 1 from pg_roles where rolname = %s", (TRANSFORMER,)).fetchone():
            quoted, transformer = sql.SQL(schema), sql.Identifier(TRANSFORMER)
            conn.execute(sql.SQL("grant usage on schema {} to {}").format(quoted, transformer))
            conn.execute(
                sql.SQL(
                    "alter default privileges in schema {} grant select on tables to {}"
                ).format(quoted, transformer)
            )

    def _schema_exists(self, conn: Any, schema: str) -> bool:
        row = conn.execute(
            "select 1 from pg_namespace where nspname = %s", (schema.strip('"'),)
        ).fetchone()
        return row is not None

    def _has_table(self, conn: Any, name: str) -> bool:
        row = conn.execute("select to_regclass(%s)", (f"{META}.{name}",)).fetchone()
        return bool(row and row[0])

    def identity(self) -> str | None:
        with self._control() as conn:
            row = conn.execute(
                "select (select system_identifier::text from pg_control_system()) || '/' || "
                "(select oid::text from pg_database where datname = current_database())"
            ).fetchone()
        return row[0] if row else None

    def raw_is_empty(self, table: str) -> bool:
        with self._control() as conn:
            if not conn.execute("select to_regclass(%s)", (f"{RAW}.{table}",)).fetchone()[0]:  # type: ignore[index]
                return True
            row = conn.execute(
                sql.SQL("select not exists (select 1 from {})").format(sql.Identifier(RAW, table))
            ).fetchone()
        return bool(row and row[0])

    def bulk_insert(
        self, conn: Any, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        listed = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
        with (
            conn.cursor() as cur,
            cur.copy(sql.SQL("copy {} ({}) from stdin").format(sql.SQL(table), listed)) as copy,
        ):
            for row in rows:
                copy.write_row(row)

    def analyze(self, conn: Any, relation: str) -> None:
        conn.execute(sql.SQL("analyze {}").format(sql.SQL(relation)))

    def grant_read(self, conn: Any, relation: str) -> None:
        if conn.execute("select 1 from pg_roles where rolname = %s", (TRANSFORMER,)).fetchone():
            conn.execute(
                sql.SQL("grant select on {} to {}").format(
                    sql.SQL(relation), sql.Identifier(TRANSFORMER)
                )
            )

    # ------------------------------------------------------------------ lock
    @contextmanager
    def lock(self, table: str, run_id: str, wait_seconds: float) -> Iterator[None]:
        """Hold the table's advisory lock for the block; wait at most ``wait_seconds``."""
        key = _lock_key(table)
        locks = self.meta("locks")
        with self._connect(autocommit=True) as conn:
            deadline = time.monotonic() + wait_seconds
            while not conn.execute("select pg_try_advisory_lock(%s, %s)", key).fetchone()[0]:  # type: ignore[index]
                if time.monotonic() >= deadline:
                    holder = conn.execute(
                        f"select run_id, acquired_at from {locks} where table_name = %s",
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
                    f"insert into {locks} (table_name, run_id, acquired_at, holder) "
                    "values (%s, %s, now(), %s) on conflict (table_name) do update set "
                    "run_id = excluded.run_id, acquired_at = now(), holder = excluded.holder",
                    (table, run_id, f"postgres backend {conn.info.backend_pid}"),
                )
                yield
            finally:
                if not conn.closed:
                    conn.execute(
                        f"delete from {locks} where table_name = %s and run_id = %s",
                        (table, run_id),
                    )
                    conn.execute("select pg_advisory_unlock(%s, %s)", key)

    # ------------------------------------------------------------------ RAW DDL
    def _ensure_raw(
        self, conn: psycopg.Connection, request: LoadRequest, drift: DriftPlan, at: str
    ) -> bool:
        """Create RAW's table (without indexes yet: see ``index_raw``), follow drift, or
        bring a table of an earlier version to today's key. Returns whether it was created."""
        spec = request.spec
        raw = sql.Identifier(RAW, spec.name)
        exists = conn.execute("select to_regclass(%s)", (f"{RAW}.{spec.name}",)).fetchone() != (
            None,
        )
        if not exists:
            cols: list[sql.Composable] = [
                sql.SQL("{} {}").format(sql.Identifier(c.name), sql.SQL(_pg_type(c.type)))
                for c in request.columns
            ]
            cols += [
                # literals for the first load's COPY (no per-row function call)
                sql.SQL("_loaded_at timestamptz not null default {}").format(sql.Literal(at)),
                sql.SQL("_batch_id text not null default {}").format(sql.Literal(request.run_id)),
                sql.SQL("_deleted_at timestamptz"),
                sql.SQL("_first_loaded_at timestamptz"),
            ]
            conn.execute(sql.SQL("create table {} ({})").format(raw, sql.SQL(", ").join(cols)))
            self.index_deletions(conn, spec)
            if conn.execute("select 1 from pg_roles where rolname = %s", (TRANSFORMER,)).fetchone():
                conn.execute(
                    sql.SQL("grant select on {} to {}").format(raw, sql.Identifier(TRANSFORMER))
                )
            return True
        for column in drift.add:
            conn.execute(
                sql.SQL("alter table {} add column if not exists {} {}").format(
                    raw, sql.Identifier(column.name), sql.SQL(_pg_type(column.type))
                )
            )
            log.warning(
                "schema drift: added column %s %s to raw.%s", column.name, column.type, spec.name
            )
        for column in drift.widen:
            conn.execute(
                sql.SQL("alter table {} alter column {} type {}").format(
                    raw, sql.Identifier(column.name), sql.SQL(_pg_type(column.type))
                )
            )
            log.warning(
                "schema drift: widened raw.%s.%s to %s", spec.name, column.name, column.type
            )
        self._upgrade_key(conn, spec)
        self._add_first_loaded_at(conn, spec)
        return False

    def _add_first_loaded_at(self, conn: psycopg.Connection, spec: TableSpec) -> None:
        """RAW tables of finhouse < 0.3 have no ``_first_loaded_at`` (docs/interfaces.md §2):
        added once, looked up first (an ALTER takes the table's exclusive lock)."""
        row = conn.execute(
            "select 1 from pg_attribute where attrelid = to_regclass(%s) "
            "and attname = '_first_loaded_at' and not attisdropped",
            (f"{RAW}.{spec.name}",),
        ).fetchone()
        if row is None:
            conn.execute(
                sql.SQL(
                    "alter table {} add column if not exists _first_loaded_at timestamptz"
                ).format(sql.Identifier(RAW, spec.name))
            )

    def _upgrade_key(self, conn: psycopg.Connection, spec: TableSpec) -> None:
        """RAW tables of finhouse < 0.2 keyed versions by a primary key on (id, updated_at),
        which cannot hold a null updated_at: replace it by the unique key of ``index_raw``."""
        if spec.kind != "updatable":
            return
        row = conn.execute(
            "select conname from pg_constraint where conrelid = to_regclass(%s) and contype = 'p'",
            (f"{RAW}.{spec.name}",),
        ).fetchone()
        if row is None:
            return
        raw = sql.Identifier(RAW, spec.name)
        conn.execute(
            sql.SQL("alter table {} drop constraint {}").format(raw, sql.Identifier(row[0]))
        )
        conn.execute(
            sql.SQL("alter table {} alter column {} drop not null").format(
                raw, sql.Identifier(spec.cursor)
            )
        )
        self._add_key(conn, spec)
        log.warning(
            "raw.%s: version key upgraded (a null %s is now one version)", spec.name, spec.cursor
        )

    def _add_key(self, conn: psycopg.Connection, spec: TableSpec) -> None:
        raw = sql.Identifier(RAW, spec.name)
        key = sql.SQL(", ").join(map(sql.Identifier, spec.raw_key))
        if spec.kind == "append_only":
            conn.execute(sql.SQL("alter table {} add primary key ({})").format(raw, key))
            return
        conn.execute(
            sql.SQL("alter table {} alter column {} set not null").format(
                raw, sql.Identifier(spec.primary_key)
            )
        )
        nulls = sql.SQL(" nulls not distinct" if conn.info.server_version >= 150000 else "")
        conn.execute(
            sql.SQL("alter table {} add constraint {} unique{} ({})").format(
                raw, sql.Identifier(f"{spec.name}_version_key"), nulls, key
            )
        )

    @staticmethod
    def index_deletions(conn: psycopg.Connection, spec: TableSpec) -> None:
        """Deletion marks are rare: dbt's clean-up hooks find the deleted rows through this
        partial index. A new table gets it before its bulk copy: it stays empty, so the copy
        only tests its predicate, and no separate scan builds it afterwards."""
        conn.execute(
            sql.SQL("create index on {} (_deleted_at) where _deleted_at is not null").format(
                sql.Identifier(RAW, spec.name)
            )
        )

    def index_raw(self, conn: psycopg.Connection, spec: TableSpec) -> None:
        """The other indexes of a RAW table made by this load, built once after its bulk
        copy, with memory enough to sort the keys in one pass (and PostgreSQL's parallel
        index build)."""
        conn.execute("set local maintenance_work_mem = '256MB'")
        self._add_key(conn, spec)
        # dbt reads RAW incrementally by change time; lookups by key use the key's index
        conn.execute(
            sql.SQL("create index on {} (_loaded_at)").format(sql.Identifier(RAW, spec.name))
        )

    # ------------------------------------------------------------------ load
    @contextmanager
    def load(self, request: LoadRequest, drift: DriftPlan) -> Iterator[PostgresSession]:
        spec = request.spec
        with self._connect() as conn, conn.transaction():
            # RAW is read by key from a small landing table: with the default page costs
            # (spinning disks) PostgreSQL hashes all of RAW instead of probing its key index
            # (measured at 5M ledger rows: 1.4 s instead of 0.05 s for 50,000 landed rows)
            conn.execute("set local random_page_cost = 1.1")
            now = conn.execute("select now()").fetchone()[0]  # type: ignore[index]
            created = self._ensure_raw(conn, request, drift, now.isoformat())
            at = now
            empty = created
            self.rows_before = 0
            if not created:
                row = conn.execute(
                    sql.SQL(
                        "select (select max(_loaded_at) from {r}), "
                        "(select max(_deleted_at) from {r}), "
                        "not exists (select 1 from {r}), "
                        "(select reltuples::bigint from pg_class where oid = to_regclass(%s))"
                    ).format(r=sql.Identifier(RAW, spec.name)),
                    (f"{RAW}.{spec.name}",),
                ).fetchone()
                assert row is not None  # noqa: S101
                at = loaded_at(now, row[0], row[1])
                empty = bool(row[2])
                self.rows_before = max(int(row[3] or 0), 0)
            direct = empty and request.allow_direct and request.staged_from is None
            if direct and not created:
                # emptied table: truncating it in this transaction lets COPY write frozen rows
                raw = sql.Identifier(RAW, spec.name)
                conn.execute(sql.SQL("truncate {}").format(raw))
                conn.execute(
                    sql.SQL(
                        "alter table {} alter column _loaded_at set default {}, "
                        "alter column _batch_id set default {}"
                    ).format(raw, sql.Literal(at.isoformat()), sql.Literal(request.run_id))
                )
            session = PostgresSession(self, conn, request, drift, created=created, direct=direct)
            session.result.loaded_at = at
            yield session
            session.publish()

    # ------------------------------------------------------------------ parallel staging
    def stage_name(self, request: LoadRequest) -> str:
        digest = hashlib.sha256(request.run_id.encode()).hexdigest()[:16]
        return f"_stage_{request.spec.name}_{digest}"

    def register_stage(self, request: LoadRequest, lease_seconds: float) -> None:
        name = self.stage_name(request)
        cols = sql.SQL(", ").join(
            sql.SQL("{} {}").format(sql.Identifier(c.name), sql.SQL(_pg_type(c.type)))
            for c in request.columns
        )
        with self._connect() as conn, conn.transaction():
            self.control.register_stage(
                conn, request.spec.name, name, request.run_id, lease_seconds
            )
            conn.execute(sql.SQL("drop table if exists {}").format(sql.Identifier(META, name)))
            conn.execute(
                sql.SQL("create unlogged table {} ({})").format(sql.Identifier(META, name), cols)
            )

    def stage_range(
        self,
        request: LoadRequest,
        key_range: tuple[int, int],
        chunks: Iterable[bytes],
        snapshot_xmin: int,
        lease_seconds: float,
    ) -> int:
        """Copy one key range into the run's staging table (idempotent per range)."""
        name = self.stage_name(request)
        stage = sql.Identifier(META, name)
        cols = sql.SQL(", ").join(sql.Identifier(c.name) for c in request.columns)
        with self._connect() as conn, conn.transaction():
            conn.execute("select pg_advisory_xact_lock(%s, 1)", (_lock_key(name)[1],))
            if conn.execute("select to_regclass(%s)", (f"{META}.{name}",)).fetchone() == (None,):
                raise LockTimeoutError(
                    f"{request.spec.name}: the staged refresh {request.run_id} is gone (its lease "
                    "ran out, or a newer full refresh replaced it); run the full refresh again"
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
                rows = max(cur.rowcount, 0)
            self.control.touch_stage(conn, name, lease_seconds)
            self.note_stage_xmin(conn, name, snapshot_xmin)
        return rows

    def drop_stage(self, request: LoadRequest) -> None:
        name = self.stage_name(request)
        with self._control() as conn:
            conn.execute(sql.SQL("drop table if exists {}").format(sql.Identifier(META, name)))
            self.control.forget_stage(conn, name)

    def drop_expired_stages(self, table: str) -> list[str]:
        """Staged refreshes of ``table`` whose lease ran out (a killed run), and stage tables
        nothing registered, are dropped."""
        with self._control() as conn:
            names = self.control.stages(conn, table, expired_only=True)
            registered = set(self.control.stages(conn, table, expired_only=False))
            orphans = [
                r[0]
                for r in conn.execute(
                    "select tablename from pg_tables where schemaname = %s and tablename like %s",
                    (META, f"\\_stage\\_{table}\\_%"),
                ).fetchall()
                if r[0] not in registered
            ]
            for name in [*names, *orphans]:
                conn.execute(sql.SQL("drop table if exists {}").format(sql.Identifier(META, name)))
                self.control.forget_stage(conn, name)
        return [*names, *orphans]


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
