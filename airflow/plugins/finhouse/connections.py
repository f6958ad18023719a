"""Opening database connections with errors an operator can act on (and no secrets in them)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg

from finhouse.errors import DatabaseUnavailableError


def redact(dsn: str) -> str:
    """The DSN without its password, fit for messages and logs."""
    parts = urlsplit(dsn)
    if parts.password is None:
        return dsn
    netloc = parts.netloc.rsplit("@", 1)[-1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}" if user else netloc))


def connect(dsn: str, *, connect_timeout: int = 10, **kwargs: Any) -> psycopg.Connection:
    """``psycopg.connect`` that turns "does not answer" into one clear ``FinhouseError``."""
    try:
        return psycopg.connect(dsn, connect_timeout=connect_timeout, **kwargs)
    except psycopg.OperationalError as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise DatabaseUnavailableError(f"cannot connect to {redact(dsn)}: {reason}") from None


class ReusedConnection:
    """One autocommit connection reused for a run's small control statements, reopened when
    it was closed or broke; thread-safe (one user at a time)."""

    def __init__(self, dsn: str, **kwargs: Any) -> None:
        self._dsn = dsn
        self._kwargs = {"autocommit": True, **kwargs}
        self._conn: psycopg.Connection | None = None
        self._lock = threading.Lock()

    @contextmanager
    def __call__(self) -> Iterator[psycopg.Connection]:
        with self._lock:
            if self._conn is None or self._conn.closed or self._conn.broken:
                self._conn = connect(self._dsn, **self._kwargs)
            yield self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
