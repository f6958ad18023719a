"""Ingestion benchmark (``make bench``): finhouse against the physical reference.

On one private PostgreSQL cluster (started like the test harness's, fsync off), for a ledger
of 1M and one of 5M rows (``--rows``, ``--big-rows``; each size in databases of its own),
every phase below runs as its own process, timed whole (interpreter start-up and imports
included) and by its own audit row (``finhouse_meta.load_runs.seconds``), with its peak RSS
from ``wait4``:

* **reference**: psycopg 3 ``COPY (SELECT …) TO STDOUT`` streamed straight into ``COPY … FROM
  STDIN`` of a fresh table with the same columns and primary key;
* **first load, ingest**: ``finhouse ingest transactions`` into an empty RAW;
* **first load, --full-refresh**: ``finhouse ingest transactions --full-refresh`` into the
  empty RAW of a second warehouse database (dropped afterwards);
* **incremental, 1 % new**: after inserting 1 % new ledger rows stamped (``created_at``,
  ``occurred_at``) three hours *before* the current watermark — rows an ``updated_at``
  cursor would have lost; checked: every one of them is in RAW;
* **incremental, 1 % updated**: the ledger is append-only by contract, so to time the update
  path this changes the ``description`` of 1 % of its rows (every 100th key, spread over the
  whole table), leaving ``created_at`` (days before the watermark) alone as a
  ``QuerySet.update()`` would; checked: RAW holds every new value;
* **full refresh, RAW unchanged**: ``--full-refresh`` over the loaded RAW, nothing changed
  since the last load (the comparison's best case: every key bucket agrees);
* **full refresh, RAW damaged**: the same after 5 % of RAW's rows were damaged directly in
  the warehouse (2.5 % deleted, 2.5 % changed, spread so that every key bucket differs: the
  comparison's worst case); checked: RAW is whole again;
* **reconcile**: ``finhouse reconcile transactions`` (must exit 0: RAW equals the source).
  A reconcile without ``--repair`` writes no audit row of its own, so its "run s" is from
  the audit start of its catch-up load to the process's exit.

Before each phase the cluster is checkpointed and the bench waits for autovacuum workers to
finish (the aftermath of the previous phase is not charged to the next). Results are printed
as one table per size and a block of checks against the goals (GOAL_*), and written to
``artifacts/bench-ingest.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from finhouse.oltp import schema
from finhouse_local.cluster import Cluster

REPO = Path(__file__).resolve().parents[2]
FINHOUSE = str(Path(sys.executable).with_name("finhouse"))
ARTIFACTS = REPO / "artifacts"

REFERENCE = r"""
import sys, psycopg
src, dst, cols = sys.argv[1], sys.argv[2], sys.argv[3]
with psycopg.connect(src) as s, psycopg.connect(dst) as d:
    with s.cursor() as sc, d.cursor() as dc:
        with sc.copy(f"copy (select {cols} from transactions) to stdout") as out, \
             dc.copy(f"copy raw.bench_reference ({cols}) from stdin") as into:
            for block in out:
                into.write(block)
"""

COLUMNS = (
    "id, account_id, txn_type, amount, balance_after, reference, description, metadata, "
    "occurred_at, created_at"
)
#: how far before the watermark the "new" rows are stamped
BACKDATE = "3 hours"
UPDATED_SUFFIX = " (corrigé)"
DAMAGED_SUFFIX = " (damaged)"

GOAL_FIRST_LOAD = 1.3  # times the reference
GOAL_REFRESH = 2.0  # times the reference
GOAL_INCREMENTAL = 0.10  # times the full load, whole processes
GOAL_RECONCILE = 1.0  # times the full load
GOAL_RSS_RATIO = 1.10  # 5M / 1M
GOAL_RSS_MB = 300.0


@dataclass
class Result:
    phase: str
    label: str
    rows: int
    seconds: float
    mb: float
    peak_rss_mb: float
    #: the run's own time from its audit row (no interpreter start-up and imports)
    run_seconds: float | None = None
    #: the run's audit (rows extracted, loaded, replaced, deleted; detail)
    audit: dict[str, Any] = field(default_factory=dict)
    output: str = ""

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0

    @property
    def mb_per_s(self) -> float:
        return self.mb / self.seconds if self.seconds else 0.0


@dataclass
class Check:
    what: str
    value: float
    goal: float | None
    text: str

    @property
    def ok(self) -> bool | None:
        return None if self.goal is None else self.value <= self.goal


def log(message: str) -> None:
    sys.stderr.write(f"[bench] {message}\n")
    sys.stderr.flush()


def loadavg() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def measured(args: list[str], env: dict[str, str]) -> tuple[float, float, str, float]:
    """Run a process; return (seconds, peak RSS in MB, stdout, wall-clock end)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=err)
        _pid, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        ended = time.time()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} exited {proc.returncode}:\n{stdout}\n{stderr}")
    return seconds, usage.ru_maxrss / 1024, stdout, ended


