"""Known noise from the libraries finhouse runs on, quieted exactly where it starts.

Each entry names one message from one emitter, none of which points at anything to fix here;
every other warning and log line of those libraries is left as it is.

* ``Import 'DAG' directly from the airflow module is deprecated`` - a
  ``DeprecatedImportWarning`` that Cosmos 1.15 raises itself (``cosmos/airflow/dag.py``: ``from
  airflow.models.dag import DAG``) each time a process imports Cosmos: every DAG-processor
  parse of the dbt DAG file and every dbt task. Ignored when it comes from that module.
* ``GitWildMatchPattern ('gitwildmatch') is deprecated`` - pathspec 1.x's deprecation, raised
  by Airflow's ``.airflowignore`` reader with the ``glob`` syntax (``airflow/_shared/
  module_loading/file_discovery.py`` and the task SDK's copy, for
  ``airflow/plugins/.airflowignore``) in every process that loads plugins. The platform and the
  image read ``.airflowignore`` as ``regexp`` (``AIRFLOW__CORE__DAG_IGNORE_FILE_SYNTAX``), which
  never builds that pattern in the scheduler, the API server and the DAG processor; the task
  SDK's plugin manager (tasks, DAG files' imports) always reads ``glob`` (Airflow 3.3's
  ``airflow/sdk/plugins_manager.py`` passes no syntax), so there the filter is what quiets it.
* ``Unavailable conversion function for <DbtResourceType.OPERATION>`` (and ``EXPOSURE``) -
  Cosmos logs it for every node type it does not render, before it looks at
  ``node_converters`` (``cosmos.airflow.graph.create_task_metadata``), so registering a
  converter does not stop it. The dbt DAG renders neither on purpose: the on-run-end hook
  runs inside each ``dbt build``, the exposures are Superset's dashboards. Dropped for those
  two node types only.
* ``XCom not found`` for the dbt watcher's producer (``dbt_producer_watcher``) - logged at
  error level by Airflow's execution API client (``airflow.sdk.api.client``) in the triggerer,
  each time a Cosmos watcher trigger polls for what its producer has not pushed yet: the dbt
  version lines (``dbt_startup_events``) or a model's status (``model__…_status``,
  ``…_compiled_sql``). An expected state, logged at debug level instead. Any other missing
  XCom stays an error.
* Every task's log copied into the scheduler's own output: Airflow 3.3's LocalExecutor asks
  the supervisor of each task it runs to send the task's log lines to its own logger as well
  as to the task's log file (``subprocess_logs_to_stdout=True`` in
  ``airflow/executors/local_executor.py``, no setting), so the scheduler's output holds a
  second copy of every task log (72 % of ``.finhouse/logs/airflow.log`` in a 40-minute soak).
  The task's log file, which the UI shows, is the one copy kept.
* Routine lines of the dbt watcher (``cosmos.operators._watcher.base``): each poke's "Try
  number #N, poke attempt #M: Pulling status …" in every model task, and dbt's "N of M START
  …" line for each node in the producer's log (the node's result line, "N of M OK …",
  "… PASS …", "… ERROR …", follows with the same numbers, the outcome and the time taken).
  Every other dbt line stays.

:func:`install` puts all of them in place (idempotent). The DAG files call it before they import
Cosmos (the DAG processor and the tasks, in every deployment); Airflow's local settings call it
in every other Airflow process: ``local/airflow_settings`` for the local platform,
``airflow/config/airflow_local_settings.py`` in the image.
"""

from __future__ import annotations

import logging
import re
import warnings
from typing import Any

#: the loggers kept at WARNING: INFO lines written for every request, scheduler loop or task
#: that say nothing an operator reads - the API server's access log (most of it the tasks'
#: own execution-API calls) and its task-instance routes, the scheduler's "Asset-triggered
#: Dags at max_active_runs, deferring" and next-run lines, its lines for each task instance
#: it queues and hears back about (each task's state and times are the UI's and the metadata
#: database's), the supervisor's "Workload finished" per task, and what every task's log
#: starts with: the DAG bundle and DagBag lines and Cosmos' account of building the dbt
#: DAG. Warnings and errors of those loggers still show; dbt's own output (cosmos.hooks, the
#: watcher) is left as it is.
QUIET_LOGGER_NAMES = (
    "http.access",
    "airflow.api_fastapi.execution_api.routes.task_instances",
    "airflow.models.dag",
    "airflow.serialization.definitions.dag",
    "airflow.jobs.scheduler_job_runner",
    "supervisor",
    "airflow.dag_processing.bundles.manager",
    "airflow.dag_processing.dagbag",
    "cosmos.airflow.graph",
    "cosmos.converter",
    "cosmos.dbt.graph",
    "cosmos.config",
)
#: Airflow's ``[logging] namespace_levels`` of the platform and the image
#: (``AIRFLOW__LOGGING__NAMESPACE_LEVELS``): it sets Airflow's own (structlog) loggers; the
#: stdlib loggers of those names (Cosmos', the DagBag's) take their level from
#: :func:`install_logger_levels`, because a task process configures stdlib logging at INFO
QUIET_LOGGERS = ",".join(f"{name}=WARNING" for name in QUIET_LOGGER_NAMES)
#: (message regex, module regex) of the warnings ignored
WARNINGS = (
    (
        r"Import 'DAG' directly from the airflow module is deprecated",
        r"cosmos\.airflow\.dag",
    ),
    (
        r"GitWildMatchPattern \('gitwildmatch'\) is deprecated",
        r"airflow\.(sdk\.)?_shared\.module_loading\.file_discovery",
    ),
)
COSMOS_GRAPH_LOGGER = "cosmos.airflow.graph"
#: the logger of Cosmos' dbt watcher: the producer's dbt lines and the model tasks' pokes
WATCHER_LOGGER = "cosmos.operators._watcher.base"
#: the dbt node types the dbt DAG leaves out on purpose
UNRENDERED_NODE_TYPES = ("OPERATION", "EXPOSURE")
#: the task whose XComs Cosmos' watcher triggers poll for before it pushes them
#: (cosmos.constants.PRODUCER_WATCHER_TASK_ID), and those XComs: the dbt version lines, a
#: node's status, its tests' status, its compiled SQL
WATCHER_PRODUCER = "dbt_producer_watcher"
EXPECTED_MISSING_XCOMS = frozenset({"dbt_startup_events"})
EXPECTED_MISSING_SUFFIXES = ("_status", "_compiled_sql")
XCOM_MISSING_EVENT = "XCom not found"


