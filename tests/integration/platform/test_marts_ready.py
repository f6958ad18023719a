"""What the DAGs that read the marts wait for (``marts_built``, finhouse.orchestration.
marts_ready): the marts named that do not exist yet, in a real warehouse as the dbt build
leaves it - no schema, then some marts, then all."""

from __future__ import annotations

import psycopg
import pytest

from finhouse.orchestration.marts_ready import missing_marts
from tests.conftest import Databases

pytestmark = pytest.mark.integration


def test_the_marts_missing_are_named_until_the_build_creates_them(dbs: Databases) -> None:
    dsn = dbs.warehouse_dsn("transformer")
    wanted = ["portfolio_daily", "loans_current", "ml_training_set"]
    # a fresh warehouse: no marts schema at all
    with psycopg.connect(dbs.warehouse_dsn("admin"), autocommit=True) as admin:
        admin.execute("drop schema if exists marts cascade")
    assert missing_marts(dsn, wanted) == wanted
    with psycopg.connect(dbs.warehouse_dsn("admin"), autocommit=True) as admin:
        admin.execute("create schema marts")
        admin.execute("create table marts.loans_current (loan_id bigint)")
        # a mart of the same name elsewhere does not count
        admin.execute("create table public.portfolio_daily (day date)")
    assert missing_marts(dsn, wanted) == ["portfolio_daily", "ml_training_set"]
    with psycopg.connect(dbs.warehouse_dsn("admin"), autocommit=True) as admin:
        admin.execute("create view marts.portfolio_daily as select 1 as day")
        admin.execute("create view marts.ml_training_set as select 1 as loan_id")
    assert missing_marts(dsn, wanted) == []
