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
