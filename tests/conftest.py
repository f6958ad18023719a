"""Test harness: one real PostgreSQL for the session, fresh databases for each test.

The server is started through the same code as ``finhouse db up`` (a private cluster in a
temporary state folder, on a free port), or in a container through testcontainers when a
Docker engine answers. ``FINHOUSE_STATE_DIR`` and ``FINHOUSE_PG_PORT`` point at it for the
whole session, so the CLI and the library under test never touch a developer's own cluster.
"""

from __future__ import annotations

import contextlib
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

import pytest

from finhouse import config
from finhouse.embedded.cluster import Cluster, Provisioner, ServerAt

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
    cluster = Cluster(config.cluster_dir(), port, durable=False)
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
        return self.server.dsn(self.oltp, config.ROLES.app)

    @property
    def extract_dsn(self) -> str:
        return self.server.dsn(self.oltp, config.ROLES.extract)

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
