"""dbt benchmark (``make bench``): full build on scale-10 data, then the incremental rebuild
after one simulate tick (goal: <= 25 % of the full build).

On a private PostgreSQL cluster (like the test harness's): seed the OLTP at scale 10, load
RAW, ``dbt seed`` + ``dbt build``; VACUUM ANALYZE (autovacuum's follow-up to the bulk
build, done at once so that the next build is not timed racing it; reported apart); then
``finhouse oltp simulate --ticks 1``, an incremental load, and ``dbt build`` again; then
once more with nothing changed (the floor a run pays whatever changed). The builds run
like the scheduled Airflow dbt DAG's tasks (Cosmos's task environment: dbt unit tests left
out, as dbt advises for scheduled runs); the unit tests, which run in development and CI,
are timed once on their own. The slowest models of each build are printed too. Results go
to ``artifacts/bench-dbt.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from finhouse import config, endpoints, exports, pipeline
from finhouse.oltp import schema
from finhouse.oltp.seed import seed
from finhouse.oltp.simulate import simulate
from finhouse.tables import TABLES
from finhouse_local.cluster import Cluster

REPO = Path(__file__).resolve().parents[2]
FINHOUSE = str(Path(sys.executable).with_name("finhouse"))
ARTIFACTS = REPO / "artifacts"


def log(message: str) -> None:
    sys.stderr.write(f"[bench] {message}\n")
    sys.stderr.flush()


def ingest(cluster: Cluster) -> None:
    source = endpoints.source(cluster.dsn("oltp", "oltp_extract"))
    target = endpoints.target(cluster.dsn("warehouse", "loader"))
    for spec in TABLES.values():
        pipeline.ingest(spec, source, target)


def dbt(env: dict[str, str], *args: str) -> tuple[float, str]:
    started = time.perf_counter()
    out = subprocess.run(
        [FINHOUSE, "dbt", *args], env=env, capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - started
    if out.returncode != 0:
        raise SystemExit(f"dbt {' '.join(args)} failed:\n{out.stdout[-4000:]}")
    return seconds, out.stdout


def settle(cluster: Cluster) -> float:
    """VACUUM ANALYZE the warehouse after the full build: the maintenance autovacuum does on
    its own within minutes of a bulk build (the full build writes ~25M rows). Without it the
    incremental build right after would be timed racing autovacuum's first pass over the
    new multi-million-row tables for the two cores, a once-per-full-build cost that a
    scheduled run every few minutes does not meet. Timed and reported, counted in neither
    build."""
    log("VACUUM ANALYZE after the full build (autovacuum's work, done now)")
    started = time.perf_counter()
    with cluster.admin_connection("warehouse") as conn:  # (autocommit: VACUUM needs it)
        conn.execute("vacuum (analyze)")
    seconds = time.perf_counter() - started
    log(f"  {seconds:.1f} s")
    return seconds


def slowest(output: str, count: int = 5) -> list[tuple[float, str]]:
    found = re.findall(r"OK created \S+ \S+ model (\S+) .*? in ([0-9.]+)s\]", output)
    return sorted(((float(s), name) for name, s in found), reverse=True)[:count]


def keep_run_results(target: Path, name: str) -> None:
    """Every node's timing of a build, for finding where the time goes."""
    ARTIFACTS.mkdir(exist_ok=True)
    results = json.loads((target / "run_results.json").read_text())["results"]
    timings = sorted(
        ((round(r["execution_time"], 2), r["unique_id"]) for r in results), reverse=True
    )
    (ARTIFACTS / f"bench-dbt-{name}-nodes.json").write_text(json.dumps(timings, indent=1))


