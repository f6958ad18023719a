"""Log retention and rotation on real files: ages set with os.utime, a writer that keeps its
descriptor open across a rotation."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from finhouse import housekeeping
from finhouse.housekeeping import DAY, prune_logs, rotate_log, rotate_logs

pytestmark = pytest.mark.unit


def write(path: Path, size: int, age_days: float = 0.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    stamp = time.time() - age_days * DAY
    os.utime(path, (stamp, stamp))
    return path


def age(path: Path, days: float) -> None:
    stamp = time.time() - days * DAY
    os.utime(path, (stamp, stamp), follow_symlinks=False)


def test_prune_deletes_old_task_logs_and_keeps_new_ones(tmp_path: Path) -> None:
    old_run = tmp_path / "dag_id=ingest_users" / "run_id=scheduled__2026-01-01" / "task_id=load"
    new_run = tmp_path / "dag_id=ingest_users" / "run_id=scheduled__2026-03-01" / "task_id=load"
    old_files = [write(old_run / f"attempt={n}.log", 1000, age_days=10) for n in (1, 2)]
    new_file = write(new_run / "attempt=1.log", 500, age_days=1)
    processor = write(tmp_path / "dag_processor" / "2026-01-01" / "ingestion.py.log", 300, 8)
    recent_processor = write(tmp_path / "dag_processor" / "2026-03-01" / "ingestion.py.log", 7, 0)

    removed = prune_logs(tmp_path, older_than_days=7)

    assert removed.files == 3
    assert removed.bytes == 2300
    assert not any(p.exists() for p in [*old_files, processor])
    assert new_file.read_bytes() == b"x" * 500
    assert recent_processor.exists()
    # the old run's folders went with their last file; the new run's and the root stay
    assert not (tmp_path / "dag_id=ingest_users" / "run_id=scheduled__2026-01-01").exists()
    assert not (tmp_path / "dag_processor" / "2026-01-01").exists()
    assert new_run.is_dir()
    assert tmp_path.is_dir()
    assert removed.dirs == 3  # task_id=load, run_id=…01-01, dag_processor/2026-01-01


def test_prune_keeps_a_folder_a_task_is_writing_into(tmp_path: Path) -> None:
    running = tmp_path / "dag_id=d" / "run_id=r" / "task_id=t"
    running.mkdir(parents=True)  # just created, its log not written yet
    write(tmp_path / "dag_id=d" / "old.log", 10, age_days=30)
    prune_logs(tmp_path, older_than_days=7)
    assert running.is_dir()


def test_prune_deletes_an_old_link_and_never_follows_it(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    precious = write(outside / "keep.log", 10, age_days=30)
    logs = tmp_path / "logs"
    logs.mkdir()
    link = logs / "latest"
    link.symlink_to(outside, target_is_directory=True)
    age(link, 30)
    removed = prune_logs(logs, older_than_days=7)
    assert not link.is_symlink()
    assert precious.exists()
    assert removed.files == 1


def test_prune_of_a_missing_folder_removes_nothing(tmp_path: Path) -> None:
    assert prune_logs(tmp_path / "none", older_than_days=1).files == 0


def test_rotation_caps_the_size_and_the_writer_keeps_writing(tmp_path: Path) -> None:
    log = tmp_path / "airflow.log"
    # a service's stdout: opened for appending, as finhouse_local.private.open_log does
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, b"a" * 3000)
        done, dropped = rotate_log(log, max_bytes=1000, backups=2)
        assert done
        assert dropped.files == 0
        assert log.stat().st_size == 0
        assert (tmp_path / "airflow.log.1").read_bytes() == b"a" * 3000
        assert (tmp_path / "airflow.log.1").stat().st_mode & 0o777 == 0o600
        # the open descriptor writes at the new end: no hole of 3000 NUL bytes
        os.write(fd, b"after\n")
        assert log.read_bytes() == b"after\n"
        # small enough: left alone
        assert rotate_log(log, max_bytes=1000, backups=2) == (False, housekeeping.Removed())
        os.write(fd, b"b" * 2000)
        rotate_log(log, max_bytes=1000, backups=2)
        os.write(fd, b"c" * 2000)
        done, dropped = rotate_log(log, max_bytes=1000, backups=2)
        assert done
        # two copies kept: the oldest (the a's) dropped, counted
        assert dropped.files == 1
        assert dropped.bytes == 3000
        assert (tmp_path / "airflow.log.1").read_bytes() == b"c" * 2000
        assert (tmp_path / "airflow.log.2").read_bytes() == b"after\n" + b"b" * 2000
        assert not (tmp_path / "airflow.log.3").exists()
    finally:
        os.close(fd)


def test_footprint_is_bounded_by_size_and_backups(tmp_path: Path) -> None:
    """However much is written, the log and its copies stay under (backups + 1) x the cap
    plus what one interval writes."""
    log = tmp_path / "simulator.log"
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for _ in range(50):
            os.write(fd, b"z" * 700)
            rotate_logs(tmp_path, max_bytes=1000, backups=3)
    finally:
        os.close(fd)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["simulator.log", "simulator.log.1", "simulator.log.2", "simulator.log.3"]
    assert sum(p.stat().st_size for p in tmp_path.iterdir()) <= 4 * 1400


def test_rotate_logs_reports_what_it_rotated(tmp_path: Path) -> None:
    write(tmp_path / "airflow.log", 5000)
    write(tmp_path / "superset.log", 10)
    write(tmp_path / "airflow.log.1", 99999)  # a copy is never rotated itself
    names, _ = rotate_logs(tmp_path, max_bytes=1000, backups=3)
    assert names == ["airflow.log"]
    assert (tmp_path / "airflow.log.2").stat().st_size == 99999
