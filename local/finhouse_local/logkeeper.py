"""The local platform's log keeper: ``finhouse platform up`` runs it beside Airflow (service
``logkeeper``, ``python -m finhouse_local.logkeeper``), so the platform's logs stay bounded
however long it runs.

* Every :data:`ROTATE_EVERY` seconds it rotates each ``<state>/logs/*.log`` (``airflow.log``,
  ``simulator.log``, ``superset.log``, its own ``logkeeper.log``) larger than
  ``FINHOUSE_LOG_MAX_MB``, keeping ``FINHOUSE_LOG_BACKUPS`` copies (copy-truncate: the
  services keep appending through their open descriptors; :mod:`finhouse.housekeeping`).
* Every :data:`PRUNE_EVERY` seconds it deletes Airflow's task and DAG-processor log files
  older than ``FINHOUSE_LOG_RETENTION_DAYS`` (``AIRFLOW_HOME/logs``), as the
  ``finhouse_maintenance`` DAG does once a day.

It prints one line each time it removed or rotated something. ``finhouse platform clean-logs``
is one :func:`sweep` by hand.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path
from types import FrameType

from finhouse import housekeeping, settings
from finhouse_local.airflow_env import airflow_home
from finhouse_local.paths import state_dir

ROTATE_EVERY = 30.0
PRUNE_EVERY = 600.0


def logs_dir(state: Path | None = None) -> Path:
    return (state or state_dir()) / "logs"


def task_logs_dir() -> Path:
    """Airflow's ``[logging] base_log_folder`` as the platform sets it."""
    return airflow_home() / "logs"


def rotate(state: Path | None = None) -> tuple[list[str], housekeeping.Removed]:
    cfg = settings.load()
    return housekeeping.rotate_logs(
        logs_dir(state),
        max_bytes=int(cfg.log_max_mb * housekeeping.MB),
        backups=cfg.log_backups,
    )


def prune(now: float | None = None) -> housekeeping.Removed:
    days = settings.load().log_retention_days
    return housekeeping.prune_logs(task_logs_dir(), older_than_days=days, now=now)


def describe(rotated: list[str], removed: housekeeping.Removed) -> str:
    days = settings.load().log_retention_days
    return (
        f"removed {removed.describe()} (Airflow logs older than {days:g} days, old rotated "
        f"copies); rotated {', '.join(rotated) or 'no platform log'}"
    )


def sweep(now: float | None = None) -> str:
    """Rotate and prune once; the line saying what it did."""
    rotated, removed = rotate()
    removed += prune(now)
    return describe(rotated, removed)


def _stop(_signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)


def main() -> None:
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    last_prune = 0.0
    while True:
        rotated, removed = rotate()
        if time.monotonic() - last_prune >= PRUNE_EVERY:
            removed += prune()
            last_prune = time.monotonic()
        if rotated or removed.files:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
            sys.stdout.write(f"{stamp} logkeeper: {describe(rotated, removed)}\n")
            sys.stdout.flush()
        time.sleep(ROTATE_EVERY)


if __name__ == "__main__":
    main()
