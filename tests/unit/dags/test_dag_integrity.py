"""Every DAG file parses with Airflow's own DagBag in a fresh process that has no metadata
database (its URL points at a closed port, so any query would fail), no Airflow connection
and no FINHOUSE_* DSN - what a DAG processor meets before anything is configured - and every
DAG is fit to schedule: tags, docs, an owner, retries, one run at a time.

tests/support/airflow_probe.py does the parsing (the end-to-end tests use it too).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from finhouse.config import UNCONFIGURED_WAREHOUSE
from finhouse.files import DATASETS
from finhouse.tables import TABLES
from tests.support import airflow_probe

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[3]
INGESTION = {f"{kind}_{t}" for t in TABLES for kind in ("ingest", "reconcile")}
SPREADSHEETS = {f"finhouse_files_{name}" for name in DATASETS}
#: tasks without retries: a check whose answer a retry would not change ("is RAW fresh
#: now?"), and the dbt watcher's producer (its model tasks retry model by model)
CHECKS_WITHOUT_RETRIES = {
    ("finhouse_dbt", "source_freshness"),
    ("finhouse_dbt", "dbt_producer_watcher"),
    # the run's verdict on what already happened: a retry would not change it
    ("finhouse_dbt", "dbt_build_check"),
}
#: a warehouse connection as docker-compose.yml passes it
COMPOSE_WAREHOUSE = "postgres://loader:pw@warehouse-db:5432/warehouse"


def parse(tmp: Path, **extra: str) -> dict[str, Any]:
    """The probe's report of airflow/dags, parsed in a process configured with ``extra``."""
    return parse_with_output(tmp, **extra)[0]


def parse_with_output(tmp: Path, **extra: str) -> tuple[dict[str, Any], str]:
    """:func:`parse`, and everything the parsing process wrote (stdout and stderr)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FINHOUSE_", "AIRFLOW"))}
    env |= {
        "AIRFLOW_HOME": str(tmp),
        # nothing listens on port 9: a DagBag that needed the database would fail
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql+psycopg2://nobody@127.0.0.1:9/none",
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "airflow" / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "airflow" / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        "AIRFLOW__COSMOS__CACHE_DIR": str(tmp / "cosmos"),
        "AIRFLOW__COSMOS__ENABLE_HIERARCHICAL_NAMING_FOR_GROUP_NODES_BY_FOLDER": "True",
        **extra,
    }
    report, stdout, stderr = airflow_probe.run(env, "integrity", timeout=300)
    return report, stdout + stderr


@pytest.fixture(scope="module")
def bare(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Nothing configured: no database, no connection, no DSN, every setting its default."""
    return parse(tmp_path_factory.mktemp("airflow"))


def test_every_dag_file_imports_without_database_or_connections(bare: dict[str, Any]) -> None:
    assert bare["errors"] == {}
    assert set(bare["dags"]) == {
        *INGESTION,
        *SPREADSHEETS,
        "finhouse_dbt",
        "finhouse_maintenance",
        "finhouse_export",
        "finhouse_close",
        "finhouse_ml_train",
        "finhouse_ml_score",
    }


def test_the_ml_dags_train_monthly_then_score_and_score_daily(bare: dict[str, Any]) -> None:
    train = bare["dags"]["finhouse_ml_train"]
    assert sorted(train["tasks"]) == ["marts_built", "score", "train"]
    assert train["tasks"]["train"]["upstream"] == ["marts_built"]
    assert train["tasks"]["score"]["upstream"] == ["train"]
    assert train["cron"] == "0 4 2 * *"
    score = bare["dags"]["finhouse_ml_score"]
    assert sorted(score["tasks"]) == ["marts_built", "score"]
    assert score["tasks"]["score"]["upstream"] == ["marts_built"]
    assert score["cron"] == "0 5 * * *"


def test_the_dags_that_read_the_marts_wait_for_the_first_build(bare: dict[str, Any]) -> None:
    # scheduled by the clock, they may start on a fresh platform before dbt built anything
    for dag_id in ("finhouse_close", "finhouse_ml_train", "finhouse_ml_score"):
        waiting = bare["dags"][dag_id]["tasks"]["marts_built"]
        assert waiting["sensor_mode"] == "reschedule", dag_id
        assert waiting["upstream"] == [], dag_id
        assert waiting["retries"] >= 2, dag_id


def test_the_close_dag_runs_monthly_after_the_configured_days(bare: dict[str, Any]) -> None:
    close = bare["dags"]["finhouse_close"]
    assert sorted(close["tasks"]) == ["close_month", "marts_built", "report_pack"]
    assert close["tasks"]["close_month"]["upstream"] == ["marts_built"]
    assert close["tasks"]["report_pack"]["upstream"] == ["close_month"]
    assert close["params"] == ["month"]
    assert close["schedule"] == "CronTriggerTimetable"
    assert close["cron"] == "0 6 5 * *"


