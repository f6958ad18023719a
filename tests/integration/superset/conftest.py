"""Superset for the tests: bootstrapped into a fresh metadata database, served once per session.

The marts come from the dbt tests' session warehouse (``tests/integration/dbt/conftest.py``,
scale 0.2, as of 2026-06-30): when those tests already built it in this session its
databases exist and are read as they are; otherwise the same fixture function builds them
here (and drops them at the end). Superset runs from ``.venv-superset`` (``make
superset-install``; ``make test`` installs it), through the same ``superset/bootstrap.py``
and gunicorn command as ``make up``.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import psycopg
import pytest
import requests

from finhouse_local.cluster import Provisioner
from tests.conftest import REPO, free_port
from tests.integration.dbt import conftest as dbt_conftest
from tests.integration.dbt.conftest import Warehouse

SUPERSET_PYTHON = REPO / ".venv-superset" / "bin" / "python"
ARTIFACTS = REPO / "artifacts" / "superset"
BRANCH = "NBO01"  # the demo branch manager's branch (superset/security.yaml)
#: seconds each step took, written to artifacts/superset/timings.json
TIMINGS: dict[str, float] = {}


def load_script(name: str) -> ModuleType:
    """superset/<name>.py (not a package; ``run``: the environment and gunicorn command of
    ``make up``; ``bootstrap``: the bundle and the URI it imports)."""
    spec = importlib.util.spec_from_file_location(
        f"finhouse_superset_{name}", REPO / "superset" / f"{name}.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


#: the month the Superset tests find closed (the "as closed" chart), one before the month the
#: dbt tests close (tests/integration/dbt/test_closes.py)
CLOSED_MONTH = dt.date(2026, 4, 1)


def _with_a_close(wh: Warehouse) -> None:
    """April closed (when no test closed it yet), and the marts' views rebuilt around it: the
    dbt tests rebuild parts of the warehouse, and replacing a table drops the views on it
    (loan_provisions_monthly, which the close reads); the view of the closed figures looks
    the closes up when it is built. Then a default model trained and the loans scored."""
    from finhouse import closes, settings  # noqa: PLC0415

    target = Path(tempfile.mkdtemp(prefix="finhouse-dbt-target-"))
    rebuild = Warehouse(wh.server, wh.oltp, wh.warehouse, target)
    try:
        rebuild.dbt("run", "--select", "config.materialized:view,marts")
        closes.close_month(
            wh.dsn("transformer"), CLOSED_MONTH, reader_role=settings.load().reporter_role
        )
        rebuild.dbt("run", "--select", "risk_coverage_closed_vs_restated")
        # a default model trained and the active loans scored (the Default risk dashboard)
        from finhouse import ml  # noqa: PLC0415

        ml.train(wh.dsn("transformer"), folder=target / "ml", oltp_dsn=wh.oltp_dsn)
        ml.score(wh.dsn("transformer"), folder=target / "ml")
    finally:
        shutil.rmtree(target, ignore_errors=True)


@pytest.fixture(scope="session")
def marts_warehouse(pg_server: Provisioner) -> Iterator[Warehouse]:
    """The dbt tests' warehouse: reused when built in this session, else built here."""
    with psycopg.connect(pg_server.dsn("postgres"), autocommit=True) as conn:
        exists = conn.execute(
            "select 1 from pg_database where datname = 'warehouse_dbt'"
        ).fetchone()
    if exists:
        probe = Warehouse(pg_server, "oltp_dbt", "warehouse_dbt", Path("/nonexistent"))
        with psycopg.connect(probe.dsn("reporter")) as conn:
            if conn.execute("select to_regclass('marts.portfolio_daily')").fetchone() != (None,):
                _with_a_close(probe)
                yield probe
                return
    started = time.monotonic()
    build = dbt_conftest.built.__wrapped__(pg_server)  # type: ignore[attr-defined]
    wh = next(build)
    _with_a_close(wh)
    TIMINGS["warehouse_build"] = time.monotonic() - started
    try:
        yield wh
    finally:
        next(build, None)


