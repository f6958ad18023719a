"""Spreadsheet-source benchmark (``make bench``): a folder of CSV files loaded into RAW.

On a private PostgreSQL cluster (fsync off, like the other benchmarks), for a drop folder of
``--small-mb`` and one of ``--mb`` (100) megabytes of ``officer_targets`` CSV files (10 files
each; realistic rows: month, officer id, branch, a name, an amount, a count, a percentage),
each phase below is ``finhouse files load officer_targets`` as its own process, timed whole
(interpreter start-up included) with its peak RSS from ``wait4``:

* **first load**: every file read, typed, checked (keys unique in the file and across files)
  and published;
* **unchanged**: the same folder again (every file hashed, none read);
* **one file changed**: one file rewritten (a tenth of the folder) and loaded again.

Memory is bounded when the peak RSS of the large folder's first load is within 25 % (plus
10 MB) of the small folder's: rows stream through a staging table, never held whole.
Results are printed and written to ``artifacts/bench-files.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

from finhouse_local.cluster import Cluster

REPO = Path(__file__).resolve().parents[2]
FINHOUSE = str(Path(sys.executable).with_name("finhouse"))
ARTIFACTS = REPO / "artifacts"
FILES = 10
HEADER = "month,loan_officer_id,branch_code,loan_officer_name,disbursement_target,"
HEADER += "new_borrowers_target,par30_ceiling\r\n"
BRANCHES = ["NBO01", "MSA01", "KSM01", "NKR01", "ELD01", "NYR01", "MLD01", "KKG01"]
NAMES = ["Amina Wanjiru", "Brian Otieno", "Cynthia Mutua", "David Kiprono", "Esther Achieng"]


def log(message: str) -> None:
    sys.stderr.write(f"[bench] {message}\n")
    sys.stderr.flush()


def write_folder(folder: Path, megabytes: float, seed: int = 1) -> int:
    """``FILES`` CSV files of about ``megabytes`` in all; returns the rows written. Written as
    a stream: a child's peak RSS (``wait4``) counts what its parent held when it forked."""
    rng = random.Random(seed)
    per_file = int(megabytes * 1024 * 1024 / FILES)
    rows = 0
    for index in range(FILES):
        path = folder / "officer_targets" / f"targets_{index:02d}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8", newline="") as out:
            out.write(HEADER)
            size, officer = len(HEADER), 0
            while size < per_file:
                officer += 1
                for month in range(1, 13):
                    amount = f"{rng.randrange(10_000, 5_000_000)}.{rng.randrange(100):02d}"
                    line = (
                        f"{1990 + index}-{month:02d},{officer},{rng.choice(BRANCHES)},"
                        f"{rng.choice(NAMES)},{amount},"
                        f"{rng.randrange(1, 60)},{rng.choice(('5%', '8%', '0.05'))}\r\n"
                    )
                    out.write(line)
                    size += len(line)
                rows += 12
    return rows


def measured(args: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Run a process; (seconds, peak RSS in MB, stdout)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=err)
        _pid, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if code != 0:
        raise SystemExit(f"{' '.join(args)} exited {code}:\n{stdout}\n{stderr}")
    return seconds, usage.ru_maxrss / 1024, stdout


def folder_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*.csv")) / 1024 / 1024


def run_size(cluster: Cluster, state: Path, megabytes: float, label: str) -> dict[str, object]:
    database = f"warehouse_files_{label}"
    with psycopg.connect(cluster.dsn("postgres"), autocommit=True) as conn:
        conn.execute(f'create database "{database}"')
    folder = state / f"drop_{label}"
    rows = write_folder(folder, megabytes)
    size = folder_mb(folder)
    log(f"{label}: {size:.1f} MB, {rows:,} rows in {FILES} files")
    env = {**os.environ, "FINHOUSE_WAREHOUSE_DSN": cluster.dsn(database)}
    command = [FINHOUSE, "files", "load", "officer_targets", "--dir", str(folder)]
    phases: dict[str, dict[str, float]] = {}
    seconds, rss, _ = measured(command, env)
    phases["first load"] = {"seconds": seconds, "peak_rss_mb": rss, "mb": size}
    log(f"  first load {seconds:.1f} s, {size / seconds:.1f} MB/s, peak RSS {rss:.0f} MB")
    seconds, rss, out = measured(command, env)
    assert f"{FILES} unchanged" in out, out
    phases["unchanged"] = {"seconds": seconds, "peak_rss_mb": rss, "mb": size}
    log(f"  unchanged {seconds:.1f} s")
    changed = folder / "officer_targets" / "targets_03.csv"
    edited = changed.with_suffix(".tmp")
    with changed.open(encoding="utf-8", newline="") as src, edited.open("w", newline="") as dst:
        for line in src:
            dst.write(line.replace(",5%\r\n", ",6%\r\n"))
    edited.replace(changed)
    seconds, rss, out = measured(command, env)
    assert "1 loaded" in out, out
    phases["one file changed"] = {
        "seconds": seconds,
        "peak_rss_mb": rss,
        "mb": changed.stat().st_size / 1024 / 1024,
    }
    log(f"  one file changed {seconds:.1f} s")
    with psycopg.connect(cluster.dsn(database)) as conn:
        loaded = conn.execute(
            "select count(*) from raw.file_officer_targets where _deleted_at is null"
        ).fetchone()
    assert loaded == (rows,), (loaded, rows)
    shutil.rmtree(folder, ignore_errors=True)
    return {"label": label, "mb": size, "rows": rows, "phases": phases}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=float, default=100)
    parser.add_argument("--small-mb", type=float, default=25)
    args = parser.parse_args()
    state = Path(tempfile.mkdtemp(prefix="finhouse-bench-files-"))
    state.chmod(0o755)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cluster = Cluster(state / "pg", port, durable=False)
    log(f"starting a private PostgreSQL on port {port} (fsync off)")
    cluster.up()
    try:
        results = [
            run_size(cluster, state, args.small_mb, "small"),
            run_size(cluster, state, args.mb, "large"),
        ]
    finally:
        cluster.destroy()
        shutil.rmtree(state, ignore_errors=True)
    lines = ["", "spreadsheet sources: finhouse files load officer_targets (CSV folder)"]
    lines.append(f"  {'folder':>8} {'rows':>10} {'phase':<18} {'s':>7} {'MB/s':>7} {'RSS MB':>7}")
    for result in results:
        for phase, m in result["phases"].items():  # type: ignore[attr-defined]
            lines.append(
                f"  {result['mb']:>6.1f}MB {result['rows']:>10,} {phase:<18} "
                f"{m['seconds']:>7.1f} {m['mb'] / m['seconds']:>7.1f} {m['peak_rss_mb']:>7.0f}"
            )
    small = results[0]["phases"]["first load"]["peak_rss_mb"]  # type: ignore[index]
    large = results[1]["phases"]["first load"]["peak_rss_mb"]  # type: ignore[index]
    bounded = large <= small * 1.25 + 10
    lines.append(
        f"  memory bounded: peak RSS {large:.0f} MB for {results[1]['mb']:.0f} MB vs "
        f"{small:.0f} MB for {results[0]['mb']:.0f} MB: {'ok' if bounded else 'NOT BOUNDED'}"
    )
    lines.append(f"  machine: {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}")
    print("\n".join(lines))
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "bench-files.json").write_text(json.dumps(results, indent=2))
    if not bounded:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
