"""Airflow for end-to-end tests: the project's configuration, pointed at the test databases."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from finhouse_local.cluster import Provisioner
from tests.conftest import REPO, Databases
from tests.integration.ingest.conftest import pipe  # noqa: F401 - shared fixture
from tests.support import airflow_probe

PROBE = REPO / "tests" / "support" / "airflow_probe.py"


def airflow_env(pg_server: Provisioner, dbs: Databases | None = None) -> dict[str, str]:
    """The environment `finhouse airflow` would give, with the test databases' connections."""
    from finhouse_local.airflow_env import airflow_environment  # noqa: PLC0415

    env = dict(os.environ)
    env.pop("FINHOUSE_OLTP_DSN", None)
    env.pop("FINHOUSE_WAREHOUSE_DSN", None)
    if dbs is not None:
        env["AIRFLOW_CONN_FINHOUSE_OLTP"] = dbs.extract_dsn
        env["AIRFLOW_CONN_FINHOUSE_WAREHOUSE"] = dbs.warehouse_dsn("loader")
        env["FINHOUSE_WAREHOUSE_DSN"] = dbs.warehouse_dsn("loader")  # asset URIs
    saved = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update(env)
        env.update(airflow_environment())
    finally:
        os.environ.clear()
        os.environ.update(saved)
    env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = (
        "postgresql+psycopg2://" + pg_server.dsn("airflow", "airflow").split("://", 1)[1]
    )
    return env


@pytest.fixture(scope="session")
def airflow_db(pg_server: Provisioner) -> None:
    """Airflow's metadata schema, migrated once per session."""
    out = subprocess.run(
        [str(Path(sys.executable).with_name("airflow")), "db", "migrate"],
        env=airflow_env(pg_server),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]


def probe(env: dict[str, str], *args: str, timeout: float = 600) -> Any:
    result, stdout, stderr = airflow_probe.run(env, *args, timeout=timeout)
    if isinstance(result, list) and any(r["state"] != "success" for r in result):
        lines = (stdout + stderr).splitlines()
        first = next((i for i, line in enumerate(lines) if "Traceback" in line), len(lines))
        for run in result:
            run["log"] = "\n".join(lines[first : first + 60])
    return result


def run_dags(env: dict[str, str], *runs: tuple[str, dict[str, Any] | None]) -> list[Any]:
    """dag.test() the runs in order, in one Airflow process."""
    return probe(env, "test", json.dumps([list(r) for r in runs]))  # type: ignore[no-any-return]


def run_dag(env: dict[str, str], dag_id: str, conf: dict[str, Any] | None = None) -> Any:
    return run_dags(env, (dag_id, conf))[0]