@dataclass
class Superset:
    base: str
    env: dict[str, str]
    warehouse: Warehouse
    bootstrap_output: str
    timings: dict[str, float] = field(default_factory=dict)
    _sessions: dict[str, requests.Session] = field(default_factory=dict)

    @property
    def admin(self) -> tuple[str, str]:
        return self.env["SUPERSET_ADMIN_USERNAME"], self.env["SUPERSET_ADMIN_PASSWORD"]

    @property
    def manager(self) -> tuple[str, str]:
        return "manager_nbo01", self.env["SUPERSET_BRANCH_MANAGER_PASSWORD"]

    def session(self, who: str = "admin") -> requests.Session:
        """A logged-in API session (JWT and, for POSTs outside the exempt list, CSRF)."""
        if who not in self._sessions:
            user, password = self.admin if who == "admin" else self.manager
            s = requests.Session()
            login = s.post(
                f"{self.base}/api/v1/security/login",
                json={"username": user, "password": password, "provider": "db", "refresh": False},
                timeout=30,
            )
            login.raise_for_status()
            s.headers["Authorization"] = "Bearer " + login.json()["access_token"]
            token = s.get(f"{self.base}/api/v1/security/csrf_token/", timeout=30)
            token.raise_for_status()
            s.headers["X-CSRFToken"] = token.json()["result"]
            s.headers["Referer"] = self.base
            self._sessions[who] = s
        return self._sessions[who]

    def get(self, path: str, who: str = "admin", **params: Any) -> requests.Response:
        return self.session(who).get(f"{self.base}{path}", params=params or None, timeout=120)

    def post(self, path: str, body: Any, who: str = "admin") -> requests.Response:
        return self.session(who).post(f"{self.base}{path}", json=body, timeout=120)

    def listing(self, resource: str) -> list[dict[str, Any]]:
        out = self.get(f"/api/v1/{resource}/", q="(page_size:100)")
        out.raise_for_status()
        return list(out.json()["result"])


def _wait_healthy(base: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if requests.get(f"{base}/health", timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        if proc.poll() is not None:
            raise AssertionError(f"gunicorn exited with {proc.returncode}")
        if time.monotonic() > deadline:
            raise AssertionError(f"Superset did not answer within {timeout:.0f} s")
        time.sleep(0.5)


@pytest.fixture(scope="session")
def superset(pg_server: Provisioner, marts_warehouse: Warehouse) -> Iterator[Superset]:
    """Superset bootstrapped into a fresh metadata database and served on a free port."""
    if not SUPERSET_PYTHON.exists():
        pytest.fail("the Superset venv is missing: run `make superset-install` (make test does)")
    metadata_db = f"superset_{uuid.uuid4().hex[:10]}"
    pg_server.create_database(metadata_db, "plain", owner="superset")
    metadata_uri = (
        "postgresql+psycopg2://" + pg_server.dsn(metadata_db, "superset").split("://", 1)[1]
    )
    port = free_port()
    run = load_script("run")
    env = run.environment(metadata_uri=metadata_uri, warehouse_dsn=marts_warehouse.dsn("reporter"))
    # this session's own secrets, never the developer's
    env |= {
        "SUPERSET_SECRET_KEY": secrets.token_urlsafe(32),
        "SUPERSET_ADMIN_USERNAME": "admin",
        "SUPERSET_ADMIN_PASSWORD": secrets.token_urlsafe(12),
        "SUPERSET_BRANCH_MANAGER_PASSWORD": secrets.token_urlsafe(12),
        "SUPERSET_PORT": str(port),
    }
    timings = TIMINGS
    started = time.monotonic()
    boot = subprocess.run(
        [str(SUPERSET_PYTHON), str(REPO / "superset" / "bootstrap.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    timings["bootstrap"] = time.monotonic() - started
    assert boot.returncode == 0, boot.stdout[-3000:] + boot.stderr[-5000:]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log = (ARTIFACTS / "gunicorn.log").open("wb")
    started = time.monotonic()
    proc = subprocess.Popen(
        run.gunicorn_command(port, workers=2), env=env, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, proc, 180)
        timings["server_start"] = time.monotonic() - started
        yield Superset(base, env, marts_warehouse, boot.stdout, timings)
    finally:
        (ARTIFACTS / "timings.json").write_text(json.dumps(timings, indent=2))
        proc.send_signal(signal.SIGINT)  # gunicorn's quick shutdown
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()
        pg_server.drop_database(metadata_db)
