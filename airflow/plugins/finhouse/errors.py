"""Exceptions of finhouse. Every error a user can cause is a ``FinhouseError``:
the CLI prints its message as one line on stderr and exits non-zero."""


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
