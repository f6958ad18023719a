"""Source and target objects built from the configured connections (see :mod:`config`)."""

from __future__ import annotations

from urllib.parse import urlsplit

from finhouse import config
from finhouse.errors import ConfigError
from finhouse.extract.postgres import PostgresSource
from finhouse.targets.base import Target
from finhouse.targets.postgres import PostgresTarget


def source(dsn: str | None = None) -> PostgresSource:
    return PostgresSource(dsn or config.oltp_dsn("extract"))


def target(dsn: str | None = None) -> Target:
    dsn = dsn or config.warehouse_dsn("loader")
    if urlsplit(dsn).scheme == "snowflake":
        try:
            from finhouse.targets.snowflake import SnowflakeTarget  # noqa: PLC0415
        except ImportError:
            raise ConfigError(
                "FINHOUSE_WAREHOUSE_DSN names Snowflake, but this build has only the "
                "PostgreSQL target (the Snowflake loader is issue 7)"
            ) from None
        return SnowflakeTarget.from_url(dsn)
    return PostgresTarget(dsn)
