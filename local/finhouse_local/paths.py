"""Where the local platform keeps its state, and the checkout it runs from."""

from __future__ import annotations

from pathlib import Path

from finhouse import settings

#: local/finhouse_local/paths.py -> the repository root
REPO_ROOT = Path(__file__).resolve().parents[2]


def state_dir() -> Path:
    """The ignored folder holding the embedded cluster, AIRFLOW_HOME, logs and PID files
    (``FINHOUSE_STATE_DIR``)."""
    return settings.load().state_dir.resolve()


def dbt_docs_dir() -> Path:
    """Where ``make docs`` writes dbt's documentation site (``dbt docs generate``: index.html,
    manifest.json, catalog.json) and Airflow's dbt docs view reads it."""
    return state_dir() / "dbt-docs"
