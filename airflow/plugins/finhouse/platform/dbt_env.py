"""dbt configured by the project: its own venv, the project and profiles in dbt/finhouse,
and the warehouse connection (as the ``transformer`` role) from the environment."""

from __future__ import annotations

from pathlib import Path

from finhouse import config, settings
from finhouse.connections import dsn_scheme, postgres_fields
from finhouse.errors import ConfigError


def project_dir() -> Path:
    """``FINHOUSE_DBT_PROJECT_DIR`` (the Docker images copy the project), else the repo's."""
    return settings.DBT_PROJECT_DIR.read()


def dbt_executable_path() -> Path:
    """Where dbt is (``FINHOUSE_DBT_EXECUTABLE``), not checked to exist: DAG parsing does no
    I/O, and :func:`dbt_executable` checks before running it."""
    return settings.DBT_EXECUTABLE.read()


def cosmos_task_environment() -> dict[str, str]:
    """What a dbt task run by Cosmos needs beyond its profile: no telemetry, the role the
    marts are granted to, and cautious indirect selection for every command (the watcher's
    producer builds a selection without it, and would run the tests of a selected model that
    also reference one outside the selection). dbt unit tests are left out: their inputs are
    fixed fixtures, so they prove the code, not the data; they run in development and CI
    (`make test`, `finhouse dbt build`), as dbt advises, not on every scheduled run. The
    file log (target/logs/dbt.log) keeps info and above: at dbt's default, debug, it also
    logs every statement of every node, from every thread through one lock, which cost a
    scheduled build seconds (`make bench`)."""
    return {
        "DBT_EXCLUDE_RESOURCE_TYPES": "unit_test",
        "DBT_INDIRECT_SELECTION": "cautious",
        "DBT_LOG_LEVEL_FILE": "info",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
        "DO_NOT_TRACK": "1",
        "FINHOUSE_REPORTER_ROLE": settings.REPORTER_ROLE.read(),
    }


def dbt_executable() -> Path:
    exe = dbt_executable_path()
    if not exe.exists():
        raise ConfigError(
            f"dbt is not installed at {exe} (run `make install`, or set FINHOUSE_DBT_EXECUTABLE)"
        )
    return exe


def transformer_dsn() -> str:
    """``FINHOUSE_TRANSFORMER_DSN``, else the configured warehouse, else the embedded one."""
    return config.warehouse_dsn("transformer")


def dbt_environment(dsn: str | None = None) -> dict[str, str]:
    """What ``finhouse dbt`` gives dbt: the project, and the dev profile's connection
    (profiles.yml reads ``FINHOUSE_DBT_*``) from the transformer's DSN, a URL or libpq
    keyword/value string; a Snowflake DSN selects the prod target instead."""
    dsn = dsn or transformer_dsn()
    snowflake = dsn_scheme(dsn) == "snowflake"
    env = {
        "DBT_PROJECT_DIR": str(project_dir()),
        "DBT_PROFILES_DIR": str(project_dir()),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
        "DO_NOT_TRACK": "1",
        "FINHOUSE_DBT_TARGET": "prod" if snowflake else "dev",
    }
    if not snowflake:
        fields = postgres_fields(dsn)
        env |= {
            "FINHOUSE_DBT_HOST": fields.get("host") or fields.get("hostaddr") or "127.0.0.1",
            "FINHOUSE_DBT_PORT": fields.get("port") or "5432",
            "FINHOUSE_DBT_USER": fields.get("user", ""),
            "FINHOUSE_DBT_PASSWORD": fields.get("password", ""),
            "FINHOUSE_DBT_DBNAME": fields.get("dbname") or "warehouse",
        }
    return env