def expected_missing(task_id: Any, key: Any) -> bool:
    """Whether a missing XCom is one a Cosmos watcher trigger polls for."""
    return (
        task_id == WATCHER_PRODUCER
        and isinstance(key, str)
        and (key in EXPECTED_MISSING_XCOMS or key.endswith(EXPECTED_MISSING_SUFFIXES))
    )


def install_warning_filters() -> None:
    for message, module in WARNINGS:
        warnings.filterwarnings("ignore", message=message, module=module)


class UnrenderedNodeFilter(logging.Filter):
    """Drops Cosmos' "Unavailable conversion function" line for the node types in
    :data:`UNRENDERED_NODE_TYPES`."""

    prefixes = tuple(
        f"Unavailable conversion function for <DbtResourceType.{kind}>"
        for kind in UNRENDERED_NODE_TYPES
    )

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.prefixes)


def install_cosmos_filter() -> None:
    logger = logging.getLogger(COSMOS_GRAPH_LOGGER)
    if not any(isinstance(f, UnrenderedNodeFilter) for f in logger.filters):
        logger.addFilter(UnrenderedNodeFilter())


class ExpectedXComMiss:
    """Airflow's execution API client's logger, with ``XCom not found`` for the XComs a
    watcher trigger polls for (:func:`expected_missing`) logged at debug level; everything
    else passes as is."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def error(self, event: Any = None, *args: Any, **kwargs: Any) -> Any:
        if event == XCOM_MISSING_EVENT and expected_missing(
            kwargs.get("task_id"), kwargs.get("key")
        ):
            return self._inner.debug(event, *args, **kwargs)
        return self._inner.error(event, *args, **kwargs)


def install_xcom_filter() -> None:
    """Wrap ``airflow.sdk.api.client.log`` (imported here if it is not yet)."""
    try:
        from airflow.sdk.api import client  # noqa: PLC0415
    except ImportError:  # an Airflow without the task SDK's client: nothing to quiet
        return
    if not isinstance(client.log, ExpectedXComMiss):
        client.log = ExpectedXComMiss(client.log)


class RoutineWatcherLineFilter(logging.Filter):
    """Drops the watcher's per-poke "Pulling status" line and dbt's per-node START line."""

    poke = re.compile(r"Try number #\d+, poke attempt #\d+: Pulling status ")
    start = re.compile(r"(?:\d\d:\d\d:\d\d(?:\.\d+)?\s+)?\d+ of \d+ START ")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (self.poke.match(message) or self.start.match(message))


def install_watcher_filter() -> None:
    logger = logging.getLogger(WATCHER_LOGGER)
    if not any(isinstance(f, RoutineWatcherLineFilter) for f in logger.filters):
        logger.addFilter(RoutineWatcherLineFilter())


def install_logger_levels() -> None:
    """The stdlib loggers of :data:`QUIET_LOGGER_NAMES` at WARNING (``namespace_levels`` sets
    Airflow's structlog loggers only)."""
    for name in QUIET_LOGGER_NAMES:
        logging.getLogger(name).setLevel(logging.WARNING)


class TaskLogsOnce:
    """``BaseExecutor`` as the LocalExecutor's workers call it: ``run_workload`` keeps a task's
    log lines in the task's log file only (not copied into the scheduler's output)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def run_workload(self, workload: Any, **kwargs: Any) -> Any:
        return self._inner.run_workload(workload, **{**kwargs, "subprocess_logs_to_stdout": False})


def install_task_logs_once() -> None:
    """Wrap the name ``BaseExecutor`` in ``airflow.executors.local_executor`` (its workers,
    forked from the scheduler, call ``BaseExecutor.run_workload``)."""
    try:
        from airflow.executors import local_executor  # noqa: PLC0415
    except ImportError:  # an Airflow without the LocalExecutor: nothing is copied
        return
    if not isinstance(local_executor.BaseExecutor, TaskLogsOnce):
        local_executor.BaseExecutor = TaskLogsOnce(local_executor.BaseExecutor)  # type: ignore[misc,assignment]


def install() -> None:
    install_warning_filters()
    install_cosmos_filter()
    install_watcher_filter()
    install_logger_levels()
    install_xcom_filter()
    install_task_logs_once()
