"""Extract from the PostgreSQL source in commit order: transaction snapshots and row ``xmin``.

Why not a cursor on ``updated_at``
----------------------------------
The application stamps ``updated_at`` (``created_at`` on the ledger) from its own clock, and a
real Django application writes committed changes that such a cursor cannot see, however its
window is capped: ``bulk_create`` stamps its rows while it builds the INSERT, seconds before the
transaction's first statement reaches the database (a month-end posting of a few hundred
thousand ledger rows); ``QuerySet.update()`` and ``save(update_fields=[…])`` change rows without
touching the stamp; an app server's clock drifts; a save that waited on a row lock commits long
after its stamp. So finhouse never reads the application's clock to decide what is new.

The rule used here
------------------
Every run reads the source in **one** ``REPEATABLE READ`` transaction, i.e. one snapshot *S*. A
row version is visible in *S* iff the transaction that wrote it (the row's system column
``xmin``) committed before *S* was taken. A run loads every visible version whose ``xmin`` is
not older than the previous run's snapshot ``xmin`` — the watermark *W*, kept as a 64-bit
``xid8`` — and stores ``xmin(S)`` as the new *W* in the same warehouse transaction as the rows.

Why nothing committed is missed: take a version *v* visible in *S_k*. Either
``xmin(v) >= W = xmin(S_{k-1})`` and run *k* reads it, or ``xmin(v) < xmin(S_{k-1})``: every
transaction below a snapshot's ``xmin`` had ended when that snapshot was taken, so *v*'s
transaction had committed and *v* was visible in *S_{k-1}* already (had it been replaced before
*S_{k-1}*, it would not be visible in *S_k*), and run *k-1* loaded it. The first run of a table
reads everything, so by induction RAW holds, after every run, the version of every row that
the run's snapshot sees — whatever the rows' stamps say. Savepoints (Django's nested
``atomic()``) write rows under subtransaction ids, which are assigned after their parent's id:
a parent still running at *S_{k-1}* has an id ``>= W``, and so have its subtransactions. Two
runs of a table never overlap (the target's lock), so the order of runs is the order of their
snapshots, which is the source's commit order: RAW's current version of a key is the one the
latest load saw (greatest ``_loaded_at``), never the greatest stamp.

What it costs, and what it does not need
----------------------------------------
* **A scan.** ``xmin`` has no index; each incremental run scans the table (the filter runs
  inside the scan: ~0.3 s for 5M ledger rows, 850 MB, cached). Backfill windows
  (``--since/--until``) stay time windows on the cursor and use its index.
* **Re-reads.** Versions committed after *W*'s oldest running transaction began but already
  loaded are read again by the next run; an open transaction pins *W*, so every run re-reads
  what committed since it began (the audit names it, when the extract role may see it).
  Re-reading is harmless: loading a version again never duplicates it.
* **Nothing from the source but a primary key**: no trigger, no replication slot, no
  ``pg_monitor``, no setting; read-only access; a hot-standby replica works as well as the
  primary (its snapshots follow the primary's commits as replay applies them).
* Deletes leave no row to see: ``finhouse reconcile`` and full refreshes mark them.

32-bit ``xmin``, wraparound and freezing
----------------------------------------
A row's ``xmin`` is a 32-bit ``xid``; *W* is 64-bit. The comparison uses ``age()``: the distance,
as a signed 32-bit number, from this transaction's stable next xid back to an xid. PostgreSQL
never lets an unfrozen xid get 2^31 transactions old, so for every unfrozen row
``age(xmin) <= age(W)`` holds exactly when ``xmin >= W``. Freezing keeps a row's raw ``xmin``
(9.4+, a flag bit marks it frozen), so an old frozen row's ``xmin`` can look anything modulo
2^32: ``age(xmin) between 0 and age(W)`` drops those between 2^31 and 2^32 old (negative age)
and reads one again only when its age modulo 2^32 falls within ``[0, age(W)]`` — once per 2^32
transactions, harmlessly. ``xmin`` 1 and 2 (bootstrap, pre-9.4 frozen) have age ``INT_MAX``.
*W* itself must be less than 2^31 xids old: a table whose last load is older than that is
compared in full instead (:func:`Snapshot.incremental_from` says why; :mod:`finhouse.pipeline`
does it).

Replicas, failovers, restores: a run never reads an older source than the last one
-----------------------------------------------------------------------------------
"The order of runs is the order of their snapshots" holds for one source moving forward. The
watermark therefore also keeps the source's identity (system identifier and database), its
timeline, and its WAL position read just after the snapshot (an upper bound of every commit
that snapshot saw). Before the next run takes its snapshot it reads the WAL position again:

* a **hot-standby replica** that has not replayed that far (replication lag; an extract DSN
  behind a load balancer, or switched from the primary to a replica) is waited for
  (``FINHOUSE_REPLICA_WAIT_SECONDS``), then refused with one line — its snapshot would take
  RAW back in time. On a standby, a snapshot sees exactly the commits replayed before it, so
  a replay position read before the snapshot is a lower bound of what it sees;
* a **primary whose WAL position, or transaction counter, is behind** the watermark's was
  restored from a backup (or reset with ``pg_resetwal``): the run compares the whole table;
* a **changed timeline** (a failover, a point-in-time restore) or **another system
  identifier** (another cluster): the run compares the whole table (transactions of the old
  timeline may be gone).

The limit: a source restored from a file copy whose WAL position and counter have *both* moved
past the watermark's again before the next run carries no trace of its restore; the daily
reconcile finds the differences (it compares every row), and a full refresh after restoring a
source is the rule (docs/ingestion.md, docs/operations.md).

Memory: ``COPY`` output is forwarded in chunks of at most ``chunk_bytes``; nothing holds more
than one chunk, whatever the table's size.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal

import psycopg
from psycopg import sql

from finhouse import pgsql
from finhouse.compare import BucketSum
from finhouse.connections import ReusedConnection, connect
from finhouse.drift import Column
from finhouse.errors import ConfigError, SourceBehindError
from finhouse.state import Watermark
from finhouse.tables import TableSpec

log = logging.getLogger(__name__)
#: progress of long work (the CLI shows it on a terminal)
progress_log = logging.getLogger("finhouse.progress")

#: the WAL position of a primary (insert) or a standby (replay), in bytes
WAL_POSITION = (
    "(case when pg_is_in_recovery() then pg_last_wal_replay_lsn() "
    "else pg_current_wal_insert_lsn() end - '0/0'::pg_lsn)::bigint"
)
CHUNK_BYTES = 1 << 20
STATEMENT_TIMEOUT_MS = 30 * 60 * 1000
#: a watermark at most this many xids behind the source's next xid can be compared by age()
#: (2^31, less a margin for the xids assigned while a run reads)
XID_HORIZON = (1 << 31) - (1 << 24)
MIN_SERVER_VERSION = 130000  # pg_current_snapshot() and xid8


@dataclass(frozen=True)
class SourceIdentity:
    """Which database this is: a physical replica shares its primary's identity."""

    system_id: str
    database_oid: int
    server_version: int
    in_recovery: bool

    @property
    def key(self) -> str:
        return f"{self.system_id}/{self.database_oid}"


