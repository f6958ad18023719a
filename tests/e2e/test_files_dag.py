"""The spreadsheet DAGs under real Airflow (dag.test()): a dataset's files land in RAW; a
malformed file fails the run once — one alert naming the file, row and column, never a value —
while the dataset's other files load; the next run leaves it quarantined without failing."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest

from finhouse.oltp.spreadsheets import write_csv
from finhouse_local.cluster import Provisioner
from tests.e2e.conftest import airflow_env, run_dags
from tests.e2e.test_dbt_dag import webhook  # noqa: F401 - shared fixture
from tests.integration.ingest.conftest import Pipeline

pytestmark = pytest.mark.e2e

SECRET = "S3CRET-VALUE-77"  # noqa: S105 - a marker no message may contain


def test_spreadsheet_dags_load_and_quarantine_with_one_alert(
    pipe: Pipeline,
    pg_server: Provisioner,
    airflow_db: None,
    webhook: tuple[str, list[dict[str, Any]]],  # noqa: F811
    tmp_path: Path,
) -> None:
    url, received = webhook
    drop = tmp_path / "drop"
    write_csv(
        drop / "branches" / "branches.csv",
        ["Branch Code", "Branch Name", "Region", "Country"],
        [["NBO01", "Nairobi Central", "Central", "Kenya"], ["MSA01", "Mombasa", "Coast", "Kenya"]],
    )
    header = ["month", "branch_code", "disbursement_target", "par30_ceiling"]
    write_csv(drop / "branch_targets" / "good.csv", header, [["2026-05", "NBO01", "5000", "5%"]])
    write_csv(
        drop / "branch_targets" / "bad.csv",
        header,
        [["2026-05", "MSA01", "4000", "5%"], ["2026-06", "MSA01", "4000", SECRET]],
    )
    env = airflow_env(pg_server, pipe.dbs)
    env["FINHOUSE_FILES_DIR"] = str(drop)
    env["FINHOUSE_ALERT_WEBHOOK_URL"] = url
    branches, targets, again = run_dags(
        env,
        ("finhouse_files_branches", None),
        ("finhouse_files_branch_targets", None),
        ("finhouse_files_branch_targets", None),
    )
    assert branches["state"] == "success", branches.get("log")
    assert targets["state"] == "failed"
    assert again["state"] == "success", again.get("log")
    with psycopg.connect(pipe.dbs.warehouse_dsn("admin")) as wh:
        assert wh.execute(
            "select branch_code, branch_name, _file from raw.file_branches order by 1"
        ).fetchall() == [
            ("MSA01", "Mombasa", "branches.csv"),
            ("NBO01", "Nairobi Central", "branches.csv"),
        ]
        assert wh.execute(
            "select month, branch_code, disbursement_target, par30_ceiling, _file "
            "from raw.file_branch_targets"
        ).fetchall() == [
            (dt.date(2026, 5, 1), "NBO01", Decimal("5000.00"), Decimal("0.0500"), "good.csv")
        ]
        states = dict(
            wh.execute(
                "select file_path, status from finhouse_meta.file_states "
                "where dataset = 'branch_targets'"
            ).fetchall()
        )
    assert states == {"good.csv": "loaded", "bad.csv": "quarantined"}
    alerts = [a for a in received if a["dag_id"] == "finhouse_files_branch_targets"]
    assert len(alerts) == 1, received
    assert (
        "branch_targets/bad.csv: quarantined: row 3, column par30_ceiling: not a fraction (0.05) "
        "or a percentage (5%)" in alerts[0]["text"]
    )
    assert SECRET not in json.dumps(received)
