"""A bad FINHOUSE_* setting is an import error of the DAG files that read it, naming the
variable, as Airflow's own DagBag records it: no DAG quietly missing, no traceback to dig in.

Each case parses airflow/dags in a fresh Airflow process (tests/support/airflow_probe.py),
configured as `finhouse airflow` would be; the databases it names are never contacted.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from finhouse.files import DATASETS
from finhouse.tables import TABLES
from tests.support import airflow_probe

pytestmark = pytest.mark.integration

INGESTION = {f"{kind}_{t}" for t in TABLES for kind in ("ingest", "reconcile")}
SPREADSHEETS = {f"finhouse_files_{name}" for name in DATASETS}
SECRET = "S3cr3t"  # noqa: S105 - the marker an import error must never contain


def airflow_env(state: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The environment of Airflow's processes, from good settings only."""
    from finhouse_local.airflow_env import airflow_environment  # noqa: PLC0415

    for name in list(os.environ):
        if name.startswith(("FINHOUSE_", "AIRFLOW")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("FINHOUSE_STATE_DIR", str(state))
    # external servers: Airflow's metadata in SQLite, no embedded cluster needed to parse
    monkeypatch.setenv("FINHOUSE_OLTP_DSN", "postgresql://nobody@127.0.0.1:9/oltp")
    monkeypatch.setenv("FINHOUSE_WAREHOUSE_DSN", "postgresql://nobody@127.0.0.1:9/warehouse")
    return {**os.environ, **airflow_environment()}


def parse(env: dict[str, str]) -> dict[str, Any]:
    result: dict[str, Any] = airflow_probe.run(env, "integrity", timeout=300)[0]
    result["errors"] = {Path(k).name: v for k, v in result["errors"].items()}
    return result


def test_good_settings_parse_every_dag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = airflow_env(tmp_path, monkeypatch)
    env |= {
        "FINHOUSE_USERS_SCHEDULE": "@hourly",
        "FINHOUSE_LOANS_RECONCILE_SCHEDULE": "0 3 * * 1-5",
        "FINHOUSE_DBT_THREADS": "3",
        "FINHOUSE_RETRY_DELAY_SECONDS": "0.5",
    }
    result = parse(env)
    assert result["errors"] == {}
    assert set(result["dags"]) == {
        *INGESTION,
        *SPREADSHEETS,
        "finhouse_dbt",
        "finhouse_maintenance",
        "finhouse_export",
        "finhouse_close",
        "finhouse_ml_train",
        "finhouse_ml_score",
    }


@pytest.mark.parametrize(
    ("variable", "value", "failing"),
    [
        # read by finhouse.tables, which both DAG files import
        (
            "FINHOUSE_USERS_SCHEDULE",
            "every day",
            {"ingestion.py", "transform.py", "export.py", "close.py", "spreadsheets.py", "ml.py"},
        ),
        # the DAGs' default_args, shared by both
        (
            "FINHOUSE_RETRY_DELAY_SECONDS",
            "nan",
            {
                "ingestion.py",
                "transform.py",
                "maintenance.py",
                "export.py",
                "close.py",
                "spreadsheets.py",
                "ml.py",
            },
        ),
        (
            "FINHOUSE_ALERT_WEBHOOK_URL",
            f"ftp://hooks.example/{SECRET}",
            {
                "ingestion.py",
                "transform.py",
                "maintenance.py",
                "export.py",
                "close.py",
                "spreadsheets.py",
                "ml.py",
            },
        ),
        # the dbt DAG's own
        ("FINHOUSE_DBT_THREADS", "zero", {"transform.py"}),
        ("FINHOUSE_DBT_FALLBACK_SCHEDULE", "30 */2 * *", {"transform.py"}),
        ("FINHOUSE_DBT_PROJECT_DIR", "/nonexistent/dbt", {"transform.py", "export.py"}),
        # the maintenance DAG's own
        ("FINHOUSE_MAINTENANCE_SCHEDULE", "daily", {"maintenance.py"}),
        # the export DAG's own
        ("FINHOUSE_EXPORT_RETENTION_DAYS", "forever", {"export.py"}),
        # the close DAG's own
        ("FINHOUSE_CLOSE_DAYS_AFTER_MONTH_END", "31", {"close.py"}),
        # the spreadsheet DAGs' own
        ("FINHOUSE_FILES_SCHEDULE", "hourly", {"spreadsheets.py"}),
        # the default-model DAGs' own
        ("FINHOUSE_ML_SCORE_SCHEDULE", "daily", {"ml.py"}),
    ],
)
def test_a_bad_setting_is_one_import_error_naming_it(
    variable: str,
    value: str,
    failing: set[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = airflow_env(tmp_path, monkeypatch)
    env[variable] = value
    result = parse(env)
    assert set(result["errors"]) == failing
    for error in result["errors"].values():
        last = error.strip().splitlines()[-1]
        assert last.startswith(f"finhouse.errors.ConfigError: {variable} must be "), error
        assert SECRET not in error
        # the last frame is the DAG file's own line, not finhouse's internals
        assert "finhouse/settings.py" not in error, error
    # what does not read the setting still parses, whole
    expected = set() if "ingestion.py" in failing else set(INGESTION)
    expected |= set() if "transform.py" in failing else {"finhouse_dbt"}
    expected |= set() if "maintenance.py" in failing else {"finhouse_maintenance"}
    expected |= set() if "export.py" in failing else {"finhouse_export"}
    expected |= set() if "close.py" in failing else {"finhouse_close"}
    expected |= set() if "spreadsheets.py" in failing else SPREADSHEETS
    expected |= set() if "ml.py" in failing else {"finhouse_ml_train", "finhouse_ml_score"}
    assert set(result["dags"]) == expected