@dataclass(frozen=True)
class OpenTransaction:
    pid: int
    user: str | None
    application: str | None
    xact_start: dt.datetime

    def describe(self) -> str:
        return (
            f"source transaction pid {self.pid} (user {self.user}, application "
            f"{self.application or '-'}) open since {self.xact_start.isoformat()}"
        )


# --------------------------------------------------------------------------- scopes
@dataclass(frozen=True)
class Everything:
    """Every row (a first load, a full refresh)."""


@dataclass(frozen=True)
class ChangedSince:
    """Rows written by transactions not older than ``xmin`` (a 64-bit xid)."""

    xmin: int


@dataclass(frozen=True)
class CursorWindow:
    """Rows whose cursor (``updated_at``) lies in ``[lower, upper)``: a backfill window."""

    lower: dt.datetime
    upper: dt.datetime


@dataclass(frozen=True)
class KeyRanges:
    """Rows whose key lies in one of the inclusive ranges."""

    ranges: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class Keys:
    keys: tuple[int, ...]


Scope = Everything | ChangedSince | CursorWindow | KeyRanges | Keys


class Snapshot:
    """One ``REPEATABLE READ``, read-only transaction on the source: everything a run reads
    comes from this one consistent view of the source."""

    def __init__(self, source: PostgresSource, conn: psycopg.Connection, lsn_before: int) -> None:
        self._source = source
        self.conn = conn
        #: the source's WAL position read just before the snapshot (a lower bound of the
        #: commits a standby's snapshot sees) and just after (an upper bound of any)
        self.lsn_before = lsn_before
        row = conn.execute(
            f"""select pg_snapshot_xmin(pg_current_snapshot())::text::bigint,
                      pg_snapshot_xmax(pg_current_snapshot())::text::bigint,
                      now(),
                      (select system_identifier::text from pg_control_system()),
                      (select oid::bigint from pg_database where datname = current_database()),
                      current_setting('server_version_num')::int,
                      pg_is_in_recovery(),
                      {WAL_POSITION},
                      (select timeline_id::bigint from pg_control_checkpoint()),
                      pg_current_snapshot()::text"""
        ).fetchone()
        assert row is not None  # noqa: S101 - a select of expressions returns a row
        self.xmin, self.xmax, self.taken_at = int(row[0]), int(row[1]), row[2]
        self.identity = SourceIdentity(row[3], int(row[4]), int(row[5]), bool(row[6]))
        self.lsn_after, self.timeline = int(row[7]), int(row[8])
        #: the whole snapshot, ``xmin:xmax:xip,…`` (64-bit xids): which commits it sees, for
        #: ordering loads of different tables (:mod:`finhouse.cut`)
        self.text: str = row[9]

    # ------------------------------------------------------------------ deciding
    def check_not_behind(self, mark: Watermark | None) -> None:
        """A standby (a read replica) that has not replayed what the previous run read would
        take RAW back in time: refused (the caller waits for replay first; this is the
        guard). A primary behind is a restored source: :meth:`incremental_from` handles it."""
        if (
            mark is not None
            and mark.lsn is not None
            and mark.source == self.identity.key
            and mark.timeline == self.timeline
            and self.identity.in_recovery
            and self.lsn_before < mark.lsn
        ):
            raise SourceBehindError(
                f"the source is a replica that has not replayed what the last run read yet "
                f"(replayed to {format_lsn(self.lsn_before)}, the last run read up to "
                f"{format_lsn(mark.lsn)}); loading from it would take RAW back in time: retry "
                "when it has caught up"
            )

    def incremental_from(self, mark: Watermark) -> tuple[int | None, str]:
        """``(W, "")`` when changes since the stored watermark can be read exactly, else
        ``(None, why)``: the table must then be compared in full."""
        xmin = mark.xmin
        if xmin is None:
            return None, "no watermark yet"
        if mark.source is not None and mark.source != self.identity.key:
            return None, (
                f"the source is not the database the watermark came from (system/database "
                f"{self.identity.key}, watermark from {mark.source})"
            )
        if mark.timeline is not None and mark.timeline != self.timeline:
            return None, (
                f"the source's timeline changed ({mark.timeline} -> {self.timeline}: a failover "
                "or a point-in-time restore; transactions of the old timeline may be gone)"
            )
        if mark.lsn is not None and self.lsn_before < mark.lsn:
            self.check_not_behind(mark)  # a replica: refused
            return None, (
                f"the source's WAL position ({format_lsn(self.lsn_before)}) is behind the last "
                f"load's ({format_lsn(mark.lsn)}): restored from a backup"
            )
        if xmin > self.xmax:
            return None, (
                f"the source's transaction counter ({self.xmax}) is behind the watermark "
                f"({xmin}): restored from a backup or reset"
            )
        if self.xmax - xmin > XID_HORIZON:
            return None, (
                f"the last load is {self.xmax - xmin:,} transactions old (more than 2^31: its "
                "watermark can no longer be compared with row xids)"
            )
        return xmin, ""

    def age_of(self, xid: int) -> int:
        """``age()`` of a (64-bit) xid in this transaction: the same reference point as the
        rows' ``age(xmin)`` (stable within a transaction)."""
        row = self.conn.execute("select age(%s::text::xid)", (xid & 0xFFFFFFFF,)).fetchone()
        assert row is not None  # noqa: S101
        return int(row[0])

    def oldest_open_transaction(self) -> OpenTransaction | None:
        """The oldest transaction still writing in the source, if the extract role may see
        it (other users' transactions need pg_read_all_stats): it pins the next run's *W*."""
        row = self.conn.execute(
            """select pid, usename, application_name, xact_start from pg_stat_activity
               where datname = current_database() and backend_xid is not null
                 and pid <> pg_backend_pid() and xact_start is not null
               order by xact_start limit 1"""
        ).fetchone()
        return OpenTransaction(*row) if row else None

    def row_estimate(self, spec: TableSpec) -> int:
        row = self.conn.execute(
            "select greatest(reltuples, 0)::bigint from pg_class "
            "where oid = to_regclass(format('%%I.%%I', %s::text, %s::text))",
            (spec.source_schema, spec.name),
        ).fetchone()
        return int(row[0]) if row else 0

    # ------------------------------------------------------------------ reading rows
    def copy(self, spec: TableSpec, columns: Sequence[Column], scope: Scope) -> Iterator[bytes]:
        """Stream the rows of ``scope`` as CSV (PostgreSQL's ``COPY … (FORMAT csv)``)."""
        query, params = self._select(spec, [c.name for c in columns], scope)
        yield from self._source.stream(
            self.conn,
            sql.SQL("copy ({}) to stdout (format csv)").format(query),
            params,
        )

    def _select(
        self, spec: TableSpec, names: Sequence[str], scope: Scope
    ) -> tuple[sql.Composable, list[object]]:
        rel = self._source.relation(spec)
        cols = sql.SQL(", ").join(sql.Identifier("t", n) for n in names)
        key = sql.Identifier("t", spec.primary_key)
        if isinstance(scope, KeyRanges):
            lows, highs = zip(*scope.ranges, strict=True) if scope.ranges else ((), ())
            return (
                sql.SQL(
                    "select {cols} from unnest(%s::bigint[], %s::bigint[]) as _r(lo, hi) "
                    "join {rel} as t on {key} between _r.lo and _r.hi"
                ).format(cols=cols, rel=rel, key=key),
                [list(lows), list(highs)],
            )
        where: sql.Composable = sql.SQL("true")
        params: list[object] = []
        if isinstance(scope, ChangedSince):
            # see the module doc: exact for every unfrozen row; an ancient frozen row is read
            # again at most once per 2^32 transactions. One age() a row: a negative age (a
            # frozen row 2^31 to 2^32 xids old) masks to 2^31 or more, above any watermark's.
            where = sql.SQL("(age(t.xmin)::bigint & 4294967295) <= %s")
            params = [self.age_of(scope.xmin)]
        elif isinstance(scope, CursorWindow):
            cursor = sql.Identifier("t", spec.cursor)
            where = sql.SQL("{c} >= %s and {c} < %s").format(c=cursor)
            params = [scope.lower, scope.upper]
        elif isinstance(scope, Keys):
            where = sql.SQL("{} = any(%s::bigint[])").format(key)
            params = [list(scope.keys)]
        return (
            sql.SQL("select {cols} from {rel} as t where {where}").format(
                cols=cols, rel=rel, where=where
            ),
            params,
        )

    # ------------------------------------------------------------------ comparing
    def hash_probe(self) -> object:
        row = self.conn.execute(pgsql.HASH_PROBE).fetchone()
        return row[0] if row else None

    def bucket_sums(
        self,
        spec: TableSpec,
        columns: Sequence[Column],
        sum_columns: Sequence[str],
        flavor: str = "postgres",
    ) -> dict[int, BucketSum]:
        """Per bucket of keys: rows, the combined row hashes and the sum of each money
        column (see :mod:`finhouse.compare`; ``flavor`` must be the target's)."""
        return bucket_sums(
            self.conn,
            self._source.relation(spec),
            spec.primary_key,
            columns,
            sum_columns,
            flavor=flavor,
        )

    def row_hashes(
        self,
        spec: TableSpec,
        columns: Sequence[Column],
        ranges: Sequence[tuple[int, int]],
        flavor: str = "postgres",
    ) -> Iterator[tuple[int, object]]:
        """``(key, row hash)`` of the rows in the key ranges, sorted by key."""
        return row_hashes(
            self.conn,
            self._source.relation(spec),
            spec.primary_key,
            columns,
            ranges,
            flavor=flavor,
        )


