"""Airflow configured by the project: AIRFLOW_HOME under the ignored state folder, the
repository's DAGs and plugins, no example DAGs, metadata in the embedded PostgreSQL (or in
``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN`` when the environment already names one).
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

from finhouse import config


def _sqlalchemy_url(dsn: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(scheme="postgresql+psycopg2"))


def airflow_environment() -> dict[str, str]:
    """Environment variables that configure Airflow for this repository."""
    home = config.state_dir() / "airflow"
    home.mkdir(parents=True, exist_ok=True)
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(config.REPO_ROOT / "airflow" / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(config.REPO_ROOT / "airflow" / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__DEFAULT_TIMEZONE": "UTC",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        "AIRFLOW__COSMOS__CACHE_DIR": str(config.state_dir() / "cosmos-cache"),
        # marts/portfolio and intermediate/portfolio are two groups, not one "portfolio"
        "AIRFLOW__COSMOS__ENABLE_HIERARCHICAL_NAMING_FOR_GROUP_NODES_BY_FOLDER": "True",
        "DO_NOT_TRACK": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
        "SCARF_ANALYTICS": "false",
    }
    # The pipeline's connections, as Airflow connections (the UI shows them; tasks read them).
    if not os.environ.get("AIRFLOW_CONN_FINHOUSE_OLTP"):
        env["AIRFLOW_CONN_FINHOUSE_OLTP"] = config.oltp_dsn("extract")
    if not os.environ.get("AIRFLOW_CONN_FINHOUSE_WAREHOUSE"):
        env["AIRFLOW_CONN_FINHOUSE_WAREHOUSE"] = config.warehouse_dsn("loader")
    if not os.environ.get("AIRFLOW_CONN_FINHOUSE_DBT"):
        env["AIRFLOW_CONN_FINHOUSE_DBT"] = os.environ.get(
            "FINHOUSE_TRANSFORMER_DSN"
        ) or config.warehouse_dsn("transformer")
    if not os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"):
        if config.uses_external_servers():
            env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{home / 'airflow.db'}"
        else:
            from finhouse.embedded.cluster import default_cluster  # noqa: PLC0415

            env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = _sqlalchemy_url(
                default_cluster().dsn("airflow", "airflow")
            )
    return env