def generate_ledger(dsn: str, rows: int) -> None:
    """A realistic ledger of ``rows`` rows (widths, Unicode text, jsonb) stamped in the past."""
    schema.init(dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("""
            insert into users (username, email, first_name, last_name, phone, national_id,
                               date_of_birth, role, branch_code, region, kyc_status,
                               date_joined, updated_at)
            values ('bench', 'bench@example.com', 'Bench', 'Mark', '+254700000000', '1',
                    '1990-01-01', 'customer', 'NBO01', 'Central', 'verified', now(), now())""")
        conn.execute("""
            insert into accounts (user_id, account_number, account_type, currency, status,
                                  balance, interest_rate, opened_at, created_at, updated_at)
            select 1, 'BENCH' || g, 'savings', 'KES', 'active', 0, 0.04, now(), now(), now()
            from generate_series(1, 2000) g""")
        step = 500_000
        for start in range(0, rows, step):
            n = min(step, rows - start)
            conn.execute(
                """
                insert into transactions (account_id, txn_type, amount, balance_after,
                    reference, description, metadata, occurred_at, created_at)
                select 1 + g %% 2000,
                       (array['deposit', 'withdrawal', 'fee', 'interest',
                              'loan_repayment'])[1 + g %% 5],
                       round((1 + random() * 5000)::numeric, 2),
                       round((random() * 20000)::numeric, 2),
                       'TX' || lpad(g::text, 12, '0'),
                       (array['Cash deposit at branch', 'Dépôt en agence', 'M-Pesa deposit ✓',
                              '入金 (mobile)', 'School fees withdrawal'])[1 + g %% 5],
                       jsonb_build_object('channel', (array['cash','mobile_money'])[1 + g %% 2],
                                          'teller', g %% 97),
                       ts, ts
                from generate_series(%s::bigint, %s::bigint) g,
                     lateral (select now() - interval '1100 days'
                                     + (g::float8 / %s) * interval '1095 days' as ts) t""",
                (start + 1, start + n, rows),
            )
            log(f"  generated {start + n:,} / {rows:,} ledger rows")
        # an OLTP table that has been read before: hint bits set, visibility map, statistics
        conn.execute("vacuum (analyze) transactions")


def quiesce(cluster: Cluster) -> None:
    """Checkpoint, then wait (at most 5 min) until no autovacuum worker runs."""
    waited = time.perf_counter()
    with cluster.admin_connection() as conn:
        conn.execute("checkpoint")
        while time.perf_counter() - waited < 300:
            busy = conn.execute(
                "select count(*) from pg_stat_activity where backend_type = 'autovacuum worker'"
            ).fetchone()
            if not busy or not busy[0]:
                break
            time.sleep(0.5)
    seconds = time.perf_counter() - waited
    if seconds > 1:
        log(f"  (waited {seconds:.1f} s for the checkpoint and autovacuum)")


def one(dsn: str, query: str, params: Any = None) -> Any:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(query, params).fetchone()
    return row[0] if row else None


def last_load_id(dsn: str) -> int:
    if one(dsn, "select to_regclass('finhouse_meta.load_runs')") is None:
        return 0
    return int(one(dsn, "select coalesce(max(load_id), 0) from finhouse_meta.load_runs"))


def last_run(dsn: str) -> dict[str, Any]:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "select seconds, rows_extracted, rows_loaded, rows_replaced, rows_deleted, mode, "
            "detail, started_at from finhouse_meta.load_runs order by load_id desc limit 1"
        ).fetchone()
    if row is None:
        return {}
    return {
        "seconds": float(row[0]),
        "rows_extracted": row[1],
        "rows_loaded": row[2],
        "rows_replaced": row[3],
        "rows_deleted": row[4],
        "mode": row[5],
        "detail": row[6],
        "started_at": row[7].timestamp(),
    }