def _hash(columns: Sequence[Column], flavor: str) -> sql.Composed:
    if flavor == "postgres":
        return pgsql.row_hash([c.name for c in columns], "t")
    return pgsql.portable_row_hash([(c.name, c.type) for c in columns], "t")


def bucket_sums(
    conn: psycopg.Connection,
    relation: sql.Composable,
    key: str,
    columns: Sequence[Column],
    sum_columns: Sequence[str],
    where: sql.Composable | None = None,
    flavor: str = "postgres",
) -> dict[int, BucketSum]:
    """``select bucket, count, hashes, sum(money)… group by bucket`` over ``relation`` (a
    table, or a subquery of RAW's current rows): the same SQL on both PostgreSQL ends. The
    ``postgres`` flavor sums 60-bit hashes (order-free, cheap); the ``portable`` flavor,
    which Snowflake reproduces, takes the md5 of the bucket's row md5s in key order."""
    if flavor == "postgres":
        combined = sql.SQL("sum({})::text").format(_hash(columns, flavor))
    else:
        combined = sql.SQL("md5(string_agg({}, '' order by t.{}))").format(
            _hash(columns, flavor), sql.Identifier(key)
        )
    sums = [sql.SQL(", sum(t.{})").format(sql.Identifier(c)) for c in sum_columns]
    query = sql.SQL("select {b}, count(*), {h}{sums} from {rel} as t{where} group by 1").format(
        b=pgsql.bucket(key, "t"),
        h=combined,
        sums=sql.SQL("").join(sums),
        rel=relation,
        where=sql.SQL(" where ") + where if where is not None else sql.SQL(""),
    )
    out = {}
    with pgsql.hashed_aggregate(conn):
        found = conn.execute(query).fetchall()
    for row in found:
        combined_value = int(row[2]) if flavor == "postgres" else str(row[2])
        out[int(row[0])] = BucketSum(int(row[1]), combined_value, tuple(_exact(v) for v in row[3:]))
    return out


