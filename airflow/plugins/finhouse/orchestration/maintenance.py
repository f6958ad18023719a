"""The maintenance DAG (``finhouse_maintenance``): Airflow's metadata and task logs kept to
a retention, so the platform's footprint stays bounded however long it runs.

* ``clean_metadata`` deletes the metadata rows older than ``FINHOUSE_METADATA_RETENTION_DAYS``
  (DAG runs and their task instances, XComs, the event log, jobs, old triggers…) with Airflow's
  own ``airflow db clean --skip-archive`` (:func:`clean_metadata`), which keeps each DAG's
  latest scheduled run. Airflow 3 forbids tasks its metadata database (the task process gets
  a blocked ``sql_alchemy_conn``), so the command runs in a subprocess given the database by
  the connection ``finhouse_airflow_db`` (its extra ``sql_alchemy_conn``: the URL of
  ``[database] sql_alchemy_conn``). Granting that access is the deployment's choice: without
  the connection the task ends *skipped*, saying why. The local platform and the compose stack
  define it.
* ``clean_logs`` deletes the task and DAG-processor log files under ``[logging]
  base_log_folder`` older than ``FINHOUSE_LOG_RETENTION_DAYS``, and, under the local platform
  (``FINHOUSE_PLATFORM_STATE``), rotates its service logs past ``FINHOUSE_LOG_MAX_MB``
  (:mod:`finhouse.housekeeping`).

Each task logs one line saying what it removed. Daily by default
(``FINHOUSE_MAINTENANCE_SCHEDULE``).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, task
from airflow.timetables.trigger import CronTriggerTimetable

from finhouse import housekeeping, settings
from finhouse.errors import FinhouseError
from finhouse.orchestration import alerts

log = logging.getLogger("finhouse.maintenance")

DAG_ID = "finhouse_maintenance"
#: as the ingestion DAGs' (finhouse.orchestration.ingestion), without importing the table
#: config: a bad per-table setting leaves this DAG alone
OWNER = "finhouse-data"
START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
METADATA_CONN_ID = "finhouse_airflow_db"
#: the connection extra holding the metadata database's SQLAlchemy URL
URL_EXTRA = "sql_alchemy_conn"
#: the variables that name Airflow's metadata database (the task process's are blocked)
_DB_VARIABLES = re.compile(r"AIRFLOW__(DATABASE|CORE)__SQL_ALCHEMY_CONN(_CMD|_SECRET)?")
_CHECKING = re.compile(r"^Checking table (\S+)")
_FOUND = re.compile(r"^Found (\d+) rows meeting deletion criteria")


def airflow_executable() -> str:
    """The ``airflow`` beside this interpreter (the image's and the venv's), else PATH's."""
    beside = Path(sys.executable).with_name("airflow")
    return str(beside) if beside.exists() else "airflow"