def raw_current(dsn: str, where: str = "true") -> int:
    return int(
        one(dsn, f"select count(*) from raw.transactions where _deleted_at is null and {where}")
    )


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise SystemExit(f"check failed: {message}")


class SizeRun:
    """Every phase for one ledger size, in databases of its own."""

    def __init__(self, cluster: Cluster, rows: int, label: str) -> None:
        self.cluster, self.rows, self.label = cluster, rows, label
        self.oltp = f"bench_oltp_{rows}"
        self.warehouse = f"bench_wh_{rows}"
        self.second = f"bench_wh_{rows}_fr"
        self.app = cluster.dsn(self.oltp, "oltp_app")
        self.extract = cluster.dsn(self.oltp, "oltp_extract")
        self.loader = cluster.dsn(self.warehouse, "loader")
        self.results: list[Result] = []
        self.source_mb = 0.0
        #: what the bench changed and what it checked, printed under the table
        self.notes: list[str] = []

    def env(self, warehouse: str) -> dict[str, str]:
        return {
            **os.environ,
            "FINHOUSE_OLTP_DSN": self.app,
            "FINHOUSE_OLTP_EXTRACT_DSN": self.extract,
            "FINHOUSE_WAREHOUSE_DSN": self.cluster.dsn(warehouse, "loader"),
        }

    def source_rows(self) -> int:
        return int(one(self.app, "select count(*) from transactions"))

    def finhouse(
        self, phase: str, label: str, args: list[str], rows: int, mb: float, warehouse: str = ""
    ) -> Result:
        quiesce(self.cluster)
        log(f"{self.label}: {label}")
        warehouse = warehouse or self.warehouse
        loader = self.cluster.dsn(warehouse, "loader")
        before = last_load_id(loader)
        seconds, rss, out, ended = measured([FINHOUSE, *args], self.env(warehouse))
        log("  " + out.strip().replace("\n", "\n  "))
        audit = last_run(loader)
        expect(last_load_id(loader) > before, f"{label}: no audit row was written")
        run_seconds = audit.get("seconds")
        if args[0] == "reconcile":
            # no audit row of its own: from its catch-up load's start to the process's exit
            run_seconds = ended - audit["started_at"]
            audit = {"catch_up": audit}
        audit.pop("started_at", None)
        result = Result(phase, label, rows, seconds, mb, rss, run_seconds, audit, out.strip())
        log(
            f"  {seconds:.2f} s whole, {run_seconds or float('nan'):.2f} s run, "
            f"{rss:.0f} MB peak RSS"
        )
        self.results.append(result)
        return result

    # ------------------------------------------------------------------ phases
    def run(self) -> list[Result]:
        for name in (self.oltp, self.warehouse, self.second):
            self.cluster.drop_database(name)
        self.cluster.create_database(self.oltp, "oltp")
        self.cluster.create_database(self.warehouse, "warehouse")
        log(f"{self.label}: generating a {self.rows:,}-row ledger")
        generate_ledger(self.app, self.rows)
        self.source_mb = one(self.app, "select pg_table_size('transactions')") / 1e6
        log(f"  {self.source_mb:,.0f} MB (heap and TOAST)")
        try:
            self.reference()
            self.first_loads()
            self.incremental_new()
            self.incremental_updated()
            self.full_refresh_unchanged()
            self.full_refresh_damaged()
            self.reconcile()
        finally:
            for name in (self.oltp, self.warehouse, self.second):
                self.cluster.drop_database(name)
        return self.results

    def reference(self) -> None:
        with psycopg.connect(self.loader, autocommit=True) as conn:
            conn.execute("""create table raw.bench_reference (
                id bigint primary key, account_id bigint, txn_type varchar(24),
                amount numeric(18,2), balance_after numeric(18,2), reference varchar(64),
                description text, metadata jsonb, occurred_at timestamptz,
                created_at timestamptz)""")
        quiesce(self.cluster)
        log(f"{self.label}: reference COPY -> COPY of {self.rows:,} rows")
        seconds, rss, _, _ = measured(
            [sys.executable, "-c", REFERENCE, self.extract, self.loader, COLUMNS],
            self.env(self.warehouse),
        )
        copied = one(self.loader, "select count(*) from raw.bench_reference")
        expect(copied == self.rows, f"reference copied {copied} rows of {self.rows}")
        with psycopg.connect(self.loader, autocommit=True) as conn:
            conn.execute("drop table raw.bench_reference")
        log(f"  {seconds:.2f} s, {rss:.0f} MB peak RSS")
        self.results.append(
            Result("reference", "reference COPY -> COPY", self.rows, seconds, self.source_mb, rss)
        )

    def first_loads(self) -> None:
        self.finhouse(
            "first_load_ingest",
            "first load: ingest",
            ["ingest", "transactions"],
            self.rows,
            self.source_mb,
        )
        expect(raw_current(self.loader) == self.rows, "first load (ingest): RAW != source")
        self.cluster.create_database(self.second, "warehouse")
        self.finhouse(
            "first_load_full_refresh",
            "first load: ingest --full-refresh",
            ["ingest", "transactions", "--full-refresh"],
            self.rows,
            self.source_mb,
            warehouse=self.second,
        )
        second = self.cluster.dsn(self.second, "loader")
        expect(raw_current(second) == self.rows, "first load (--full-refresh): RAW != source")
        self.cluster.drop_database(self.second)

    def incremental_new(self) -> None:
        new = self.rows // 100
        watermark = one(
            self.loader,
            "select watermark from finhouse_meta.watermarks where table_name = 'transactions'",
        )
        with psycopg.connect(self.app, autocommit=True) as conn:
            conn.execute(
                """
                insert into transactions (account_id, txn_type, amount, balance_after,
                    reference, description, metadata, occurred_at, created_at)
                select 1 + g %% 2000,
                       (array['deposit', 'withdrawal', 'fee', 'interest',
                              'loan_repayment'])[1 + g %% 5],
                       round((1 + random() * 5000)::numeric, 2),
                       round((random() * 20000)::numeric, 2),
                       'NEW' || lpad(g::text, 12, '0'),
                       (array['Cash deposit at branch', 'Dépôt en agence', 'M-Pesa deposit ✓',
                              '入金 (mobile)', 'School fees withdrawal'])[1 + g %% 5],
                       jsonb_build_object('channel', 'mobile_money', 'teller', g %% 97),
                       ts, ts
                from generate_series(1, %s::bigint) g,
                     lateral (select %s::timestamptz - %s::interval
                                     + g * interval '1 ms' as ts) t""",
                (new, watermark, BACKDATE),
            )
        latest = one(self.app, "select max(created_at) from transactions")
        expect(latest < watermark, "the new rows are not stamped before the watermark")
        result = self.finhouse(
            "incremental_new",
            f"incremental: 1 % new, stamped {BACKDATE} before W",
            ["ingest", "transactions"],
            new,
            self.source_mb / 100,
        )
        source = self.source_rows()
        expect(raw_current(self.loader) == source, "incremental (new): RAW count != source count")
        expect(
            raw_current(self.loader, "reference like 'NEW%'") == new,
            "incremental (new): not every new row reached RAW",
        )
        expect(result.audit.get("rows_loaded") == new, f"incremental (new): {result.audit}")
        self.notes.append(
            f"1 % new: {new:,} ledger rows inserted, created_at/occurred_at {BACKDATE} before "
            f"the watermark; all {new:,} in RAW (RAW current = source = {source:,} rows)"
        )

    def incremental_updated(self) -> None:
        with psycopg.connect(self.app, autocommit=True) as conn:
            updated = conn.execute(
                "update transactions set description = description || %s where id %% 100 = 37",
                (UPDATED_SUFFIX,),
            ).rowcount
        result = self.finhouse(
            "incremental_updated",
            "incremental: 1 % updated (description)",
            ["ingest", "transactions"],
            updated,
            self.source_mb / 100,
        )
        expect(
            raw_current(self.loader, f"description like '%{UPDATED_SUFFIX}'") == updated,
            "incremental (updated): RAW lacks some of the new values",
        )
        expect(raw_current(self.loader) == self.source_rows(), "incremental (updated): count")
        expect(result.audit.get("rows_replaced") == updated, f"incremental (upd): {result.audit}")
        self.notes.append(
            f"1 % updated: description of {updated:,} ledger rows (id % 100 = 37) changed in "
            "place, created_at untouched (days before the watermark; the ledger is append-only "
            "by contract, this times the update path); RAW holds every new value"
        )

    def full_refresh_unchanged(self) -> None:
        source = self.source_rows()
        result = self.finhouse(
            "full_refresh_unchanged",
            "full refresh: RAW unchanged",
            ["ingest", "transactions", "--full-refresh"],
            source,
            self.source_mb,
        )
        changed = sum(result.audit.get(k) or 0 for k in ("rows_loaded", "rows_replaced"))
        expect(changed == 0, f"full refresh (unchanged) wrote rows: {result.audit}")

    def full_refresh_damaged(self) -> None:
        with psycopg.connect(self.loader, autocommit=True) as conn:
            deleted = conn.execute("delete from raw.transactions where id % 40 = 0").rowcount
            changed = conn.execute(
                "update raw.transactions set description = description || %s, "
                "amount = amount + 1 where id %% 40 = 20",
                (DAMAGED_SUFFIX,),
            ).rowcount
        source = self.source_rows()
        log(f"{self.label}: damaged RAW: {deleted:,} rows deleted, {changed:,} changed")
        result = self.finhouse(
            "full_refresh_damaged",
            "full refresh: RAW damaged (5 %)",
            ["ingest", "transactions", "--full-refresh"],
            source,
            self.source_mb,
        )
        expect(raw_current(self.loader) == source, "full refresh (damaged): count")
        expect(
            raw_current(self.loader, f"description like '%{DAMAGED_SUFFIX}'") == 0,
            "full refresh (damaged): damaged values left",
        )
        expect(
            (result.audit.get("rows_loaded"), result.audit.get("rows_replaced"))
            == (deleted, changed),
            f"full refresh (damaged): {result.audit}",
        )
        self.notes.append(
            f"RAW damaged: {deleted:,} rows deleted (id % 40 = 0) and {changed:,} changed (id % "
            "40 = 20) in the warehouse, in every key bucket; the full refresh reloaded exactly "
            "those"
        )

    def reconcile(self) -> None:
        self.finhouse(
            "reconcile",
            "reconcile",
            ["reconcile", "transactions"],
            self.source_rows(),
            self.source_mb,
        )
        self.notes.append("reconcile exited 0: RAW equals the source, every column of every row")


