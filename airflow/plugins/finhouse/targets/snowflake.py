"""The Snowflake warehouse target (production): Parquet files, PUT, COPY INTO, one MERGE.

A run, following Snowflake's bulk-loading advice:

1. **DDL first, outside the data transaction.** Snowflake commits implicitly around DDL, so
   RAW's table (created on the first load, PII columns tagged), drift (``ADD COLUMN IF NOT
   EXISTS``, widening ``SET DATA TYPE``) and a per-run landing table are made before it. All
   of it is idempotent and additive: a run that fails afterwards leaves at most a nullable
   column that the next run would have added anyway.
2. **Parquet, bounded memory.** The extract's CSV chunks are parsed with Arrow into typed
   batches (``NUMBER(p,s)`` as decimal128, ``timestamptz`` as UTC microseconds, jsonb as
   text) and written to local Parquet files of about ``file_mb`` (default 128 MB, within
   Snowflake's 100-250 MB compressed advice); each file is ``PUT`` to the internal stage as
   soon as it is closed and deleted locally. Memory holds one chunk and one row group.
3. **Names unique to the run.** Files go to ``@LOAD_STAGE/<table>/<run id>/``: ``COPY``
   skips files it loaded before *by name*, so a retried run must never reuse a name.
4. ``COPY INTO`` the landing table ``MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE``.
5. **One transaction**: ``MERGE`` into RAW (versions kept once by ``(id, updated_at)``, ``id``
   for the ledger; jsonb ``PARSE_JSON``-ed into ``VARIANT``), deletion marks (full refresh),
   the watermark, the audit row and the table's lock row (which must still be ours) commit
   together, or nothing does.
6. The run's staged files are removed and the landing table dropped (after a failure too:
   a retry uploads its files again).

Runs of one table are serialised by a lease in ``FINHOUSE_META.LOCKS`` (Snowflake has no
advisory locks): a heartbeat thread extends it while the run lives, so a killed run's lock
expires after ``lease`` seconds (default 300) and the next run takes over.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from finhouse.drift import Column, DriftPlan
from finhouse.errors import ConfigError, FinhouseError, LockTimeoutError
from finhouse.tables import TableSpec
from finhouse.targets import snowflake_connection
from finhouse.targets.base import LoadRequest, LoadResult, ReconcileReport

log = logging.getLogger(__name__)

RAW = "RAW"
META = "FINHOUSE_META"
STAGE = "LOAD_STAGE"
#: PII columns of the source (contracts.md §1): tagged in RAW so the masking policies apply
PII_COLUMNS: dict[str, dict[str, str]] = {
    "users": {
        "first_name": "name",
        "last_name": "name",
        "email": "email",
        "phone": "phone",
        "national_id": "national_id",
        "date_of_birth": "date_of_birth",
    },
}
PII_TAG = "GOVERNANCE.PII"

_META_DDL = [
    f"""create table if not exists {META}.WATERMARKS (
        table_name varchar not null primary key,
        watermark timestamp_tz not null,
        run_id varchar not null,
        updated_at timestamp_tz not null)""",
    f"""create table if not exists {META}.LOAD_RUNS (
        load_id number autoincrement,
        run_id varchar not null,
        table_name varchar not null,
        mode varchar not null,
        window_start timestamp_tz,
        window_end timestamp_tz,
        status varchar not null,
        rows_extracted number(19, 0),
        rows_loaded number(19, 0),
        rows_replaced number(19, 0),
        rows_deleted number(19, 0),
        bytes number(19, 0),
        seconds number(12, 3),
        watermark_before timestamp_tz,
        watermark_after timestamp_tz,
        held_back_by varchar,
        held_back_seconds number(12, 3),
        error varchar,
        target varchar not null,
        started_at timestamp_tz not null,
        finished_at timestamp_tz)""",
    f"""create table if not exists {META}.SOURCE_COLUMNS (
        table_name varchar not null,
        column_name varchar not null,
        source_type varchar not null,
        ordinal number(10, 0) not null,
        added_by_run varchar not null,
        added_at timestamp_tz not null)""",
    f"""create table if not exists {META}.LOCKS (
        table_name varchar not null primary key,
        run_id varchar not null,
        acquired_at timestamp_tz not null,
        expires_at timestamp_tz not null,
        holder varchar not null)""",
    f"""create table if not exists {META}.RECONCILE_RUNS (
        reconcile_id number autoincrement,
        run_id varchar not null,
        table_name varchar not null,
        source_rows number(19, 0) not null,
        raw_current_rows number(19, 0) not null,
        deleted_marked number(19, 0) not null,
        missing_in_raw number(19, 0) not null,
        stale_in_raw number(19, 0) not null,
        sum_differences variant,
        watermark timestamp_tz,
        finished_at timestamp_tz not null)""",
]

_PLAIN = re.compile(r"^[a-z_][a-z0-9_$]*$")


def ident(name: str) -> str:
    """A Snowflake identifier for a source name: plain lower-case names as Snowflake folds
    them (upper case, so unquoted references in dbt find them), anything else quoted as is."""
    folded = name.upper() if _PLAIN.match(name) else name
    return '"' + folded.replace('"', '""') + '"'


# ---------------------------------------------------------------------- types
_VARCHAR = re.compile(r"^character varying\((\d+)\)$")
_CHAR = re.compile(r"^character\((\d+)\)$")
_NUMERIC = re.compile(r"^numeric\((\d+),(\d+)\)$")
_TS_TZ = re.compile(r"^timestamp(\(\d\))? with time zone$")
_TS = re.compile(r"^timestamp(\(\d\))? without time zone$")


def snowflake_type(source_type: str) -> str:
    """RAW's Snowflake type for a PostgreSQL ``format_type`` spelling (exact, never float for
    money; anything without an exact counterpart lands as its text form)."""
    t = source_type
    if t in ("smallint", "integer", "bigint"):
        return {"smallint": "NUMBER(5,0)", "integer": "NUMBER(10,0)", "bigint": "NUMBER(19,0)"}[t]
    if m := _NUMERIC.match(t):
        p, s = int(m.group(1)), int(m.group(2))
        if p <= 38:
            return f"NUMBER({p},{s})"
    if t in ("real", "double precision"):
        return "FLOAT"
    if t == "boolean":
        return "BOOLEAN"
    if t == "date":
        return "DATE"
    if _TS_TZ.match(t):
        return "TIMESTAMP_TZ(6)"
    if _TS.match(t):
        return "TIMESTAMP_NTZ(6)"
    if t in ("json", "jsonb"):
        return "VARIANT"
    if m := _VARCHAR.match(t):
        return f"VARCHAR({m.group(1)})"
    if m := _CHAR.match(t):
        return f"VARCHAR({m.group(1)})"
    return "VARCHAR"


def _landing_type(source_type: str) -> str:
    """The landing table's type: RAW's, except JSON, which lands as text (PARSE_JSON later)."""
    sf = snowflake_type(source_type)
    return "VARCHAR" if sf == "VARIANT" else sf


def _arrow_type(source_type: str) -> Any:
    import pyarrow as pa  # noqa: PLC0415

    sf = snowflake_type(source_type)
    if sf.startswith("NUMBER("):
        p, s = map(int, sf[7:-1].split(","))
        return pa.int64() if s == 0 and p <= 18 else pa.decimal128(p, s)
    return {
        "FLOAT": pa.float64(),
        "BOOLEAN": pa.bool_(),
        "DATE": pa.date32(),
        "TIMESTAMP_TZ(6)": pa.timestamp("us", tz="UTC"),
        "TIMESTAMP_NTZ(6)": pa.timestamp("us"),
    }.get(sf, pa.string())


class _ParquetWriter:
    """Takes the extract's CSV chunks (PostgreSQL ``COPY … (FORMAT csv)``: whole rows per
    chunk, unquoted empty = NULL, ``""`` = empty string), writes Parquet files of about
    ``file_bytes`` and hands each closed file to ``on_file``."""

    def __init__(
        self,
        columns: list[Column],
        directory: Path,
        file_bytes: int,
        on_file: Any,
        result: LoadResult,
        row_group_bytes: int = 16 << 20,
    ) -> None:
        import pyarrow as pa  # noqa: PLC0415
        import pyarrow.csv as pcsv  # noqa: PLC0415

        self.result = result
        self.rows = 0
        self.files: list[str] = []
        self._columns = columns
        self._dir = directory
        self._file_bytes = file_bytes
        self._row_group_bytes = row_group_bytes
        self._on_file = on_file
        self._schema = pa.schema([(c.name, _arrow_type(c.type)) for c in columns])
        self._read = pcsv.ReadOptions(column_names=[c.name for c in columns])
        self._convert = pcsv.ConvertOptions(
            column_types=self._schema,
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            true_values=["t"],
            false_values=["f"],
        )
        self._parse = pcsv.ParseOptions(newlines_in_values=True)
        self._pending: list[Any] = []
        self._pending_bytes = 0
        self._writer: Any = None
        self._path: Path | None = None

    def write(self, chunk: bytes) -> None:
        import pyarrow as pa  # noqa: PLC0415
        import pyarrow.csv as pcsv  # noqa: PLC0415

        if not chunk:
            return
        self.result.bytes += len(chunk)
        table = pcsv.read_csv(
            pa.BufferReader(chunk),
            read_options=self._read,
            parse_options=self._parse,
            convert_options=self._convert,
        )
        self.rows += table.num_rows
        self._pending.append(table)
        self._pending_bytes += table.nbytes
        if self._pending_bytes >= self._row_group_bytes:
            self._flush_row_group()

    def _flush_row_group(self) -> None:
        import pyarrow as pa  # noqa: PLC0415
        import pyarrow.parquet as pq  # noqa: PLC0415

        if not self._pending:
            return
        table = pa.concat_tables(self._pending)
        self._pending.clear()
        self._pending_bytes = 0
        if self._writer is None:
            self._path = self._dir / f"part_{len(self.files):05d}.parquet"
            self._writer = pq.ParquetWriter(self._path, self._schema, compression="snappy")
        self._writer.write_table(table, row_group_size=max(table.num_rows, 1))
        assert self._path is not None  # noqa: S101
        if self._path.stat().st_size >= self._file_bytes:
            self._close_file()

    def _close_file(self) -> None:
        if self._writer is None:
            return
        self._writer.close()
        self._writer = None
        path, self._path = self._path, None
        assert path is not None  # noqa: S101
        self.files.append(path.name)
        self._on_file(path)
        path.unlink(missing_ok=True)

    def finish(self) -> None:
        self._flush_row_group()
        self._close_file()


class SnowflakeTarget:
    kind = "snowflake"

    def __init__(
        self,
        params: dict[str, Any],
        *,
        file_mb: float | None = None,
        lease_seconds: float | None = None,
    ) -> None:
        self.params = dict(params)
        self.database = str(self.params.get("database") or "FINHOUSE")
        self.params["database"] = self.database
        self.params.pop("schema", None)
        self.file_bytes = int(
            (file_mb or float(os.environ.get("FINHOUSE_SNOWFLAKE_FILE_MB", "128"))) * (1 << 20)
        )
        self.lease = float(
            lease_seconds or float(os.environ.get("FINHOUSE_SNOWFLAKE_LOCK_LEASE_SECONDS", "300"))
        )
        self._setup_done = False
        self._control_conn: Any = None
        self._control_lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str) -> SnowflakeTarget:
        return cls(snowflake_connection.params_from_url(url))

    # ------------------------------------------------------------------ plumbing
    def _open(self) -> Any:
        return snowflake_connection.connect(
            self.params,
            autocommit=True,
            session_parameters={"QUERY_TAG": "finhouse-load"},
        )

    @contextmanager
    def _connect(self) -> Iterator[Any]:
        conn = self._open()
        try:
            yield conn
        finally:
            with suppress(Exception):
                conn.close()

    @contextmanager
    def _control(self) -> Iterator[Any]:
        """One reused connection for the run's small control statements."""
        with self._control_lock:
            if self._control_conn is None or self._control_conn.is_closed():
                self._control_conn = self._open()
            yield self._control_conn

    def close(self) -> None:
        if self._control_conn is not None:
            with suppress(Exception):
                self._control_conn.close()
            self._control_conn = None

    def _q(self, *parts: str) -> str:
        """A qualified name in the target database."""
        db = self.database
        return ".".join([db.upper() if _PLAIN.match(db.lower()) else ident(db), *parts])

    def _raw(self, table: str) -> str:
        return self._q(RAW, ident(table))

    def _meta(self, table: str) -> str:
        return self._q(META, table)

    @staticmethod
    def _rows(conn: Any, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        cur = conn.cursor()
        try:
            with _sql_errors():
                cur.execute(sql, params)
            return list(cur.fetchall())
        finally:
            cur.close()

    def _one(self, conn: Any, sql: str, params: Any = None) -> Any:
        rows = self._rows(conn, sql, params)
        return rows[0][0] if rows else None

    @staticmethod
    def _exec(conn: Any, sql: str, params: Any = None) -> int:
        cur = conn.cursor()
        try:
            with _sql_errors():
                cur.execute(sql, params)
            return int(cur.rowcount or 0)
        finally:
            cur.close()

    @contextmanager
    def _transaction(self, conn: Any) -> Iterator[None]:
        """An explicit transaction: committed when the block ends, rolled back if it raises.
        (No DDL inside: Snowflake would commit implicitly around it.)"""
        self._exec(conn, "begin")
        try:
            yield
        except BaseException:
            with suppress(Exception):
                self._exec(conn, "rollback")
            raise
        self._exec(conn, "commit")

    def setup(self) -> None:
        if self._setup_done:
            return
        with self._control() as conn:
            self._exec(conn, f"create schema if not exists {self._q(RAW)}")
            self._exec(conn, f"create schema if not exists {self._q(META)}")
            for ddl in _META_DDL:
                self._exec(conn, ddl.replace(f"{META}.", f"{self._q(META)}.", 1))
            self._exec(
                conn,
                f"create stage if not exists {self._meta(STAGE)} file_format = (type = parquet)",
            )
        self._setup_done = True

    # ------------------------------------------------------------------ lock
    def _try_lock(self, conn: Any, table: str, run_id: str, holder: str) -> tuple[str, Any]:
        locks = self._meta("LOCKS")
        self._exec(
            conn,
            f"""merge into {locks} l
            using (select %(t)s as table_name) s on l.table_name = s.table_name
            when matched and l.expires_at < current_timestamp() then update set
                run_id = %(r)s, acquired_at = current_timestamp(),
                expires_at = dateadd(second, %(lease)s, current_timestamp()), holder = %(h)s
            when not matched then insert (table_name, run_id, acquired_at, expires_at, holder)
                values (s.table_name, %(r)s, current_timestamp(),
                        dateadd(second, %(lease)s, current_timestamp()), %(h)s)""",
            {"t": table, "r": run_id, "h": holder, "lease": int(self.lease)},
        )
        row = self._rows(
            conn, f"select run_id, acquired_at from {locks} where table_name = %s", (table,)
        )
        return (row[0][0], row[0][1]) if row else ("", None)

    @contextmanager
    def lock(self, table: str, run_id: str, wait_seconds: float) -> Iterator[None]:
        """Hold the table's lease for the block (heartbeat-extended); wait ``wait_seconds``."""
        holder = f"pid {os.getpid()} on {os.uname().nodename}"
        deadline = time.monotonic() + wait_seconds
        with self._connect() as conn:
            while True:
                owner, since = self._try_lock(conn, table, run_id, holder)
                if owner == run_id:
                    break
                if time.monotonic() >= deadline:
                    when = since.isoformat() if isinstance(since, dt.datetime) else since
                    raise LockTimeoutError(
                        f"{table} is being loaded by run {owner} since {when}; gave up after "
                        f"waiting {wait_seconds:g} s (runs of one table never overlap)"
                    )
                time.sleep(min(1.0, max(0.05, deadline - time.monotonic())))
            stop = threading.Event()
            beat = threading.Thread(target=self._heartbeat, args=(table, run_id, stop), daemon=True)
            beat.start()
            try:
                yield
            finally:
                stop.set()
                beat.join(timeout=10)
                with suppress(Exception):
                    self._exec(
                        conn,
                        f"delete from {self._meta('LOCKS')} where table_name = %s and run_id = %s",
                        (table, run_id),
                    )

    def _heartbeat(self, table: str, run_id: str, stop: threading.Event) -> None:
        interval = max(1.0, self.lease / 5)
        conn = None
        try:
            while not stop.wait(interval):
                try:
                    conn = conn or self._open()
                    self._exec(
                        conn,
                        f"update {self._meta('LOCKS')} set expires_at = "
                        "dateadd(second, %s, current_timestamp()) "
                        "where table_name = %s and run_id = %s",
                        (int(self.lease), table, run_id),
                    )
                except Exception:  # a missed beat is retried; the publish checks the lock
                    log.warning("%s: lock heartbeat failed; retrying", table, exc_info=True)
                    conn = None
        finally:
            if conn is not None:
                with suppress(Exception):
                    conn.close()

    # ------------------------------------------------------------------ state
    def watermark(self, table: str) -> dt.datetime | None:
        with self._control() as conn:
            value = self._one(
                conn,
                f"select watermark from {self._meta('WATERMARKS')} where table_name = %s",
                (table,),
            )
        return _utc(value)

    def recorded_columns(self, table: str) -> list[Column]:
        with self._control() as conn:
            rows = self._rows(
                conn,
                f"select column_name, source_type from {self._meta('SOURCE_COLUMNS')} "
                "where table_name = %s order by ordinal",
                (table,),
            )
        return [Column(name, type_) for name, type_ in rows]

    def start_run(self, request: LoadRequest) -> None:
        runs = self._meta("LOAD_RUNS")
        with self._control() as conn:
            self._exec(
                conn,
                f"update {runs} set status = 'abandoned', finished_at = current_timestamp(), "
                "error = 'the run ended without finishing (killed or lost its connection)' "
                "where table_name = %s and status = 'running'",
                (request.spec.name,),
            )
            self._exec(
                conn,
                f"insert into {runs} (run_id, table_name, mode, window_start, window_end, "
                "status, held_back_by, held_back_seconds, target, started_at) "
                "select %s, %s, %s, %s::timestamp_tz, %s::timestamp_tz, 'running', %s, %s, "
                "'snowflake', current_timestamp()",
                (
                    request.run_id,
                    request.spec.name,
                    request.mode,
                    _iso(request.window_start),
                    _iso(request.window_end),
                    request.held_back_by,
                    round(request.held_back_seconds, 3),
                ),
            )

    def fail_run(self, request: LoadRequest, error: str, seconds: float) -> None:
        with self._control() as conn:
            self._exec(
                conn,
                f"update {self._meta('LOAD_RUNS')} set status = 'failed', error = %s, "
                "seconds = %s, finished_at = current_timestamp() "
                "where run_id = %s and table_name = %s and status = 'running'",
                (error[:4000], round(seconds, 3), request.run_id, request.spec.name),
            )

    # ------------------------------------------------------------------ RAW DDL
    def _table_exists(self, conn: Any, schema: str, table: str) -> bool:
        name = table.upper() if _PLAIN.match(table) else table
        return bool(
            self._one(
                conn,
                f"select count(*) from {self._q('INFORMATION_SCHEMA')}.tables "
                "where table_schema = %s and table_name = %s",
                (schema, name),
            )
        )

    def _tag_pii(self, conn: Any, table: str, columns: Iterable[Column]) -> None:
        tags = PII_COLUMNS.get(table, {})
        for column in columns:
            if column.name in tags:
                self._exec(
                    conn,
                    f"alter table {self._raw(table)} modify column {ident(column.name)} "
                    f"set tag {self._q(PII_TAG)} = '{tags[column.name]}'",
                )

    def _ensure_raw(self, conn: Any, request: LoadRequest, drift: DriftPlan) -> bool:
        """RAW's table (created on the first load) and drift; DDL, so before the transaction."""
        spec = request.spec
        raw = self._raw(spec.name)
        exists = self._table_exists(conn, RAW, spec.name)
        if not exists:
            cols = [f"{ident(c.name)} {snowflake_type(c.type)}" for c in request.columns]
            cols += [
                "_LOADED_AT TIMESTAMP_TZ(6)",
                "_BATCH_ID VARCHAR",
                "_DELETED_AT TIMESTAMP_TZ(6)",
            ]
            self._exec(conn, f"create table if not exists {raw} ({', '.join(cols)})")
            self._tag_pii(conn, spec.name, request.columns)
            return True
        for column in drift.add:
            self._exec(
                conn,
                f"alter table {raw} add column if not exists {ident(column.name)} "
                f"{snowflake_type(column.type)}",
            )
            self._tag_pii(conn, spec.name, [column])
            log.warning(
                "schema drift: added column %s %s to %s.%s",
                column.name,
                column.type,
                RAW,
                spec.name,
            )
        for column in drift.widen:
            new_type = snowflake_type(column.type)
            self._exec(
                conn,
                f"alter table {raw} alter column {ident(column.name)} set data type {new_type}",
            )
            log.warning(
                "schema drift: widened %s.%s.%s to %s", RAW, spec.name, column.name, new_type
            )
        return False

    # ------------------------------------------------------------------ load
    def _prefix(self, request: LoadRequest, name: str | None = None) -> str:
        run = hashlib.sha256(request.run_id.encode()).hexdigest()[:16]
        return f"{request.spec.name}/{name or run}"

    def _land_name(self, request: LoadRequest) -> str:
        run = hashlib.sha256(request.run_id.encode()).hexdigest()[:16]
        return self._meta(f"_LAND_{request.spec.name.upper()}_{run.upper()}")

    def _put(self, conn: Any, path: Path, prefix: str) -> None:
        # AUTO_COMPRESS off: Parquet is compressed inside already (snappy row groups)
        self._exec(
            conn,
            f"put 'file://{path.as_posix()}' @{self._meta(STAGE)}/{prefix}/ "
            "auto_compress = false overwrite = true",
        )

    def _remove(self, conn: Any, prefix: str) -> None:
        with suppress(Exception):
            self._exec(conn, f"remove @{self._meta(STAGE)}/{prefix}/")

    def _copy_into(self, conn: Any, landing: str, prefix: str) -> int:
        cur = conn.cursor()
        try:
            with _sql_errors():
                cur.execute(
                    f"copy into {landing} from @{self._meta(STAGE)}/{prefix}/ "
                    "file_format = (type = parquet) match_by_column_name = case_insensitive"
                )
            names = [d[0].lower() for d in cur.description or []]
            if names == ["status"]:  # "Copy executed with 0 files processed."
                return 0
            loaded = 0
            for row in cur.fetchall():
                record = dict(zip(names, row, strict=False))
                status = str(record.get("status", "")).upper()
                if status not in ("LOADED", "LOAD_SKIPPED", ""):
                    raise FinhouseError(
                        f"COPY INTO {landing} failed for {record.get('file')}: "
                        f"{record.get('first_error')}"
                    )
                loaded += int(record.get("rows_loaded") or 0)
            return loaded
        finally:
            cur.close()

    @contextmanager
    def _files(
        self, conn: Any, request: LoadRequest, prefix: str, result: LoadResult
    ) -> Iterator[_ParquetWriter]:
        """A Parquet writer whose closed files are PUT under ``prefix``; the last one on exit."""
        workdir = Path(tempfile.mkdtemp(prefix=f"finhouse-{request.spec.name}-"))
        try:
            writer = _ParquetWriter(
                request.columns,
                workdir,
                self.file_bytes,
                lambda path: self._put(conn, path, prefix),
                result,
            )
            yield writer
            writer.finish()
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    @contextmanager
    def load(self, request: LoadRequest, drift: DriftPlan) -> Iterator[_ParquetWriter]:
        spec = request.spec
        result = LoadResult()
        landing = self._land_name(request)
        prefix = self._prefix(request, request.staged_from)
        with self._connect() as conn:
            created = self._ensure_raw(conn, request, drift)
            cols = ", ".join(f"{ident(c.name)} {_landing_type(c.type)}" for c in request.columns)
            self._exec(conn, f"create or replace transient table {landing} ({cols})")
            try:
                if request.staged_from is not None:
                    writer = _ParquetWriter(request.columns, Path(), 1, None, result)
                    yield writer
                else:
                    with self._files(conn, request, prefix, result) as writer:
                        yield writer
                staged = (
                    self._copy_into(conn, landing, prefix)
                    if writer.files or request.staged_from is not None
                    else 0
                )
                if request.staged_from is None and staged != writer.rows:
                    raise FinhouseError(
                        f"{spec.name}: COPY INTO loaded {staged:,} rows of {writer.rows:,} written"
                    )
                result.rows_extracted = staged
                self._publish(conn, request, landing, created, result)
            finally:
                # Whatever happened, the run's files and landing table are of no further use:
                # RAW has the rows, or a retry PUTs its files again (same names, overwritten)
                # into a new landing table. Nothing is left to accumulate on the stage.
                with suppress(Exception):
                    self._exec(conn, f"drop table if exists {landing}")
                self._remove(conn, prefix)

    def _publish(
        self, conn: Any, request: LoadRequest, landing: str, created: bool, result: LoadResult
    ) -> None:
        """RAW rows, deletion marks, source columns, watermark, audit and lock: one commit."""
        spec = request.spec
        wm_table = self._meta("WATERMARKS")
        with self._transaction(conn):
            result.watermark_before = _utc(
                self._one(
                    conn, f"select watermark from {wm_table} where table_name = %s", (spec.name,)
                )
            )
            result.rows_loaded, result.rows_replaced = self._merge(conn, request, landing)
            if request.mark_absent_deleted and not created:
                result.rows_deleted = self._mark_absent(conn, request, landing)
            if created or drift_recorded(request, self.recorded_columns_in(conn, spec.name)):
                self._record_columns(conn, request)
            if request.new_watermark is not None:
                self._exec(
                    conn,
                    f"""merge into {wm_table} w
                    using (select %(t)s as table_name, %(w)s::timestamp_tz as watermark,
                                  %(r)s as run_id) s
                    on w.table_name = s.table_name
                    when matched then update set
                        watermark = greatest(w.watermark, s.watermark),
                        run_id = s.run_id, updated_at = current_timestamp()
                    when not matched then insert (table_name, watermark, run_id, updated_at)
                        values (s.table_name, s.watermark, s.run_id, current_timestamp())""",
                    {"t": spec.name, "w": _iso(request.new_watermark), "r": request.run_id},
                )
            result.watermark_after = _utc(
                self._one(
                    conn, f"select watermark from {wm_table} where table_name = %s", (spec.name,)
                )
            )
            audited = self._exec(
                conn,
                f"update {self._meta('LOAD_RUNS')} set status = 'success', rows_extracted = %s, "
                "rows_loaded = %s, rows_replaced = %s, rows_deleted = %s, bytes = %s, "
                "watermark_before = %s::timestamp_tz, watermark_after = %s::timestamp_tz, "
                "seconds = datediff(millisecond, started_at, current_timestamp()) / 1000, "
                "finished_at = current_timestamp() "
                "where run_id = %s and table_name = %s and status = 'running'",
                (
                    result.rows_extracted,
                    result.rows_loaded,
                    result.rows_replaced,
                    result.rows_deleted,
                    result.bytes,
                    _iso(result.watermark_before),
                    _iso(result.watermark_after),
                    request.run_id,
                    spec.name,
                ),
            )
            held = self._exec(
                conn,
                f"update {self._meta('LOCKS')} set expires_at = "
                "dateadd(second, %s, current_timestamp()) where table_name = %s and run_id = %s",
                (int(self.lease), spec.name, request.run_id),
            )
            if held != 1:
                raise LockTimeoutError(
                    f"{spec.name}: run {request.run_id} lost its lock before publishing "
                    "(its lease expired and another run took it); nothing was committed"
                )
            if audited != 1:
                raise FinhouseError(
                    f"{spec.name}: run {request.run_id} has no running audit row; nothing committed"
                )

    def recorded_columns_in(self, conn: Any, table: str) -> list[Column]:
        rows = self._rows(
            conn,
            f"select column_name, source_type from {self._meta('SOURCE_COLUMNS')} "
            "where table_name = %s order by ordinal",
            (table,),
        )
        return [Column(n, t) for n, t in rows]

    def _record_columns(self, conn: Any, request: LoadRequest) -> None:
        table = self._meta("SOURCE_COLUMNS")
        for ordinal, column in enumerate(request.columns, start=1):
            self._exec(
                conn,
                f"""merge into {table} c
                using (select %(t)s as table_name, %(c)s as column_name, %(s)s as source_type,
                              %(o)s as ordinal, %(r)s as run_id) s
                on c.table_name = s.table_name and c.column_name = s.column_name
                when matched and c.source_type <> s.source_type then
                    update set source_type = s.source_type
                when not matched then insert (table_name, column_name, source_type, ordinal,
                                              added_by_run, added_at)
                    values (s.table_name, s.column_name, s.source_type, s.ordinal, s.run_id,
                            current_timestamp())""",
                {
                    "t": request.spec.name,
                    "c": column.name,
                    "s": column.type,
                    "o": ordinal,
                    "r": request.run_id,
                },
            )

    def _merge(self, conn: Any, request: LoadRequest, landing: str) -> tuple[int, int]:
        """Upsert the landed versions: a new (key, cursor) inserts, changed content replaces."""
        spec = request.spec
        key = set(spec.raw_key)
        names = [c.name for c in request.columns]
        json_cols = {c.name for c in request.columns if snowflake_type(c.type) == "VARIANT"}

        # JSON is parsed once, in the source of the MERGE (landed as text: Parquet has no
        # VARIANT); every other column passes through with RAW's type already
        source = ", ".join(
            f"parse_json({ident(n)}) as {ident(n)}" if n in json_cols else ident(n) for n in names
        )
        non_key = [n for n in names if n not in key]
        on = " and ".join(f"r.{ident(k)} = s.{ident(k)}" for k in spec.raw_key)
        changed = " or ".join(
            [f"r.{ident(n)} is distinct from s.{ident(n)}" for n in non_key]
            + ["r._deleted_at is not null"]
        )
        sets = ", ".join(
            [f"{ident(n)} = s.{ident(n)}" for n in non_key]
            + ["_loaded_at = current_timestamp()", "_batch_id = %(run)s", "_deleted_at = null"]
        )
        insert_cols = ", ".join([*(ident(n) for n in names), "_loaded_at", "_batch_id"])
        insert_vals = ", ".join(
            [*(f"s.{ident(n)}" for n in names), "current_timestamp()", "%(run)s"]
        )
        cur = conn.cursor()
        try:
            with _sql_errors():
                cur.execute(
                    f"""merge into {self._raw(spec.name)} r
                using (select {source} from {landing}) s on {on}
                when matched and ({changed}) then update set {sets}
                when not matched then insert ({insert_cols}) values ({insert_vals})""",
                    {"run": request.run_id},
                )
            row = cur.fetchone() or ()
            names_out = [d[0].lower() for d in cur.description or []]
        finally:
            cur.close()
        counts = dict(zip(names_out, row, strict=False))
        return (
            int(counts.get("number of rows inserted") or 0),
            int(counts.get("number of rows updated") or 0),
        )

    def _mark_absent(self, conn: Any, request: LoadRequest, landing: str) -> int:
        """Full refresh: keys RAW holds, the complete extract lacks, and whose latest version
        is older than the run's frozen upper bound, are marked deleted."""
        spec = request.spec
        raw = self._raw(spec.name)
        key, cursor = ident(spec.primary_key), ident(spec.cursor)
        gone = f"""select {key} from {raw} group by {key}
                   having max({cursor}) < %(upper)s::timestamp_tz
                      and count_if(_deleted_at is null) > 0
                   minus select {key} from {landing}"""
        params = {"upper": _iso(request.window_end)}
        count = int(self._one(conn, f"select count(*) from ({gone})", params) or 0)
        if count:
            self._exec(
                conn,
                f"update {raw} set _deleted_at = current_timestamp() "
                f"where _deleted_at is null and {key} in ({gone})",
                params,
            )
        return count

    # ------------------------------------------------------------------ parallel staging
    def stage_name(self, request: LoadRequest) -> str:
        digest = hashlib.sha256(request.run_id.encode()).hexdigest()[:16]
        return f"_staged_{digest}"

    def stage_range(
        self, request: LoadRequest, key_range: tuple[int, int], chunks: Iterable[bytes]
    ) -> int:
        """Write one key range's Parquet files under the run's staged prefix; a re-run of the
        range replaces its files (removed first, then PUT again)."""
        prefix = (
            f"{self._prefix(request, self.stage_name(request))}/range_{key_range[0]}_{key_range[1]}"
        )
        result = LoadResult()
        with self._connect() as conn:
            self._remove(conn, prefix)
            with self._files(conn, request, prefix, result) as writer:
                for chunk in chunks:
                    writer.write(chunk)
        return writer.rows

    def drop_stage(self, request: LoadRequest) -> None:
        with self._connect() as conn:
            self._remove(conn, self._prefix(request, self.stage_name(request)))

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
        request = LoadRequest(spec, run_id, "full", columns, None, dt.datetime.now(dt.UTC), None)
        prefix = self._prefix(request, f"reconcile_{self.stage_name(request)}")
        src = self._meta(f"_SRC_{spec.name.upper()}_{self.stage_name(request)[8:].upper()}")
        raw = self._raw(spec.name)
        key, cursor = ident(spec.primary_key), ident(spec.cursor)
        current = f"""select * from {raw}
            qualify row_number() over (partition by {key}
                                       order by {cursor} desc, _loaded_at desc) = 1"""
        with self._connect() as conn:
            cols = ", ".join(f"{ident(c.name)} {_landing_type(c.type)}" for c in columns)
            self._exec(conn, f"create or replace transient table {src} ({cols})")
            try:
                with self._files(conn, request, prefix, LoadResult()) as writer:
                    for chunk in chunks:
                        writer.write(chunk)
                if writer.files:
                    self._copy_into(conn, src, prefix)
                with self._transaction(conn):
                    report.watermark = _utc(
                        self._one(
                            conn,
                            f"select watermark from {self._meta('WATERMARKS')} "
                            "where table_name = %s",
                            (spec.name,),
                        )
                    )
                    if mark_deleted:
                        gone = f"""select distinct r.{key} from {raw} r
                            where r._deleted_at is null
                              and not exists (select 1 from {src} s where s.{key} = r.{key})"""
                        report.deleted_marked = int(
                            self._one(conn, f"select count(*) from ({gone})") or 0
                        )
                        if report.deleted_marked:
                            self._exec(
                                conn,
                                f"update {raw} set _deleted_at = current_timestamp() "
                                f"where _deleted_at is null and {key} in ({gone})",
                            )
                    report.source_rows = int(self._one(conn, f"select count(*) from {src}") or 0)
                    cur_live = f"select * from ({current}) where _deleted_at is null"
                    report.raw_current_rows = int(
                        self._one(conn, f"select count(*) from ({cur_live})") or 0
                    )
                    if report.watermark is not None:
                        wm = {"wm": _iso(report.watermark)}
                        report.missing_in_raw = int(
                            self._one(
                                conn,
                                f"""select count(*) from {src} s
                                where s.{cursor} < %(wm)s::timestamp_tz and not exists
                                  (select 1 from ({cur_live}) c where c.{key} = s.{key})""",
                                wm,
                            )
                            or 0
                        )
                        report.stale_in_raw = int(
                            self._one(
                                conn,
                                f"""select count(*) from {src} s
                                join ({cur_live}) c on c.{key} = s.{key}
                                where s.{cursor} < %(wm)s::timestamp_tz
                                  and c.{cursor} < s.{cursor}""",
                                wm,
                            )
                            or 0
                        )
                        for column in columns[2:]:
                            col = ident(column.name)
                            # sums of NUMBER stay exact (a cast NUMBER, never a float)
                            scale = re.match(r"^NUMBER\(\d+,(\d+)\)$", snowflake_type(column.type))
                            cast_to = f"number(38,{scale.group(1)})" if scale else None
                            src_col = f"cast(s.{col} as {cast_to})" if cast_to else f"s.{col}"
                            raw_col = f"cast(c.{col} as {cast_to})" if cast_to else f"c.{col}"
                            diff = self._one(
                                conn,
                                f"""select coalesce(sum({src_col}), 0)
                                         - coalesce(sum({raw_col}), 0)
                                from {src} s join ({cur_live}) c
                                  on c.{key} = s.{key} and c.{cursor} = s.{cursor}
                                where s.{cursor} < %(wm)s::timestamp_tz""",
                                wm,
                            )
                            if diff:
                                report.sum_differences[column.name] = str(diff)
                    self._exec(
                        conn,
                        f"insert into {self._meta('RECONCILE_RUNS')} (run_id, table_name, "
                        "source_rows, raw_current_rows, deleted_marked, missing_in_raw, "
                        "stale_in_raw, sum_differences, watermark, finished_at) "
                        "select %s, %s, %s, %s, %s, %s, %s, parse_json(%s), "
                        "%s::timestamp_tz, current_timestamp()",
                        (
                            run_id,
                            spec.name,
                            report.source_rows,
                            report.raw_current_rows,
                            report.deleted_marked,
                            report.missing_in_raw,
                            report.stale_in_raw,
                            _json(report.sum_differences),
                            _iso(report.watermark),
                        ),
                    )
            finally:
                with suppress(Exception):
                    self._exec(conn, f"drop table if exists {src}")
                self._remove(conn, prefix)
        return report


class SnowflakeStatementError(FinhouseError):
    """A statement failed on Snowflake (one line for the CLI; retried by Airflow)."""


@contextmanager
def _sql_errors() -> Iterator[None]:
    import snowflake.connector.errors  # noqa: PLC0415

    try:
        yield
    except snowflake.connector.errors.Error as exc:
        text = str(exc).strip()
        reason = text.splitlines()[0] if text else type(exc).__name__
        raise SnowflakeStatementError(f"Snowflake: {reason}") from exc


def drift_recorded(request: LoadRequest, recorded: list[Column]) -> bool:
    """Does SOURCE_COLUMNS need (re)writing: a column is new or its type changed."""
    known = {c.name: c.type for c in recorded}
    return any(known.get(c.name) != c.type for c in request.columns)


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _utc(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if not isinstance(value, dt.datetime):
        raise ConfigError(f"unexpected timestamp value from Snowflake: {value!r}")
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def _json(value: dict[str, str]) -> str:
    import json  # noqa: PLC0415

    return json.dumps(value, sort_keys=True)
