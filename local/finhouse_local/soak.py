"""The platform soak (``make soak``, ``finhouse platform soak``): the platform runs for a given
time with fast schedules and the OLTP simulator, then reports and judges what it did.

``finhouse platform soak`` starts the platform (:func:`finhouse_local.services.up`) with the
environment of :func:`platform_environment` (every ingestion DAG every few minutes, the
reconcile DAGs every few more, the simulator ticking every few seconds), lets it run, and
measures, from the moment Airflow is healthy:

* **DAG runs** per DAG (Airflow's REST API): runs, successes, failures, still running; the
  failed runs' failed tasks;
* **dbt builds** (``finhouse_dbt`` runs): count and durations (p50, max);
* **commit → mart freshness**: for every OLTP row the simulator committed during the soak
  (its ``updated_at``, or ``created_at`` for the ledger: the application's clock, this
  machine's), the first successful dbt build whose cut of that table (``finhouse_meta.
  mart_cuts.watermark``: every source commit before it is in the build) covers it; the
  freshness is the moment that build's dbt command ended (``built_at``: Superset reads the
  new marts from then on) minus the commit (p50, p95, max). Commits no
  build covers at the end are counted apart; those older than the goal are violations;
* **RSS over time** of each long-lived process (sampled from /proc every ``sample_seconds``):
  at the start, the mid-point and the end, and the growth over the second half (the highest
  sample after the mid-point against the level at the mid-point);
* **log and database growth**: bytes of the state folder's ``logs/`` and of Airflow's logs,
  ``pg_database_size`` of the platform's databases, at the start and the end;
* a **final reconcile** (``finhouse reconcile --all``, the simulator stopped first): exact or
  not.

The report is a table on stdout and JSON (``<state>/soak/report.json``); every violated
criterion is one line, and the command exits 1 when there is any. The pure parts
(:func:`percentile`, :func:`rss_profile`, :func:`freshness`, :func:`violations`) are unit
tested; the rest reads the running platform and is covered by the e2e soak test.
"""

from __future__ import annotations

import bisect
import contextlib
import datetime as dt
import json
import math
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from finhouse.tables import TABLES
from finhouse_local import dsns, services
from finhouse_local.airflow_env import airflow_environment, airflow_home
from finhouse_local.paths import state_dir

Echo = Callable[[str], None]
MB = 1024 * 1024
#: the processes whose memory the stability criterion judges (the others are reported)
TRANSIENT = "tasks (transient)"
POSTGRES_BACKENDS = "postgres backends"
#: the server's own long-lived processes (their title after "postgres: "); every other child
#: of the postmaster comes and goes - client backends, autovacuum and parallel workers, WAL
#: senders - and is reported with the backends, not judged (one autovacuum worker in one
#: sample of a 60-minute soak read as 18.6 % growth of a server flat at 57 MB otherwise)
POSTGRES_SERVER = (
    "checkpointer",
    "background writer",
    "walwriter",
    "autovacuum launcher",
    "logical replication launcher",
    "archiver",
    "stats collector",
    "walsummarizer",
    "io worker",
    "startup",
)


def postgres_process(title: str) -> str:
    """The name a child of the postmaster is measured under, by its process title."""
    role = title.split("postgres:", 1)[1].strip() if "postgres:" in title else title
    return "postgres" if role.startswith(POSTGRES_SERVER) else POSTGRES_BACKENDS


POSTGRES_SHARED = "postgres shared memory"


# ------------------------------------------------------------------------------ options
@dataclass(frozen=True)
class Options:
    """What a soak runs and the goals it is judged by (``finhouse platform soak --help``)."""

    minutes: float = 60.0
    schedule_minutes: int = 2
    simulate_seconds: float = 20.0
    reconcile_minutes: int = 10
    sample_seconds: float = 30.0
    progress_seconds: float = 60.0
    freshness_goal_minutes: float = 5.0
    rss_growth_max_pct: float = 10.0
    log_mb_per_hour_max: float = 20.0
    #: the measured window starts once a dbt build has succeeded (the marts exist), waiting
    #: at most this long; 0 measures from the moment Airflow is healthy
    warm_up_minutes: float = 20.0


def _every(minutes: int) -> str:
    """A cron expression for "every N minutes" (N dividing an hour runs evenly)."""
    return "* * * * *" if minutes <= 1 else f"*/{minutes} * * * *"


def platform_environment(options: Options) -> dict[str, str]:
    """The settings the soak's platform runs with (set before ``platform up``): every
    ingestion DAG every ``schedule_minutes``, every reconcile DAG every ``reconcile_minutes``
    (at the first minute after a round of loads), the simulator every ``simulate_seconds``."""
    env = {"FINHOUSE_SIMULATE_INTERVAL": f"{options.simulate_seconds:g}"}
    reconcile = max(1, options.reconcile_minutes)
    reconcile_cron = "* * * * *" if reconcile == 1 else f"1-59/{reconcile} * * * *"
    for table in TABLES:
        env[f"FINHOUSE_{table.upper()}_SCHEDULE"] = _every(options.schedule_minutes)
        env[f"FINHOUSE_{table.upper()}_RECONCILE_SCHEDULE"] = reconcile_cron
    return env