# ---------------------------------------------------------------------- report
def table(label: str, rows: int, source_mb: float, results: list[Result]) -> list[str]:
    header = (
        f"{'phase':<48}{'rows':>11}{'seconds':>9}{'run s':>8}{'rows/s':>11}{'MB/s':>7}"
        f"{'peak RSS MB':>13}"
    )
    lines = [
        f"== {label}: ledger of {rows:,} rows ({source_mb:,.0f} MB heap and TOAST) ==",
        header,
        "-" * len(header),
    ]
    lines += [
        f"{r.label:<48}{r.rows:>11,}{r.seconds:>9.2f}"
        + (f"{r.run_seconds:>8.2f}" if r.run_seconds is not None else f"{'-':>8}")
        + f"{r.rows_per_s:>11,.0f}{r.mb_per_s:>7.1f}{r.peak_rss_mb:>13.1f}"
        for r in results
    ]
    return lines


def checks(label: str, results: list[Result]) -> list[Check]:
    by = {r.phase: r for r in results}
    ref, full = by["reference"], by["first_load_ingest"]
    out = []
    for phase, name, goal in (
        ("first_load_ingest", "first load (ingest) / reference", GOAL_FIRST_LOAD),
        ("first_load_full_refresh", "first load (--full-refresh) / reference", GOAL_FIRST_LOAD),
        ("full_refresh_unchanged", "full refresh, RAW unchanged / reference", GOAL_REFRESH),
        ("full_refresh_damaged", "full refresh, RAW damaged 5 % / reference", None),
    ):
        ratio = by[phase].seconds / ref.seconds
        goal_text = f"goal <= {goal:g}" if goal else "no goal: the worst case"
        out.append(Check(f"{label} {name}", ratio, goal, f"{ratio:.2f}  ({goal_text})"))
    for phase, name in (
        ("incremental_new", "incremental, 1 % new / full load"),
        ("incremental_updated", "incremental, 1 % updated / full load"),
    ):
        r = by[phase]
        ratio = r.seconds / full.seconds
        own = (r.run_seconds or 0) / (full.run_seconds or 1)
        out.append(
            Check(
                f"{label} {name}",
                ratio,
                GOAL_INCREMENTAL,
                f"{ratio:.1%}  (goal <= {GOAL_INCREMENTAL:.0%}, whole processes; "
                f"the runs themselves: {own:.1%})",
            )
        )
    r = by["reconcile"]
    ratio = r.seconds / full.seconds
    out.append(
        Check(
            f"{label} reconcile / full load",
            ratio,
            GOAL_RECONCILE,
            f"{ratio:.2f}  (goal <= {GOAL_RECONCILE:g}, whole processes; the runs themselves: "
            f"{(r.run_seconds or 0) / (full.run_seconds or 1):.2f})",
        )
    )
    return out