def row_hashes(
    conn: psycopg.Connection,
    relation: sql.Composable,
    key: str,
    columns: Sequence[Column],
    ranges: Sequence[tuple[int, int]],
    where: sql.Composable | None = None,
    flavor: str = "postgres",
) -> Iterator[tuple[int, object]]:
    lows, highs = zip(*ranges, strict=True) if ranges else ((), ())
    query = sql.SQL(
        "select t.{k}, {h} from unnest(%s::bigint[], %s::bigint[]) as _r(lo, hi) "
        "join {rel} as t on t.{k} between _r.lo and _r.hi{where} order by t.{k}"
    ).format(
        k=sql.Identifier(key),
        h=_hash(columns, flavor),
        rel=relation,
        where=sql.SQL(" and ") + where if where is not None else sql.SQL(""),
    )
    for row in conn.execute(query, (list(lows), list(highs))):
        yield int(row[0]), row[1]


def format_lsn(position: int) -> str:
    """A WAL position as PostgreSQL writes it (``16/B374D848``)."""
    return f"{position >> 32:X}/{position & 0xFFFFFFFF:X}"


def _exact(value: object) -> object:
    """Sums as exact numbers (floats stay floats; NaN kept)."""
    if isinstance(value, int):
        return Decimal(value)
    return value