# ------------------------------------------------------------------------------ pure parts
def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100), linear between the closest ranks (numpy's default);
    None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class RssProfile:
    """One process's memory over a soak (bytes)."""

    start: int
    mid: int
    end: int
    max_second_half: int
    growth_pct: float
    samples: int


def rss_profile(samples: Sequence[tuple[float, int]], duration: float) -> RssProfile | None:
    """A process's RSS at the start, the mid-point and the end, and its growth over the
    second half: the highest sample after the mid-point against the level at the mid-point
    (the median of the samples within 5 % of the duration around it, so one sample taken
    during a passing spike does not set the level). ``samples`` are (seconds since the
    start, bytes); None when there are none."""
    if not samples:
        return None
    ordered = sorted(samples)
    mid_time = duration / 2
    window = max(duration * 0.05, 1e-9)
    near = [rss for t, rss in ordered if abs(t - mid_time) <= window]
    if not near:  # no sample close to the mid-point: the closest one
        near = [min(ordered, key=lambda s: abs(s[0] - mid_time))[1]]
    mid = int(statistics.median(near))
    later = [rss for t, rss in ordered if t >= mid_time] or [ordered[-1][1]]
    top = max(later)
    growth = (top / mid - 1) * 100 if mid else 0.0
    return RssProfile(ordered[0][1], mid, ordered[-1][1], top, round(growth, 2), len(ordered))


@dataclass(frozen=True)
class Freshness:
    """Commit → mart freshness over a set of commits (seconds)."""

    commits: int
    covered: int
    p50: float | None
    p95: float | None
    max: float | None
    uncovered: int
    uncovered_over_goal: int
    oldest_uncovered: float | None


def freshness(
    commits: Iterable[dt.datetime],
    builds: Iterable[tuple[dt.datetime, dt.datetime]],
    end: dt.datetime,
    goal: float,
) -> tuple[Freshness, list[float]]:
    """Freshness of ``commits`` (their commit times) against successful ``builds`` of one
    table, each (watermark of that table in the build, when it was built): a commit at
    t is in the mart once the first build (by that time) whose watermark is >= t was built.
    Builds finished after ``end`` do not count. A commit no build covers by ``end`` is
    uncovered; one older than ``goal`` seconds at ``end`` is also a violation. Returns the
    summary and the latencies."""
    done = sorted((w, f) for w, f in builds if f <= end)
    # earliest finish among builds whose watermark is at least each watermark: a suffix min
    watermarks = [w for w, _ in done]
    earliest: list[dt.datetime] = []
    for _, finished in reversed(done):
        earliest.append(min(finished, earliest[-1]) if earliest else finished)
    earliest.reverse()
    latencies, ages = [], []
    count = 0
    for commit in commits:
        count += 1
        i = bisect.bisect_left(watermarks, commit)
        if i < len(done):
            latencies.append(max(0.0, (earliest[i] - commit).total_seconds()))
        else:
            ages.append((end - commit).total_seconds())
    summary = Freshness(
        commits=count,
        covered=len(latencies),
        p50=_round(percentile(latencies, 50)),
        p95=_round(percentile(latencies, 95)),
        max=_round(max(latencies)) if latencies else None,
        uncovered=len(ages),
        uncovered_over_goal=sum(1 for a in ages if a > goal),
        oldest_uncovered=_round(max(ages)) if ages else None,
    )
    return summary, latencies


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def violations(report: dict[str, Any], options: Options) -> list[str]:
    """One line per criterion the soak's report fails."""
    found = []
    totals = report["runs"]["totals"]
    if totals["failed"]:
        where = ", ".join(
            f"{r['dag_id']} {r['run_id']} ({', '.join(r['failed_tasks']) or 'no failed task'})"
            for r in report["runs"]["failed"][:5]
        )
        found.append(f"{totals['failed']} failed DAG runs: {where}")
    if not totals["success"]:
        found.append("no DAG run succeeded")
    if not report["dbt"]["success"]:
        found.append("no finhouse_dbt run succeeded")
    if report.get("warm_up", {}).get("timed_out"):
        found.append(
            f"warm-up: no dbt build succeeded within {options.warm_up_minutes:g} min of the start"
        )
    fresh = report["freshness"]
    goal = options.freshness_goal_minutes * 60
    if not fresh["measured"]:
        found.append(f"commit -> mart freshness not measured: {fresh['reason']}")
    else:
        overall = fresh["overall"]
        if not overall["covered"]:
            found.append("commit -> mart freshness: no commit of the soak reached the marts")
        elif overall["p95"] is not None and overall["p95"] > goal:
            found.append(
                f"commit -> mart freshness p95 {overall['p95'] / 60:.1f} min > goal "
                f"{options.freshness_goal_minutes:g} min"
            )
        if overall["uncovered_over_goal"]:
            found.append(
                f"{overall['uncovered_over_goal']} commits older than "
                f"{options.freshness_goal_minutes:g} min in no mart build at the end"
            )
    for name, profile in report["rss"]["processes"].items():
        if profile["judged"] and profile["growth_pct"] > options.rss_growth_max_pct:
            found.append(
                f"RSS of {name} grew {profile['growth_pct']:.1f} % over the second half "
                f"({profile['mid_mb']:.0f} -> {profile['max_second_half_mb']:.0f} MB; "
                f"max {options.rss_growth_max_pct:g} %)"
            )
    logs = report["logs"]
    if logs["mb_per_hour"] > options.log_mb_per_hour_max:
        found.append(
            f"logs grew {logs['mb_per_hour']:.1f} MB per hour (max {options.log_mb_per_hour_max:g})"
        )
    if not report["reconcile"]["exact"]:
        found.append(
            "final reconcile not exact: "
            + (
                "; ".join(report["reconcile"]["differences"])
                or f"exit {report['reconcile']['exit_code']}"
            )
        )
    return found


# ------------------------------------------------------------------------------ processes
def _rss(pid: int) -> dict[str, int]:
    """VmRSS, RssAnon, RssFile, RssShmem of a process, in bytes ({} once it is gone)."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return {}
    found = {}
    for line in lines:
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile", "RssShmem"):
            found[key] = int(value.split()[0]) * 1024
    return found


def _children(pids: Iterable[int]) -> dict[int, list[int]]:
    """Parent -> children among ``pids``."""
    tree: dict[int, list[int]] = {}
    for pid in pids:
        fields = services._stat(pid)
        if fields is not None:
            tree.setdefault(int(fields[1]), []).append(pid)
    return tree


def _all_pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


def _cmd(pid: int) -> str:
    return services._cmdline(pid).replace(b"\0", b" ").decode(errors="replace")


#: the components `airflow standalone` starts, by a word of their command line
_COMPONENTS = (
    ("scheduler", "scheduler"),
    ("dag-processor", "dag-processor"),
    ("triggerer", "triggerer"),
    ("api_server", "api-server"),
    ("api-server", "api-server"),
)


def classify(state: Path, postmaster: int | None) -> dict[str, list[int]]:
    """The platform's processes by name: the long-lived ones (``airflow standalone``, each of
    its components, their log servers, the executor's workers, the triggerer's runner, the
    simulator, Superset, the PostgreSQL server) and, apart, the transient ones (task
    processes, dbt, DAG parsing; PostgreSQL's client backends)."""
    ours = services.service_processes(state)
    lay = services.Layout(state)
    tree = _children(ours)
    names: dict[str, list[int]] = {}

    def add(name: str, pid: int) -> None:
        names.setdefault(name, []).append(pid)

    def transient(pid: int) -> None:
        add(TRANSIENT, pid)
        for child in tree.get(pid, []):
            transient(child)

    leader = services._leader(lay, "airflow")
    if leader is not None:
        add("airflow standalone", leader)
        for component in tree.get(leader, []):
            cmd = _cmd(component)
            name = next((n for word, n in _COMPONENTS if word in cmd), None)
            if name is None:
                transient(component)
                continue
            add(name, component)
            for child in tree.get(component, []):
                sub = _cmd(child)
                if "serve-logs" in sub:
                    add(f"{name} log server", child)
                elif name == "scheduler" and "LocalExecutor" in sub:
                    add("executor workers", child)
                    for task in tree.get(child, []):
                        transient(task)
                elif name == "triggerer" and "triggerer" in sub:
                    add("triggerer runner", child)
                else:
                    transient(child)
    for service in ("simulator", "superset"):
        head = services._leader(lay, service)
        if head is not None:
            add(service, head)
            if service == "superset":  # gunicorn's workers are the service
                names[service] += tree.get(head, [])
    if postmaster is not None and services.alive(postmaster):
        add("postgres", postmaster)
        for child in _children(_all_pids()).get(postmaster, []):
            add(postgres_process(_cmd(child)), child)
    return names


def measure(names: dict[str, list[int]]) -> dict[str, int]:
    """Bytes of memory per name: the processes' RSS summed. PostgreSQL's processes share its
    buffers: their private and file pages are summed per name, and the shared memory they
    have touched (the most any of them has) is one more name, reported but not judged (it
    grows until the buffers are full, and no further)."""
    sizes = {}
    shared = 0
    for name, pids in names.items():
        stats = [s for s in map(_rss, pids) if s]
        if not stats:
            continue
        if name in ("postgres", POSTGRES_BACKENDS):
            sizes[name] = sum(s.get("RssAnon", 0) + s.get("RssFile", 0) for s in stats)
            shared = max([shared] + [s.get("RssShmem", 0) for s in stats])
        else:
            sizes[name] = sum(s.get("VmRSS", 0) for s in stats)
    if shared:
        sizes[POSTGRES_SHARED] = shared
    return sizes


# ------------------------------------------------------------------------------ readings
def _dir_bytes(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += (Path(root) / name).lstat().st_size
    return total


def log_sizes() -> dict[str, int]:
    """Bytes per entry of the log folders (``state logs/airflow.log``, ``airflow
    logs/dag_id=finhouse_dbt``…): where log growth comes from."""
    sizes = {}
    for name, folder in log_dirs().items():
        with contextlib.suppress(OSError):
            for entry in folder.iterdir():
                size = _dir_bytes(entry) if entry.is_dir() else entry.lstat().st_size
                sizes[f"{name}/{entry.name}"] = size
    return sizes


def log_dirs() -> dict[str, Path]:
    return {"state logs": services.layout().logs, "airflow logs": airflow_home() / "logs"}


def _dbname(dsn: str) -> str | None:
    try:
        name = conninfo_to_dict(dsn.replace("postgresql+psycopg2://", "postgresql://")).get(
            "dbname"
        )
    except psycopg.ProgrammingError:
        return None
    return str(name) if name else None


def platform_databases() -> list[str]:
    """The databases the platform uses: the OLTP, the warehouse, Airflow's metadata (and
    Superset's, where it exists)."""
    names = [
        _dbname(dsns.oltp_dsn("app")),
        _dbname(dsns.warehouse_dsn("loader")),
        _dbname(
            os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN")
            or airflow_environment().get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "")
        ),
        "superset",
    ]
    return [n for n in dict.fromkeys(names) if n]


def database_sizes(conn: psycopg.Connection[Any], names: list[str]) -> dict[str, int]:
    """``pg_database_size`` of those of ``names`` that exist (the extract role may read
    every size: ``pg_monitor``)."""
    rows = conn.execute(
        "select datname, pg_database_size(datname) from pg_database where datname = any(%s)",
        (names,),
    ).fetchall()
    return {str(name): int(size) for name, size in rows}


def postmaster_pid(conn: psycopg.Connection[Any]) -> int | None:
    """The PostgreSQL server's PID when it runs on this machine: the parent of this
    connection's backend."""
    row = conn.execute("select pg_backend_pid()").fetchone()
    fields = services._stat(int(row[0])) if row else None
    return int(fields[1]) if fields else None


def _parse_time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def dag_runs(api: services.AirflowApi, since: dt.datetime) -> list[dict[str, Any]]:
    """The runs of every DAG started since ``since``, and those queued now."""
    runs: dict[tuple[str, str], dict[str, Any]] = {}
    for params in ({"start_date_gte": since.isoformat()}, {"state": ["queued"]}):
        offset = 0
        while True:
            page = api.get(
                "/api/v2/dags/~/dagRuns", limit=100, offset=offset, order_by="id", **params
            )
            for run in page["dag_runs"]:
                runs[(run["dag_id"], run["dag_run_id"])] = run
            offset += len(page["dag_runs"])
            if not page["dag_runs"] or offset >= page["total_entries"]:
                break
    return list(runs.values())


def stale_runs(api: services.AirflowApi, since: dt.datetime) -> list[dict[str, Any]]:
    """Runs still queued or running from before ``since`` (an earlier platform stopped in
    the middle of them): Airflow finishes them first, and the dbt DAG runs one at a time."""
    page = api.get("/api/v2/dags/~/dagRuns", state=["queued", "running"], limit=100)
    found = []
    for run in page["dag_runs"]:
        when = _parse_time(run.get("start_date") or run.get("queued_at"))
        if when is not None and when < since:
            found.append(
                {"dag_id": run["dag_id"], "run_id": run["dag_run_id"], "state": run["state"]}
            )
    return found


def summarize_runs(runs: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Per DAG and in total: runs, success, failed, running (queued or running)."""
    per: dict[str, dict[str, int]] = {}
    for run in runs:
        counts = per.setdefault(run["dag_id"], {"runs": 0, "success": 0, "failed": 0, "running": 0})
        counts["runs"] += 1
        state = run["state"]
        if state in ("success", "failed"):
            counts[state] += 1
        else:
            counts["running"] += 1
    totals = {k: sum(c[k] for c in per.values()) for k in ("runs", "success", "failed", "running")}
    return {"dags": dict(sorted(per.items())), "totals": totals}


def warm_up(
    api: services.AirflowApi,
    began: dt.datetime,
    limit_seconds: float,
    echo: Echo,
    *,
    poll_seconds: float = 10.0,
) -> dict[str, Any]:
    """Wait until a finhouse_dbt run started since ``began`` has succeeded (the first build of
    a new warehouse builds every mart from scratch: a platform's start, not its steady state),
    at most ``limit_seconds``; a line a minute says what it waits for."""
    started = time.monotonic()
    next_note = 60.0
    while True:
        waited = time.monotonic() - started
        builds = [r for r in dag_runs(api, began) if r["dag_id"] == "finhouse_dbt"]
        done = [r for r in builds if r["state"] == "success"]
        if done:
            first = dbt_durations(done)["builds"][0]
            echo(
                f"    warm-up over after {waited / 60:.1f} min: the first dbt build succeeded "
                f"in {first['seconds']} s"
            )
            return {"seconds": round(waited, 1), "first_build": first, "timed_out": False}
        if waited >= limit_seconds:
            echo(f"    warm-up: no dbt build succeeded within {limit_seconds / 60:g} min")
            return {"seconds": round(waited, 1), "first_build": None, "timed_out": True}
        if waited >= next_note:
            states = ", ".join(sorted(r["state"] for r in builds)) or "none yet"
            echo(f"    warm-up {waited / 60:.0f} min: waiting for a dbt build (runs: {states})")
            next_note += 60.0
        time.sleep(poll_seconds)


def dbt_durations(runs: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The finished finhouse_dbt runs: how many, their durations (p50, max) and each one."""
    builds = []
    for run in runs:
        if run["dag_id"] != "finhouse_dbt":
            continue
        start, end = _parse_time(run.get("start_date")), _parse_time(run.get("end_date"))
        builds.append(
            {
                "run_id": run["dag_run_id"],
                "run_type": run["run_type"],
                "state": run["state"],
                "start": run.get("start_date"),
                "seconds": round((end - start).total_seconds(), 1) if start and end else None,
            }
        )
    builds.sort(key=lambda b: b["start"] or "")
    seconds = [b["seconds"] for b in builds if b["seconds"] is not None and b["state"] == "success"]
    return {
        "runs": len(builds),
        "success": sum(1 for b in builds if b["state"] == "success"),
        "failed": sum(1 for b in builds if b["state"] == "failed"),
        "p50_s": _round(percentile(seconds, 50)),
        "max_s": _round(max(seconds)) if seconds else None,
        "builds": builds,
    }


def retried_tasks(api: services.AirflowApi, since: dt.datetime) -> list[dict[str, Any]]:
    """Task instances started since ``since`` that failed a try: failed (or upstream
    failed) for good, waiting for a retry, or retried (a try number above 1) - what a failed
    run shows, and what a run that succeeded on a retry hides."""
    found: dict[tuple[str, str, str, int], dict[str, Any]] = {}
    queries: list[dict[str, Any]] = [
        {"state": ["failed", "up_for_retry", "upstream_failed"]},
        {"try_number": list(range(2, 11))},
    ]
    for params in queries:
        offset = 0
        while True:
            page = api.get(
                "/api/v2/dags/~/dagRuns/~/taskInstances",
                start_date_gte=since.isoformat(),
                limit=100,
                offset=offset,
                **params,
            )
            for ti in page["task_instances"]:
                key = (ti["dag_id"], ti["dag_run_id"], ti["task_id"], ti["map_index"])
                found[key] = {
                    "dag_id": ti["dag_id"],
                    "run_id": ti["dag_run_id"],
                    "task_id": ti["task_id"],
                    "state": ti["state"],
                    "try_number": ti["try_number"],
                }
            offset += len(page["task_instances"])
            if not page["task_instances"] or offset >= page["total_entries"]:
                break
    return sorted(found.values(), key=lambda t: (t["dag_id"], t["run_id"], t["task_id"]))


def failed_tasks(api: services.AirflowApi, run: dict[str, Any]) -> list[str]:
    """The failed tasks of a run (task id and, when it has one, its error's last line)."""
    path = f"/api/v2/dags/{run['dag_id']}/dagRuns/{run['dag_run_id']}/taskInstances"
    try:
        tis = api.get(path, state=["failed", "upstream_failed"], limit=100)["task_instances"]
    except services.ApiError:
        return []
    found = []
    for ti in tis:
        line = f"{ti['task_id']} {ti['state']}"
        if ti["state"] == "failed" and ti.get("try_number"):
            with contextlib.suppress(services.ApiError, KeyError, TypeError):
                log = api.get(
                    f"{path}/{ti['task_id']}/logs/{ti['try_number']}",
                    full_content="true",
                    map_index=ti["map_index"],
                )
                errors = [_error_line(e) for e in log.get("content", [])]
                if last := [e for e in errors if e]:
                    line += f": {last[-1][:300]}"
        found.append(line)
    return found


def _error_line(event: Any) -> str | None:
    if isinstance(event, dict):
        for error in event.get("error_detail") or []:
            return f"{error.get('exc_type')}: {error.get('exc_value')}"
        if event.get("level") in ("error", "critical"):
            return str(event.get("event", ""))
    return None


def commit_times(
    conn: psycopg.Connection[Any], since: dt.datetime, until: dt.datetime
) -> dict[str, list[dt.datetime]]:
    """Per OLTP table, the commit times of the rows written in [since, until]: each row's
    cursor stamp (``updated_at``; ``created_at`` on the ledger), which the application sets
    from its clock just before it commits (a row changed twice counts its last change)."""
    found = {}
    for spec in TABLES.values():
        query = sql.SQL("select {c} from {t} where {c} >= %s and {c} <= %s order by 1").format(
            c=sql.Identifier(spec.cursor), t=sql.Identifier(spec.source_schema, spec.name)
        )
        found[spec.name] = [row[0] for row in conn.execute(query, (since, until))]
    return found


def mart_builds(
    conn: psycopg.Connection[Any],
) -> tuple[dict[str, list[tuple[dt.datetime, dt.datetime]]] | None, str | None]:
    """Per table, (watermark, built) of each successful mart build, from
    ``finhouse_meta.mart_builds`` and ``mart_cuts``: built is when its dbt command ended
    (``built_at``: the marts hold the cut from then on; the run's ``finished_at`` comes once
    every model task has reported); (None, why) when they do not exist."""
    row = conn.execute(
        "select to_regclass('finhouse_meta.mart_builds'), to_regclass('finhouse_meta.mart_cuts')"
    ).fetchone()
    if row is None or row[0] is None or row[1] is None:
        return None, "finhouse_meta.mart_builds / mart_cuts do not exist in the warehouse"
    rows = conn.execute(
        "select c.table_name, c.watermark, coalesce(b.built_at, b.finished_at)"
        " from finhouse_meta.mart_builds b join finhouse_meta.mart_cuts c using (cut_id)"
        " where b.status = 'success' and b.finished_at is not null"
        " and c.watermark is not null"
    ).fetchall()
    per: dict[str, list[tuple[dt.datetime, dt.datetime]]] = {t: [] for t in TABLES}
    for table, watermark, finished in rows:
        per.setdefault(table, []).append((watermark, finished))
    return per, None


def measure_freshness(
    oltp: psycopg.Connection[Any],
    warehouse: psycopg.Connection[Any],
    since: dt.datetime,
    end: dt.datetime,
    goal: float,
) -> dict[str, Any]:
    builds, why = mart_builds(warehouse)
    if builds is None:
        return {"measured": False, "reason": why}
    commits = commit_times(oltp, since, end)
    per_table, latencies = {}, []
    uncovered = over = 0
    oldest: float | None = None
    for table, stamps in commits.items():
        summary, table_latencies = freshness(stamps, builds.get(table, []), end, goal)
        per_table[table] = asdict(summary)
        latencies += table_latencies
        uncovered += summary.uncovered
        over += summary.uncovered_over_goal
        if summary.oldest_uncovered is not None:
            oldest = max(oldest or 0.0, summary.oldest_uncovered)
    # every commit against its own table's builds
    total = Freshness(
        commits=sum(len(stamps) for stamps in commits.values()),
        covered=len(latencies),
        p50=_round(percentile(latencies, 50)),
        p95=_round(percentile(latencies, 95)),
        max=_round(max(latencies)) if latencies else None,
        uncovered=uncovered,
        uncovered_over_goal=over,
        oldest_uncovered=oldest,
    )
    return {"measured": True, "reason": None, "overall": asdict(total), "tables": per_table}


def final_reconcile(echo: Echo) -> dict[str, Any]:
    """``finhouse reconcile --all`` (it loads what changed first, then compares every column
    of every row in one snapshot of the source)."""
    echo("==> final reconcile: finhouse reconcile --all")
    out = subprocess.run(  # noqa: S603 - this venv's own command
        [str(Path(sys.executable).with_name("finhouse")), "reconcile", "--all"],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    lines = (out.stdout + out.stderr).strip().splitlines()
    for line in lines:
        echo("    " + line)
    differences = [line for line in lines if "DIFFERENT" in line or "error:" in line]
    return {
        "exact": out.returncode == 0,
        "exit_code": out.returncode,
        "differences": differences,
        "output": lines[-40:],
    }


# ------------------------------------------------------------------------------ the run
@dataclass
class Recorder:
    """What a soak collects while it runs."""

    state: Path
    postmaster: int | None
    started: float = field(default_factory=time.monotonic)
    samples: list[dict[str, Any]] = field(default_factory=list)
    pids: dict[str, set[int]] = field(default_factory=dict)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def sample(self) -> None:
        names = classify(self.state, self.postmaster)
        for name, pids in names.items():
            self.pids.setdefault(name, set()).update(pids)
        sizes = measure(names)
        self.samples.append({"t": round(self.elapsed(), 1), "rss": sizes})

    def profiles(self, duration: float) -> dict[str, dict[str, Any]]:
        found = {}
        names = sorted({n for s in self.samples for n in s["rss"]})
        for name in names:
            series = [(s["t"], s["rss"][name]) for s in self.samples if name in s["rss"]]
            profile = rss_profile(series, duration)
            if profile is None:
                continue
            found[name] = {
                "start_mb": round(profile.start / MB, 1),
                "mid_mb": round(profile.mid / MB, 1),
                "end_mb": round(profile.end / MB, 1),
                "max_second_half_mb": round(profile.max_second_half / MB, 1),
                "growth_pct": profile.growth_pct,
                "samples": profile.samples,
                "processes_seen": len(self.pids.get(name, ())),
                # transient processes come and go with the work: reported, not judged
                "judged": name not in (TRANSIENT, POSTGRES_BACKENDS, POSTGRES_SHARED),
            }
        return found


def _connect(dsn: str) -> psycopg.Connection[Any]:
    return psycopg.connect(dsn, autocommit=True, connect_timeout=30)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def run(options: Options, began: dt.datetime, echo: Echo = services._echo) -> dict[str, Any]:
    """Soak the running platform for ``options.minutes``, then measure, reconcile and judge.
    ``began`` is when its ``platform up`` began (runs started since then count)."""
    state = state_dir()
    api = services.api_for()
    oltp_dsn, wh_dsn = dsns.oltp_dsn("extract"), dsns.warehouse_dsn("loader")
    databases = platform_databases()
    try:
        stale = stale_runs(api, began)
    except (OSError, services.ApiError, ValueError, KeyError) as exc:
        stale = [{"error": str(exc)}]
    for run in stale:
        echo(
            f"    warning: {run.get('dag_id')} {run.get('run_id')} is {run.get('state')} from "
            "before the soak (an earlier platform stopped during it); it runs first"
            if "error" not in run
            else f"    warning: runs from before the soak not read: {run['error']}"
        )
    warmed: dict[str, Any] = {"seconds": 0.0, "first_build": None, "timed_out": False}
    if options.warm_up_minutes > 0:
        echo(
            "==> soak warm-up: the platform runs until its first dbt build has built the marts "
            f"(at most {options.warm_up_minutes:g} min); the measured window starts then"
        )
        warmed = warm_up(api, began, options.warm_up_minutes * 60, echo)
    with _connect(oltp_dsn) as oltp:
        postmaster = postmaster_pid(oltp)
        db_start = database_sizes(oltp, databases)
    logs_start = {name: _dir_bytes(path) for name, path in log_dirs().items()}
    entries_start = log_sizes()
    ready = _utcnow()
    recorder = Recorder(state, postmaster)
    duration = options.minutes * 60
    echo(
        f"==> soak: {options.minutes:g} min; loads every {options.schedule_minutes} min, "
        f"reconcile every {options.reconcile_minutes} min, simulator every "
        f"{options.simulate_seconds:g} s; RSS sampled every {options.sample_seconds:g} s"
    )
    next_sample, next_progress = 0.0, options.progress_seconds
    while True:
        elapsed = recorder.elapsed()
        if elapsed >= next_sample:
            recorder.sample()
            next_sample += options.sample_seconds
        if elapsed >= duration:
            break
        if elapsed >= next_progress:
            _progress(api, began, elapsed, duration, echo)
            next_progress += options.progress_seconds
        time.sleep(max(0.0, min(next_sample, next_progress, duration) - recorder.elapsed()))
    end = _utcnow()
    runs = dag_runs(api, began)
    summary = summarize_runs(runs)
    failed = [
        {"dag_id": r["dag_id"], "run_id": r["dag_run_id"], "failed_tasks": failed_tasks(api, r)}
        for r in runs
        if r["state"] == "failed"
    ]
    try:
        retried = retried_tasks(api, began)
    except (OSError, services.ApiError, ValueError, KeyError) as exc:
        retried = [{"error": str(exc)}]
    logs_end = {name: _dir_bytes(path) for name, path in log_dirs().items()}
    entries_end = log_sizes()
    grew = {k: v - entries_start.get(k, 0) for k, v in entries_end.items()}
    hours = (end - ready).total_seconds() / 3600
    growth = sum(logs_end.values()) - sum(logs_start.values())
    with _connect(oltp_dsn) as oltp, _connect(wh_dsn) as warehouse:
        fresh = measure_freshness(oltp, warehouse, ready, end, options.freshness_goal_minutes * 60)
        db_end = database_sizes(oltp, databases)
    echo("==> soak time over: stopping the OLTP simulator (the source holds still)")
    services.stop_simulator()
    reconcile = final_reconcile(echo)
    report: dict[str, Any] = {
        "began_at": began.isoformat(),
        "ready_at": ready.isoformat(),
        "ended_at": end.isoformat(),
        "minutes": round((end - ready).total_seconds() / 60, 2),
        "options": asdict(options),
        "runs": {
            **summary,
            "failed": failed,
            "tasks_failed_a_try": retried,
            "left_from_before": stale,
        },
        "warm_up": warmed,
        "dbt": dbt_durations(runs),
        "freshness": {**fresh, "goal_s": options.freshness_goal_minutes * 60},
        "rss": {"processes": recorder.profiles(duration), "samples": recorder.samples},
        "logs": {
            "dirs": {
                name: {"path": str(path), "start": logs_start[name], "end": logs_end[name]}
                for name, path in log_dirs().items()
            },
            "growth_mb": round(growth / MB, 2),
            "largest_growth_mb": {
                k: round(v / MB, 2) for k, v in sorted(grew.items(), key=lambda i: -i[1])[:6]
            },
            "mb_per_hour": round(growth / MB / hours, 2) if hours > 0 else 0.0,
        },
        "databases": {
            name: {"start": db_start.get(name), "end": db_end.get(name)} for name in databases
        },
        "reconcile": reconcile,
    }
    report["violations"] = violations(report, options)
    return report


def _progress(
    api: services.AirflowApi, began: dt.datetime, elapsed: float, duration: float, echo: Echo
) -> None:
    try:
        runs = dag_runs(api, began)
    except (OSError, services.ApiError, ValueError) as exc:
        echo(f"    soak {elapsed / 60:4.0f}/{duration / 60:.0f} min: REST API: {exc}")
        return
    totals = summarize_runs(runs)["totals"]
    dbt = sum(1 for r in runs if r["dag_id"] == "finhouse_dbt" and r["state"] == "success")
    echo(
        f"    soak {elapsed / 60:4.0f}/{duration / 60:.0f} min: {totals['runs']} runs, "
        f"{totals['success']} succeeded, {totals['failed']} failed, "
        f"{totals['running']} running; {dbt} dbt builds"
    )


# ------------------------------------------------------------------------------ the report
def report_path() -> Path:
    return state_dir() / "soak" / "report.json"


def write_report(report: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")


def _fmt(value: float | None, scale: float = 1.0, unit: str = "") -> str:
    return "-" if value is None else f"{value / scale:.1f}{unit}"


def describe(report: dict[str, Any]) -> str:
    """The report as a few readable tables."""
    lines = [f"soak: {report['minutes']:.1f} min from {report['ready_at']}"]
    warmed = report.get("warm_up") or {}
    if warmed.get("seconds"):
        first = warmed.get("first_build") or {}
        lines.append(
            f"  after a warm-up of {warmed['seconds'] / 60:.1f} min (the first dbt build: "
            f"{first.get('seconds', 'none')} s; its runs are counted, its commits are not timed)"
        )
    lines.append("")
    w = max((len(dag_id) for dag_id in report["runs"]["dags"]), default=0) + 2
    lines.append(f"{'DAG':<{w}}{'runs':>6}{'ok':>6}{'failed':>8}{'running':>9}")
    for dag_id, c in report["runs"]["dags"].items():
        lines.append(
            f"{dag_id:<{w}}{c['runs']:>6}{c['success']:>6}{c['failed']:>8}{c['running']:>9}"
        )
    t = report["runs"]["totals"]
    lines.append(f"{'total':<{w}}{t['runs']:>6}{t['success']:>6}{t['failed']:>8}{t['running']:>9}")
    for run in report["runs"]["failed"]:
        lines.append(f"  failed: {run['dag_id']} {run['run_id']}")
        lines += [f"    {task}" for task in run["failed_tasks"]]
    for run in report["runs"].get("left_from_before", []):
        lines.append(
            f"  left running from before the soak: {run.get('dag_id')} {run.get('run_id')}"
        )
    tries = report["runs"].get("tasks_failed_a_try", [])
    if tries:
        lines.append(f"tasks that failed a try (retried, or failed for good): {len(tries)}")
        for task in tries[:10]:
            lines.append(
                "  "
                + " ".join(str(task.get(k, "")) for k in ("dag_id", "run_id", "task_id"))
                + f" ({task.get('state')}, try {task.get('try_number')})"
                if "error" not in task
                else f"  (not read: {task['error']})"
            )
    d = report["dbt"]
    lines += [
        "",
        f"dbt builds (finhouse_dbt): {d['runs']} runs, {d['success']} succeeded, "
        f"{d['failed']} failed; duration p50 {_fmt(d['p50_s'], unit=' s')}, "
        f"max {_fmt(d['max_s'], unit=' s')}",
    ]
    f = report["freshness"]
    lines.append("")
    if not f["measured"]:
        lines.append(f"commit -> mart freshness: not measured ({f['reason']})")
    else:
        lines.append(f"commit -> mart freshness (goal p95 <= {f['goal_s'] / 60:g} min), minutes:")
        lines.append(
            f"{'table':<14}{'commits':>9}{'in marts':>10}{'p50':>7}{'p95':>7}{'max':>7}"
            f"{'pending':>9}{'late':>6}"
        )
        for name, row in [*f["tables"].items(), ("all", f["overall"])]:
            lines.append(
                f"{name:<14}{row['commits']:>9}{row['covered']:>10}"
                f"{_fmt(row['p50'], 60):>7}{_fmt(row['p95'], 60):>7}{_fmt(row['max'], 60):>7}"
                f"{row['uncovered']:>9}{row['uncovered_over_goal']:>6}"
            )
    lines += ["", "RSS, MB (growth: second half's highest vs the mid-point)"]
    lines.append(f"{'process':<24}{'start':>8}{'mid':>8}{'end':>8}{'max 2nd':>9}{'growth':>9}")
    for name, p in report["rss"]["processes"].items():
        mark = "" if p["judged"] else "  (not judged)"
        lines.append(
            f"{name:<24}{p['start_mb']:>8.0f}{p['mid_mb']:>8.0f}{p['end_mb']:>8.0f}"
            f"{p['max_second_half_mb']:>9.0f}{p['growth_pct']:>8.1f}%{mark}"
        )
    logs = report["logs"]
    lines += ["", f"logs: +{logs['growth_mb']:.1f} MB ({logs['mb_per_hour']:.1f} MB per hour)"]
    for name, entry in logs["dirs"].items():
        lines.append(
            f"  {name:<13}{entry['start'] / MB:>8.1f} -> {entry['end'] / MB:>8.1f} MB  "
            f"{entry['path']}"
        )
    shown = [f"{k} +{v:.1f}" for k, v in logs["largest_growth_mb"].items() if v >= 0.05]
    if shown:
        lines.append("  most growth (MB): " + ", ".join(shown))
    lines.append("databases:")
    for name, entry in report["databases"].items():
        if entry["start"] is not None and entry["end"] is not None:
            lines.append(f"  {name:<13}{entry['start'] / MB:>8.1f} -> {entry['end'] / MB:>8.1f} MB")
    r = report["reconcile"]
    lines += ["", f"final reconcile: {'exact' if r['exact'] else 'NOT exact'}"]
    lines.append("")
    if report["violations"]:
        lines.append(f"FAILED: {len(report['violations'])} criteria")
        lines += [f"  - {v}" for v in report["violations"]]
    else:
        lines.append("PASSED: every criterion")
    return "\n".join(lines)
