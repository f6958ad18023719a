"""The local platform's log keeper on a state folder of real files."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from finhouse_local import logkeeper

pytestmark = pytest.mark.unit


def test_a_sweep_rotates_big_platform_logs_and_prunes_old_task_logs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FINHOUSE_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("FINHOUSE_LOG_MAX_MB", "1")
    monkeypatch.setenv("FINHOUSE_LOG_BACKUPS", "2")
    monkeypatch.setenv("FINHOUSE_LOG_RETENTION_DAYS", "3")
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "airflow.log").write_bytes(b"a" * (2 * 1024 * 1024))
    (logs / "simulator.log").write_bytes(b"s" * 100)
    task_logs = tmp_path / "airflow" / "logs" / "dag_id=d" / "run_id=r" / "task_id=t"
    task_logs.mkdir(parents=True)
    old = task_logs / "attempt=1.log"
    old.write_bytes(b"o" * 10)
    stamp = time.time() - 4 * 86_400
    os.utime(old, (stamp, stamp))

    line = logkeeper.sweep()

    assert (logs / "airflow.log").stat().st_size == 0
    assert (logs / "airflow.log.1").stat().st_size == 2 * 1024 * 1024
    assert (logs / "simulator.log").stat().st_size == 100
    assert not old.exists()
    assert not (tmp_path / "airflow" / "logs" / "dag_id=d").exists()
    assert line == (
        "removed 1 files (0.0 MB), 3 empty folders (Airflow logs older than 3 days, old "
        "rotated copies); rotated airflow.log"
    )
