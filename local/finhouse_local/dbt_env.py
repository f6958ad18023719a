"""dbt configured for this checkout (``finhouse dbt …``): its own venv, the project and
profiles in dbt/finhouse, and the warehouse connection as the ``transformer`` role."""

from __future__ import annotations

from pathlib import Path

from finhouse import config
from finhouse.connections import dsn_scheme, postgres_fields
from finhouse.errors import ConfigError
from finhouse_local import dsns


def dbt_executable() -> Path:
    """dbt's executable, checked to exist."""
    exe = config.dbt_executable_path()
    if not exe.exists():
        raise ConfigError(
            f"dbt is not installed at {exe} (run `make install`, or set FINHOUSE_DBT_EXECUTABLE)"
        )
    return exe


def dbt_environment(dsn: str | None = None) -> dict[str, str]:
    """What ``finhouse dbt`` gives dbt: the project, and the dev profile's connection
    (profiles.yml reads ``FINHOUSE_DBT_*``) from the transformer's DSN (``dsn``, else the
    configured or embedded one), a URL or libpq keyword/value string; a Snowflake DSN
    selects the prod target instead."""
    dsn = dsn or dsns.warehouse_dsn("transformer")
    project = str(config.dbt_project_dir())
    snowflake = dsn_scheme(dsn) == "snowflake"
    env = {
        "DBT_PROJECT_DIR": project,
        "DBT_PROFILES_DIR": project,
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
