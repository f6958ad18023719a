"""The dbt DAG: the dbt project rendered as Airflow tasks by astronomer-cosmos.

* Rendered from the manifest that ``dbt parse`` writes ahead of time (``make install``, the
  Docker images): no ``dbt ls`` and no I/O when the DAG file is parsed.
* dbt runs from its own venv (``FINHOUSE_DBT_EXECUTABLE``) in Cosmos' watcher mode: the
  ``dbt_producer_watcher`` task runs one ``dbt build`` of the project, tests included, and a
  task per model reports what dbt did to it, grouped by folder (staging, intermediate,
  marts); tests get tasks of their own on demand (:func:`test_behavior`). dbt's start-up
  (~7 s here) is paid once per run, not per model.
* The profile comes from an Airflow connection through a Cosmos profile mapping. One switch:
  ``FINHOUSE_DBT_TARGET=dev`` (default) uses the PostgreSQL connection ``finhouse_dbt``;
  ``FINHOUSE_DBT_TARGET=prod`` uses the Snowflake connection ``finhouse_snowflake``
  (key-pair when ``FINHOUSE_SNOWFLAKE_AUTH=keypair``, else password).
* Scheduled on the six RAW Assets together (one round of loads, one run), or by the fallback
  timetable (``FINHOUSE_DBT_FALLBACK_SCHEDULE``) so a stalled table cannot freeze the marts;
  a ``source_freshness`` task then fails and alerts about the stale table.
* Triggered with params (:mod:`finhouse.orchestration.dbt_runs`): ``as_of_date``,
  ``full_refresh`` and ``select``; a selective run's other model tasks end skipped, and the
  producer records what the run built (its XCom ``dbt_build``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import Asset, AssetAll, AssetOrTimeSchedule, CronTriggerTimetable, TriggerRule
from cosmos import (
    DbtDag,
    ExecutionConfig,
    ProfileConfig,
    ProjectConfig,
    RenderConfig,
)
from cosmos.constants import (
    PRODUCER_WATCHER_TASK_ID,
    DbtResourceType,
    ExecutionMode,
    InvocationMode,
    LoadMode,
    SourceRenderingBehavior,
    TestBehavior,
    TestIndirectSelection,
)
from cosmos.operators.local import DbtSourceLocalOperator

from finhouse import config, settings
from finhouse.orchestration import alerts, builds, dbt_runs
from finhouse.orchestration.ingestion import DEFAULT_ARGS, START, raw_asset
from finhouse.tables import TABLES

DAG_ID = "finhouse_dbt"
DBT_CONN_ID = "finhouse_dbt"
SNOWFLAKE_CONN_ID = "finhouse_snowflake"


def fallback_schedule() -> str:
    return settings.load().dbt_fallback_schedule


def render_select() -> list[str]:
    """``FINHOUSE_DBT_SELECT`` (dbt selectors, space-separated) renders part of the project:
    for development and the end-to-end tests; unset in production."""
    return settings.load().dbt_select


def execution_mode() -> ExecutionMode:
    """``FINHOUSE_DBT_EXECUTION_MODE``: ``watcher`` (default; one ``dbt build`` per run,
    reported model by model) or ``local`` (one ``dbt build`` per model)."""
    modes = {"watcher": ExecutionMode.WATCHER, "local": ExecutionMode.LOCAL}
    return modes[settings.load().dbt_execution_mode]


def test_behavior(watcher: bool) -> TestBehavior:
    """How dbt's tests show as tasks. In watcher mode the producer's ``dbt build`` runs every
    test whatever is rendered; a task per model's tests (``FINHOUSE_DBT_TEST_TASKS=1``) only
    reports them, at the cost of as many tasks again (each a process, a DAG parse and a log
    file per run). By default none is rendered: a failing test fails the build, and
    ``dbt_build_check`` names it. In local mode each model's task builds and tests it."""
    if not watcher:
        return TestBehavior.BUILD
    return TestBehavior.AFTER_EACH if settings.load().dbt_test_tasks == "1" else TestBehavior.NONE


def dbt_threads() -> int:
    return settings.load().dbt_threads


def raw_assets() -> list[Asset]:
    return [raw_asset(name) for name in TABLES]


def profile_config() -> ProfileConfig:
    """The dbt profile, from an Airflow connection (the one switch: FINHOUSE_DBT_TARGET)."""
    if settings.load().dbt_target == "prod":
        from cosmos.profiles import (  # noqa: PLC0415
            SnowflakePrivateKeyPemProfileMapping,
            SnowflakeUserPasswordProfileMapping,
        )

        mapping_class: Any = (
            SnowflakePrivateKeyPemProfileMapping
            if settings.load().snowflake_auth == "keypair"
            else SnowflakeUserPasswordProfileMapping
        )
        mapping = mapping_class(conn_id=SNOWFLAKE_CONN_ID, profile_args={"schema": "STAGING"})
        return ProfileConfig(profile_name="finhouse", target_name="prod", profile_mapping=mapping)
    mapping = postgres_profile_mapping()(
        conn_id=DBT_CONN_ID,
        profile_args={"schema": "staging", "threads": dbt_threads(), "connect_timeout": 10},
    )
    return ProfileConfig(profile_name="finhouse", target_name="dev", profile_mapping=mapping)


