"""Property: whatever the app does while we load, RAW's current state equals the OLTP.

50 rounds with a fixed seed. In each, the simulator runs concurrently with ingestion (a mix
of incremental runs, backfill windows and full refreshes, chosen by the seeded generator;
every fifth round the simulator also holds a long transaction open across the loads), then a
reconcile marks hard deletes, a catch-up incremental run loads what committed meanwhile, and
RAW's current state (docs/interfaces.md §2) must equal the OLTP exactly, every column of every row.
"""

from __future__ import annotations

import datetime as dt
import random
import threading

import pytest

from finhouse.oltp.simulate import simulate
from finhouse.tables import TABLES
from tests.integration.ingest.conftest import Pipeline
from tests.support.invariants import assert_invariants
from tests.support.raw import assert_raw_equals_oltp

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROUNDS = 50
SEED = 20261122


def test_raw_current_state_equals_the_oltp_after_every_round(pipe: Pipeline) -> None:
    rng = random.Random(SEED)
    pipe.ingest_all()
    for round_no in range(1, ROUNDS + 1):
        errors: list[BaseException] = []

        def app(round_no: int = round_no, errors: list[BaseException] = errors) -> None:
            try:
                simulate(
                    pipe.dbs.oltp_dsn,
                    ticks=2,
                    seed=SEED + round_no,
                    interval=0.05,
                    hold_open=0.8 if round_no % 5 == 0 else 0.0,
                )
            except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
                errors.append(exc)

        thread = threading.Thread(target=app)
        thread.start()
        while thread.is_alive():
            for table in rng.sample(list(TABLES), k=3):
                choice = rng.random()
                if choice < 0.75:
                    summary = pipe.ingest(table)
                elif choice < 0.9:
                    now = dt.datetime.now(dt.UTC)
                    summary = pipe.ingest(
                        table,
                        mode="window",
                        since=now - dt.timedelta(minutes=rng.randint(1, 90)),
                        until=now,
                    )
                else:
                    summary = pipe.ingest(table, mode="full")
                assert summary.table == table
        thread.join()
        assert not errors, errors
        for table in TABLES:
            pipe.ingest(table)
            report = pipe.reconcile(table)
            assert report.clean, report.describe()  # type: ignore[attr-defined]
        with pipe.oltp() as oltp, pipe.warehouse() as wh:
            assert_raw_equals_oltp(oltp, wh)
            if round_no % 10 == 0:
                assert_invariants(oltp)
                counts = wh.execute(
                    "select status, count(*) from finhouse_meta.load_runs group by 1"
                ).fetchall()
                assert dict(counts).keys() == {"success"}, counts
