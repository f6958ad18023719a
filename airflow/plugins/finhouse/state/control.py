"""The control schema (``finhouse_meta``): watermarks, the load audit, recorded source columns,
locks, reconciles and staged refreshes — one definition and one set of statements for every
warehouse, written through a :class:`~finhouse.state.dialect.Dialect`.

The loader writes it (inside the data transaction wherever a run commits rows), the
transformer reads it into the ops marts, and the dashboards read those.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from finhouse.drift import Column
from finhouse.state.dialect import Dialect

#: the control schema's version; ``setup`` brings an older one up to it
SCHEMA_VERSION = 6
MODES = ("incremental", "window", "full", "repair")
STATUSES = ("running", "success", "failed", "abandoned")


@dataclass(frozen=True)
class Watermark:
    """How far a table is loaded.

    ``xmin`` (a 64-bit source xid) is what incremental runs read from; ``at`` is the source's
    clock when that snapshot was taken ("RAW holds every change committed before ``at``");
    ``source`` names the database it came from (a watermark from another cluster means
    nothing)."""

    at: dt.datetime
    xmin: int | None
    source: str | None
    run_id: str
    #: the snapshot's xmax, the source's WAL position read after it was taken (an upper
    #: bound of the commits it saw) and the source's timeline: the next run's source must
    #: have replayed that far (a replica lagging behind would take RAW back in time)
    xmax: int | None = None
    lsn: int | None = None
    timeline: int | None = None


def _tables(d: Dialect) -> dict[str, list[str]]:
    """Column definitions of the control tables (version 6)."""
    ts, text, big, sec = d.timestamp, d.text, d.bigint, d.seconds
    return {
        "watermarks": [
            f"table_name {text} not null primary key",
            f"watermark {ts} not null",
            f"run_id {text} not null",
            f"updated_at {ts} not null",
            f"snapshot_xmin {big}",
            f"source_id {text}",
            f"snapshot_xmax {big}",
            f"source_lsn {big}",
            f"source_timeline {big}",
        ],
        "load_runs": [
            f"load_id {d.identity}",
            f"run_id {text} not null",
            f"table_name {text} not null",
            f"mode {text} not null",
            f"window_start {ts}",
            f"window_end {ts}",
            f"status {text} not null",
            f"rows_extracted {big}",
            f"rows_loaded {big}",
            f"rows_replaced {big}",
            f"rows_deleted {big}",
            f"bytes {big}",
            f"seconds {sec}",
            f"watermark_before {ts}",
            f"watermark_after {ts}",
            f"held_back_by {text}",
            f"held_back_seconds {sec}",
            f"error {text}",
            f"target {text} not null",
            f"started_at {ts} not null",
            f"finished_at {ts}",
            f"snapshot_xmin {big}",
            f"detail {text}",
            f"snapshot {text}",
            f"snapshot_at {ts}",
            f"loaded_at {ts}",
        ],
        "source_columns": [
            f"table_name {text} not null",
            f"column_name {text} not null",
            f"source_type {text} not null",
            f"ordinal {big} not null",
            f"added_by_run {text} not null",
            f"added_at {ts} not null",
        ],
        "locks": [
            f"table_name {text} not null primary key",
            f"run_id {text} not null",
            f"acquired_at {ts} not null",
            f"expires_at {ts}",
            f"holder {text} not null",
        ],
        "reconcile_runs": [
            f"reconcile_id {d.identity}",
            f"run_id {text} not null",
            f"table_name {text} not null",
            f"source_rows {big} not null",
            f"raw_current_rows {big} not null",
            f"deleted_marked {big} not null",
            f"missing_in_raw {big} not null",
            f"stale_in_raw {big} not null",
            f"sum_differences {d.json}",
            f"watermark {ts}",
            f"finished_at {ts} not null",
            f"extra_in_raw {big}",
            f"repaired_rows {big}",
            f"caught_up_rows {big}",
        ],
        "stages": [
            f"stage_name {text} not null primary key",
            f"table_name {text} not null",
            f"run_id {text} not null",
            f"created_at {ts} not null",
            f"expires_at {ts} not null",
            f"snapshot_xmin {big}",
        ],
        # a dbt build's cut (finhouse.cut): per RAW table, the load it reads the table up to
        "mart_cuts": [
            f"cut_id {text} not null",
            f"table_name {text} not null",
            f"load_run_id {text}",
            f"horizon {ts}",
            f"watermark {ts}",
            f"snapshot {text}",
            f"recorded_at {ts} not null",
        ],
        # each dbt build of the marts: its cut, what became of it and what failed;
        # built_at: its dbt command ended (the marts hold the cut), finished_at: its run did
        "mart_builds": [
            f"cut_id {text} not null primary key",
            f"dag_run_id {text}",
            f"status {text} not null",
            f"marts_as_of {ts}",
            f"started_at {ts} not null",
            f"finished_at {ts}",
            f"failed_nodes {text}",
            f"built_at {ts}",
        ],
        # the data-quality record (finhouse.quality): each dbt run's checks by status, the
        # checks of a run that did not pass, and each check's latest status
        "quality_runs": [
            f"run_id {text} not null",
            f"command {text} not null",
            f"invocation_id {text}",
            f"recorded_at {ts} not null",
            f"passed {big} not null",
            f"warned {big} not null",
            f"failed {big} not null",
            f"errored {big} not null",
            f"skipped {big} not null",
        ],
        "quality_results": [
            f"run_id {text} not null",
            f"command {text} not null",
            f"kind {text} not null",
            f"unique_id {text} not null",
            f"check_name {text} not null",
            f"subject {text}",
            f"column_name {text}",
            f"severity {text} not null",
            f"status {text} not null",
            f"failures {big}",
            f"message {text}",
            f"recorded_at {ts} not null",
        ],
        "quality_states": [
            f"unique_id {text} not null primary key",
            f"kind {text} not null",
            f"check_name {text} not null",
            f"subject {text}",
            f"column_name {text}",
            f"severity {text} not null",
            f"status {text} not null",
            f"failures {big}",
            f"message {text}",
            f"run_id {text} not null",
            f"checked_at {ts} not null",
            f"status_since {ts} not null",
        ],
        # the spreadsheet sources (finhouse.files): each file's state, and each version of a
        # file a run loaded, quarantined or found deleted (the audit)
        "file_states": [
            f"dataset {text} not null",
            f"file_path {text} not null",
            f"status {text} not null",
            f"sha256 {text} not null",
            f"loaded_sha256 {text}",
            f"bytes {big} not null",
            f"rows_loaded {big}",
            f"error {text}",
            f"run_id {text} not null",
            f"seen_at {ts} not null",
            f"loaded_at {ts}",
        ],
        "file_loads": [
            f"run_id {text} not null",
            f"dataset {text} not null",
            f"file_path {text} not null",
            f"status {text} not null",
            f"sha256 {text} not null",
            f"bytes {big} not null",
            f"rows_loaded {big} not null",
            f"rows_deleted {big} not null",
            f"error {text}",
            f"seconds {sec} not null",
            f"recorded_at {ts} not null",
        ],
    }


#: columns that version 2 added to tables version 1 had (added with ``if not exists``)
_ADDED_IN_2 = {
    "watermarks": [
        "snapshot_xmin",
        "source_id",
        "snapshot_xmax",
        "source_lsn",
        "source_timeline",
    ],
    "load_runs": ["snapshot_xmin", "detail"],
    "locks": ["expires_at"],
    "reconcile_runs": ["extra_in_raw", "repaired_rows", "caught_up_rows"],
}
#: columns that version 3 added
_ADDED_IN_3 = {"load_runs": ["snapshot", "snapshot_at", "loaded_at"]}
#: columns that version 4 added
_ADDED_IN_4 = {"mart_builds": ["built_at"]}


#: rows per statement of the quality record's inserts and deletes
QUALITY_CHUNK = 200


def _chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


class Control:
    """The control-schema statements, for one warehouse dialect; ``meta(name)`` is the
    qualified name of a control table there."""

    def __init__(self, dialect: Dialect, meta: Callable[[str], str], target: str) -> None:
        self.d = dialect
        self.meta = meta
        self.target = target

    # ------------------------------------------------------------------ schema
    def ddl(self, current_version: int) -> list[str]:
        """Statements that bring the schema from ``current_version`` (0: none) to the
        current one; each is idempotent."""
        tables = _tables(self.d)
        out = []
        for name, columns in tables.items():
            extra = []
            if name == "load_runs":
                extra = [
                    self.d.check(f"mode in ({', '.join(repr(m) for m in MODES)})"),
                    self.d.check(f"status in ({', '.join(repr(s) for s in STATUSES)})"),
                ]
            body = ",\n    ".join([*columns, *[e for e in extra if e]])
            out.append(f"create table if not exists {self.meta(name)} (\n    {body})")
        definitions = {(t, c.split()[0]): c for t, cols in tables.items() for c in cols}
        for version, added in ((2, _ADDED_IN_2), (3, _ADDED_IN_3), (4, _ADDED_IN_4)):
            if not 0 < current_version < version:
                continue
            for table, names in added.items():
                for column in names:
                    out.append(
                        f"alter table {self.meta(table)} add column if not exists "
                        f"{definitions[table, column]}"
                    )
        if 0 < current_version < 2:
            mode_check = self.d.check(f"mode in ({', '.join(repr(m) for m in MODES)})")
            if mode_check:  # version 1 allowed no 'repair' runs
                runs = self.meta("load_runs")
                out.append(f"alter table {runs} drop constraint if exists load_runs_mode_check")
                out.append(f"alter table {runs} add constraint load_runs_mode_check {mode_check}")
        out.append(
            f"create table if not exists {self.meta('schema_version')} "
            f"(version {self.d.bigint} not null)"
        )
        return out

    def version(self, conn: Any) -> int:
        value = self.d.rows(conn, f"select max(version) from {self.meta('schema_version')}")
        return int(value[0][0]) if value and value[0][0] is not None else 0

    def set_version(self, conn: Any) -> None:
        self.d.execute(conn, f"delete from {self.meta('schema_version')}")
        self.d.execute(
            conn,
            f"insert into {self.meta('schema_version')} (version) select %s",
            (SCHEMA_VERSION,),
        )

    # ------------------------------------------------------------------ watermark
    def watermark(self, conn: Any, table: str) -> Watermark | None:
        rows = self.d.rows(
            conn,
            f"select watermark, snapshot_xmin, source_id, run_id, snapshot_xmax, source_lsn, "
            f"source_timeline from {self.meta('watermarks')} where table_name = %s",
            (table,),
        )
        if not rows:
            return None
        at, xmin, source, run_id, xmax, lsn, timeline = rows[0]
        at = self.d.utc(at)
        assert at is not None  # noqa: S101 - not null in the schema

        def number(value: Any) -> int | None:
            return int(value) if value is not None else None

        return Watermark(
            at, number(xmin), source, run_id, number(xmax), number(lsn), number(timeline)
        )

    def set_watermark(self, conn: Any, table: str, mark: Watermark) -> None:
        """Store the table's watermark (a run that moves it commits this with its rows)."""
        ts = self.d.ts()
        values = (
            self.d.ts_value(mark.at),
            mark.xmin,
            mark.source,
            mark.run_id,
            mark.xmax,
            mark.lsn,
            mark.timeline,
        )
        updated = self.d.execute(
            conn,
            f"update {self.meta('watermarks')} set watermark = {ts}, snapshot_xmin = %s, "
            "source_id = %s, run_id = %s, snapshot_xmax = %s, source_lsn = %s, "
            f"source_timeline = %s, updated_at = {self.d.now} where table_name = %s",
            (*values, table),
        )
        if not updated:
            self.d.execute(
                conn,
                f"insert into {self.meta('watermarks')} (table_name, watermark, snapshot_xmin, "
                "source_id, run_id, snapshot_xmax, source_lsn, source_timeline, updated_at) "
                f"select %s, {ts}, %s, %s, %s, %s, %s, %s, {self.d.now}",
                (table, *values),
            )

    # ------------------------------------------------------------------ audit
    def start_run(
        self,
        conn: Any,
        *,
        table: str,
        run_id: str,
        mode: str,
        window_start: dt.datetime | None,
        window_end: dt.datetime | None,
    ) -> None:
        runs = self.meta("load_runs")
        # the caller holds the table's lock: any other 'running' row is from a killed run
        self.d.execute(
            conn,
            f"update {runs} set status = 'abandoned', finished_at = {self.d.now}, "
            "error = 'the run ended without finishing (killed or lost its connection)' "
            "where table_name = %s and status = 'running'",
            (table,),
        )
        ts = self.d.ts()
        self.d.execute(
            conn,
            f"insert into {runs} (run_id, table_name, mode, window_start, window_end, status, "
            f"target, started_at) select %s, %s, %s, {ts}, {ts}, 'running', %s, {self.d.now}",
            (
                run_id,
                table,
                mode,
                self.d.ts_value(window_start),
                self.d.ts_value(window_end),
                self.target,
            ),
        )

    def fail_run(self, conn: Any, table: str, run_id: str, error: str, seconds: float) -> None:
        self.d.execute(
            conn,
            f"update {self.meta('load_runs')} set status = 'failed', error = %s, seconds = %s, "
            f"finished_at = {self.d.now} where run_id = %s and table_name = %s "
            "and status = 'running'",
            (error[:4000], round(seconds, 3), run_id, table),
        )

    def finish_run(self, conn: Any, table: str, run_id: str, values: dict[str, Any]) -> int:
        """Complete the run's audit row (inside the data transaction); returns rows updated
        (1, unless the run's row was taken over as abandoned)."""
        ts_columns = {
            "window_start",
            "window_end",
            "watermark_before",
            "watermark_after",
            "snapshot_at",
            "loaded_at",
        }
        sets = []
        params: list[Any] = []
        for name, value in values.items():
            if name in ts_columns:
                sets.append(f"{name} = {self.d.ts()}")
                params.append(self.d.ts_value(value))
            else:
                sets.append(f"{name} = %s")
                params.append(value)
        return self.d.execute(
            conn,
            f"update {self.meta('load_runs')} set status = 'success', {', '.join(sets)}, "
            f"finished_at = {self.d.now} where run_id = %s and table_name = %s "
            "and status = 'running'",
            (*params, run_id, table),
        )

    # ------------------------------------------------------------------ source columns
    def recorded_columns(self, conn: Any, table: str) -> list[Column]:
        rows = self.d.rows(
            conn,
            f"select column_name, source_type from {self.meta('source_columns')} "
            "where table_name = %s order by ordinal",
            (table,),
        )
        return [Column(name, type_) for name, type_ in rows]

    def record_columns(self, conn: Any, table: str, columns: Sequence[Column], run_id: str) -> None:
        known = {c.name: c.type for c in self.recorded_columns(conn, table)}
        for ordinal, column in enumerate(columns, start=1):
            if column.name not in known:
                self.d.execute(
                    conn,
                    f"insert into {self.meta('source_columns')} (table_name, column_name, "
                    f"source_type, ordinal, added_by_run, added_at) "
                    f"select %s, %s, %s, %s, %s, {self.d.now}",
                    (table, column.name, column.type, ordinal, run_id),
                )
            elif known[column.name] != column.type:
                self.d.execute(
                    conn,
                    f"update {self.meta('source_columns')} set source_type = %s "
                    "where table_name = %s and column_name = %s",
                    (column.type, table, column.name),
                )

    # ------------------------------------------------------------------ reconcile
    def record_reconcile(self, conn: Any, run_id: str, values: dict[str, Any]) -> None:
        names = ["run_id", *values]
        params: list[Any] = [run_id]
        exprs = ["%s"]
        for name, value in values.items():
            if name == "sum_differences":
                exprs.append(self.d.json_placeholder())
                params.append(self.d.json_value(value))
            elif name == "watermark":
                exprs.append(self.d.ts())
                params.append(self.d.ts_value(value))
            else:
                exprs.append("%s")
                params.append(value)
        self.d.execute(
            conn,
            f"insert into {self.meta('reconcile_runs')} ({', '.join(names)}, finished_at) "
            f"select {', '.join(exprs)}, {self.d.now}",
            params,
        )

    # ------------------------------------------------------------------ dbt builds' cuts
    def complete_loads(
        self, conn: Any, table: str, modes: Sequence[str], limit: int
    ) -> list[tuple[Any, ...]]:
        """``(run_id, loaded_at, snapshot, snapshot_at)`` of the table's latest successful
        loads in ``modes`` with a recorded snapshot, newest first (:mod:`finhouse.cut`)."""
        marks = ", ".join("%s" for _ in modes)
        return self.d.rows(
            conn,
            f"select run_id, loaded_at, snapshot, snapshot_at from {self.meta('load_runs')} "
            f"where table_name = %s and status = 'success' and mode in ({marks}) "
            "and snapshot is not null and loaded_at is not null "
            f"order by loaded_at desc limit {int(limit)}",
            (table, *modes),
        )

    def record_cut(self, conn: Any, cut_id: str, cut: Any, *, dag_run_id: str | None) -> None:
        """A build's cut (one ``mart_cuts`` row per table) and its ``running`` build."""
        ts = self.d.ts()
        self.d.execute(conn, f"delete from {self.meta('mart_cuts')} where cut_id = %s", (cut_id,))
        for table, load in cut.loads.items():
            self.d.execute(
                conn,
                f"insert into {self.meta('mart_cuts')} (cut_id, table_name, load_run_id, "
                f"horizon, watermark, snapshot, recorded_at) select %s, %s, %s, {ts}, {ts}, %s, "
                f"{self.d.now}",
                (
                    cut_id,
                    table,
                    load.run_id if load else None,
                    self.d.ts_value(load.loaded_at if load else None),
                    self.d.ts_value(load.snapshot_at if load else None),
                    (
                        f"{load.snapshot.xmin}:{load.snapshot.xmax}:"
                        + ",".join(str(x) for x in sorted(load.snapshot.xip))
                        if load
                        else None
                    ),
                ),
            )
        self.d.execute(conn, f"delete from {self.meta('mart_builds')} where cut_id = %s", (cut_id,))
        self.d.execute(
            conn,
            f"insert into {self.meta('mart_builds')} (cut_id, dag_run_id, status, marts_as_of, "
            f"started_at) select %s, %s, 'running', {ts}, {self.d.now}",
            (cut_id, dag_run_id, self.d.ts_value(cut.as_of)),
        )

    def mark_built(self, conn: Any, cut_id: str) -> None:
        self.d.execute(
            conn,
            f"update {self.meta('mart_builds')} set built_at = {self.d.now} where cut_id = %s",
            (cut_id,),
        )

    # ------------------------------------------------------------------ data quality
    def record_quality(
        self,
        conn: Any,
        *,
        run_id: str,
        invocation_id: str | None,
        command: str | None,
        counts: Mapping[str, int],
        checks: Sequence[Any],
    ) -> None:
        """One dbt run's record (:mod:`finhouse.quality`), in one transaction."""
        command = command or "dbt"
        runs, results = self.meta("quality_runs"), self.meta("quality_results")
        states = self.meta("quality_states")
        known = {
            unique_id: (status, since)
            for unique_id, status, since in self.d.rows(
                conn, f"select unique_id, status, status_since from {states}"
            )
        }
        with self.d.transaction(conn):
            for table in (runs, results):
                self.d.execute(
                    conn,
                    f"delete from {table} where run_id = %s and command = %s",
                    (run_id, command),
                )
            self.d.execute(
                conn,
                f"insert into {runs} (run_id, command, invocation_id, recorded_at, passed, "
                f"warned, failed, errored, skipped) select %s, %s, %s, {self.d.now}, "
                "%s, %s, %s, %s, %s",
                (
                    run_id,
                    command,
                    invocation_id,
                    *(counts.get(s, 0) for s in ("pass", "warn", "fail", "error", "skipped")),
                ),
            )
            problems, current = [], []
            for check in checks:
                described = (
                    check.kind,
                    check.unique_id,
                    check.name,
                    check.subject,
                    check.column_name,
                    check.severity,
                    check.status,
                    check.failures,
                    check.message,
                )
                if check.problem:
                    problems.append((run_id, command, *described))
                if check.status == "skipped":
                    continue  # a check that did not run keeps its latest status
                before = known.get(check.unique_id)
                since = before[1] if before is not None and before[0] == check.status else None
                current.append((*described, run_id, self.d.ts_value(self.d.utc(since))))
            # typed: a union's all-null column would otherwise be text
            now, ts, big = self.d.now, self.d.ts(), f"cast(%s as {self.d.bigint})"
            self._insert_rows(
                conn,
                f"insert into {results} (run_id, command, kind, unique_id, check_name, "
                "subject, column_name, severity, status, failures, message, recorded_at)",
                f"%s, %s, %s, %s, %s, %s, %s, %s, %s, {big}, %s, {now}",
                problems,
            )
            for chunk in _chunks([row[1] for row in current], QUALITY_CHUNK):
                marks = ", ".join("%s" for _ in chunk)
                self.d.execute(conn, f"delete from {states} where unique_id in ({marks})", chunk)
            self._insert_rows(
                conn,
                f"insert into {states} (kind, unique_id, check_name, subject, column_name, "
                "severity, status, failures, message, run_id, checked_at, status_since)",
                f"%s, %s, %s, %s, %s, %s, %s, {big}, %s, %s, {now}, coalesce({ts}, {now})",
                current,
            )

    def _insert_rows(
        self, conn: Any, insert: str, select: str, rows: Sequence[Sequence[Any]]
    ) -> None:
        """``insert … select …`` of many rows, a chunk per statement (``union all``): a few
        round trips whatever the count (a Snowflake statement costs ~0.1 s)."""
        for chunk in _chunks(list(rows), QUALITY_CHUNK):
            body = " union all ".join(f"select {select}" for _ in chunk)
            self.d.execute(conn, f"{insert} {body}", [v for row in chunk for v in row])

    def quality_report(
        self, conn: Any, since: dt.date
    ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """Per day and kind the runs and their counts since ``since``; the checks whose
        latest status is not a pass; the latest reconcile of each table."""
        days = self.d.rows(
            conn,
            "select cast(recorded_at as date) as day, case when command = 'freshness' "
            "then 'freshness' when command like 'files %%' then 'files' else 'tests' end "
            "as kind, count(*), sum(passed), sum(warned), "
            f"sum(failed), sum(errored), sum(skipped) from {self.meta('quality_runs')} "
            f"where recorded_at >= {self.d.ts()} group by 1, 2 order by 1, 2",
            (self.d.ts_value(dt.datetime.combine(since, dt.time(), dt.UTC)),),
        )
        current = self.d.rows(
            conn,
            "select kind, check_name, subject, column_name, severity, status, failures, "
            f"status_since, message from {self.meta('quality_states')} "
            "where status not in ('pass', 'success', 'skipped') "
            "order by case severity when 'error' then 0 else 1 end, subject, check_name",
        )
        reconciles = self.d.rows(
            conn,
            "select r.table_name, r.finished_at, r.missing_in_raw, r.stale_in_raw, "
            f"r.extra_in_raw from {self.meta('reconcile_runs')} r where r.finished_at = "
            f"(select max(l.finished_at) from {self.meta('reconcile_runs')} l "
            "where l.table_name = r.table_name) order by r.table_name",
        )
        return days, current, reconciles

    def finish_build(self, conn: Any, cut_id: str, failed_nodes: Sequence[str]) -> None:
        self.d.execute(
            conn,
            f"update {self.meta('mart_builds')} set status = %s, failed_nodes = %s, "
            f"finished_at = {self.d.now} where cut_id = %s",
            (
                "failed" if failed_nodes else "success",
                ", ".join(failed_nodes)[:4000] or None,
                cut_id,
            ),
        )

    # ------------------------------------------------------------------ staged refreshes
    def register_stage(
        self, conn: Any, table: str, stage: str, run_id: str, lease_seconds: float
    ) -> None:
        self.d.execute(conn, f"delete from {self.meta('stages')} where stage_name = %s", (stage,))
        self.d.execute(
            conn,
            f"insert into {self.meta('stages')} (stage_name, table_name, run_id, created_at, "
            f"expires_at) select %s, %s, %s, {self.d.now}, {self.d.ts()}",
            (
                stage,
                table,
                run_id,
                self.d.ts_value(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=lease_seconds)),
            ),
        )

    def touch_stage(self, conn: Any, stage: str, lease_seconds: float) -> int:
        return self.d.execute(
            conn,
            f"update {self.meta('stages')} set expires_at = {self.d.ts()} where stage_name = %s",
            (
                self.d.ts_value(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=lease_seconds)),
                stage,
            ),
        )

    def forget_stage(self, conn: Any, stage: str) -> None:
        self.d.execute(conn, f"delete from {self.meta('stages')} where stage_name = %s", (stage,))

    def stages(self, conn: Any, table: str, *, expired_only: bool) -> list[str]:
        condition = f" and expires_at < {self.d.ts()}" if expired_only else ""
        params: tuple[Any, ...] = (table,)
        if expired_only:
            params = (table, self.d.ts_value(dt.datetime.now(dt.UTC)))
        return [
            r[0]
            for r in self.d.rows(
                conn,
                f"select stage_name from {self.meta('stages')} where table_name = %s{condition}",
                params,
            )
        ]
