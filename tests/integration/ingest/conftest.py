"""Fixtures for ingestion tests: a small seeded OLTP and an empty warehouse."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest

from finhouse import pipeline
from finhouse.extract.postgres import PostgresSource
from finhouse.tables import TABLES
from finhouse.targets.postgres import PostgresTarget
from tests.conftest import Databases, SeededOltps


@dataclass
class Pipeline:
    dbs: Databases
    source: PostgresSource
    target: PostgresTarget

    def ingest(self, table: str, **kwargs: object) -> pipeline.RunSummary:
        return pipeline.ingest(TABLES[table], self.source, self.target, **kwargs)  # type: ignore[arg-type]

    def ingest_all(self, **kwargs: object) -> list[pipeline.RunSummary]:
        return [self.ingest(t, **kwargs) for t in TABLES]

    def reconcile(self, table: str, **kwargs: object) -> object:
        return pipeline.reconcile(TABLES[table], self.source, self.target, **kwargs)  # type: ignore[arg-type]

    def oltp(self) -> psycopg.Connection:
        return psycopg.connect(self.dbs.oltp_dsn, autocommit=True)

    def warehouse(self) -> psycopg.Connection:
        return psycopg.connect(self.dbs.warehouse_dsn("admin"), autocommit=True)

    def env(self) -> dict[str, str]:
        return self.dbs.env()


@pytest.fixture
def pipe(dbs: Databases, seeded_oltps: SeededOltps) -> Iterator[Pipeline]:
    """A seeded scale-0.05 OLTP (100 users, ~140 loans, ~5,000 ledger rows) and an empty
    warehouse, with source and target as the ingestion runs them."""
    seeded_oltps.restore(dbs.oltp, scale=0.05, seed=5, as_of=dt.datetime.now(dt.UTC).date())
    return Pipeline(
        dbs,
        PostgresSource(dbs.extract_dsn),
        PostgresTarget(dbs.warehouse_dsn("loader")),
    )
