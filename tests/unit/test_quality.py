"""The data-quality record's reading of dbt's artifacts (finhouse.quality): each test's model,
column and severity from the manifest, its status and failing rows from run_results.json,
each source's freshness from sources.json; messages without row values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from finhouse import quality
from finhouse.errors import safe_text

pytestmark = pytest.mark.unit

MANIFEST = {
    "nodes": {
        "test.finhouse.not_null_stg_oltp__users_user_id.1a": {
            "name": "not_null_stg_oltp__users_user_id",
            "column_name": "user_id",
            "attached_node": "model.finhouse.stg_oltp__users",
            "test_metadata": {"name": "not_null", "kwargs": {"column_name": "user_id"}},
            "config": {"severity": "ERROR"},
            "depends_on": {"nodes": ["model.finhouse.stg_oltp__users"]},
        },
        "test.finhouse.accounts_not_overdrawn.2b": {
            "name": "accounts_not_overdrawn",
            "column_name": None,
            "attached_node": "model.finhouse.stg_oltp__accounts",
            "test_metadata": {"name": "expression_is_true", "kwargs": {"expression": "b >= 0"}},
            "config": {"severity": "warn"},
            "depends_on": {"nodes": ["model.finhouse.stg_oltp__accounts"]},
        },
        "test.finhouse.unique_combination_of_columns_flows.3c": {
            "name": "unique_combination_of_columns_flows",
            "column_name": None,
            "attached_node": "model.finhouse.int_accounts__monthly_branch_flows",
            "test_metadata": {
                "name": "unique_combination_of_columns",
                "kwargs": {"columns": ["month_start", "branch_code"]},
            },
            "config": {"severity": "ERROR"},
            "depends_on": {"nodes": []},
        },
        "test.finhouse.assert_par_ratios_are_ordered": {
            "name": "assert_par_ratios_are_ordered",
            "column_name": None,
            "attached_node": None,
            "test_metadata": None,
            "config": {"severity": "ERROR"},
            "depends_on": {"nodes": ["model.finhouse.portfolio_daily", "seed.finhouse.g"]},
        },
    }
}
RUN_RESULTS = {
    "metadata": {"invocation_id": "inv-1"},
    "args": {"which": "build"},
    "results": [
        {"unique_id": "model.finhouse.stg_oltp__users", "status": "success", "failures": None},
        {
            "unique_id": "test.finhouse.not_null_stg_oltp__users_user_id.1a",
            "status": "pass",
            "failures": 0,
            "message": None,
        },
        {
            "unique_id": "test.finhouse.accounts_not_overdrawn.2b",
            "status": "warn",
            "failures": 3,
            "message": "Got 3 results, configured to warn if != 0",
        },
        {
            "unique_id": "test.finhouse.unique_combination_of_columns_flows.3c",
            "status": "fail",
            "failures": 2,
            "message": "Got 2 results, configured to fail if != 0",
        },
        {
            "unique_id": "test.finhouse.assert_par_ratios_are_ordered",
            "status": "error",
            "failures": None,
            "message": (
                'Database Error in test x\n  invalid input syntax for type numeric: "12,5x"\n'
                "  LINE 3: where name = 'Jane Doe'"
            ),
        },
    ],
}
SOURCES = {
    "metadata": {"invocation_id": "inv-2"},
    "results": [
        {
            "unique_id": "source.finhouse.oltp.users",
            "status": "pass",
            "max_loaded_at": "2026-12-03T13:00:00+00:00",
            "max_loaded_at_time_ago_in_s": 600.0,
            "criteria": {
                "warn_after": {"count": 2, "period": "hour"},
                "error_after": {"count": 12, "period": "hour"},
            },
        },
        {
            "unique_id": "source.finhouse.oltp.payments",
            "status": "error",
            "max_loaded_at": "2026-12-01T13:00:00+00:00",
            "max_loaded_at_time_ago_in_s": 172800.0,
            "criteria": {
                "warn_after": {"count": 2, "period": "hour"},
                "error_after": {"count": 12, "period": "hour"},
            },
        },
        {
            "unique_id": "source.finhouse.oltp.loans",
            "status": "runtime error",
            "error": "relation 'raw.loans' does not exist",
        },
    ],
}


def test_each_test_names_its_model_column_severity_status_and_failing_rows() -> None:
    found = {c.name: c for c in quality.test_checks(RUN_RESULTS, MANIFEST)}
    assert sorted(found) == [
        "accounts_not_overdrawn",
        "assert_par_ratios_are_ordered",
        "not_null_stg_oltp__users_user_id",
        "unique_combination_of_columns_flows",
    ]  # the model itself is not a check
    passed = found["not_null_stg_oltp__users_user_id"]
    assert (passed.subject, passed.column_name, passed.severity, passed.status) == (
        "stg_oltp__users",
        "user_id",
        "error",
        "pass",
    )
    assert not passed.problem
    warned = found["accounts_not_overdrawn"]
    assert (warned.subject, warned.severity, warned.status, warned.failures) == (
        "stg_oltp__accounts",
        "warn",
        "warn",
        3,
    )
    assert warned.problem
    failed = found["unique_combination_of_columns_flows"]
    assert failed.column_name == "month_start, branch_code"
    assert (failed.status, failed.failures) == ("fail", 2)
    singular = found["assert_par_ratios_are_ordered"]
    assert singular.subject == "g, portfolio_daily"  # what it reads
    assert singular.status == "error"
    assert quality.counts(found.values()) == {
        "pass": 1,
        "warn": 1,
        "fail": 1,
        "error": 1,
        "skipped": 0,
    }


def test_an_errors_message_keeps_its_first_line_without_values() -> None:
    found = {c.name: c for c in quality.test_checks(RUN_RESULTS, MANIFEST)}
    message = found["assert_par_ratios_are_ordered"].message or ""
    assert message == "Database Error in test x"
    assert safe_text('invalid input syntax for type numeric: "12,5x"') == (
        'invalid input syntax for type numeric: "…"'
    )
    assert safe_text("where name = 'Jane Doe' and 1 = 1") == "where name = '…' and 1 = 1"
    checks = quality.test_checks(RUN_RESULTS, MANIFEST)
    assert "Jane" not in json.dumps([c.__dict__ for c in checks])


def test_source_freshness_says_how_old_each_source_is_against_its_limits() -> None:
    found = {c.subject: c for c in quality.freshness_checks(SOURCES)}
    users, payments, loans = found["oltp.users"], found["oltp.payments"], found["oltp.loans"]
    assert (users.kind, users.status, users.problem) == ("freshness", "pass", False)
    assert users.message == "last loaded 10 min ago (warn after 2 hour, error after 12 hour)"
    assert (payments.status, payments.severity) == ("error", "error")
    assert payments.message is not None
    assert payments.message.startswith("last loaded 48.0 h ago")
    assert (loans.status, loans.severity) == ("error", "error")  # dbt's "runtime error"
    assert loans.message == "relation '…' does not exist"


def test_read_target_takes_what_the_run_left(tmp_path: Path) -> None:
    assert quality.read_target(tmp_path) is None  # nothing ran
    (tmp_path / "manifest.json").write_text(json.dumps(MANIFEST))
    (tmp_path / "run_results.json").write_text(json.dumps(RUN_RESULTS))
    build = quality.read_target(tmp_path)
    assert build is not None
    assert (build.invocation_id, build.command, len(build.checks)) == ("inv-1", "build", 4)
    # `dbt source freshness`: sources.json, whatever else the folder holds
    freshness_dir = tmp_path / "f"
    freshness_dir.mkdir()
    (freshness_dir / "sources.json").write_text(json.dumps(SOURCES))
    (freshness_dir / "run_results.json").write_text(json.dumps(RUN_RESULTS))
    run = quality.read_target(freshness_dir, "freshness")
    assert run is not None
    assert (run.invocation_id, run.command, len(run.checks)) == ("inv-2", "freshness", 3)
    only_sources = tmp_path / "s"
    only_sources.mkdir()
    (only_sources / "sources.json").write_text(json.dumps(SOURCES))
    found = quality.read_target(only_sources)
    assert found is not None
    assert found.command == "freshness"
    # a broken artifact is no record, not a crash
    (tmp_path / "run_results.json").write_text("{not json")
    assert quality.read_target(tmp_path) is None


def test_describe_counts_what_occurred() -> None:
    assert quality.describe({"pass": 312, "warn": 1, "fail": 0, "error": 0, "skipped": 2}) == (
        "312 passed, 1 warned, 2 skipped"
    )
    assert quality.describe({}) == "no checks"