class PostgresSource:
    """The OLTP, read through a read-only extract account."""

    def __init__(
        self,
        dsn: str,
        *,
        chunk_bytes: int = CHUNK_BYTES,
        statement_timeout_ms: int = STATEMENT_TIMEOUT_MS,
    ) -> None:
        self.dsn = dsn
        self.chunk_bytes = chunk_bytes
        self.statement_timeout_ms = statement_timeout_ms
        self._options = f"-c statement_timeout={statement_timeout_ms} {pgsql.SESSION_OPTIONS}"
        # one reused connection for the small catalog queries of a run
        self._control = ReusedConnection(
            dsn, application_name="finhouse-extract", options=self._options
        )
        self._identity: SourceIdentity | None = None

    def close(self) -> None:
        self._control.close()

    @staticmethod
    def relation(spec: TableSpec) -> sql.Composed:
        return sql.SQL("{}.{}").format(
            sql.Identifier(spec.source_schema), sql.Identifier(spec.name)
        )

    def check(self) -> SourceIdentity:
        """Reach the source and check it can be read in commit order (PostgreSQL 13+)."""
        if self._identity is None:
            with self._control() as conn:
                row = conn.execute(
                    "select current_setting('server_version_num')::int, "
                    "(select system_identifier::text from pg_control_system()), "
                    "(select oid::bigint from pg_database where datname = current_database()), "
                    "pg_is_in_recovery()"
                ).fetchone()
            assert row is not None  # noqa: S101
            if int(row[0]) < MIN_SERVER_VERSION:
                raise ConfigError(
                    f"the source runs PostgreSQL {int(row[0]) // 10000}; finhouse reads it in "
                    "commit order with pg_current_snapshot() and xid8, PostgreSQL 13 or later"
                )
            self._identity = SourceIdentity(row[1], int(row[2]), int(row[0]), bool(row[3]))
        return self._identity

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

    def now(self) -> dt.datetime:
        """The source's clock (window checks)."""
        with self._control() as conn:
            row = conn.execute("select now()").fetchone()
        assert row is not None  # noqa: S101
        return row[0]

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
                sql.SQL("select min({k}), max({k}) from {t}").format(k=key, t=self.relation(spec))
            ).fetchone()
        if not row or row[0] is None:
            return []
        low, high = int(row[0]), int(row[1])
        step = max(1, (high - low + parts) // parts)
        return [(start, min(start + step - 1, high)) for start in range(low, high + 1, step)]

    def wal_position(self) -> int:
        with self._control() as conn:
            row = conn.execute(f"select {WAL_POSITION}").fetchone()
        assert row is not None  # noqa: S101
        return int(row[0])

    def wait_for_replay(self, mark: Watermark | None, seconds: float) -> None:
        """On a standby, wait (at most ``seconds``) until it has replayed what the previous
        run read, so that this run's snapshot is not older than that one's."""
        if mark is None or mark.lsn is None or not self.check().in_recovery:
            return
        deadline = time.monotonic() + seconds
        while self.wal_position() < mark.lsn and time.monotonic() < deadline:
            time.sleep(0.2)

    @contextmanager
    def snapshot(self) -> Iterator[Snapshot]:
        """A repeatable-read, read-only transaction: one consistent view for a whole run."""
        self.check()
        lsn_before = self.wal_position()
        conn = connect(
            self.dsn, autocommit=False, application_name="finhouse-extract", options=self._options
        )
        with conn:
            conn.execute("set transaction isolation level repeatable read, read only")
            try:
                yield Snapshot(self, conn, lsn_before)
            finally:
                conn.rollback()

    def stream(
        self, conn: psycopg.Connection, query: sql.Composed, params: list[object] | None
    ) -> Iterator[bytes]:
        """COPY output as it arrives: psycopg hands over one server message at a time (a
        row, bounded by the row's size); small ones are grouped up to ``chunk_bytes`` so the
        consumer is not called per row. Nothing grows with the table."""
        pending: list[bytes] = []
        size = total = 0
        progress = Progress("read")
        with conn.cursor() as cur, cur.copy(query, params or None) as copy:
            for data in copy:
                pending.append(data)  # type: ignore[arg-type]
                size += len(data)
                if size >= self.chunk_bytes:
                    yield b"".join(pending)
                    pending.clear()
                    total += size
                    size = 0
                    progress.tick(f"{total / 1e6:,.0f} MB")
        if pending:
            yield b"".join(pending)


class Progress:
    """A log line about long work every ``every`` seconds (Airflow's task log; the CLI shows
    them on a terminal), so a long load or comparison shows it is moving."""

    def __init__(self, what: str, every: float = 10.0) -> None:
        self.what = what
        self.every = every
        self.started = self.last = time.monotonic()

    def tick(self, done: str) -> None:
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            progress_log.info("%s %s so far (%.0f s)", self.what, done, now - self.started)