def export_portfolio_daily(cluster: Cluster) -> dict[str, float]:
    """``finhouse export portfolio_daily`` (CSV + Parquet by month, manifest, SHA-256 of every
    file) of the freshly built mart, as its own process: seconds, MB written per second, peak
    RSS (``wait4``)."""
    folder = Path(tempfile.mkdtemp(prefix="finhouse-bench-export-"))
    env = {**os.environ, "FINHOUSE_REPORTER_DSN": cluster.dsn("warehouse", "reporter")}
    try:
        with tempfile.TemporaryFile() as out:
            started = time.perf_counter()
            proc = subprocess.Popen(
                [FINHOUSE, "export", "portfolio_daily", "--to", str(folder)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
            _pid, status, usage = os.wait4(proc.pid, 0)
            seconds = time.perf_counter() - started
            out.seek(0)
            said = out.read().decode()
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"finhouse export portfolio_daily failed:\n{said[-4000:]}")
        written = [p for p in folder.rglob("*") if p.is_file()]
        megabytes = sum(p.stat().st_size for p in written) / 1024 / 1024
        rows = sum(json.loads(p.read_text())["rows"] for p in written if p.name == exports.MANIFEST)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {
        "seconds": seconds,
        "megabytes": megabytes,
        "mb_per_second": megabytes / seconds,
        "rows": rows,
        "files": len(written),
        "peak_rss_mb": usage.ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=10)
    args = parser.parse_args()
    state = Path(tempfile.mkdtemp(prefix="finhouse-bench-dbt-"))
    state.chmod(0o755)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cluster = Cluster(state / "pg", port, durable=False)
    log(f"starting a private PostgreSQL on port {port}")
    cluster.up()
    target = Path(tempfile.mkdtemp(prefix="finhouse-bench-dbt-target-"))
    env = {
        **os.environ,
        "FINHOUSE_TRANSFORMER_DSN": cluster.dsn("warehouse", "transformer"),
        "DBT_TARGET_PATH": str(target),
        "DBT_LOG_PATH": str(target / "logs"),
        **config.dbt_task_environment(),
    }
    try:
        app = cluster.dsn("oltp", "oltp_app")
        schema.init(app)
        log(f"seeding scale {args.scale:g}")
        summary = seed(
            app, scale=args.scale, seed=42, as_of=dt.datetime.now(dt.UTC).date(), progress=True
        )
        log(summary.describe())
        log("loading RAW")
        ingest(cluster)
        dbt(env, "seed")
        log("dbt build (full)")
        full, full_out = dbt(env, "build")
        keep_run_results(target, "full")
        log(f"  {full:.1f} s")
        maintenance = settle(cluster)
        log("finhouse export portfolio_daily (CSV and Parquet by month, manifest)")
        export = export_portfolio_daily(cluster)
        log(
            f"  {export['seconds']:.1f} s, {export['megabytes']:.1f} MB in {export['files']:.0f} "
            f"files ({export['mb_per_second']:.1f} MB/s), peak RSS {export['peak_rss_mb']:.0f} MB"
        )
        stats = simulate(app, ticks=1, seed=7)
        log(f"one simulate tick: {stats.operations} operations; loading RAW")
        ingest(cluster)
        log("dbt build (incremental)")
        incremental, inc_out = dbt(env, "build")
        keep_run_results(target, "incremental")
        log(f"  {incremental:.1f} s")
        log("dbt build (nothing changed: the per-run floor of tests and fixed work)")
        unchanged, unchanged_out = dbt(env, "build")
        keep_run_results(target, "unchanged")
        log(f"  {unchanged:.1f} s")
        log("dbt unit tests (development and CI only)")
        unit, _ = dbt(
            {k: v for k, v in env.items() if k != "DBT_EXCLUDE_RESOURCE_TYPES"},
            "test",
            "--select",
            "test_type:unit",
        )
        log(f"  {unit:.1f} s")
    finally:
        cluster.destroy()
    rows = [
        ("dbt build, full", full, slowest(full_out)),
        ("dbt build after one simulate tick", incremental, slowest(inc_out)),
        ("dbt build, nothing changed", unchanged, slowest(unchanged_out)),
    ]
    lines = [f"scale {args.scale:g}: {summary.describe()}", ""]
    for name, seconds, top in rows:
        lines.append(
            f"{name:<36}{seconds:>8.1f} s   slowest: "
            + ", ".join(f"{n} {s:.1f}s" for s, n in top[:3])
        )
    lines.append(f"{'dbt unit tests (not in scheduled runs)':<36}{unit:>8.1f} s")
    lines.append(f"{'VACUUM ANALYZE after the full build':<36}{maintenance:>8.1f} s   (in neither)")
    lines.append(
        f"{'export portfolio_daily (CSV+Parquet)':<36}{export['seconds']:>8.1f} s   "
        f"{export['rows']:,.0f} rows, {export['megabytes']:.1f} MB in {export['files']:.0f} files, "
        f"{export['mb_per_second']:.1f} MB/s, peak RSS {export['peak_rss_mb']:.0f} MB"
    )
    lines.append(f"\nincremental / full = {incremental / full:.1%}  (goal <= 25 %)")
    sys.stdout.write("\n".join(lines) + "\n")
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "bench-dbt.json").write_text(
        json.dumps(
            {
                "scale": args.scale,
                "full_seconds": full,
                "incremental_seconds": incremental,
                "unchanged_seconds": unchanged,
                "unit_tests_seconds": unit,
                "vacuum_after_full_seconds": maintenance,
                "export_portfolio_daily": export,
                "slowest_full": slowest(full_out, 10),
                "slowest_incremental": slowest(inc_out, 10),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
