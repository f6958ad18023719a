"""Airflow configured by the project: AIRFLOW_HOME under the ignored state folder, the
repository's DAGs and plugins, no example DAGs, metadata in the embedded PostgreSQL (or in
``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN`` when the environment already names one), and the dbt
docs site ``make docs`` generates served from the UI (Cosmos' plugin, *Browse → dbt docs*,
``/cosmos/finhouse/dbt_docs_index.html``) unless ``AIRFLOW__COSMOS__DBT_DOCS_PROJECTS`` says
otherwise.

Every ``FINHOUSE_*`` variable is validated first (:func:`finhouse.settings.validate_all`):
what starts or runs Airflow from here (``finhouse airflow …``, ``finhouse dags run``,
``finhouse platform up``) stops at one line naming a bad setting before any Airflow process
parses a DAG file with it, and logs a warning for a name that is no setting (a typo).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from finhouse import settings
from finhouse.connections import POSTGRES_SCHEMES, as_url, dsn_scheme
from finhouse.orchestration import noise
from finhouse_local import dsns
from finhouse_local.cluster import default_cluster
from finhouse_local.paths import REPO_ROOT, dbt_docs_dir, state_dir

log = logging.getLogger("finhouse.settings")
#: warnings already logged by this process (the environment is built more than once)
_warned: set[str] = set()
#: the slug of the dbt docs in Cosmos' plugin: /cosmos/<slug>/dbt_docs_index.html
DBT_DOCS_SLUG = "finhouse"


def dbt_docs_projects() -> str:
    """``[cosmos] dbt_docs_projects``: Cosmos' Airflow 3 plugin serves each project's dbt
    docs (index.html, manifest.json, catalog.json from ``dir``) under ``/cosmos/<slug>/`` and
    adds a link to the UI's *Browse* menu."""
    project = {"dir": str(dbt_docs_dir()), "index": "index.html", "name": "dbt docs (finhouse)"}
    return json.dumps({DBT_DOCS_SLUG: project})


def _sqlalchemy_url(dsn: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(scheme="postgresql+psycopg2"))


def _connection_uri(dsn: str) -> str:
    """An ``AIRFLOW_CONN_*`` value: Airflow reads URIs (or JSON), so a libpq keyword/value
    DSN becomes a ``postgresql://`` URL."""
    scheme = dsn_scheme(dsn)
    return as_url(dsn) if scheme is None or scheme in POSTGRES_SCHEMES else dsn


def airflow_home() -> Path:
    """``AIRFLOW_HOME``: ``<state>/airflow``."""
    return state_dir() / "airflow"


def airflow_environment() -> dict[str, str]:
    """Environment variables that configure Airflow for this repository."""
    for warning in settings.validate_all():
        if warning not in _warned:
            _warned.add(warning)
            log.warning("%s", warning)
    home = airflow_home()
    home.mkdir(parents=True, exist_ok=True)
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "airflow" / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "airflow" / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__DEFAULT_TIMEZONE": "UTC",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        # airflow/plugins/.airflowignore read as regexp: the glob syntax builds pathspec's
        # deprecated GitWildMatchPattern, one warning per process (finhouse.orchestration.noise)
        "AIRFLOW__CORE__DAG_IGNORE_FILE_SYNTAX": "regexp",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        # INFO lines that say nothing an operator reads, per request or task (noise.py)
        "AIRFLOW__LOGGING__NAMESPACE_LEVELS": noise.QUIET_LOGGERS,
        # task logs readable by their owner only (Airflow's defaults: 0o664 and 0o775)
        "AIRFLOW__LOGGING__FILE_TASK_HANDLER_NEW_FILE_PERMISSIONS": "0o600",
        "AIRFLOW__LOGGING__FILE_TASK_HANDLER_NEW_FOLDER_PERMISSIONS": "0o700",
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        "AIRFLOW__COSMOS__CACHE_DIR": str(state_dir() / "cosmos-cache"),
        # marts/portfolio and intermediate/portfolio are two groups, not one "portfolio"
        "AIRFLOW__COSMOS__ENABLE_HIERARCHICAL_NAMING_FOR_GROUP_NODES_BY_FOLDER": "True",
        "AIRFLOW__COSMOS__DBT_DOCS_PROJECTS": os.environ.get(
            "AIRFLOW__COSMOS__DBT_DOCS_PROJECTS", dbt_docs_projects()
        ),
        "DO_NOT_TRACK": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
        "SCARF_ANALYTICS": "false",
    }
    # The pipeline's connections, as Airflow connections (the UI shows them; tasks read them).
    if not os.environ.get("AIRFLOW_CONN_FINHOUSE_OLTP"):
        env["AIRFLOW_CONN_FINHOUSE_OLTP"] = _connection_uri(dsns.oltp_dsn("extract"))
    if not os.environ.get("AIRFLOW_CONN_FINHOUSE_WAREHOUSE"):
        env["AIRFLOW_CONN_FINHOUSE_WAREHOUSE"] = _connection_uri(dsns.warehouse_dsn("loader"))
    if not os.environ.get("AIRFLOW_CONN_FINHOUSE_DBT"):
        env["AIRFLOW_CONN_FINHOUSE_DBT"] = _connection_uri(dsns.warehouse_dsn("transformer"))
    if not os.environ.get("AIRFLOW_CONN_FINHOUSE_EXPORT"):
        env["AIRFLOW_CONN_FINHOUSE_EXPORT"] = _connection_uri(dsns.warehouse_dsn("reporter"))
    if not os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"):
        if dsns.uses_external_servers():
            env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{home / 'airflow.db'}"
        else:
            env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = _sqlalchemy_url(
                default_cluster().dsn("airflow", "airflow")
            )
    # the maintenance DAG's way to Airflow's metadata (`airflow db clean` in a subprocess)
    if not os.environ.get("AIRFLOW_CONN_FINHOUSE_AIRFLOW_DB"):
        url = env.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN") or os.environ.get(
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", ""
        )
        env["AIRFLOW_CONN_FINHOUSE_AIRFLOW_DB"] = metadata_connection(url)
    return env


def metadata_connection(sql_alchemy_conn: str) -> str:
    """``AIRFLOW_CONN_FINHOUSE_AIRFLOW_DB``: the metadata database's SQLAlchemy URL in the
    extra the maintenance DAG reads (:mod:`finhouse.orchestration.maintenance`)."""
    return json.dumps({"conn_type": "generic", "extra": {"sql_alchemy_conn": sql_alchemy_conn}})
