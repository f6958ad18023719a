"""OpenLineage for the ingestion tasks (finhouse.orchestration.lineage) without Airflow running:
tables named as the OpenLineage spec and the postgres provider's converter name them, from the
DSN a task used (never its user or password); what a task reports is its try's lineage; and
lineage is off unless the environment configures a transport."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from finhouse.orchestration import lineage

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("dsn", "schema", "expected"),
    [
        (
            "postgresql://loader:S3cret@db.internal:6432/warehouse?sslmode=require",
            "raw",
            ("postgres://db.internal:6432", "warehouse.raw.loans"),
        ),
        (
            "host=10.0.0.5 port=5433 dbname=oltp user=extract password=S3cret",
            "public",
            ("postgres://10.0.0.5:5433", "oltp.public.loans"),
        ),
        (
            "postgresql://u@localhost/oltp",
            "public",
            ("postgres://localhost:5432", "oltp.public.loans"),
        ),
        (
            "snowflake://loader:S3cret@xy12345.eu-west-1/finhouse?warehouse=LOADING",
            "raw",
            ("snowflake://xy12345.eu-west-1", "FINHOUSE.RAW.LOANS"),
        ),
    ],
)
def test_a_table_is_named_from_the_dsn_without_its_credentials(
    dsn: str, schema: str, expected: tuple[str, str]
) -> None:
    table = lineage.table(dsn, schema, "loans")
    assert (table.namespace, table.name) == expected
    assert "S3cret" not in repr(table)


class _Task:
    def __init__(self) -> None:
        self.finhouse_lineage = lineage.TaskLineage()


def test_a_task_reports_its_tables_and_a_plain_task_ignores_it() -> None:
    task = _Task()
    source = lineage.table("postgresql://h/oltp", "public", "loans")
    raw = lineage.table("postgresql://h/warehouse", "raw", "loans", rows=12, size=3456)
    lineage.report({"task": task}, inputs=[source])
    lineage.report({"task": task}, outputs=[raw])
    assert task.finhouse_lineage.inputs == [source]
    assert task.finhouse_lineage.outputs == [raw]
    lineage.report({"task": object()}, inputs=[source])  # not a lineage task: nothing happens


def test_the_operator_lineage_carries_the_tables_and_rows_written() -> None:
    pytest.importorskip("airflow.providers.openlineage", reason="the OpenLineage provider")
    source = lineage.table("postgresql://h/oltp", "public", "loans")
    raw = lineage.table("postgresql://h/warehouse", "raw", "loans", rows=12, size=3456)
    found: Any = lineage.TaskLineage([source], [raw]).operator_lineage()
    assert [(d.namespace, d.name) for d in found.inputs] == [
        ("postgres://h:5432", "oltp.public.loans")
    ]
    (output,) = found.outputs
    assert (output.namespace, output.name) == ("postgres://h:5432", "warehouse.raw.loans")
    statistics = output.outputFacets["outputStatistics"]
    assert (statistics.rowCount, statistics.size) == (12, 3456)


def test_lineage_is_off_unless_the_environment_configures_a_transport(tmp_path: Path) -> None:
    pytest.importorskip("airflow.providers.openlineage", reason="the OpenLineage provider")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "OPENLINEAGE"))}
    env["AIRFLOW_HOME"] = str(tmp_path)
    probe = "from airflow.providers.openlineage import conf; print(conf.is_disabled())"

    def disabled(**extra: str) -> str:
        out = subprocess.run(
            [sys.executable, "-c", probe],
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return out.stdout.strip().splitlines()[-1]

    assert disabled() == "True"
    console = json.dumps({"type": "console"})
    assert disabled(AIRFLOW__OPENLINEAGE__TRANSPORT=console) == "False"
    assert (
        disabled(AIRFLOW__OPENLINEAGE__TRANSPORT=console, AIRFLOW__OPENLINEAGE__DISABLED="true")
        == "True"
    )
