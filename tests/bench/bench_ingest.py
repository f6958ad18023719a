"""Ingestion benchmark (``make bench``): finhouse against the physical reference.

On one private PostgreSQL cluster (started like the test harness's), with a ledger table of
1M rows (and 5M for the memory check):

* reference: psycopg 3 ``COPY (SELECT ...) TO STDOUT`` streamed straight into
  ``COPY ... FROM STDIN`` of a table with the same columns and primary key;
* finhouse full load: ``finhouse ingest transactions`` into an empty RAW;
* finhouse incremental: after appending 1 % new rows to the ledger;
* finhouse full refresh: ``--full-refresh`` over the loaded RAW (merge, nothing new).

Each runs as its own process; its peak RSS comes from ``wait4``. Results are printed as a
table and written to ``artifacts/bench-ingest.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import psycopg

from finhouse.embedded.cluster import Cluster
from finhouse.oltp import schema

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


@dataclass
class Result:
    phase: str
    rows: int
    seconds: float
    mb: float
    peak_rss_mb: float
    #: the run's own time from its audit row (without interpreter start-up and imports)
    run_seconds: float | None = None

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0

    @property
    def mb_per_s(self) -> float:
        return self.mb / self.seconds if self.seconds else 0.0


def log(message: str) -> None:
    sys.stderr.write(f"[bench] {message}\n")
    sys.stderr.flush()


def measured(args: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Run a process; return (seconds, peak RSS in MB, stdout)."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    _pid, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    stdout = proc.stdout.read() if proc.stdout else ""
    stderr = proc.stderr.read() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{stdout}\n{stderr}")
    return seconds, usage.ru_maxrss / 1024, stdout


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
                from generate_series(%s, %s) g,
                     lateral (select now() - interval '1100 days'
                                     + (g::float8 / %s) * interval '1095 days' as ts) t""",
                (start + 1, start + n, rows),
            )
            log(f"  generated {start + n:,} / {rows:,} ledger rows")
        conn.execute("analyze transactions")


def last_run_seconds(dsn: str) -> float:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "select seconds from finhouse_meta.load_runs order by load_id desc limit 1"
        ).fetchone()
    return float(row[0]) if row else 0.0


def table_mb(dsn: str, table: str) -> float:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("select pg_total_relation_size(%s)", (table,)).fetchone()
    return (row[0] if row else 0) / 1e6


