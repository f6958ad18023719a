"""Files only their owner may read: the secrets the local tooling writes (the embedded
cluster's ``credentials.json`` and initdb's password file, Airflow's admin password, Superset's
``credentials.json``) and the local services' logs (``postgres.log``, ``airflow.log``…).

* :func:`write_secret` never lets the file exist with a wider mode, not even for a moment: the
  text goes into a new file beside it, created by ``open(O_CREAT | O_EXCL | O_NOFOLLOW)`` with
  mode 0600 (a file or link already at that name is never written through), which then
  replaces the target in one ``rename``. A reader sees the old file or the new one, complete.
* :func:`open_log` opens a log for appending, creating it 0600, and narrows an existing one
  (left 0644 by an older version) to 0600 before anything is written.
* :data:`PRIVATE_UMASK` is the umask of the services the local platform starts, so what they
  write themselves (Airflow's task and DAG-processor logs…) is private too.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import BinaryIO

#: owner read/write
FILE_MODE = 0o600
#: owner only
DIR_MODE = 0o700
#: files 0600 and folders 0700 for everything a service creates
PRIVATE_UMASK = 0o077
_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_APPEND = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC


def write_secret(path: Path, text: str, *, owner: tuple[int, int] | None = None) -> None:
    """Replace ``path`` with ``text``, the file mode 0600 from its first byte (module doc);
    ``owner`` (uid, gid) hands it to another user (the PostgreSQL service user)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, _NEW, FILE_MODE)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            os.fchmod(out.fileno(), FILE_MODE)  # whatever the umask
            if owner is not None:
                os.fchown(out.fileno(), *owner)
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        tmp.replace(path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def open_log(path: Path, *, owner: tuple[int, int] | None = None) -> BinaryIO:
    """``path`` opened for appending, created or narrowed to mode 0600 (module doc)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, _APPEND, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
        if owner is not None:
            os.fchown(fd, *owner)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "ab")


def private_dir(path: Path) -> Path:
    """``path`` as a folder only its owner may enter (created if missing)."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(DIR_MODE)
    return path
