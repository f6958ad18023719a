"""The Snowflake warehouse target (production): Parquet files, PUT, COPY INTO, set-based SQL.

What is Snowflake's own here (the algorithm — merge, deletion marks, watermark, audit — is
:mod:`finhouse.targets.sql`'s, shared with the PostgreSQL target):

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
3. **Names unique to the run.** Files go to ``@LOAD_STAGE/<table>/<run hash>/``: ``COPY``
   skips files it loaded before *by name*, so a retried run must never reuse a name.
4. ``COPY INTO`` the landing table ``MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE`` (before the
   transaction).
5. **One transaction**: the shared merge into RAW (jsonb ``PARSE_JSON``-ed into ``VARIANT``),
   deletion marks, the watermark, the audit row and the table's lock row (which must still be
   ours) commit together, or nothing does.
6. The run's staged files are removed and the landing table dropped (after a failure too:
   a retry uploads its files again).

Comparisons (reconcile, full refresh of a loaded table) hash rows in the *portable* form both
databases render alike (:func:`finhouse.pgsql.canonical`): times as epoch microseconds, dates
as day numbers, JSON by presence only — PostgreSQL and Snowflake print JSON differently, so a
change confined to a JSON value is caught by the incremental load (commit order) but not by
a reconcile on Snowflake.

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
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from finhouse.compare import BUCKET_WIDTH, BucketSum
from finhouse.drift import Column, DriftPlan
from finhouse.errors import ConfigError, FinhouseError, LockTimeoutError
from finhouse.state import Control
from finhouse.state.dialect import DialectBase
from finhouse.targets import snowflake_connection
from finhouse.targets.base import LoadRequest, LoadResult
from finhouse.targets.sql import SqlSession, SqlTarget, loaded_at

log = logging.getLogger(__name__)

RAW = "RAW"
META = "FINHOUSE_META"
STAGE = "LOAD_STAGE"
#: PII columns of the source (docs/interfaces.md §1): tagged in RAW so the masking policies apply
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


class SnowflakeDialect(DialectBase):
    name = "snowflake"
    text = "varchar"
    bigint = "number(19, 0)"
    timestamp = "timestamp_tz"
    seconds = "number(12, 3)"
    json = "variant"
    identity = "number autoincrement"
    now = "current_timestamp()"

    def ident(self, name: str) -> str:
        return ident(name)

    def ts(self) -> str:
        return "%s::timestamp_tz"

    def ts_value(self, value: dt.datetime | None) -> Any:
        return value.isoformat() if value is not None else None

    def json_placeholder(self) -> str:
        return "parse_json(%s)"

    def check(self, expression: str) -> str:
        del expression
        return ""  # Snowflake does not enforce CHECK constraints

    def execute(self, conn: Any, statement: str, params: Any = None) -> int:
        cur = conn.cursor()
        try:
            with _sql_errors():
                cur.execute(statement, params)
            return max(int(cur.rowcount or 0), 0)
        finally:
            cur.close()

    def rows(self, conn: Any, statement: str, params: Any = None) -> list[tuple[Any, ...]]:
        cur = conn.cursor()
        try:
            with _sql_errors():
                cur.execute(statement, params)
            return [tuple(r) for r in cur.fetchall()]
        finally:
            cur.close()


def sf_canonical(column: Column, alias: str) -> str:
    """A RAW value's text in the portable form the source renders too
    (:func:`finhouse.pgsql.canonical`)."""
    value = f"{alias}.{ident(column.name)}"
    source_type = column.type
    if source_type in ("json", "jsonb"):
        return f"case when {value} is null then null else 'J' end"
    if source_type.startswith("timestamp"):
        return f"to_varchar(date_part(epoch_microsecond, {value}))"
    if source_type == "date":
        return f"to_varchar(datediff(day, '1970-01-01'::date, {value}))"
    if source_type.startswith("character(") or source_type == "character":
        return f"rtrim({value})"
    return f"to_varchar({value})"


def sf_row_hash(columns: Sequence[Column], alias: str) -> str:
    parts = ", ".join(f"coalesce({sf_canonical(c, alias)}, chr(30))" for c in columns)
    return f"md5(concat_ws(chr(31), {parts}))"


class SnowflakeSession(SqlSession):
    """Rows land as Parquet files on the internal stage, then in a transient landing table
    (``prepare``, before the transaction: COPY INTO is not rolled back with it)."""

    flavor = "portable"
    target: SnowflakeTarget

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        request = self.request
        self.landing = self.target.land_name(request)
        self.prefix = self.target.prefix(request)
        self._writes = 0
        self._written_rows = 0
        self._files_written = False
        self._landed = 0
        self._gone_table: str | None = None
        json_cols = {c.name for c in request.columns if snowflake_type(c.type) == "VARIANT"}
        self.value = lambda name: (
            f"parse_json(s.{ident(name)})" if name in json_cols else f"s.{ident(name)}"
        )

    # ------------------------------------------------------------------ rows in
    def write(self, chunks: Iterable[bytes]) -> int:
        self._writes += 1
        prefix = f"{self.prefix}/w{self._writes:04d}"
        with self.target.files(self.conn, self.request, prefix, self.result) as writer:
            for chunk in chunks:
                writer.write(chunk)
        self._files_written = self._files_written or bool(writer.files)
        self._written_rows += writer.rows
        self.result.rows_extracted += writer.rows
        return writer.rows

    def prepare(self) -> None:
        """Before the transaction: COPY INTO the landing table (and, for a staged refresh,
        replace staged versions by the catch-up's), and the deletion keys' table."""
        d, conn, request = self.d, self.conn, self.request
        if request.staged_from:
            self.target.copy_into(conn, self.landing, self.target.stage_prefix(request))
            if self._files_written:
                catch = (
                    f'{self.landing[:-1]}_C"'
                    if self.landing.endswith('"')
                    else (self.landing + "_C")
                )
                cols = ", ".join(
                    f"{ident(c.name)} {_landing_type(c.type)}" for c in request.columns
                )
                d.execute(conn, f"create or replace transient table {catch} ({cols})")
                try:
                    self.target.copy_into(conn, catch, self.prefix)
                    key = ident(request.spec.primary_key)
                    d.execute(
                        conn,
                        f"delete from {self.landing} where {key} in (select {key} from {catch})",
                    )
                    d.execute(conn, f"insert into {self.landing} select * from {catch}")
                finally:
                    d.execute(conn, f"drop table if exists {catch}")
            self._landed = int(d.one(conn, f"select count(*) from {self.landing}") or 0)
            self.result.rows_extracted = self._landed
        elif self._files_written:
            self._landed = self.target.copy_into(conn, self.landing, self.prefix)
            if self._landed != self._written_rows:
                raise FinhouseError(
                    f"{request.spec.name}: COPY INTO loaded {self._landed:,} rows of "
                    f"{self._written_rows:,} written"
                )
        if self.gone:
            self._gone_table = self.target.meta(
                f"_GONE_{request.spec.name.upper()}_{self.target.run_hash(request).upper()}"
            )
            key = ident(request.spec.primary_key)
            d.execute(
                conn, f"create or replace transient table {self._gone_table} ({key} number(38, 0))"
            )
            keys = sorted(set(self.gone))
            for start in range(0, len(keys), 1000):
                batch = keys[start : start + 1000]
                d.execute(
                    conn,
                    f"insert into {self._gone_table} ({key}) values "
                    + ", ".join(["(%s)"] * len(batch)),
                    batch,
                )

    def landed_rows(self) -> int:
        return self._landed

    def load_gone(self) -> str:
        assert self._gone_table is not None  # noqa: S101 - prepare() made it
        return self._gone_table

    # ------------------------------------------------------------------ comparing RAW
    def _current(self) -> str:
        spec = self.request.spec
        raw = self.target.raw(spec.name)
        if spec.kind == "append_only":
            return f"(select * from {raw} where _deleted_at is null)"
        return (
            f"(select * from (select * from {raw} qualify row_number() over (partition by "
            f"{ident(spec.primary_key)} order by _loaded_at desc, {ident(spec.cursor)} desc "
            "nulls last) = 1) where _deleted_at is null)"
        )

    def hash_probe(self) -> object:
        return None  # always the portable form

    def bucket_sums(
        self, columns: Sequence[Column], sum_columns: Sequence[str], flavor: str
    ) -> dict[int, BucketSum]:
        del flavor  # always the portable form
        if self.created:
            return {}
        key = ident(self.request.spec.primary_key)
        sums = "".join(f", sum(t.{ident(c)})" for c in sum_columns)
        rows = self.d.rows(
            self.conn,
            f"""select floor(t.{key} / {BUCKET_WIDTH})::number(19, 0), count(*),
                       md5(listagg(t._finhouse_h, '') within group (order by t.{key})){sums}
                from (select c.*, {sf_row_hash(columns, "c")} as _finhouse_h
                      from {self._current()} as c) as t
                group by 1""",
        )
        return {int(r[0]): BucketSum(int(r[1]), str(r[2]), tuple(r[3:])) for r in rows}

    def row_hashes(
        self, columns: Sequence[Column], ranges: Sequence[tuple[int, int]], flavor: str
    ) -> Iterator[tuple[int, object]]:
        del flavor  # always the portable form
        if self.created or not ranges:
            return iter(())
        key = ident(self.request.spec.primary_key)
        where = " or ".join([f"c.{key} between %s and %s"] * len(ranges))
        params = [v for r in ranges for v in r]
        rows = self.d.rows(
            self.conn,
            f"select c.{key}, {sf_row_hash(columns, 'c')} from {self._current()} as c "
            f"where {where} order by c.{key}",
            params,
        )
        return ((int(r[0]), r[1]) for r in rows)

    # ------------------------------------------------------------------ in the transaction
    def finish(self) -> None:
        spec, request = self.request.spec, self.request
        held = self.d.execute(
            self.conn,
            f"update {self.target.meta('LOCKS')} set expires_at = "
            "dateadd(second, %s, current_timestamp()) where table_name = %s and run_id = %s",
            (int(self.target.lease), spec.name, self.target.lock_owner(spec.name, request)),
        )
        if held != 1:
            raise LockTimeoutError(
                f"{spec.name}: run {request.run_id} lost its lock before publishing (its lease "
                "expired and another run took it); nothing was committed"
            )
        if request.staged_from:
            self.target.control.forget_stage(self.conn, request.staged_from)

    def cleanup(self, committed: bool) -> None:
        """After the transaction, whatever happened: the run's files and tables are of no
        further use (RAW has the rows, or a retry uploads its files again)."""
        with suppress(Exception):
            self.d.execute(self.conn, f"drop table if exists {self.landing}")
        if self._gone_table:
            with suppress(Exception):
                self.d.execute(self.conn, f"drop table if exists {self._gone_table}")
        self.target.remove(self.conn, self.prefix)
        if committed and self.request.staged_from:
            self.target.remove(self.conn, self.target.stage_prefix(self.request))


class SnowflakeTarget(SqlTarget):
    kind = "snowflake"

    def __init__(
        self,
        params: dict[str, Any],
        *,
        file_mb: float | None = None,
        lease_seconds: float | None = None,
    ) -> None:
        from finhouse import settings  # noqa: PLC0415

        self.params = dict(params)
        self.database = str(self.params.get("database") or "FINHOUSE")
        self.params["database"] = self.database
        self.params.pop("schema", None)
        mb = file_mb or settings.load().snowflake_file_mb
        self.file_bytes = int(mb * (1 << 20))
        self.lease = lease_seconds or settings.load().snowflake_lock_lease_seconds
        self.dialect = SnowflakeDialect()
        self.control = Control(self.dialect, self.meta, "snowflake")
        self._setup_done = False
        self._control_conn: Any = None
        self._control_lock = threading.Lock()
        #: the run holding each table's lease in this process (a publish checks it)
        self._lock_runs: dict[str, str] = {}

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
    def control_connection(self) -> Iterator[Any]:
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

    def raw(self, table: str) -> str:
        return self._q(RAW, ident(table))

    def meta(self, name: str) -> str:
        return self._q(META, ident(name))

    def schemas(self) -> dict[str, str]:
        return {"RAW": self._q(RAW), "control": self._q(META)}

    def _schema_exists(self, conn: Any, schema: str) -> bool:
        name = schema.rsplit(".", 1)[-1].strip('"')
        return bool(
            self.dialect.one(
                conn,
                f"select count(*) from {self._q('INFORMATION_SCHEMA')}.schemata "
                "where schema_name = %s",
                (name,),
            )
        )

    def _has_table(self, conn: Any, name: str) -> bool:
        return self._table_exists(conn, META, name)

    def setup(self) -> None:
        if self._setup_done:
            return
        super().setup()
        with self.control_connection() as conn:
            self.dialect.execute(
                conn,
                f"create stage if not exists {self._q(META, STAGE)} file_format = (type = parquet)",
            )

    def identity(self) -> str | None:
        return None  # never the OLTP: that is PostgreSQL

    def raw_is_empty(self, table: str) -> bool:
        with self.control_connection() as conn:
            return self._raw_empty(conn, table)

    def _raw_empty(self, conn: Any, table: str) -> bool:
        if not self._table_exists(conn, RAW, table):
            return True
        return not self.dialect.one(
            conn, f"select count(*) from (select 1 from {self.raw(table)} limit 1)"
        )

    # ------------------------------------------------------------------ lock
    def _try_lock(self, conn: Any, table: str, run_id: str, holder: str) -> tuple[str, Any]:
        locks = self.meta("LOCKS")
        self.dialect.execute(
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
        row = self.dialect.rows(
            conn, f"select run_id, acquired_at from {locks} where table_name = %s", (table,)
        )
        return (row[0][0], row[0][1]) if row else ("", None)

    def lock_owner(self, table: str, request: LoadRequest) -> str:
        return self._lock_runs.get(table, request.run_id)

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
            self._lock_runs[table] = run_id
            try:
                yield
            finally:
                self._lock_runs.pop(table, None)
                stop.set()
                beat.join(timeout=10)
                with suppress(Exception):
                    self.dialect.execute(
                        conn,
                        f"delete from {self.meta('LOCKS')} where table_name = %s and run_id = %s",
                        (table, run_id),
                    )

    def _heartbeat(self, table: str, run_id: str, stop: threading.Event) -> None:
        interval = max(1.0, self.lease / 5)
        conn = None
        try:
            while not stop.wait(interval):
                try:
                    conn = conn or self._open()
                    self.dialect.execute(
                        conn,
                        f"update {self.meta('LOCKS')} set expires_at = "
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

    # ------------------------------------------------------------------ RAW DDL
    def _table_exists(self, conn: Any, schema: str, table: str) -> bool:
        name = table.upper() if _PLAIN.match(table) else table
        return bool(
            self.dialect.one(
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
                self.dialect.execute(
                    conn,
                    f"alter table {self.raw(table)} modify column {ident(column.name)} "
                    f"set tag {self._q(PII_TAG)} = '{tags[column.name]}'",
                )

    def _ensure_raw(self, conn: Any, request: LoadRequest, drift: DriftPlan) -> bool:
        """RAW's table (created on the first load) and drift; DDL, so before the transaction."""
        spec = request.spec
        raw = self.raw(spec.name)
        if not self._table_exists(conn, RAW, spec.name):
            cols = [f"{ident(c.name)} {snowflake_type(c.type)}" for c in request.columns]
            cols += [
                "_LOADED_AT TIMESTAMP_TZ(6)",
                "_BATCH_ID VARCHAR",
                "_DELETED_AT TIMESTAMP_TZ(6)",
                "_FIRST_LOADED_AT TIMESTAMP_TZ(6)",
            ]
            self.dialect.execute(conn, f"create table if not exists {raw} ({', '.join(cols)})")
            self._tag_pii(conn, spec.name, request.columns)
            return True
        for column in drift.add:
            self.dialect.execute(
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
        # RAW tables of finhouse < 0.3 have no _first_loaded_at (docs/interfaces.md §2)
        self.dialect.execute(
            conn, f"alter table {raw} add column if not exists _FIRST_LOADED_AT TIMESTAMP_TZ(6)"
        )
        for column in drift.widen:
            new_type = snowflake_type(column.type)
            self.dialect.execute(
                conn,
                f"alter table {raw} alter column {ident(column.name)} set data type {new_type}",
            )
            log.warning(
                "schema drift: widened %s.%s.%s to %s", RAW, spec.name, column.name, new_type
            )
        return False

    # ------------------------------------------------------------------ files
    @staticmethod
    def run_hash(request: LoadRequest) -> str:
        return hashlib.sha256(request.run_id.encode()).hexdigest()[:16]

    def prefix(self, request: LoadRequest, name: str | None = None) -> str:
        return f"{request.spec.name}/{name or self.run_hash(request)}"

    def stage_prefix(self, request: LoadRequest) -> str:
        return self.prefix(request, self.stage_name(request))

    def land_name(self, request: LoadRequest) -> str:
        return self.meta(f"_LAND_{request.spec.name.upper()}_{self.run_hash(request).upper()}")

    def _put(self, conn: Any, path: Path, prefix: str) -> None:
        # AUTO_COMPRESS off: Parquet is compressed inside already (snappy row groups)
        self.dialect.execute(
            conn,
            f"put 'file://{path.as_posix()}' @{self._q(META, STAGE)}/{prefix}/ "
            "auto_compress = false overwrite = true",
        )

    def remove(self, conn: Any, prefix: str) -> None:
        with suppress(Exception):
            self.dialect.execute(conn, f"remove @{self._q(META, STAGE)}/{prefix}/")

    def copy_into(self, conn: Any, landing: str, prefix: str) -> int:
        cur = conn.cursor()
        try:
            with _sql_errors():
                cur.execute(
                    f"copy into {landing} from @{self._q(META, STAGE)}/{prefix}/ "
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
                        f"{_mask(str(record.get('first_error')))}"
                    )
                loaded += int(record.get("rows_loaded") or 0)
            return loaded
        finally:
            cur.close()

    @contextmanager
    def files(
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

    # ------------------------------------------------------------------ load
    @contextmanager
    def load(self, request: LoadRequest, drift: DriftPlan) -> Iterator[SnowflakeSession]:
        with self._connect() as conn:
            created = self._ensure_raw(conn, request, drift)
            empty = created or self._raw_empty(conn, request.spec.name)
            cols = ", ".join(f"{ident(c.name)} {_landing_type(c.type)}" for c in request.columns)
            landing = self.land_name(request)
            self.dialect.execute(conn, f"create or replace transient table {landing} ({cols})")
            session = SnowflakeSession(
                self,
                conn,
                request,
                drift,
                created=created,
                direct=empty and request.allow_direct and request.staged_from is None,
            )
            committed = False
            try:
                yield session
                session.prepare()
                with self.dialect.transaction(conn):
                    raw = self.raw(request.spec.name)
                    now, latest, deleted = self.dialect.rows(
                        conn,
                        f"select current_timestamp(), (select max(_loaded_at) from {raw}), "
                        f"(select max(_deleted_at) from {raw})",
                    )[0]
                    session.result.loaded_at = loaded_at(
                        _utc(now),  # type: ignore[arg-type]
                        _utc(latest),
                        _utc(deleted),
                    )
                    self._publish(session)
                committed = True
            finally:
                session.cleanup(committed)

    def _publish(self, session: SnowflakeSession) -> None:
        """RAW rows, deletion marks, source columns, watermark, audit and lock: one commit."""
        session.publish()

    # ------------------------------------------------------------------ parallel staging
    def stage_name(self, request: LoadRequest) -> str:
        return f"_staged_{self.run_hash(request)}"

    def register_stage(self, request: LoadRequest, lease_seconds: float) -> None:
        with self.control_connection() as conn:
            self.remove(conn, self.stage_prefix(request))
            self.control.register_stage(
                conn, request.spec.name, self.stage_name(request), request.run_id, lease_seconds
            )

    def stage_range(
        self,
        request: LoadRequest,
        key_range: tuple[int, int],
        chunks: Iterable[bytes],
        snapshot_xmin: int,
        lease_seconds: float,
    ) -> int:
        """Write one key range's Parquet files under the run's staged prefix; a re-run of the
        range replaces its files (removed first, then PUT again)."""
        name = self.stage_name(request)
        prefix = f"{self.stage_prefix(request)}/range_{key_range[0]}_{key_range[1]}"
        with self._connect() as conn:
            if not self.control.touch_stage(conn, name, lease_seconds):
                raise LockTimeoutError(
                    f"{request.spec.name}: the staged refresh {request.run_id} is gone (its lease "
                    "ran out, or a newer full refresh replaced it); run the full refresh again"
                )
            self.remove(conn, prefix)
            with self.files(conn, request, prefix, LoadResult()) as writer:
                for chunk in chunks:
                    writer.write(chunk)
            self.note_stage_xmin(conn, name, snapshot_xmin)
        return writer.rows

    def drop_stage(self, request: LoadRequest) -> None:
        with self.control_connection() as conn:
            self.remove(conn, self.stage_prefix(request))
            self.control.forget_stage(conn, self.stage_name(request))

    def drop_expired_stages(self, table: str) -> list[str]:
        with self.control_connection() as conn:
            names = self.control.stages(conn, table, expired_only=True)
            for name in names:
                self.remove(conn, f"{table}/{name}")
                self.control.forget_stage(conn, name)
        return names


class SnowflakeStatementError(FinhouseError):
    """A statement failed on Snowflake (one line for the CLI; retried by Airflow)."""


_QUOTED = re.compile(r"'(?:[^']|'')*'")


def _mask(text: str) -> str:
    """Snowflake quotes values in its messages ("Numeric value 'abc' is not recognized"):
    no row value leaves finhouse in an error."""
    return _QUOTED.sub("'…'", text)


@contextmanager
def _sql_errors() -> Iterator[None]:
    import snowflake.connector.errors  # noqa: PLC0415

    try:
        yield
    except snowflake.connector.errors.Error as exc:
        text = str(exc).strip()
        reason = text.splitlines()[0] if text else type(exc).__name__
        raise SnowflakeStatementError(f"Snowflake: {_mask(reason)}") from None


def _utc(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if not isinstance(value, dt.datetime):
        raise ConfigError(f"unexpected timestamp value from Snowflake: {type(value).__name__}")
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)