def run(rows: int, cluster: Cluster, suffix: str, incremental: bool) -> list[Result]:
    oltp, warehouse = f"bench_oltp_{suffix}", f"bench_wh_{suffix}"
    for name in (oltp, warehouse):
        cluster.drop_database(name)
    cluster.create_database(oltp, "oltp")
    cluster.create_database(warehouse, "warehouse")
    app = cluster.dsn(oltp, "oltp_app")
    log(f"generating a {rows:,}-row ledger")
    generate_ledger(app, rows)
    source_mb = table_mb(app, "transactions")
    env = {
        **os.environ,
        "FINHOUSE_OLTP_DSN": app,
        "FINHOUSE_OLTP_EXTRACT_DSN": cluster.dsn(oltp, "oltp_extract"),
        "FINHOUSE_WAREHOUSE_DSN": cluster.dsn(warehouse, "loader"),
        "FINHOUSE_EXTRACT_LAG_SECONDS": "0.5",
        "FINHOUSE_EXTRACT_SKEW_SECONDS": "0.1",
    }
    results = []
    loader = cluster.dsn(warehouse, "loader")
    with psycopg.connect(loader, autocommit=True) as conn:
        conn.execute("""create table raw.bench_reference (
            id bigint primary key, account_id bigint, txn_type varchar(24),
            amount numeric(18,2), balance_after numeric(18,2), reference varchar(64),
            description text, metadata jsonb, occurred_at timestamptz, created_at timestamptz)""")
    log(f"reference copy of {rows:,} rows")
    seconds, rss, _ = measured(
        [sys.executable, "-c", REFERENCE, cluster.dsn(oltp, "oltp_extract"), loader, COLUMNS], env
    )
    results.append(
        Result(f"reference COPY->COPY ({rows // 10**6}M)", rows, seconds, source_mb, rss)
    )
    log(f"finhouse full load of {rows:,} rows")
    seconds, rss, out = measured([FINHOUSE, "ingest", "transactions"], env)
    log("  " + out.strip())
    results.append(
        Result(
            f"finhouse full load ({rows // 10**6}M)",
            rows,
            seconds,
            source_mb,
            rss,
            last_run_seconds(loader),
        )
    )
    if incremental:
        changed = rows // 100
        with psycopg.connect(app, autocommit=True) as conn:
            conn.execute(
                """
                insert into transactions (account_id, txn_type, amount, balance_after,
                    reference, description, metadata, occurred_at, created_at)
                select 1 + g %% 2000, 'deposit', 10.00, 10.00, 'NEW' || g, 'Dépôt ✓',
                       '{"channel": "cash"}', clock_timestamp(), clock_timestamp()
                from generate_series(1, %s) g""",
                (changed,),
            )
        time.sleep(0.7)
        log(f"finhouse incremental after appending {changed:,} rows (1 %)")
        seconds, rss, out = measured([FINHOUSE, "ingest", "transactions"], env)
        log("  " + out.strip())
        results.append(
            Result(
                "finhouse incremental (1 % new)",
                changed,
                seconds,
                source_mb / 100,
                rss,
                last_run_seconds(loader),
            )
        )
        log("finhouse full refresh over the loaded RAW")
        seconds, rss, out = measured([FINHOUSE, "ingest", "transactions", "--full-refresh"], env)
        log("  " + out.strip())
        results.append(
            Result(
                "finhouse full refresh (merge)",
                rows + changed,
                seconds,
                source_mb,
                rss,
                last_run_seconds(loader),
            )
        )
    for name in (oltp, warehouse):
        cluster.drop_database(name)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument(
        "--big-rows", type=int, default=5_000_000, help="rows of the memory check (0 to skip)"
    )
    args = parser.parse_args()
    state = Path(tempfile.mkdtemp(prefix="finhouse-bench-"))
    state.chmod(0o755)
    with __import__("socket").socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cluster = Cluster(state / "pg", port, durable=False)
    log(f"starting a private PostgreSQL on port {port}")
    cluster.up()
    try:
        results = run(args.rows, cluster, "1", incremental=True)
        if args.big_rows:
            results += run(args.big_rows, cluster, "5", incremental=False)
    finally:
        cluster.destroy()
    ref, full, inc = results[0], results[1], results[2]
    header = (
        f"{'phase':<34}{'rows':>11}{'seconds':>9}{'run s':>8}{'rows/s':>10}{'MB/s':>7}"
        f"{'peak RSS MB':>13}"
    )
    lines = [header, "-" * len(header)]
    lines += [
        f"{r.phase:<34}{r.rows:>11,}{r.seconds:>9.2f}"
        f"{r.run_seconds if r.run_seconds is not None else float('nan'):>8.2f}"
        f"{r.rows_per_s:>10,.0f}{r.mb_per_s:>7.1f}{r.peak_rss_mb:>13.1f}"
        for r in results
    ]
    lines.append(
        "seconds: the whole process (interpreter start-up and imports included); "
        "run s: the run itself (audit row)"
    )
    checks = [
        f"full load / reference          = {full.seconds / ref.seconds:.2f}  (goal <= 1.5)",
        f"incremental / full load (run)  = {(inc.run_seconds or 0) / (full.run_seconds or 1):.1%}"
        f"  (goal <= 5 %; whole processes: {inc.seconds / full.seconds:.1%})",
    ]
    if len(results) > 4:
        big = results[5]
        checks.append(
            f"peak RSS 5M / 1M               = "
            f"{big.peak_rss_mb / full.peak_rss_mb:.2f}  (goal <= 1.10; "
            f"{big.peak_rss_mb:.0f} MB, goal < 300 MB)"
        )
    sys.stdout.write("\n".join([*lines, "", *checks]) + "\n")
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "bench-ingest.json").write_text(
        json.dumps(
            [asdict(r) | {"rows_per_s": r.rows_per_s, "mb_per_s": r.mb_per_s} for r in results],
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
