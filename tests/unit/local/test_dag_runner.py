"""``finhouse dags run``'s summary (``finhouse_local.dag_runner.describe``)."""

from __future__ import annotations

import pytest

from finhouse_local.dag_runner import RunResult, describe

pytestmark = pytest.mark.unit


def test_the_summary_keeps_its_columns_for_long_dag_ids() -> None:
    results = [
        RunResult("ingest_users", "r1", "success", 7.3, {"extract": "success"}),
        RunResult("finhouse_files_officer_targets", "r2", "failed", 1.2, {"load": "failed"}),
    ]
    lines = describe(results).splitlines()
    assert lines[0].split() == ["ingest_users", "success", "1", "tasks", "7.3", "s"]
    assert lines[1].split()[:2] == ["finhouse_files_officer_targets", "failed"]
    assert lines[1].endswith("failed: load")
    # the state column starts at the same place on every line
    assert lines[0].index("success") == lines[1].index("failed")
