"""The dbt project builds cleanly: no errors, no warnings, docs, and the incremental path."""

from __future__ import annotations

import json
import re

import psycopg
import pytest

from finhouse.oltp.simulate import simulate
from tests.integration.dbt.conftest import Warehouse

pytestmark = pytest.mark.integration


def _summary(output: str) -> dict[str, int]:
    match = re.findall(r"Done\. PASS=(\d+) WARN=(\d+) ERROR=(\d+) SKIP=(\d+)", output)
    assert match, output[-2000:]
    passed, warned, errors, skipped = map(int, match[-1])
    return {"pass": passed, "warn": warned, "error": errors, "skip": skipped}


def _assert_clean(output: str) -> None:
    summary = _summary(output)
    assert summary["error"] == 0, output[-4000:]
    assert summary["warn"] == 0, output[-4000:]
    assert summary["skip"] == 0, output[-4000:]
    assert summary["pass"] > 150
    # deprecations and other warnings dbt prints outside the summary
    warnings = [line for line in output.splitlines() if "[WARNING]" in line or "Deprecat" in line]
    assert not warnings, warnings


def test_full_build_has_no_errors_and_no_warnings(built: Warehouse) -> None:
    _assert_clean(built.build_output)


def test_incremental_build_after_simulated_activity_is_clean(built: Warehouse) -> None:
    with psycopg.connect(built.dsn()) as wh:
        before = wh.execute(
            "select count(*), max(source_changed_at) from intermediate.int_loans__daily_delinquency"
        ).fetchone()
    stats = simulate(built.oltp_dsn, ticks=3, seed=99)
    assert stats.operations > 0
    built.ingest()
    out = built.dbt("build")
    _assert_clean(out.stdout)
    assert "int_loans__daily_delinquency" in out.stdout
    with psycopg.connect(built.dsn()) as wh:
        after = wh.execute(
            "select count(*), max(source_changed_at) from intermediate.int_loans__daily_delinquency"
        ).fetchone()
        # the incremental model took in the changed loans (their RAW change time moved)
        assert after is not None
        assert before is not None
        assert after[1] > before[1]
        runs = wh.execute("select count(*) from marts.pipeline_health").fetchone()
        assert runs == (6,)


def test_docs_generate_and_every_mart_column_is_described(built: Warehouse) -> None:
    built.dbt("docs", "generate")
    catalog = json.loads((built.target_path / "catalog.json").read_text())
    manifest = json.loads((built.target_path / "manifest.json").read_text())
    marts = [
        n
        for n in manifest["nodes"].values()
        if n["resource_type"] == "model" and n["schema"] == "marts"
    ]
    assert len(marts) >= 15
    for node in marts:
        assert node["description"].strip(), node["name"]
        built_columns = catalog["nodes"][node["unique_id"]]["columns"]
        for column in built_columns:
            documented = node["columns"].get(column, {}).get("description", "").strip()
            assert documented, f"{node['name']}.{column} has no description"
