"""Airflow is configured by the project: AIRFLOW_HOME in the state folder, no examples,
metadata in the embedded PostgreSQL."""

from __future__ import annotations

import os
from pathlib import Path

import psycopg
import pytest

from finhouse_local.cluster import Cluster, Provisioner
from tests.conftest import REPO, run_cli

pytestmark = pytest.mark.integration


def test_airflow_uses_the_project_configuration(pg_server: Provisioner) -> None:
    if not isinstance(pg_server, Cluster):
        pytest.skip("the embedded cluster is what configures Airflow's metadata database")

    def get(section: str, key: str) -> str:
        return run_cli("airflow", "config", "get-value", section, key, check=True).stdout.strip()

    home = Path(os.environ["FINHOUSE_STATE_DIR"]) / "airflow"
    assert get("core", "load_examples") == "False"
    assert Path(get("core", "dags_folder")) == REPO / "airflow" / "dags"
    assert Path(get("core", "plugins_folder")) == REPO / "airflow" / "plugins"
    conn = get("database", "sql_alchemy_conn")
    assert conn.startswith("postgresql+psycopg2://airflow:")
    assert conn.endswith(f"@127.0.0.1:{pg_server.port}/airflow")
    info = run_cli("airflow", "info", check=True).stdout
    homes = [
        line.split("|", 1)[1].strip()
        for line in info.splitlines()
        if line.startswith("airflow_home")
    ]
    assert homes == [str(home)]
    run_cli("airflow", "db", "migrate", check=True, timeout=180)
    with psycopg.connect(pg_server.dsn("airflow", "airflow")) as db:
        tables = {
            r[0] for r in db.execute("select tablename from pg_tables where schemaname = 'public'")
        }
    assert {"dag", "dag_run", "task_instance", "alembic_version"} <= tables
