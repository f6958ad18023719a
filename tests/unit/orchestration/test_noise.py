"""The known noise is quieted for its one emitter and message, nothing else."""

from __future__ import annotations

import logging
import warnings

import pytest
import structlog
from airflow.sdk.api import client
from structlog.testing import capture_logs

from finhouse.orchestration import noise

pytestmark = pytest.mark.unit


class Recorder:
    """A logger that records (level, event, key) of each call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, object]] = []

    def __getattr__(self, level: str) -> object:
        def log(event: str, *_: object, **kwargs: object) -> None:
            self.calls.append((level, event, kwargs.get("key")))

        return log


def test_the_expected_missing_xcom_is_debug_and_any_other_stays_an_error() -> None:
    inner = Recorder()
    quiet = noise.ExpectedXComMiss(inner)
    producer = "dbt_producer_watcher"
    status = "model__finhouse__int_calendar__days_status"
    quiet.error("XCom not found", key="dbt_startup_events", task_id=producer)
    quiet.error("XCom not found", key=status, task_id=producer)
    quiet.error("XCom not found", key="return_value", task_id=producer)
    quiet.error("XCom not found", key="dbt_startup_events", task_id="extract")
    quiet.error("XCom not found", key="load_status", task_id="extract")
    quiet.error("something else", key="dbt_startup_events", task_id=producer)
    quiet.info("passes through")
    assert inner.calls == [
        ("debug", "XCom not found", "dbt_startup_events"),
        ("debug", "XCom not found", status),
        ("error", "XCom not found", "return_value"),
        ("error", "XCom not found", "dbt_startup_events"),
        ("error", "XCom not found", "load_status"),
        ("error", "something else", "dbt_startup_events"),
        ("info", "passes through", None),
    ]


def test_the_wrapper_takes_airflows_structlog_logger() -> None:
    quiet = noise.ExpectedXComMiss(structlog.get_logger("airflow.sdk.api.client"))
    with capture_logs() as logs:
        quiet.error("XCom not found", key="return_value")
    assert [(e["event"], e["log_level"]) for e in logs] == [("XCom not found", "error")]


def test_install_wraps_the_execution_api_clients_logger_once() -> None:

    noise.install_xcom_filter()
    noise.install_xcom_filter()
    assert isinstance(client.log, noise.ExpectedXComMiss)
    assert not isinstance(client.log._inner, noise.ExpectedXComMiss)


def test_cosmos_unrendered_node_lines_dropped_for_operations_and_exposures_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    noise.install_cosmos_filter()
    logger = logging.getLogger(noise.COSMOS_GRAPH_LOGGER)
    with caplog.at_level(logging.WARNING, logger=noise.COSMOS_GRAPH_LOGGER):
        for kind in ("OPERATION", "EXPOSURE", "ANALYSIS"):
            logger.warning(
                "Unavailable conversion function for <DbtResourceType.%s> (node <x>). "
                "Define a converter function using render_config.node_converters.",
                kind,
            )
    assert [r.getMessage()[:52] for r in caplog.records] == [
        "Unavailable conversion function for <DbtResourceType"
    ]
    assert "ANALYSIS" in caplog.records[0].getMessage()


def test_warning_filters_match_their_module_only() -> None:
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        noise.install_warning_filters()
        message = "Import 'DAG' directly from the airflow module is deprecated and will go"
        warnings.warn_explicit(message, DeprecationWarning, "dag.py", 9, "cosmos.airflow.dag")
        warnings.warn_explicit(message, DeprecationWarning, "mine.py", 1, "finhouse.mine")
        gitwild = "GitWildMatchPattern ('gitwildmatch') is deprecated. Use 'gitignore'"
        module = "airflow.sdk._shared.module_loading.file_discovery"
        warnings.warn_explicit(gitwild, DeprecationWarning, "file_discovery.py", 106, module)
    assert [str(w.message)[:20] for w in seen] == ["Import 'DAG' directl"]
    assert seen[0].filename == "mine.py"


def test_the_watchers_routine_lines_are_dropped_and_dbts_results_kept(
    caplog: pytest.LogCaptureFixture,
) -> None:
    noise.install_watcher_filter()
    noise.install_watcher_filter()
    logger = logging.getLogger(noise.WATCHER_LOGGER)
    assert sum(isinstance(f, noise.RoutineWatcherLineFilter) for f in logger.filters) == 1
    lines = [
        "Try number #1, poke attempt #3: Pulling status from task_id 'dbt_producer_watcher' "
        "via XCom key 'model__finhouse__x_status' for model 'model.finhouse.x'",
        "12:41:02  7 of 395 START sql view model staging.stg_oltp__loans ........ [RUN]",
        "7 of 395 START test not_null_x_id ...................................... [RUN]",
        "12:41:03  7 of 395 OK created sql view model staging.stg_oltp__loans [CREATE VIEW]",
        "12:41:04  8 of 395 FAIL 1 relationships_x ............................. [FAIL 1 in 0.1s]",
        "Try number #2 ran the model itself",
        "Finished running 59 models, 300 data tests in 0 hours 0 minutes and 35 seconds.",
    ]
    with caplog.at_level(logging.INFO, logger=noise.WATCHER_LOGGER):
        for line in lines:
            logger.info("%s", line)
    assert [r.getMessage() for r in caplog.records] == [lines[3], lines[4], lines[5], lines[6]]


def test_quiet_loggers_are_at_warning_for_stdlib_loggers_too() -> None:
    noise.install_logger_levels()
    for name in ("cosmos.converter", "airflow.dag_processing.dagbag.BundleDagBag"):
        logger = logging.getLogger(name)
        assert not logger.isEnabledFor(logging.INFO), name
        assert logger.isEnabledFor(logging.WARNING), name
    # dbt's own output is not among them
    assert "cosmos.hooks.subprocess" not in noise.QUIET_LOGGERS
    assert noise.WATCHER_LOGGER not in noise.QUIET_LOGGERS


class Workloads:
    """Stands for BaseExecutor: records what run_workload was asked."""

    def __init__(self) -> None:
        self.calls: list[dict[str, object]] = []

    def run_workload(self, workload: object, **kwargs: object) -> int:
        self.calls.append({"workload": workload, **kwargs})
        return 0


def test_local_executor_workers_keep_task_logs_in_the_task_log_only() -> None:
    inner = Workloads()
    once = noise.TaskLogsOnce(inner)
    assert once.run_workload("w", server="s", subprocess_logs_to_stdout=True) == 0
    assert once.run_workload("v") == 0
    assert inner.calls == [
        {"workload": "w", "server": "s", "subprocess_logs_to_stdout": False},
        {"workload": "v", "subprocess_logs_to_stdout": False},
    ]
    from airflow.executors import local_executor  # noqa: PLC0415

    noise.install_task_logs_once()
    noise.install_task_logs_once()
    assert isinstance(local_executor.BaseExecutor, noise.TaskLogsOnce)
    assert not isinstance(local_executor.BaseExecutor._inner, noise.TaskLogsOnce)
    # the name the workers call is wrapped; the class the executor derives from is Airflow's
    assert local_executor.LocalExecutor.__mro__[1] is local_executor.BaseExecutor._inner
