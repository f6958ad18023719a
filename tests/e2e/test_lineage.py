"""OpenLineage under real Airflow (dag.test()) and real dbt, configured as an operator would -
by the environment alone, here the provider's file transport into a temporary folder: the
ingestion runs' events name each OLTP table they read and the RAW table they wrote, and the dbt
run's events name the models it built and their inputs (RAW tables and models), with the same
names for the same tables, so the graph joins OLTP -> RAW -> models. Off, nothing is written.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from finhouse.tables import TABLES
from finhouse_local.cluster import Provisioner
from tests.e2e.conftest import airflow_env, run_dags
from tests.integration.ingest.conftest import Pipeline

pytestmark = pytest.mark.e2e

#: a slice of the project: RAW loans -> staging -> an intermediate model
RENDERED = "+int_loans__schedule"
NAMESPACE = "finhouse-test"


def _events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _names(datasets: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(d["namespace"], d["name"]) for d in datasets}


def _completes(events: list[dict[str, Any]], job: str) -> list[dict[str, Any]]:
    return [e for e in events if e["eventType"] == "COMPLETE" and e["job"]["name"] == job]


def test_ingestion_and_dbt_events_name_the_tables_they_read_and_wrote(
    pipe: Pipeline, pg_server: Provisioner, airflow_db: None, tmp_path: Path
) -> None:
    pytest.importorskip("airflow.providers.openlineage", reason="the OpenLineage provider")
    events_file = tmp_path / "openlineage.jsonl"
    env = airflow_env(pg_server, pipe.dbs)
    env["AIRFLOW_CONN_FINHOUSE_DBT"] = pipe.dbs.warehouse_dsn("transformer")
    env["FINHOUSE_DBT_SELECT"] = RENDERED
    env["AIRFLOW__OPENLINEAGE__NAMESPACE"] = NAMESPACE
    env["AIRFLOW__OPENLINEAGE__TRANSPORT"] = json.dumps(
        {"type": "file", "log_file_path": str(events_file), "append": True}
    )
    time.sleep(0.4)
    results = run_dags(env, *((f"ingest_{t}", None) for t in TABLES), ("finhouse_dbt", None))
    for result in results:
        assert result["state"] == "success", result.get("log")
    events = _events(events_file)
    assert events, "no OpenLineage event written"
    assert {e["job"]["namespace"] for e in events} >= {NAMESPACE}

    server = f"postgres://127.0.0.1:{pg_server.port}"
    oltp, warehouse = pipe.dbs.oltp, pipe.dbs.warehouse
    for table in TABLES:
        (load,) = _completes(events, f"ingest_{table}.extract_load")
        assert _names(load["inputs"]) == {(server, f"{oltp}.public.{table}")}
        (raw,) = load["outputs"]
        assert (raw["namespace"], raw["name"]) == (server, f"{warehouse}.raw.{table}")
        rows = raw["outputFacets"]["outputStatistics"]["rowCount"]
        assert rows > 0, raw
        # publish, which emits the Asset, names the same RAW table (its outlet)
        (publish,) = _completes(events, f"ingest_{table}.publish")
        assert _names(publish["outputs"]) == {(server, f"{warehouse}.raw.{table}")}

    # dbt (Cosmos): the producer's one build names each model it built and its inputs
    (build,) = _completes(events, "finhouse_dbt.dbt_producer_watcher")
    outputs, inputs = _names(build["outputs"]), _names(build["inputs"])
    assert (server, f"{warehouse}.staging.stg_oltp__loans") in outputs
    assert (server, f"{warehouse}.intermediate.int_loans__schedule") in outputs
    # staging reads RAW as ingestion named it; the intermediate model reads staging
    assert (server, f"{warehouse}.raw.loans") in inputs
    assert (server, f"{warehouse}.staging.stg_oltp__loans") in inputs
