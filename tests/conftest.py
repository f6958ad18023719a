"""Test harness: one real PostgreSQL for the session, fresh databases for each test.

The server is started through the same code as ``finhouse db up`` (a private cluster in a
temporary state folder, on a free port), or in a container through testcontainers when a
Docker engine answers. ``FINHOUSE_STATE_DIR`` and ``FINHOUSE_PG_PORT`` point at it for the
whole session, so the CLI and the library under test never touch a developer's own cluster.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from psycopg import sql

from finhouse.oltp import schema
from finhouse.oltp import seed as seeding
from finhouse_local.cluster import ROLES, Cluster, Provisioner, ServerAt, cluster_dir

REPO = Path(__file__).resolve().parents[1]
FINHOUSE = str(Path(sys.executable).with_name("finhouse"))
# External connection settings of the developer's shell must not leak into the tests.
for _var in (
    "FINHOUSE_OLTP_DSN",
    "FINHOUSE_WAREHOUSE_DSN",
    "FINHOUSE_OLTP_EXTRACT_DSN",
    "AIRFLOW_HOME",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
):
    os.environ.pop(_var, None)


#: pytest-xdist work units (`make test` runs two workers, each with its own PostgreSQL, state
#: folder and Airflow metadata): tests sharing an expensive fixture stay on one worker, the
#: first matching prefix decides, and every other test is a unit of its own.
XDIST_UNITS: tuple[tuple[str, str | None], ...] = (
    # its own seeded warehouse, not `built`: free to run beside the group below
    ("tests/integration/dbt/test_build.py::test_incremental_models_equal_a_full_rebuild", None),
    # `built` (seeded, ingested, dbt-built once per worker) and the Superset that reads it
    ("tests/integration/dbt/", "dbt_warehouse"),
    ("tests/integration/superset/", "dbt_warehouse"),
    ("tests/e2e/test_ml_dags.py", "dbt_warehouse"),
    # a module-scoped scale-1 OLTP
    ("tests/integration/oltp/test_seed.py", "oltp_seed"),
)


def xdist_unit(nodeid: str) -> str:
    """The work unit of a test: its group in XDIST_UNITS, else the test itself."""
    for prefix, group in XDIST_UNITS:
        if nodeid.startswith(prefix):
            return group or nodeid
    return nodeid


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadgroup`` with the groups of XDIST_UNITS. xdist's own loadgroup reads
    ``xdist_group`` marks through a node-id rewrite that pytest 9.2 no longer honours
    (pytest-xdist#1386: the tests are spread as if unmarked), so the groups live here."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling  # noqa: PLC0415

    class GroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return xdist_unit(nodeid)

    return GroupScheduling(config, log)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _docker_answers() -> bool:
    if os.environ.get("FINHOUSE_TEST_DOCKER", "auto") == "off" or not shutil.which("docker"):
        return False
    try:
        return (
            subprocess.run(
                ["docker", "info"], capture_output=True, timeout=10, check=False
            ).returncode
            == 0
        )
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Provisioner]:
    """The session's PostgreSQL, with finhouse's roles and default databases."""
    if _docker_answers():
        from testcontainers.postgres import PostgresContainer  # noqa: PLC0415

        with PostgresContainer("postgres:16", driver=None) as container:
            server = ServerAt(container.get_connection_url())
            server.bootstrap()
            yield server
        return
    state = Path(tempfile.mkdtemp(prefix="finhouse-test-"))
    state.chmod(0o755)
    port = free_port()
    os.environ["FINHOUSE_STATE_DIR"] = str(state)
    os.environ["FINHOUSE_PG_PORT"] = str(port)
    cluster = Cluster(cluster_dir(), port, durable=False)
    cluster.up()
    try:
        yield cluster
    finally:
        cluster.destroy()
        shutil.rmtree(state, ignore_errors=True)


@dataclass
class Databases:
    """A fresh OLTP and warehouse database pair, and their DSNs per role."""

    server: Provisioner
    oltp: str
    warehouse: str

    @property
    def oltp_dsn(self) -> str:
        return self.server.dsn(self.oltp, ROLES.app)

    @property
    def extract_dsn(self) -> str:
        return self.server.dsn(self.oltp, ROLES.extract)

    def warehouse_dsn(self, role: str = "loader") -> str:
        return self.server.dsn(self.warehouse, None if role == "admin" else role)

    def admin_dsn(self, database: str) -> str:
        return self.server.dsn(database)

    def env(self) -> dict[str, str]:
        """Environment for a ``finhouse`` subprocess working on these databases."""
        return {
            **os.environ,
            "FINHOUSE_OLTP_DSN": self.oltp_dsn,
            "FINHOUSE_OLTP_EXTRACT_DSN": self.extract_dsn,
            "FINHOUSE_WAREHOUSE_DSN": self.warehouse_dsn("loader"),
        }


@contextlib.contextmanager
def _databases(server: Provisioner) -> Iterator[Databases]:
    suffix = uuid.uuid4().hex[:10]
    dbs = Databases(server, f"oltp_{suffix}", f"warehouse_{suffix}")
    server.create_database(dbs.oltp, "oltp")
    server.create_database(dbs.warehouse, "warehouse")
    try:
        yield dbs
    finally:
        server.drop_database(dbs.oltp)
        server.drop_database(dbs.warehouse)


@pytest.fixture
def dbs(pg_server: Provisioner) -> Iterator[Databases]:
    """Fresh, empty databases for one test."""
    with _databases(pg_server) as fresh:
        yield fresh


@pytest.fixture(scope="module")
def module_dbs(pg_server: Provisioner) -> Iterator[Databases]:
    """Fresh databases shared by the tests of one module (read-only use)."""
    with _databases(pg_server) as fresh:
        yield fresh


@dataclass(frozen=True)
class OltpSeed:
    """What ``finhouse oltp seed`` is given: the same values always give identical rows."""

    scale: float
    seed: int
    as_of: dt.date


class SeededOltps:
    """Seeded OLTP databases kept for the session as templates.

    Seeding is deterministic (same scale, seed and as-of date: identical rows, ids and
    sequences), so a copy of a database seeded once (``CREATE DATABASE … TEMPLATE``, ~0.2 s)
    holds exactly what seeding a fresh one would write (1-3 s each under load), for the
    dozens of tests that start from the same small OLTP.
    """

    def __init__(self, server: Provisioner) -> None:
        self.server = server
        self._templates: dict[OltpSeed, str] = {}

    def _template(self, spec: OltpSeed) -> str:
        if spec not in self._templates:
            name = f"oltp_template_{uuid.uuid4().hex[:10]}"
            self.server.create_database(name, "oltp")
            dsn = self.server.dsn(name, ROLES.app)
            schema.init(dsn)
            seeding.seed(dsn, scale=spec.scale, seed=spec.seed, as_of=spec.as_of)
            self._templates[spec] = name
        return self._templates[spec]

    def restore(self, database: str, *, scale: float, seed: int, as_of: dt.date) -> None:
        """Replace the (unused) OLTP ``database`` by a copy of ``schema.init`` + ``seed``."""
        template = self._template(OltpSeed(scale, seed, as_of))
        self.server.drop_database(database)
        with self.server.admin_connection() as conn:
            conn.execute(
                sql.SQL("create database {} template {} owner {}").format(
                    sql.Identifier(database),
                    sql.Identifier(template),
                    sql.Identifier(ROLES.app),
                )
            )
        # database-level privileges are not copied from a template: set up as any OLTP
        self.server.create_database(database, "oltp")

    def drop(self) -> None:
        for name in self._templates.values():
            self.server.drop_database(name)
        self._templates.clear()


@pytest.fixture(scope="session")
def seeded_oltps(pg_server: Provisioner) -> Iterator[SeededOltps]:
    templates = SeededOltps(pg_server)
    try:
        yield templates
    finally:
        templates.drop()


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 300, check: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run the installed ``finhouse`` command as a user would."""
    out = subprocess.run(
        [FINHOUSE, *args], capture_output=True, text=True, env=env, timeout=timeout, check=False
    )
    if check and out.returncode != 0:
        raise AssertionError(
            f"finhouse {' '.join(args)} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}"
        )
    return out