def rss_checks(small: list[Result], big: list[Result]) -> list[Check]:
    finhouse = [r for r in small if r.phase != "reference"]
    peak_small = max(r.peak_rss_mb for r in finhouse)
    peak_big = max(r.peak_rss_mb for r in big if r.phase != "reference")
    worst = max(
        (b.peak_rss_mb / s.peak_rss_mb, s.label)
        for s, b in zip(small, big, strict=True)
        if s.phase != "reference"
    )
    ratio = peak_big / peak_small
    return [
        Check(
            "peak RSS big / small (largest finhouse phase)",
            ratio,
            GOAL_RSS_RATIO,
            f"{ratio:.2f}  (goal <= {GOAL_RSS_RATIO:g}; {peak_small:.0f} MB -> "
            f"{peak_big:.0f} MB; the worst phase alone: {worst[0]:.2f}, {worst[1]})",
        ),
        Check(
            "peak RSS, largest finhouse phase (MB)",
            peak_big,
            GOAL_RSS_MB,
            f"{peak_big:.0f}  (goal < {GOAL_RSS_MB:g} MB)",
        ),
    ]


def render(check: Check) -> str:
    mark = {True: "ok    ", False: "MISSED", None: "      "}[check.ok]
    return f"  {mark} {check.what:<56} = {check.text}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument(
        "--big-rows", type=int, default=5_000_000, help="the second size (0 to skip)"
    )
    args = parser.parse_args()
    state = Path(tempfile.mkdtemp(prefix="finhouse-bench-"))
    state.chmod(0o755)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cluster = Cluster(state / "pg", port, durable=False)
    log(f"starting a private PostgreSQL on port {port} (fsync off)")
    load_before = loadavg()
    started = time.perf_counter()
    runs: list[SizeRun] = []
    cluster.up()
    try:
        for rows in [args.rows] + ([args.big_rows] if args.big_rows else []):
            label = f"{rows / 1e6:g}M" if rows >= 10**6 else f"{rows:,}"
            runs.append(SizeRun(cluster, rows, label))
            runs[-1].run()
    finally:
        cluster.destroy()
        shutil.rmtree(state, ignore_errors=True)
    load_after = loadavg()
    lines: list[str] = []
    all_checks: list[Check] = []
    for size in runs:
        lines += table(size.label, size.rows, size.source_mb, size.results)
        lines += [*(f"  * {note}" for note in size.notes), ""]
        all_checks += checks(size.label, size.results)
    if len(runs) == 2:
        all_checks += rss_checks(runs[0].results, runs[1].results)
    lines += [
        "seconds: the whole process (interpreter start-up and imports included); run s: the "
        "run's own (audit row; the reconcile: from its catch-up's audit start to its exit)",
        "",
        "checks (ratios of whole-process seconds unless said):",
        *map(render, all_checks),
        "",
        f"machine: {os.cpu_count()} CPUs; load average (1, 5, 15 min) before {load_before}, "
        f"after {load_after}; {time.perf_counter() - started:.0f} s in all",
    ]
    sys.stdout.write("\n".join(lines) + "\n")
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "bench-ingest.json").write_text(
        json.dumps(
            {
                "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "cpus": os.cpu_count(),
                "load_average_before": load_before,
                "load_average_after": load_after,
                "sizes": [
                    {
                        "label": size.label,
                        "rows": size.rows,
                        "source_mb": size.source_mb,
                        "notes": size.notes,
                        "phases": [
                            asdict(r) | {"rows_per_s": r.rows_per_s, "mb_per_s": r.mb_per_s}
                            for r in size.results
                        ],
                    }
                    for size in runs
                ],
                "checks": [asdict(c) | {"ok": c.ok} for c in all_checks],
            },
            indent=2,
            default=str,
        )
    )


if __name__ == "__main__":
    main()
