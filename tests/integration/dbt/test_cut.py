"""A dbt build reads RAW as of a consistent cut (finhouse.cut, macros/raw_cut.sql): real
PostgreSQL source and warehouse, real loads, real dbt.

* A user and their new account committed together, with only ``accounts`` loaded since: read as
  RAW stands, the account is an orphan and the ``relationships`` test fails; read as of the
  cut, the account waits for its user, and once the referenced tables are loaded again
  (``refresh_all``, what the dbt DAG's raw_cut task does) it is in the build.
* A real orphan in the source still fails the test.
* A version rewritten in place after the cut (``QuerySet.update()``: same ``updated_at``) stays
  in the build that reads the earlier cut, at the horizon.
* The cut and the build are recorded in ``finhouse_meta.mart_cuts`` / ``mart_builds``.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from finhouse import cut, endpoints, pipeline
from finhouse.oltp import schema
from finhouse.oltp.seed import seed
from finhouse.orchestration import builds
from finhouse.tables import TABLES
from finhouse_local.cluster import Provisioner
from tests.integration.dbt.conftest import Warehouse

STAGING = [
    "stg_oltp__users_versions",
    "stg_oltp__users",
    "stg_oltp__accounts_versions",
    "stg_oltp__accounts",
]
RELATIONSHIP = "relationships_stg_oltp__accounts_user_id"


@pytest.fixture(scope="module")
def wh(pg_server: Provisioner) -> Iterator[Warehouse]:
    found = Warehouse(
        pg_server, "oltp_cut", "warehouse_cut", Path(tempfile.mkdtemp(prefix="finhouse-cut-"))
    )
    for name in (found.oltp, found.warehouse):
        pg_server.drop_database(name)
    pg_server.create_database(found.oltp, "oltp")
    pg_server.create_database(found.warehouse, "warehouse")
    schema.init(found.oltp_dsn)
    seed(found.oltp_dsn, scale=0.02, seed=3, as_of=dt.date(2026, 6, 30))
    _load_all(found)
    yield found
    for name in (found.oltp, found.warehouse):
        pg_server.drop_database(name)
    shutil.rmtree(found.target_path, ignore_errors=True)


def _endpoints(wh: Warehouse) -> tuple[object, object]:
    return (
        endpoints.source(wh.server.dsn(wh.oltp, "oltp_extract")),
        endpoints.target(wh.dsn("loader")),
    )


def _load(wh: Warehouse, *tables: str) -> None:
    source, target = _endpoints(wh)
    for name in tables:
        pipeline.ingest(TABLES[name], source, target)


def _load_all(wh: Warehouse) -> None:
    """Every table, then every table again, referencing ones first (as the dbt DAG's raw_cut
    task does): a load of a table taken after the load of a table it references
    does not precede it, whatever the source committed in between (its transaction ids are
    the cluster's)."""
    _load(wh, *TABLES)
    source, target = _endpoints(wh)
    run_id = f"test-{dt.datetime.now(dt.UTC).timestamp()}"
    assert builds.refresh_all(source, target, run_id) == []


def _choose(wh: Warehouse) -> cut.Cut:
    _, target = _endpoints(wh)
    return cut.choose(cut.read_loads(target, TABLES))


def _build(wh: Warehouse, chosen: cut.Cut | None, cut_id: str = "test") -> tuple[bool, str]:
    """dbt build of the users/accounts staging models (and their tests) as of ``chosen``
    (None: RAW as it stands); (passed, output)."""
    variables = {"raw_cut": json.dumps(chosen.horizons()), "raw_cut_id": cut_id} if chosen else {}
    out = wh.dbt(
        "build",
        "--select",
        *STAGING,
        "--indirect-selection",
        "cautious",
        "--vars",
        json.dumps(variables),
        as_of=None,
        check=False,
    )
    return out.returncode == 0, out.stdout


def _accounts(wh: Warehouse) -> set[int]:
    with psycopg.connect(wh.dsn()) as conn:
        return {r[0] for r in conn.execute("select account_id from staging.stg_oltp__accounts")}


def _new_user_with_account(wh: Warehouse, *, orphan: bool = False) -> tuple[int, int]:
    """A user and their first account in one source transaction (or, ``orphan``, an account
    whose user does not exist, written with the source's foreign keys switched off)."""
    dsn = wh.server.dsn(wh.oltp) if orphan else wh.oltp_dsn
    with psycopg.connect(dsn) as conn:
        if orphan:
            conn.execute("set session_replication_role = replica")
            user_id = 10_000_000
        else:
            row = conn.execute(
                "insert into users (username, email, first_name, last_name, phone, national_id, "
                "gender, date_of_birth, role, branch_code, region, kyc_status, monthly_income, "
                "risk_appetite, is_active, date_joined, updated_at) select 'cut_' || "
                "md5(random()::text), email, first_name, last_name, phone, national_id, gender, "
                "date_of_birth, role, branch_code, region, kyc_status, monthly_income, "
                "risk_appetite, is_active, now(), now() from users where role = 'customer' "
                "limit 1 returning id"
            ).fetchone()
            assert row is not None
            user_id = row[0]
        row = conn.execute(
            "insert into accounts (user_id, account_number, account_type, currency, status, "
            "balance, interest_rate, opened_at, created_at, updated_at) values "
            "(%s, 'CUT-' || left(md5(random()::text), 20), 'savings', 'KES', 'active', 0, 0, "
            "now(), now(), now()) returning id",
            (user_id,),
        ).fetchone()
        assert row is not None
        return user_id, row[0]


def test_a_row_waits_for_the_rows_it_references(wh: Warehouse) -> None:
    _, account_id = _new_user_with_account(wh)
    _load(wh, "accounts")  # the account is in RAW, its new user is not

    passed, output = _build(wh, None)
    assert not passed, "read as RAW stands, the account is an orphan"
    assert RELATIONSHIP in output

    chosen = _choose(wh)
    assert "accounts" in chosen.held_back
    passed, output = _build(wh, chosen)
    assert passed, output[-3000:]
    assert account_id not in _accounts(wh)

    # what the dbt DAG's raw_cut task does: every table loaded once more
    source, target = _endpoints(wh)
    assert builds.refresh_all(source, target, "test-refresh") == []
    chosen = _choose(wh)
    assert chosen.held_back == ()
    passed, output = _build(wh, chosen)
    assert passed, output[-3000:]
    assert account_id in _accounts(wh)


def test_a_real_orphan_in_the_source_still_fails(wh: Warehouse) -> None:
    _, account_id = _new_user_with_account(wh, orphan=True)
    _load_all(wh)
    chosen = _choose(wh)
    passed, output = _build(wh, chosen)
    assert not passed
    assert RELATIONSHIP in output
    with psycopg.connect(wh.server.dsn(wh.oltp)) as conn:
        conn.execute("delete from accounts where id = %s", (account_id,))
    source, target = _endpoints(wh)
    assert pipeline.reconcile(TABLES["accounts"], source, target, run_id="test-orphan").clean


def test_a_version_rewritten_after_the_cut_stays_at_the_horizon(wh: Warehouse) -> None:
    _load_all(wh)
    before = _choose(wh)
    with psycopg.connect(wh.oltp_dsn) as conn:
        row = conn.execute(
            "select id from accounts order by id limit 1",
        ).fetchone()
        assert row is not None
        account_id = row[0]
        # QuerySet.update(): the row changes, its updated_at does not
        conn.execute("update accounts set balance = balance + 1 where id = %s", (account_id,))
    _load(wh, "accounts")
    with psycopg.connect(wh.dsn()) as conn:
        first, last = conn.execute(
            "select _first_loaded_at, _loaded_at from raw.accounts where id = %s "
            "order by _loaded_at desc limit 1",
            (account_id,),
        ).fetchone() or (None, None)
    assert first is not None, "rewritten in place: when it first landed is kept"
    assert last is not None
    assert first < last

    passed, output = _build(wh, before)
    assert passed, output[-3000:]
    horizon = before.loads["accounts"]
    assert horizon is not None
    with psycopg.connect(wh.dsn()) as conn:
        loaded = conn.execute(
            "select loaded_at from staging.stg_oltp__accounts where account_id = %s",
            (account_id,),
        ).fetchone()
    assert loaded is not None
    assert loaded[0] == horizon.loaded_at


def test_the_cut_and_the_build_are_recorded(wh: Warehouse) -> None:
    _load_all(wh)
    chosen = _choose(wh)
    _, target = _endpoints(wh)
    cut.record(target, "run-recorded", chosen, dag_run_id="run-recorded")
    cut.finish(target, "run-recorded", failed_nodes=["dbt node test.finhouse.x"])
    with psycopg.connect(wh.dsn()) as conn:
        cuts = conn.execute(
            "select table_name, load_run_id, horizon from finhouse_meta.mart_cuts "
            "where cut_id = 'run-recorded'"
        ).fetchall()
        build = conn.execute(
            "select status, failed_nodes, marts_as_of, finished_at is not null "
            "from finhouse_meta.mart_builds where cut_id = 'run-recorded'"
        ).fetchone()
    assert {r[0] for r in cuts} == set(TABLES)
    for table, run_id, horizon in cuts:
        load = chosen.loads[table]
        assert load is not None
        assert (run_id, horizon) == (load.run_id, load.loaded_at)
    assert build == ("failed", "dbt node test.finhouse.x", chosen.as_of, True)

    passed, output = _build(wh, chosen, cut_id="run-recorded")
    assert passed, output[-3000:]
    wh.dbt(
        "build",
        "--select",
        "+pipeline_health",
        "--vars",
        json.dumps({"raw_cut": json.dumps(chosen.horizons()), "raw_cut_id": "run-recorded"}),
        as_of=None,
    )
    with psycopg.connect(wh.dsn()) as conn:
        shown = dict(
            conn.execute("select table_name, marts_as_of from marts.pipeline_health").fetchall()
        )
    for table in TABLES:
        load = chosen.loads[table]
        assert load is not None
        assert shown[table] == load.snapshot_at


@pytest.mark.parametrize("as_of_cut", [False, True], ids=["as-raw-stands", "as-of-a-cut"])
def test_the_planner_estimates_the_current_state_from_statistics(
    wh: Warehouse, as_of_cut: bool
) -> None:
    """PostgreSQL's row estimate of each current-state staging view stays near its real size
    (within 4x: the anti-join that keeps the latest version is estimated at about half), read
    as RAW stands (the horizon in the far future) or as of a cut. A filter on a CASE
    expression of the cut (``deleted_at is null``) is estimated at 0.5 % of the rows whatever
    RAW holds, and at scale 10 made the models downstream nested loops (one model was still
    running after 20 minutes): the views filter on RAW's own ``_deleted_at``."""
    _load_all(wh)
    chosen = _choose(wh) if as_of_cut else None
    views = ["stg_oltp__transactions", "stg_oltp__loans", "stg_oltp__payments"]
    variables = {"raw_cut": json.dumps(chosen.horizons()), "raw_cut_id": "plan"} if chosen else {}
    wh.dbt(
        "run",
        "--select",
        *views,
        *(f"{view}_versions" for view in views),
        "--vars",
        json.dumps(variables),
        as_of=None,
    )
    with psycopg.connect(wh.dsn()) as conn:
        conn.execute("analyze raw.transactions, raw.loans, raw.payments")
        for view in views:
            row = conn.execute(f"select count(*) from staging.{view}").fetchone()
            assert row is not None
            actual = row[0]
            plan = conn.execute(f"explain (format json) select * from staging.{view}").fetchone()
            assert plan is not None
            estimate = plan[0][0]["Plan"]["Plan Rows"]
            assert actual >= 50, f"{view}: too few rows to tell ({actual})"
            assert estimate >= actual / 4, f"{view}: {estimate} rows estimated, {actual} real"
