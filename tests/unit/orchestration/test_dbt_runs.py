"""The dbt DAG's run params (finhouse.orchestration.dbt_runs) without Airflow running: the
selection the producer passes to dbt, and what it reports for the watched nodes a selective
build did not build."""

from __future__ import annotations

from typing import Any

import pytest

from finhouse.orchestration import dbt_runs

pytestmark = pytest.mark.unit

DAILY = "model.finhouse.portfolio_daily"
SEGMENTS = "model.finhouse.int_portfolio__segment_days"
LOANS = "model.finhouse.stg_oltp__loans"
TESTS = {
    DAILY: ["test.finhouse.unique_daily", "test.finhouse.relationships_daily_officer"],
    SEGMENTS: ["test.finhouse.unique_segments"],
    LOANS: ["test.finhouse.unique_loans"],
}


@pytest.mark.parametrize(
    ("requested", "rendered", "expected"),
    [
        ("", [], None),
        ("  ", ["+portfolio_daily"], None),
        (None, ["+portfolio_daily"], None),
        ("portfolio_daily", [], "portfolio_daily"),
        ("a  b", [], "a b"),
        # (rendered) ∩ (requested), in dbt's words: a comma intersects, a space unites
        ("portfolio_daily", ["+portfolio_daily"], "+portfolio_daily,portfolio_daily"),
        ("x y", ["a", "b"], "a,x a,y b,x b,y"),
        ("tag:daily,path:models/marts", ["+p"], "+p,tag:daily,path:models/marts"),
    ],
)
def test_the_selection_is_the_request_within_what_the_dag_renders(
    requested: str | None, rendered: list[str], expected: str | None
) -> None:
    assert dbt_runs.effective_select(requested, rendered) == expected


class _Ti:
    def __init__(self) -> None:
        self.pushed: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


class _Producer:
    tests_per_model = TESTS
    select = "+portfolio_daily,portfolio_daily"


def _context(select: str = "portfolio_daily") -> dict[str, Any]:
    return {"ti": _Ti(), "task": _Producer(), "params": {"select": select}}


def _results(**statuses: str) -> dict[str, Any]:
    return {"results": [{"unique_id": uid, "status": s} for uid, s in statuses.items()]}


def test_nodes_outside_a_selective_build_are_reported_skipped() -> None:
    context = _context()
    built = _results(
        **{DAILY: "success", "test.finhouse.unique_daily": "pass"}  # one of its two tests ran
    )
    reported = dbt_runs.report_unselected(context, built, [DAILY, SEGMENTS, LOANS], list(TESTS))
    pushed = context["ti"].pushed
    # the model dbt built keeps what Cosmos reported; the others are skipped
    assert "model__finhouse__portfolio_daily_status" not in pushed
    assert pushed["model__finhouse__int_portfolio__segment_days_status"]["status"] == "skipped"
    assert pushed["model__finhouse__stg_oltp__loans_status"]["status"] == "skipped"
    # tests: those that ran (cautious selection left the other out) decide; none ran: skipped
    assert pushed["model__finhouse__portfolio_daily_tests_status"] == "pass"
    assert pushed["model__finhouse__int_portfolio__segment_days_tests_status"] == "skipped"
    assert set(reported.values()) == {"skipped", "pass"}


def test_tests_that_all_ran_keep_cosmos_aggregate_and_a_failure_fails() -> None:
    context = _context()
    built = _results(
        **{
            LOANS: "success",
            "test.finhouse.unique_loans": "pass",
            DAILY: "success",
            "test.finhouse.unique_daily": "fail",
        }
    )
    dbt_runs.report_unselected(context, built, [DAILY, LOANS], [DAILY, LOANS])
    pushed = context["ti"].pushed
    assert "model__finhouse__stg_oltp__loans_tests_status" not in pushed
    assert pushed["model__finhouse__portfolio_daily_tests_status"] == "fail"


def test_a_build_that_never_ran_fails_every_watched_node() -> None:
    """No run_results.json (a bad selection, no warehouse): each task fails at once instead of
    building its own model."""
    context = _context("nonsense:x")
    reported = dbt_runs.report_unselected(context, None, [DAILY, LOANS], [DAILY])
    assert set(reported.values()) == {"error"}
    assert context["ti"].pushed["model__finhouse__portfolio_daily_status"]["status"] == "error"


def test_the_record_names_params_selection_and_what_dbt_ran() -> None:
    context = _context()
    context["params"] |= {"as_of_date": "2026-06-30", "full_refresh": True}
    run_results = _results(**{DAILY: "success", "test.finhouse.unique_daily": "pass"}) | {
        "args": {"which": "build", "select": ["+portfolio_daily,portfolio_daily"]},
        "elapsed_time": 3.14159,
        "metadata": {"invocation_id": "abc"},
    }
    entry = dbt_runs.record(context, run_results)
    assert entry["as_of_date"] == "2026-06-30"
    assert entry["full_refresh"] is True
    assert entry["select"] == "portfolio_daily"
    assert entry["dbt_select"] == "+portfolio_daily,portfolio_daily"
    assert entry["dbt"]["args"]["which"] == "build"
    assert entry["dbt"]["statuses"] == {"model success": 1, "test pass": 1}
    assert entry["dbt"]["models"] == {DAILY: "success"}
    assert entry["dbt"]["elapsed_seconds"] == 3.1
    assert dbt_runs.record(context, None)["dbt"] is None
