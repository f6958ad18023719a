"""Source and target objects for a DSN, by default the configured one (:mod:`finhouse.config`:
none set is one line naming the setting)."""

from __future__ import annotations

from urllib.parse import urlsplit

from finhouse import config
from finhouse.extract.postgres import PostgresSource
from finhouse.targets.base import Target
from finhouse.targets.postgres import PostgresTarget
from finhouse.targets.snowflake import SnowflakeTarget


def source(dsn: str | None = None) -> PostgresSource:
    return PostgresSource(dsn or config.oltp_dsn("extract"))


def target(dsn: str | None = None) -> Target:
    """The target for the warehouse DSN's scheme: ``snowflake://`` or PostgreSQL."""
    dsn = dsn or config.warehouse_dsn("loader")
    if urlsplit(dsn).scheme == "snowflake":
        return SnowflakeTarget.from_url(dsn)
    return PostgresTarget(dsn)
