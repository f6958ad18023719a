"""Keeping the platform's footprint bounded: old log files deleted, growing logs rotated.

* :func:`prune_logs` deletes the files under a log folder (Airflow's task logs, the DAG
  processor's per-file logs) last written before a cut-off, then the folders it emptied:
  a run's ``dag_id=…/run_id=…/task_id=…`` folders go with their last file. Links are deleted
  as files, never followed; a file written since the cut-off is never touched.
* :func:`rotate_log` caps a log that a running process appends to (the local platform's
  ``airflow.log``, ``simulator.log``, ``superset.log``: each service's stdout, opened with
  ``O_APPEND``): past ``max_bytes`` it is copied to ``NAME.1`` (``.1`` → ``.2`` … up to
  ``backups``, the oldest dropped) and truncated in place, so the process keeps writing through
  its open descriptor at the new end of the file (copy-truncate; a line written between the copy
  and the truncation can be lost, as with logrotate's ``copytruncate``).

Both return what they removed (:class:`Removed`), for the one line that reports it. Only the
standard library: the maintenance DAG (:mod:`finhouse.orchestration.maintenance`), the local
platform's log keeper and ``finhouse platform clean-logs`` share this code.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import time
from dataclasses import dataclass
from pathlib import Path

DAY = 86_400.0
MB = 1024 * 1024
#: rotated copies are created readable by their owner only, like the logs themselves
FILE_MODE = 0o600


@dataclass
class Removed:
    """What a clean-up removed: files, their bytes, and the folders it emptied."""

    files: int = 0
    bytes: int = 0
    dirs: int = 0

    def __iadd__(self, other: Removed) -> Removed:
        self.files += other.files
        self.bytes += other.bytes
        self.dirs += other.dirs
        return self

    def describe(self) -> str:
        return f"{self.files} files ({mb(self.bytes)}), {self.dirs} empty folders"


def mb(size: int) -> str:
    return f"{size / MB:.1f} MB"


def prune_logs(root: Path, *, older_than_days: float, now: float | None = None) -> Removed:
    """Delete the files under ``root`` last modified more than ``older_than_days`` ago, and
    the folders below ``root`` left empty by that (or empty and as old). ``root`` stays."""
    removed = Removed()
    if not root.is_dir():
        return removed
    cutoff = (time.time() if now is None else now) - older_than_days * DAY
    #: folders something was deleted from (bottom-up: a child before its parent)
    emptied_dirs: set[Path] = set()
    for folder, dirs, files in os.walk(root, topdown=False, followlinks=False):
        here = Path(folder)
        emptied = here in emptied_dirs
        for name in [*files, *(d for d in dirs if (here / d).is_symlink())]:
            path = here / name
            try:
                info = path.lstat()
            except FileNotFoundError:
                continue
            if info.st_mtime >= cutoff:
                continue
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.files += 1
                removed.bytes += info.st_size if stat.S_ISREG(info.st_mode) else 0
                emptied = True
        if here == root:
            continue
        try:
            old = here.lstat().st_mtime < cutoff
            if (emptied or old) and not any(here.iterdir()):
                here.rmdir()
                removed.dirs += 1
                emptied_dirs.add(here.parent)
        except OSError:  # gone, or written to since: a running task's folder stays
            continue
    return removed


def rotated(path: Path, number: int) -> Path:
    return path.with_name(f"{path.name}.{number}")


def rotate_log(path: Path, *, max_bytes: int, backups: int) -> tuple[bool, Removed]:
    """Copy-truncate ``path`` when it is larger than ``max_bytes`` (module doc). Returns
    whether it did, and the rotated copy dropped to make room (``NAME.<backups>``), if any."""
    removed = Removed()
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return False, removed
    if size <= max_bytes:
        return False, removed
    oldest = rotated(path, backups)
    with contextlib.suppress(FileNotFoundError):
        removed.bytes += oldest.stat().st_size
        oldest.unlink()
        removed.files += 1
    for number in range(backups - 1, 0, -1):
        with contextlib.suppress(FileNotFoundError):
            rotated(path, number).replace(rotated(path, number + 1))
    copy = rotated(path, 1)
    fd = os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, FILE_MODE)
    with path.open("rb") as src, os.fdopen(fd, "wb") as dst:
        shutil.copyfileobj(src, dst, length=MB)
    os.truncate(path, 0)
    return True, removed


def rotate_logs(folder: Path, *, max_bytes: int, backups: int) -> tuple[list[str], Removed]:
    """:func:`rotate_log` for each ``*.log`` in ``folder`` (not its rotated copies): the
    names rotated, and the old copies dropped."""
    names: list[str] = []
    removed = Removed()
    if not folder.is_dir():
        return names, removed
    for path in sorted(folder.glob("*.log")):
        if path.is_symlink() or not path.is_file():
            continue
        done, dropped = rotate_log(path, max_bytes=max_bytes, backups=backups)
        removed += dropped
        if done:
            names.append(path.name)
    return names, removed
