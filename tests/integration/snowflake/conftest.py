"""Fixtures for the Snowflake tests: the emulator in process, a seeded OLTP, and a watchdog.

fakesnow answers ``snowflake.connector.connect`` in this process (``emulator.emulated``), so
the loader runs its real code path (connector, PUT, COPY INTO, MERGE, transactions) against
DuckDB. A server-side error can make a connector retry forever: every test runs under a
SIGALRM watchdog (``FINHOUSE_SNOWFLAKE_TEST_TIMEOUT``, 180 s; seven times that for tests
marked slow) that fails it instead.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from types import FrameType
from typing import Any

import psycopg
import pytest

from finhouse import pipeline
from finhouse.extract.postgres import PostgresSource
from finhouse.tables import TABLES
from finhouse.targets.snowflake import SnowflakeTarget
from tests.conftest import Databases, SeededOltps
from tests.integration.snowflake.emulator import emulated

WATCHDOG_SECONDS = int(os.environ.get("FINHOUSE_SNOWFLAKE_TEST_TIMEOUT", "180"))


@pytest.fixture(autouse=True)
def watchdog(request: pytest.FixtureRequest) -> Iterator[None]:
    # tests marked slow (the dbt build) bound their subprocesses themselves, more loosely
    seconds = WATCHDOG_SECONDS * 7 if request.node.get_closest_marker("slow") else WATCHDOG_SECONDS

    def expire(_signum: int, _frame: FrameType | None) -> None:
        raise TimeoutError(f"Snowflake test still running after {seconds} s (watchdog)")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@dataclass
class SnowPipeline:
    dbs: Databases
    source: PostgresSource
    target: SnowflakeTarget

    def ingest(self, table: str, **kwargs: Any) -> pipeline.RunSummary:
        return pipeline.ingest(TABLES[table], self.source, self.target, **kwargs)

    def ingest_all(self, **kwargs: Any) -> list[pipeline.RunSummary]:
        return [self.ingest(t, **kwargs) for t in TABLES]

    def reconcile(self, table: str, **kwargs: Any) -> Any:
        return pipeline.reconcile(TABLES[table], self.source, self.target, **kwargs)

    def oltp(self) -> psycopg.Connection:
        return psycopg.connect(self.dbs.oltp_dsn, autocommit=True)

    def snowflake(self) -> Any:
        import snowflake.connector  # noqa: PLC0415

        return snowflake.connector.connect(database="FINHOUSE", schema="RAW")

    def query(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        conn = self.snowflake()
        try:
            return list(conn.cursor().execute(sql, params).fetchall())
        finally:
            conn.close()


@pytest.fixture
def snow(dbs: Databases, seeded_oltps: SeededOltps) -> Iterator[SnowPipeline]:
    """A seeded scale-0.05 OLTP (as the PostgreSQL ingestion tests use) and an empty
    emulated Snowflake warehouse, with source and target as the ingestion runs them."""
    seeded_oltps.restore(dbs.oltp, scale=0.05, seed=5, as_of=dt.datetime.now(dt.UTC).date())
    with emulated():
        target = SnowflakeTarget.from_url(
            "snowflake://loader@emulator/FINHOUSE?role=LOADER&warehouse=LOADING"
        )
        source = PostgresSource(dbs.extract_dsn)
        try:
            yield SnowPipeline(dbs, source, target)
        finally:
            target.close()
            source.close()