#: what dbt-postgres takes from the connection's extras besides Cosmos' own two (sslmode,
#: keepalives_idle): a warehouse that requires verified TLS needs the certificate paths
POSTGRES_EXTRAS = ("sslrootcert", "sslcert", "sslkey", "application_name", "search_path", "role")


def postgres_profile_mapping() -> type[Any]:
    """Cosmos' PostgreSQL user/password mapping, keeping every TLS extra of the connection
    (Cosmos' own maps ``sslmode`` alone, so ``verify-full`` would miss its root
    certificate)."""
    from cosmos.profiles import PostgresUserPasswordProfileMapping  # noqa: PLC0415

    class PostgresProfileMapping(PostgresUserPasswordProfileMapping):
        airflow_param_mapping = {  # noqa: RUF012 - Cosmos' class attribute, extended
            **PostgresUserPasswordProfileMapping.airflow_param_mapping,
            **{name: f"extra.{name}" for name in POSTGRES_EXTRAS},
        }

    return PostgresProfileMapping


def _skip(**_: Any) -> None:
    return None


def manifest_path(project_dir: Path) -> Path:
    return project_dir / "target" / "manifest.json"


DOC = f"""
### dbt: staging → intermediate → marts

The dbt project `dbt/finhouse`: `dbt_producer_watcher` runs one `dbt build`, tests included;
each model's task (`…_run`) reports what dbt did to that model, grouped by folder. A model
task that is cleared or retried runs its model itself. A failing test fails the build, and
`dbt_build_check` names it (`FINHOUSE_DBT_TEST_TASKS=1` adds a task per model's tests).

Runs when **all six RAW tables** have been loaded since the last run (their Assets), or at
`{fallback_schedule()}` (UTC) whatever the loads did, so a stalled table cannot freeze the
marts: `source_freshness` then fails and alerts about it. Incremental models (schedule,
repayment steps, delinquency, installment payments, balances, savings interest, portfolio)
recompute only what changed in RAW; a rebuild from scratch is the `full_refresh` param.

**One cut, one verdict**: `raw_cut` loads every RAW table once more (referencing tables
first) and chooses the load each is read up to, consistent across the tables (a row is never
read before the rows it references); every dbt task of the run reads RAW as of it
(`finhouse_meta.mart_cuts`). `dbt_build_check` fails the run when the build failed, even if
the model tasks' retries passed, names the failing nodes, and is the build's one alert.

**Trigger with params**: `as_of_date` computes every figure as of that day (the dbt var
`as_of_date`; empty: today), `full_refresh` rebuilds the incremental models from scratch
(`dbt build --full-refresh`), `select` builds only those dbt nodes (dbt's `--select` syntax;
empty: the whole project) and the other model tasks end **skipped**. What a run built - its
params, the selection dbt got, dbt's status of each node - is the XCom `dbt_build` of
`dbt_producer_watcher` and its log. Scheduled runs take the defaults: everything, as of today.

**Backfill** is not meaningful here: a run computes the marts as of one day (`as_of_date`),
whatever its logical date. Successful model tasks emit the Assets of their tables (the marts'
Assets).
"""


def without_resource_types(flags: list[str]) -> list[str]:
    """``flags`` less every ``--resource-type X`` pair."""
    kept: list[str] = []
    skip = False
    for flag in flags:
        if skip:
            skip = False
        elif flag == "--resource-type":
            skip = True
        else:
            kept.append(flag)
    return kept


def _configure_watcher(dag: DbtDag) -> None:
    """The watcher's producer and model tasks, as finhouse runs them: the producer is not
    retried (each model task retries its model), takes the ``select`` param and reports the
    models it did not build (:mod:`finhouse.orchestration.dbt_runs`); a model task runs
    unless a task upstream failed (a skipped one - a model outside a selection - does not
    hide what dbt did to this model)."""
    producer: Any = dag.task_dict.get(PRODUCER_WATCHER_TASK_ID)
    if producer is None:
        return
    # a failed build is retried model by model (each model's task runs its model itself on
    # a retry); a second whole-project build would only repeat the first
    producer.retries = 0
    # with no test tasks rendered, Cosmos leaves the tests out of the producer's build
    # (`--resource-type model|seed|snapshot`); finhouse's build runs them all the same
    producer.dbt_cmd_flags = without_resource_types(list(producer.dbt_cmd_flags or []))
    watchers = [
        task
        for task in dag.tasks
        if task is not producer and getattr(task, "producer_task_id", None) == producer.task_id
    ]
    producer.interceptors = [*producer.interceptors, dbt_runs.select_interceptor(render_select())]
    producer.callback = dbt_runs.after_build(
        models=[t.model_unique_id for t in watchers if not t.is_test_sensor],
        tested=[t.model_unique_id for t in watchers if t.is_test_sensor],
    )
    for task in watchers:
        if task.trigger_rule == TriggerRule.ALL_SUCCESS:
            task.trigger_rule = TriggerRule.NONE_FAILED