def test_the_export_dag_runs_after_a_successful_build_a_task_per_marked_mart(
    bare: dict[str, Any],
) -> None:
    export = bare["dags"]["finhouse_export"]
    assert export["asset_condition"] == ["finhouse://marts/built"]
    assert sorted(export["tasks"]) == [
        "export_loans_current",
        "export_monthly_financial_summary",
        "export_portfolio_daily",
    ]
    check = bare["dags"]["finhouse_dbt"]["tasks"]["dbt_build_check"]
    assert check["outlets"] == ["finhouse://marts/built"]


def test_every_dag_is_fit_to_schedule(bare: dict[str, Any]) -> None:
    for dag_id, dag in bare["dags"].items():
        assert dag["tags"], dag_id
        assert "finhouse" in dag["tags"], dag_id
        assert dag["doc_md"], dag_id
        assert dag["max_active_runs"] == 1, dag_id
        for task_id, task in dag["tasks"].items():
            assert task["owner"] == "finhouse-data", (dag_id, task_id)
            if (dag_id, task_id) not in CHECKS_WITHOUT_RETRIES:
                assert task["retries"] >= 2, (dag_id, task_id)


def test_ingestion_dags(bare: dict[str, Any]) -> None:
    for table in TABLES:
        ingest = bare["dags"][f"ingest_{table}"]
        assert ingest["params"] == ["full_refresh", "window_end", "window_start"]
        assert ingest["schedule"] == "CronDataIntervalTimetable"
        # no warehouse in the environment: the Assets name none (never the local cluster)
        assert ingest["tasks"]["publish"]["outlets"] == [f"{UNCONFIGURED_WAREHOUSE}/raw/{table}"]
        reconcile = bare["dags"][f"reconcile_{table}"]
        assert reconcile["params"] == ["repair"]
        assert reconcile["schedule"] == "CronTriggerTimetable"


def test_spreadsheet_dags_one_per_dataset_emit_their_raw_table(bare: dict[str, Any]) -> None:
    for name, spec in DATASETS.items():
        dag = bare["dags"][f"finhouse_files_{name}"]
        assert dag["schedule"] == "CronTriggerTimetable"
        assert list(dag["tasks"]) == ["load_files"]
        assert dag["tasks"]["load_files"]["outlets"] == [
            f"{UNCONFIGURED_WAREHOUSE}/raw/{spec.raw_table}"
        ]
        assert dag["doc_md"], name


def test_dbt_dag_shape(bare: dict[str, Any]) -> None:
    dbt = bare["dags"]["finhouse_dbt"]
    assert dbt["schedule"] == "AssetOrTimeSchedule"
    assert dbt["asset_condition"] == sorted(f"{UNCONFIGURED_WAREHOUSE}/raw/{t}" for t in TABLES)
    groups = {task_id.split(".")[1] for task_id in dbt["tasks"] if task_id.startswith("models.")}
    assert groups == {"staging", "intermediate", "marts"}
    # a folder name used in two layers (portfolio, customers) stays two groups
    assert "models.marts.portfolio.portfolio_daily_run" in dbt["tasks"]
    assert "models.marts.customers.customer_360_run" in dbt["tasks"]
    assert "models.intermediate.portfolio.int_portfolio__segment_days_run" in dbt["tasks"]
    assert "source_freshness" in dbt["tasks"]
    # watcher mode: one `dbt build` of the whole project, tests included (the producer);
    # every model is a task that reports what the producer did, downstream of its parents;
    # tests have no task of their own unless asked for
    assert "dbt_producer_watcher" in dbt["tasks"]
    assert "--resource-type" not in dbt["tasks"]["dbt_producer_watcher"]["dbt_cmd_flags"]
    assert not [t for t in dbt["tasks"] if t.endswith(".test")]
    assert (
        "models.intermediate.portfolio.int_portfolio__segment_days_run"
        in dbt["tasks"]["models.marts.portfolio.portfolio_daily_run"]["upstream"]
    )


def test_dbt_test_tasks_on_demand_report_each_models_tests(tmp_path: Path) -> None:
    report = parse(tmp_path, FINHOUSE_DBT_TEST_TASKS="1")
    assert report["errors"] == {}
    tasks = report["dags"]["finhouse_dbt"]["tasks"]
    assert "models.marts.portfolio.portfolio_daily.test" in tasks
    assert (
        "models.intermediate.portfolio.int_portfolio__segment_days.test"
        in tasks["models.marts.portfolio.portfolio_daily.run"]["upstream"]
    )
    assert "--resource-type" not in tasks["dbt_producer_watcher"]["dbt_cmd_flags"]


