"""Extract from the PostgreSQL source: safe window bounds and streamed ``COPY ... TO STDOUT``.

Why the upper bound is not simply "now"
---------------------------------------
The source's cursor (``updated_at``, or ``created_at`` for the append-only ledger) is written
by the application at save time, *inside* its transaction, and becomes visible only when that
transaction commits. A transaction that started at 10:00, wrote a row stamped 10:00 and commits
at 10:20 makes that row visible after rows stamped 10:15 were already visible. An extractor
that read ``[watermark, now)`` at 10:16 and moved its watermark to 10:16 would never see the
10:00 row: this is the late-commit loss that dlt (#2269) and Airbyte (#21500, #14732) admit.

The rule used here: a row that is not yet visible can only be stamped at or after the start
of a transaction that is still open. So, measured *before* the extract's snapshot is taken:

* ``oldest`` = the earliest ``pg_stat_activity.xact_start`` among backends of this database
  that hold a transaction id (they have written; readers cannot commit rows);
* ``upper = min(db_now - lag, oldest - skew)``.

``skew`` covers the application server's clock running behind the database's (a row's stamp
comes from the app clock, ``xact_start`` from the database's); ``lag`` also covers a save whose
stamp was taken in Python but whose statement has not reached the server yet (that backend has
no transaction id at the moment we look). Every row stamped below ``upper`` is therefore
already committed when the snapshot is taken right after, and the window ``[watermark, upper)``
is half-open: a row stamped exactly at a boundary belongs to exactly one window, so ties are
neither lost nor duplicated. Seeing other users' ``xact_start`` needs ``pg_monitor`` (or
``pg_read_all_stats``); without it we refuse to run rather than silently lose rows.

When a long transaction holds the bound back, the run loads what is safe, the audit row
records the hold-back, and a warning names the blocking backend (pid, user, application,
start). Prepared (two-phase) transactions are not visible in ``pg_stat_activity``; Django does
not use them, and any found make the bound fall back to their prepare time as a best effort.

Memory: ``COPY`` output is forwarded in chunks of at most ``chunk_bytes``; nothing holds more
than one chunk, whatever the table's size.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from psycopg import sql

from finhouse.connections import ReusedConnection, connect
from finhouse.drift import Column
from finhouse.errors import ConfigError
from finhouse.tables import TableSpec

log = logging.getLogger(__name__)

DEFAULT_LAG = dt.timedelta(seconds=30)
DEFAULT_SKEW = dt.timedelta(seconds=5)
CHUNK_BYTES = 1 << 20
STATEMENT_TIMEOUT_MS = 30 * 60 * 1000


@dataclass(frozen=True)
class Blocker:
    pid: int
    user: str | None
    application: str | None
    xact_start: dt.datetime
    state: str | None

    def describe(self) -> str:
        return (
            f"pid {self.pid} (user {self.user}, application {self.application or '-'}, "
            f"{self.state}) open since {self.xact_start.isoformat()}"
        )


@dataclass(frozen=True)
class Bounds:
    db_now: dt.datetime
    #: the safe upper bound of a window
    upper: dt.datetime
    blocker: Blocker | None
    #: what the bound would be without open transactions (``db_now - lag``)
    unblocked: dt.datetime

    @property
    def held_back(self) -> dt.timedelta:
        return self.unblocked - self.upper


class PostgresSource:
    """The OLTP, read through a read-only extract account."""

    def __init__(
        self,
        dsn: str,
        *,
        lag: dt.timedelta = DEFAULT_LAG,
        skew: dt.timedelta = DEFAULT_SKEW,
        chunk_bytes: int = CHUNK_BYTES,
        statement_timeout_ms: int = STATEMENT_TIMEOUT_MS,
    ) -> None:
        self.dsn = dsn
        self.lag = lag
        self.skew = skew
        self.chunk_bytes = chunk_bytes
        self.statement_timeout_ms = statement_timeout_ms
        # one reused connection for the small catalog queries of a run
        self._control = ReusedConnection(
            dsn,
            application_name="finhouse-extract",
            options=f"-c statement_timeout={statement_timeout_ms} -c TimeZone=UTC",
        )

    def close(self) -> None:
        self._control.close()

    @contextmanager
    def _connect(self, *, autocommit: bool = True) -> Iterator[psycopg.Connection]:
        conn = connect(
            self.dsn,
            autocommit=autocommit,
            application_name="finhouse-extract",
            options=f"-c statement_timeout={self.statement_timeout_ms} "
            "-c TimeZone=UTC -c DateStyle=ISO",
        )
        with conn:
            yield conn

    def _relation(self, spec: TableSpec) -> sql.Composed:
        return sql.SQL("{}.{}").format(
            sql.Identifier(spec.source_schema), sql.Identifier(spec.name)
        )

    def columns(self, spec: TableSpec) -> list[Column]:
        """The source table's columns in order, with ``format_type`` spellings."""
        with self._control() as conn:
            rows = conn.execute(
                """select a.attname, format_type(a.atttypid, a.atttypmod)
                   from pg_attribute a
                   where a.attrelid = to_regclass(format('%%I.%%I', %s::text, %s::text))
                     and a.attnum > 0 and not a.attisdropped
                   order by a.attnum""",
                (spec.source_schema, spec.name),
            ).fetchall()
        if not rows:
            raise ConfigError(
                f"source table {spec.source_schema}.{spec.name} does not exist "
                "or the extract user cannot see it"
            )
        return [Column(name, type_) for name, type_ in rows]

    def bounds(self) -> Bounds:
        """Upper bound of a safe window, measured before any extract snapshot is taken."""
        with self._control() as conn:
            allowed = conn.execute(
                "select pg_has_role(current_user, 'pg_read_all_stats', 'member') "
                "or (select rolsuper from pg_roles where rolname = current_user)"
            ).fetchone()
            if not (allowed and allowed[0]):
                raise ConfigError(
                    "the extract user cannot see other sessions' transactions: grant it "
                    "pg_monitor (or pg_read_all_stats), or late-committing rows could be lost"
                )
            row = conn.execute(
                """select now(), a.pid, a.usename, a.application_name, a.xact_start, a.state,
                          (select min(prepared) from pg_prepared_xacts
                           where database = current_database())
                   from (select 1) one
                   left join lateral (
                       select pid, usename, application_name, xact_start, state
                       from pg_stat_activity
                       where datname = current_database() and backend_xid is not null
                         and pid <> pg_backend_pid() and xact_start is not null
                       order by xact_start limit 1) a on true"""
            ).fetchone()
        assert row is not None  # noqa: S101 - a select of constants returns a row
        db_now, pid, user, app, xact_start, state, prepared = row
        upper = db_now - self.lag
        blocker = None
        if xact_start is not None and xact_start - self.skew < upper:
            upper = xact_start - self.skew
            blocker = Blocker(pid, user, app, xact_start, state)
        if prepared is not None and prepared - self.skew < upper:
            upper = prepared - self.skew
            blocker = Blocker(0, None, "prepared transaction", prepared, "prepared")
        return Bounds(db_now, upper, blocker, db_now - self.lag)

    def row_estimate(self, spec: TableSpec) -> int:
        with self._control() as conn:
            row = conn.execute(
                "select greatest(reltuples, 0)::bigint from pg_class "
                "where oid = to_regclass(format('%%I.%%I', %s::text, %s::text))",
                (spec.source_schema, spec.name),
            ).fetchone()
        return int(row[0]) if row else 0

    def key_ranges(self, spec: TableSpec, parts: int) -> list[tuple[int, int]]:
        """Split the key space into ``parts`` contiguous, inclusive ranges of similar size."""
        key = sql.Identifier(spec.primary_key)
        with self._control() as conn:
            row = conn.execute(
                sql.SQL("select min({k}), max({k}) from {t}").format(k=key, t=self._relation(spec))
            ).fetchone()
        if not row or row[0] is None:
            return []
        low, high = int(row[0]), int(row[1])
        step = max(1, (high - low + parts) // parts)
        return [(start, min(start + step - 1, high)) for start in range(low, high + 1, step)]

    @contextmanager
    def snapshot(self) -> Iterator[psycopg.Connection]:
        """A repeatable-read, read-only transaction: one consistent view for a whole run."""
        with self._connect(autocommit=False) as conn:
            conn.execute("set transaction isolation level repeatable read, read only")
            try:
                yield conn
            finally:
                conn.rollback()

    def copy_out(
        self,
        conn: psycopg.Connection,
        spec: TableSpec,
        columns: list[Column],
        lower: dt.datetime | None = None,
        upper: dt.datetime | None = None,
        key_range: tuple[int, int] | None = None,
    ) -> Iterator[bytes]:
        """Stream ``[lower, upper)`` (and a key range) as CSV, in chunks of bounded size."""
        cursor = sql.Identifier(spec.cursor)
        where: list[sql.Composable] = []
        params: list[object] = []
        if lower is not None:
            where.append(sql.SQL("{} >= %s").format(cursor))
            params.append(lower)
        if upper is not None:
            where.append(sql.SQL("{} < %s").format(cursor))
            params.append(upper)
        if key_range is not None:
            where.append(sql.SQL("{} between %s and %s").format(sql.Identifier(spec.primary_key)))
            params += list(key_range)
        query = sql.SQL("copy (select {cols} from {rel}{where}) to stdout (format csv)").format(
            cols=sql.SQL(", ").join(sql.Identifier(c.name) for c in columns),
            rel=self._relation(spec),
            where=sql.SQL(" where ") + sql.SQL(" and ").join(where) if where else sql.SQL(""),
        )
        yield from self._stream(conn, query, params or None)

    def copy_keys(
        self, conn: psycopg.Connection, spec: TableSpec, extra: tuple[str, ...] = ()
    ) -> Iterator[bytes]:
        """Stream the key (and cursor, and ``extra`` columns) of every row, as CSV."""
        cols = [spec.primary_key, spec.cursor, *extra]
        query = sql.SQL("copy (select {} from {}) to stdout (format csv)").format(
            sql.SQL(", ").join(map(sql.Identifier, cols)), self._relation(spec)
        )
        yield from self._stream(conn, query, None)

    def _stream(
        self, conn: psycopg.Connection, query: sql.Composed, params: list[object] | None
    ) -> Iterator[bytes]:
        """COPY output as it arrives: psycopg hands over one server message at a time (a
        row, bounded by the row's size); small ones are grouped up to ``chunk_bytes`` so the
        consumer is not called per row. Nothing grows with the table."""
        pending: list[bytes] = []
        size = 0
        with conn.cursor() as cur, cur.copy(query, params) as copy:
            for data in copy:
                pending.append(data)  # type: ignore[arg-type]
                size += len(data)
                if size >= self.chunk_bytes:
                    yield b"".join(pending)
                    pending.clear()
                    size = 0
        if pending:
            yield b"".join(pending)