def _add_cut_and_check(dag: DbtDag) -> None:
    """The run's first and last tasks (:mod:`finhouse.orchestration.builds`): ``raw_cut``
    before every dbt task, ``dbt_build_check`` after all of them. The check is the build's
    one alert: the dbt tasks themselves do not alert (a failed build would otherwise alert
    once per failing model and again when its retries fail)."""
    producer = dag.task_dict.get(PRODUCER_WATCHER_TASK_ID)
    dbt_tasks = list(dag.tasks)
    for task in dbt_tasks:
        task.on_failure_callback = None
    roots, leaves = list(dag.roots), list(dag.leaves)
    with dag:
        cut = PythonOperator(
            task_id=builds.CUT_TASK_ID,
            python_callable=builds.raw_cut,
            doc_md=(
                "Loads every table once more, then chooses and records the "
                "RAW cut every dbt call of this run reads (`finhouse_meta.mart_cuts`)."
            ),
        )
        check = PythonOperator(
            task_id=builds.CHECK_TASK_ID,
            python_callable=builds.check(
                producer.task_id if producer is not None else None, ignored=["source_freshness"]
            ),
            trigger_rule=TriggerRule.ALL_DONE,
            retries=0,
            # a successful verdict triggers the export DAG (finhouse.orchestration.exporting)
            outlets=[builds.MARTS_BUILT],
            doc_md=(
                "The run's verdict: fails when the dbt build failed or any task did, naming "
                "the failing dbt nodes, even when model tasks' retries passed; records the "
                "build's end (`finhouse_meta.mart_builds`). The build's one alert; its "
                "success triggers the mart exports."
            ),
        )
    cut >> roots
    leaves >> check


def build_dbt_dag() -> DbtDag:
    project_dir = config.dbt_project_dir()
    executable = config.dbt_executable_path()
    watcher = execution_mode() == ExecutionMode.WATCHER
    dag = DbtDag(
        dag_id=DAG_ID,
        description="dbt build of staging, intermediate and marts (Cosmos)",
        doc_md=DOC,
        project_config=ProjectConfig(
            dbt_project_path=project_dir,
            manifest_path=manifest_path(project_dir),
            project_name="finhouse",
            install_dbt_deps=False,
        ),
        profile_config=profile_config(),
        execution_config=ExecutionConfig(
            execution_mode=execution_mode(),
            invocation_mode=InvocationMode.SUBPROCESS,
            dbt_executable_path=executable,
            test_indirect_selection=TestIndirectSelection.CAUTIOUS,
        ),
        render_config=RenderConfig(
            load_method=LoadMode.DBT_MANIFEST,
            select=render_select(),
            test_behavior=test_behavior(watcher),
            group_nodes_by_folder=True,
            source_rendering_behavior=SourceRenderingBehavior.NONE,
            emit_datasets=True,
            # the on-run-end hook (schema USAGE grants) runs inside every `dbt build` call
            node_converters={DbtResourceType("operation"): _skip},
        ),
        operator_args={
            "install_deps": False,
            "append_env": True,
            "env": config.dbt_task_environment(),
            **dbt_runs.TEMPLATED_OPERATOR_ARGS,
        },
        params=dbt_runs.params(with_select=watcher),
        schedule=AssetOrTimeSchedule(
            timetable=CronTriggerTimetable(fallback_schedule(), timezone="UTC"),
            assets=AssetAll(*raw_assets()),
        ),
        start_date=START,
        catchup=False,
        max_active_runs=1,
        dagrun_timeout=dt.timedelta(hours=2),
        default_args={**DEFAULT_ARGS, **alerts.callbacks()},
        tags=["finhouse", "dbt", "transform"],
    )
    _configure_watcher(dag)
    _add_cut_and_check(dag)
    with dag:
        DbtSourceLocalOperator(
            task_id="source_freshness",
            doc_md=(
                "`dbt source freshness` over RAW: fails (and alerts) on a stale table. Not "
                "retried: whether RAW is fresh now is a fact a retry would not change."
            ),
            profile_config=profile_config(),
            project_dir=str(project_dir),
            dbt_executable_path=str(executable),
            install_deps=False,
            append_env=True,
            env=config.dbt_task_environment(),
            retries=0,
            on_warning_callback=alerts.on_warning,
            # what it found joins the data-quality record (finhouse.quality)
            callback=builds.record_quality,
        )
    return dag