def clean_metadata(url: str, before: dt.datetime, *, timeout: float = 1800) -> dict[str, int]:
    """``airflow db clean`` of every table, rows older than ``before``, no archive tables, on
    the metadata database at ``url``. Returns the rows deleted per table (those it found)."""
    env = {k: v for k, v in os.environ.items() if not _DB_VARIABLES.fullmatch(k)}
    env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = url
    args = [airflow_executable(), "db", "clean", "--clean-before-timestamp", before.isoformat()]
    out = subprocess.run(  # noqa: S603 - Airflow's own CLI
        [*args, "--yes", "--skip-archive"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if out.returncode != 0:
        tail = " | ".join((out.stderr or out.stdout).strip().splitlines()[-5:])
        raise FinhouseError(f"airflow db clean failed (exit {out.returncode}): {tail}")
    counts: dict[str, int] = {}
    table = None
    for line in out.stdout.splitlines():
        if match := _CHECKING.match(line.strip()):
            table = match.group(1)
        elif (match := _FOUND.match(line.strip())) and table is not None:
            counts[table] = int(match.group(1))
    return counts


def describe_rows(counts: dict[str, int]) -> str:
    total = sum(counts.values())
    parts = ", ".join(f"{t} {n}" for t, n in sorted(counts.items(), key=lambda i: -i[1]) if n)
    return f"{total} rows" + (f" ({parts})" if parts else "")


def metadata_url() -> str | None:
    """The metadata database's URL from the connection ``finhouse_airflow_db``, if defined."""
    from airflow.sdk import Connection  # noqa: PLC0415
    from airflow.sdk.exceptions import AirflowNotFoundException  # noqa: PLC0415

    try:
        conn = Connection.get(METADATA_CONN_ID)
    except AirflowNotFoundException:
        return None
    url = conn.extra_dejson.get(URL_EXTRA)
    if not url:
        raise FinhouseError(
            f"the connection {METADATA_CONN_ID} has no extra {URL_EXTRA!r} (the URL of "
            "Airflow's [database] sql_alchemy_conn)"
        )
    return str(url)


def task_log_folder() -> Path:
    """``[logging] base_log_folder``: the task logs and the DAG processor's."""
    from airflow.sdk.configuration import conf  # noqa: PLC0415

    return Path(conf.get("logging", "base_log_folder")).expanduser()


def clean_logs(now: float | None = None) -> dict[str, Any]:
    """Prune the task logs; rotate the local platform's logs when running under it."""
    cfg = settings.load()
    folder = task_log_folder()
    removed = housekeeping.prune_logs(folder, older_than_days=cfg.log_retention_days, now=now)
    line = (
        f"removed {removed.describe()} of Airflow logs older than "
        f"{cfg.log_retention_days:g} days under {folder}"
    )
    rotated: list[str] = []
    if state := cfg.platform_state:
        rotated, dropped = housekeeping.rotate_logs(
            Path(state) / "logs",
            max_bytes=int(cfg.log_max_mb * housekeeping.MB),
            backups=cfg.log_backups,
        )
        removed += dropped
        line += f"; rotated {', '.join(rotated) or 'no platform log'}"
    log.info("%s", line)
    return {
        "files": removed.files,
        "bytes": removed.bytes,
        "dirs": removed.dirs,
        "rotated": rotated,
    }


DOC = """
### Maintenance: Airflow's metadata and logs kept to a retention

* `clean_metadata`: `airflow db clean --skip-archive` of the rows older than
  `FINHOUSE_METADATA_RETENTION_DAYS` (DAG runs and task instances, XComs, the event log,
  jobs…; each DAG's latest scheduled run is kept). Needs the connection `finhouse_airflow_db`
  (its extra `sql_alchemy_conn`: Airflow's metadata database), since Airflow 3 tasks cannot
  reach that database themselves; without it the task is **skipped**.
* `clean_logs`: deletes the task and DAG-processor log files older than
  `FINHOUSE_LOG_RETENTION_DAYS`; under the local platform it also rotates `.finhouse/logs/*.log`
  past `FINHOUSE_LOG_MAX_MB`.

Each task logs one line with what it removed. Schedule: `FINHOUSE_MAINTENANCE_SCHEDULE` (UTC).
"""


def build_maintenance_dag() -> DAG:
    cfg = settings.load()
    with DAG(
        dag_id=DAG_ID,
        description="Deletes Airflow metadata and log files past their retention",
        doc_md=DOC,
        schedule=CronTriggerTimetable(cfg.maintenance_schedule, timezone="UTC"),
        start_date=START,
        catchup=False,
        max_active_runs=1,
        dagrun_timeout=dt.timedelta(hours=1),
        default_args={
            "owner": OWNER,
            "retries": 2,
            "retry_delay": dt.timedelta(seconds=cfg.retry_delay_seconds),
            "retry_exponential_backoff": True,
            "max_retry_delay": dt.timedelta(minutes=10),
            **alerts.callbacks(),
        },
        tags=["finhouse", "maintenance"],
    ) as dag:

        @task(task_id="clean_metadata")
        def clean_metadata_task() -> dict[str, int]:
            from airflow.sdk.exceptions import AirflowSkipException  # noqa: PLC0415

            url = metadata_url()
            if url is None:
                raise AirflowSkipException(
                    f"no connection {METADATA_CONN_ID}: Airflow's metadata is not cleaned here "
                    "(define it with the extra sql_alchemy_conn to let this task clean it)"
                )
            days = settings.load().metadata_retention_days
            before = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
            counts = clean_metadata(url, before)
            log.info(
                "removed %s of Airflow metadata older than %g days (before %s)",
                describe_rows(counts),
                days,
                before.isoformat(timespec="seconds"),
            )
            return counts

        @task(task_id="clean_logs")
        def clean_logs_task() -> dict[str, Any]:
            return clean_logs()

        clean_metadata_task()
        clean_logs_task()
    return dag