def test_dbt_dag_params_are_described_for_the_trigger_form(bare: dict[str, Any]) -> None:
    """as_of_date, full_refresh and select, each with a title-worthy description and a
    default that builds what a scheduled run builds (everything, as of today)."""
    dbt = bare["dags"]["finhouse_dbt"]
    specs = dbt["param_specs"]
    assert sorted(specs) == ["as_of_date", "full_refresh", "select"]
    for name, spec in specs.items():
        assert len(spec["description"] or "") > 20, name
    assert specs["as_of_date"]["default"] is None
    assert specs["as_of_date"]["schema"]["format"] == "date"
    assert "today" in specs["as_of_date"]["description"].lower()
    assert specs["full_refresh"]["default"] is False
    assert specs["full_refresh"]["schema"]["type"] == "boolean"
    assert "--full-refresh" in specs["full_refresh"]["description"]
    assert specs["select"]["default"] == ""
    assert "whole project" in specs["select"]["description"]
    assert "skipped" in specs["select"]["description"]
    # the model tasks run unless a task upstream failed: a model outside a selection (its
    # task skipped) does not hide what dbt did to the models after it
    run = dbt["tasks"]["models.marts.portfolio.portfolio_daily_run"]
    assert run["trigger_rule"] == "none_failed"


def test_a_warehouse_connection_names_the_assets_and_local_mode_builds_per_model(
    tmp_path: Path,
) -> None:
    report = parse(
        tmp_path,
        AIRFLOW_CONN_FINHOUSE_WAREHOUSE=COMPOSE_WAREHOUSE,
        FINHOUSE_DBT_EXECUTION_MODE="local",
    )
    assert report["errors"] == {}
    base = "postgres://warehouse-db:5432/warehouse/raw"
    for table in TABLES:
        outlets = report["dags"][f"ingest_{table}"]["tasks"]["publish"]["outlets"]
        assert outlets == [f"{base}/{table}"]
    dbt = report["dags"]["finhouse_dbt"]
    assert dbt["asset_condition"] == sorted(f"{base}/{t}" for t in TABLES)
    assert "dbt_producer_watcher" not in dbt["tasks"]
    assert "models.marts.portfolio.portfolio_daily_model_build" in dbt["tasks"]
    # one dbt call per model: no selection to make at run time
    assert sorted(dbt["param_specs"]) == ["as_of_date", "full_refresh"]
    assert not [t for t in dbt["tasks"] if t.endswith(".test")]


#: what parsing the DAGs printed 1,006-1,245 times in 20 minutes of `make up` before
#: finhouse.orchestration.noise: pathspec's deprecation (Airflow's .airflowignore reader),
#: Cosmos' "no converter" for the on-run-end hook and the exposures, Cosmos' own deprecated
#: import of DAG
NOISE = (
    "GitWildMatchPattern",
    "Unavailable conversion function",
    "Import 'DAG' directly from the airflow module is deprecated",
)


@pytest.mark.parametrize(
    "syntax",
    [
        # what the platform and the image set (Dockerfile ENV, finhouse_local.airflow_env)
        "regexp",
        # Airflow's default: an Airflow started without finhouse's configuration
        "glob",
    ],
)
def test_parsing_the_dags_prints_none_of_the_known_noise(tmp_path: Path, syntax: str) -> None:
    report, output = parse_with_output(tmp_path, AIRFLOW__CORE__DAG_IGNORE_FILE_SYNTAX=syntax)
    assert report["errors"] == {}
    assert "finhouse_dbt" in report["dags"]
    for noise in NOISE:
        assert noise not in output, [line for line in output.splitlines() if noise in line]
    # the plugins' .airflowignore still keeps the finhouse package from the plugin scan
    assert "finhouse/settings.py" not in output


def test_the_image_reads_airflowignore_as_regexp() -> None:
    dockerfile = (REPO / "airflow" / "Dockerfile").read_text()
    assert "AIRFLOW__CORE__DAG_IGNORE_FILE_SYNTAX=regexp" in dockerfile


def test_the_image_and_the_platform_quiet_the_same_loggers() -> None:
    from finhouse.orchestration import noise  # noqa: PLC0415

    dockerfile = (REPO / "airflow" / "Dockerfile").read_text()
    assert f"AIRFLOW__LOGGING__NAMESPACE_LEVELS={noise.QUIET_LOGGERS} " in dockerfile
    platform = (REPO / "local" / "finhouse_local" / "airflow_env.py").read_text()
    assert '"AIRFLOW__LOGGING__NAMESPACE_LEVELS": noise.QUIET_LOGGERS' in platform
    assert "cosmos.hooks" not in noise.QUIET_LOGGERS  # dbt's output stays in the task logs


def test_the_maintenance_dag(bare: dict[str, Any]) -> None:
    dag = bare["dags"]["finhouse_maintenance"]
    assert dag["schedule"] == "CronTriggerTimetable"
    assert set(dag["tasks"]) == {"clean_metadata", "clean_logs"}
