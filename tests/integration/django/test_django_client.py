"""A real Django application writes the OLTP while finhouse loads it; RAW must equal the OLTP.

The bank app (tests/django_client) is migrated onto a fresh OLTP and driven through its ORM
by ``tests.django_client.workload`` in a subprocess (so Django's settings never enter this
pytest process): the everyday mix plus the patterns that defeat an ``updated_at`` cursor
(month-end rows stamped before their transaction starts, ``update()`` and ``update_fields``
changes that leave ``updated_at`` alone, late commits, lock waits, ties, hard deletes,
rolled-back savepoints). Meanwhile this test loops ``finhouse ingest --all``, now and then a
``finhouse reconcile --all`` and an ingest SIGKILLed at a random moment. At the end, after a
last ingest, ``reconcile`` must be clean and RAW's current state must equal the OLTP in every
column of every row.

``test_soak`` is the long version (minutes, month-end postings of 250,000 rows): skipped
unless ``FINHOUSE_SOAK=1`` (``make soak-django``).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from finhouse.tables import TABLES
from tests.conftest import FINHOUSE, REPO, Databases, run_cli
from tests.support.invariants import assert_invariants
from tests.support.raw import assert_raw_equals_oltp

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@dataclass(frozen=True)
class Scenario:
    seconds: float
    seed: int
    customers: int
    month_ends: int
    month_end_rows: int
    #: seconds between building (stamping) the posting's rows and opening its transaction
    month_end_delay: float
    #: the app server's clock minus the database's
    skew_seconds: float
    #: by how much every posted row's stamp must precede its transaction's start
    min_stamp_lead: float
    timeout: float


FAST = Scenario(
    seconds=35,
    seed=20261203,
    customers=300,
    month_ends=1,
    month_end_rows=20_000,
    # stamped more than the first wave's skew allowance (5 s) before the transaction began
    month_end_delay=6.0,
    skew_seconds=0.0,
    min_stamp_lead=5.5,
    timeout=120,
)

SOAK = Scenario(
    seconds=float(os.environ.get("FINHOUSE_SOAK_SECONDS", "300")),
    seed=20261204,
    customers=1000,
    month_ends=2,
    month_end_rows=250_000,
    month_end_delay=6.0,
    # an app server 2 s behind the database
    skew_seconds=-2.0,
    # beyond the 5 s skew allowance the first wave's clock-based window had
    min_stamp_lead=5.0,
    timeout=3600,
)


def _python(
    env: dict[str, str], *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert out.returncode == 0, f"{' '.join(args)} failed:\n{out.stdout}\n{out.stderr}"
    return out


def _ingest_while(workload: subprocess.Popen[str], env: dict[str, str], seed: int) -> Counter[str]:
    """Load while the app writes: mostly plain incremental runs, some reconciles, and some
    runs SIGKILLed at a random moment (mid-extract, mid-COPY, mid-commit, or after)."""
    rng = random.Random(seed)
    done: Counter[str] = Counter()
    while workload.poll() is None:
        choice = rng.random()
        if choice < 0.15:
            run = subprocess.Popen(
                [FINHOUSE, "ingest", "--all"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(rng.uniform(0.05, 0.8))
            if run.poll() is None:
                os.kill(run.pid, signal.SIGKILL)
                done["killed"] += 1
            run.wait(timeout=60)
        elif choice < 0.25:
            # it loads what changed, then compares in the same snapshot: exact even while
            # the app writes, so any difference is a real one
            out = run_cli("reconcile", "--all", env=env, timeout=300)
            assert out.returncode == 0, f"reconcile mid-workload:\n{out.stdout}\n{out.stderr}"
            done["reconciled"] += 1
        else:
            out = run_cli("ingest", "--all", env=env, timeout=300)
            assert out.returncode == 0, f"ingest failed mid-workload:\n{out.stdout}\n{out.stderr}"
            done["ingested"] += 1
        time.sleep(rng.uniform(0, 0.3))
    return done


def _assert_patterns(oltp: psycopg.Connection, report: dict[str, Any], sc: Scenario) -> None:
    """The workload really produced what breaks an updated_at cursor (else a pass would
    prove nothing)."""
    counts = report["counts"]
    assert len(report["month_ends"]) == sc.month_ends, report["month_ends"]
    for posting in report["month_ends"]:
        assert posting["rows"] == sc.month_end_rows, posting
        rows, oldest, newest = oltp.execute(
            "select count(*), min(created_at), max(created_at) from transactions "
            "where reference like %s",
            (posting["reference_prefix"] + "%",),
        ).fetchone()
        assert rows == sc.month_end_rows
        xact_start = dt.datetime.fromisoformat(posting["xact_start"])
        assert oldest == dt.datetime.fromisoformat(posting["min_created_at"])
        # every row of the posting was stamped (by the app) well before the transaction that
        # made it visible had even begun (by the database's clock)
        assert xact_start - newest >= dt.timedelta(seconds=sc.min_stamp_lead), posting
    # update() / save(update_fields=...) changes still invisible to an updated_at cursor:
    # the row holds the new value, yet its updated_at predates the change
    invisible: Counter[str] = Counter()
    for change in report["silent"]:
        row = oltp.execute(
            sql.SQL("select {}::text, updated_at from {} where id = %s").format(
                sql.Identifier(change["column"]), sql.Identifier(change["table"])
            ),
            (change["id"],),
        ).fetchone()
        if (
            row
            and row[0] == str(change["value"])
            and row[1] < dt.datetime.fromisoformat(change["at"])
        ):
            invisible[f"{change['table']}.{change['column']}"] += 1
    expected = {
        "users.kyc_status",
        "users.phone",
        "payments.channel",
        "loans.status",
        "investments.current_value",
    }
    assert expected <= invisible.keys(), invisible
    # lock waits: the waiter's stamp precedes the holder's, yet it committed after it
    backwards = [
        w
        for w in report["lock_waits"]
        if w["holder_stamp"] and w["waiter_stamp"] < w["holder_stamp"] and w["waited_seconds"] > 0.2
    ]
    assert backwards, report["lock_waits"]
    for kind in ("held_open", "tied_rows", "savepoint_rolled_back", "signup", "transfer"):
        assert counts.get(kind, 0) > 0, (kind, counts)
    assert counts.get("deleted_payments", 0) + counts.get("deleted_loans", 0) > 0, counts
    # the app kept its books straight: running balances, repayments, enumerations
    assert_invariants(oltp)


def _run(dbs: Databases, tmp_path: Path, sc: Scenario) -> None:
    env = {
        **dbs.env(),
        "FINHOUSE_DJANGO_DSN": dbs.oltp_dsn,
        "DJANGO_SETTINGS_MODULE": "tests.django_client.settings",
    }
    _python(env, "-m", "tests.django_client.manage", "migrate", "--noinput")
    workload_args = [
        *("-m", "tests.django_client.workload", "--dsn", dbs.oltp_dsn),
        *("--seed", str(sc.seed), "--skew-seconds", str(sc.skew_seconds)),
        *("--customers", str(sc.customers)),
    ]
    _python(env, *workload_args, "--seconds", "0", timeout=sc.timeout)  # the base book
    run_cli("ingest", "--all", env=env, check=True)  # first loads: COPY into new RAW tables

    report_path = tmp_path / "workload.json"
    log = tmp_path / "workload.log"
    with log.open("w") as log_file:
        workload = subprocess.Popen(
            [
                sys.executable,
                *workload_args,
                *("--seconds", str(sc.seconds), "--report", str(report_path)),
                *("--month-ends", str(sc.month_ends)),
                *("--month-end-rows", str(sc.month_end_rows)),
                *("--month-end-delay", str(sc.month_end_delay)),
            ],
            cwd=REPO,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            loads = _ingest_while(workload, env, sc.seed)
            workload.wait(timeout=sc.timeout)
        finally:
            if workload.poll() is None:
                workload.kill()
                workload.wait()
    output = log.read_text()
    print(f"loads during the workload: {dict(loads)}\n{output}")
    assert workload.returncode == 0, output
    assert loads["ingested"] >= 5, loads
    assert loads["killed"] >= 1, loads

    run_cli("ingest", "--all", env=env, check=True, timeout=sc.timeout)
    reconcile = run_cli("reconcile", "--all", env=env, timeout=sc.timeout)
    report = json.loads(report_path.read_text())
    with (
        psycopg.connect(dbs.oltp_dsn, autocommit=True) as oltp,
        psycopg.connect(dbs.warehouse_dsn("admin"), autocommit=True) as warehouse,
    ):
        _assert_patterns(oltp, report, sc)
        # table by table, so a failure names every table that differs, not just the first
        differences = []
        for table in TABLES:
            try:
                assert_raw_equals_oltp(oltp, warehouse, [table])
            except AssertionError as exc:
                differences.append(str(exc))
        if differences:
            pytest.fail(
                "\n".join(
                    [*differences, f"reconcile (exit {reconcile.returncode}):", reconcile.stdout]
                )
            )
    assert reconcile.returncode == 0, reconcile.stdout + reconcile.stderr


def test_raw_equals_the_oltp_a_django_app_wrote_while_loading(
    dbs: Databases, tmp_path: Path
) -> None:
    _run(dbs, tmp_path, FAST)


@pytest.mark.skipif(os.environ.get("FINHOUSE_SOAK") != "1", reason="the soak: make soak-django")
def test_soak(dbs: Databases, tmp_path: Path) -> None:
    _run(dbs, tmp_path, SOAK)
