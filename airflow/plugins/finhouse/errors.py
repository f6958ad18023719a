"""Exceptions of finhouse. Every error a user can cause is a ``FinhouseError``:
the CLI prints its message as one line on stderr and exits non-zero."""

from __future__ import annotations

import re


class FinhouseError(Exception):
    """A failure with a message fit for an operator (no traceback needed)."""


class ConfigError(FinhouseError):
    """Bad or missing configuration (unknown table, malformed DSN, bad option)."""


class DatabaseUnavailableError(FinhouseError):
    """A database that should answer does not."""


class ClusterError(FinhouseError):
    """The embedded PostgreSQL cannot be started, stopped or described."""


class SchemaDriftError(FinhouseError):
    """The source changed in a way RAW cannot follow (narrowed type, dropped needed column)."""


class WindowError(FinhouseError):
    """An impossible extract window (empty, reversed, or beyond what is safe to read)."""


class LockTimeoutError(FinhouseError):
    """Another run of the same table held its lock for longer than we may wait."""


class SourceBehindError(FinhouseError):
    """The source (a replica) has not replayed what the previous run read: retried later."""


class LoadError(FinhouseError):
    """A load failed in the database (the message carries no row values)."""


_QUOTED_VALUE = re.compile(r': ".*"$|: \'.*\'$', re.DOTALL)
_ENCODING = re.compile(r"(invalid byte sequence for encoding \"[^\"]+\"): .*")
_SINGLE_QUOTED = re.compile(r"'(?:[^']|'')*'")
#: a value quoted after a colon inside a line ("invalid input syntax for type integer: "x"")
_DOUBLE_QUOTED_VALUE = re.compile(r': "[^"]*"')


def safe_text(text: str) -> str:
    """The first line of a message from elsewhere (dbt's, a database's), with its quoted
    literals masked: fit for the audit tables, never row values."""
    first = text.strip().splitlines()[0] if text.strip() else ""
    first = _ENCODING.sub(r"\1: …", first)
    first = _DOUBLE_QUOTED_VALUE.sub(': "…"', first)
    return _SINGLE_QUOTED.sub(chr(39) + "…" + chr(39), first)


def safe_error_text(exc: BaseException) -> str:
    """One line about ``exc`` fit for logs, the audit table and ``pipeline_health`` (which
    the reporter role reads): never row values. PostgreSQL's DETAIL ("Failing row contains
    (…)", "Key (email)=(…)") and CONTEXT are dropped; a value quoted at the end of the
    primary message ("invalid input syntax for type numeric: "…"") is masked. Errors of
    other databases keep their first line with single-quoted literals masked."""
    if isinstance(exc, FinhouseError):
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    if primary:
        text = _ENCODING.sub(r"\1: …", primary)
        text = _QUOTED_VALUE.sub(': "…"', text)
        state = getattr(diag, "sqlstate", None)
        return f"{type(exc).__name__}{f' ({state})' if state else ''}: {text}"
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {_SINGLE_QUOTED.sub(chr(39) + '…' + chr(39), first)}".strip()