#: each worker's tests with their start and end (wall clock, setup to teardown): where the
#: suite's time goes, and how evenly the two workers share it (``make test`` prints a line)
TIMINGS = REPO / "artifacts" / "test-timings"
_timings: list[dict[str, Any]] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    import time  # noqa: PLC0415

    began = time.time()
    yield
    _timings.append({"test": item.nodeid, "start": began, "end": time.time()})


def pytest_sessionstart(session: pytest.Session) -> None:
    if os.environ.get("PYTEST_XDIST_WORKER") is None:  # the controller: this run's only
        shutil.rmtree(TIMINGS, ignore_errors=True)


def pytest_sessionfinish(session: pytest.Session) -> None:
    import json  # noqa: PLC0415

    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker is not None and _timings:
        TIMINGS.mkdir(parents=True, exist_ok=True)
        (TIMINGS / f"{worker}.json").write_text(json.dumps(_timings))


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """The controller's line on how the workers shared the run."""
    import json  # noqa: PLC0415

    if os.environ.get("PYTEST_XDIST_WORKER") is not None:
        return
    files = sorted(TIMINGS.glob("gw*.json")) if TIMINGS.is_dir() else []
    runs = {f.stem: json.loads(f.read_text()) for f in files}
    runs = {w: r for w, r in runs.items() if r}
    if not runs:
        return
    first = min(t["start"] for r in runs.values() for t in r)
    parts = []
    for worker, tests in sorted(runs.items()):
        busy = sum(t["end"] - t["start"] for t in tests)
        last = max(t["end"] for t in tests) - first
        parts.append(
            f"{worker} {len(tests)} tests, busy {busy / 60:.1f} min, done at {last / 60:.1f}"
        )
    terminalreporter.write_line(f"workers: {'; '.join(parts)} ({TIMINGS.relative_to(REPO)})")
