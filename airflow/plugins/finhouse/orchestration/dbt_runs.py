"""What a run of the dbt DAG (``finhouse_dbt``) takes from its trigger params, and what it
records.

* **Params** (:func:`params`, shown with their descriptions in the UI's trigger form):
  ``as_of_date`` (the dbt var every figure is computed as of; empty: today), ``full_refresh``
  (``--full-refresh``: incremental models rebuilt from scratch) and, in watcher mode,
  ``select`` (a dbt selection; empty: the whole project). Scheduled runs take the defaults,
  which build what they always built.
* **Templated, not coded** (:data:`TEMPLATED_OPERATOR_ARGS`): Cosmos renders its operators'
  ``vars`` and ``full_refresh`` fields as Jinja, so every dbt task - the watcher's producer,
  and a model task that runs its model itself on a retry - gets them from the params.
* **The selection** is the producer's alone (:func:`select_interceptor`, a Cosmos
  interceptor run before it builds its ``dbt build``): the requested selection, intersected
  with what the DAG renders (``FINHOUSE_DBT_SELECT``), or the rendered selection as before.
* **Unselected tasks end skipped** (:func:`after_build`, the producer's Cosmos callback):
  in watcher mode a task per model waits for the producer to report its model; a model
  outside the selection is never reported, so its task would wait until the build ends and
  then pass as "not run" (or, under ``dag.test()``, keep polling). After a selective build,
  the producer reports every model dbt did not build, and the tests of a model none of whose
  tests ran, as ``skipped``; a model some of whose tests ran reports those.
* **Recorded**: the params, the selection passed to dbt and dbt's own account of what it ran
  (``run_results.json``: its arguments, each node's status) are the producer's XCom
  ``dbt_build`` and lines of its log, beside the run's conf in the UI.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from airflow.sdk import Param

from finhouse.orchestration import builds

log = logging.getLogger("finhouse.dbt")

#: the producer's XCom that records what a run built (see the module's docstring)
RECORD_KEY = "dbt_build"
#: dbt's selection syntax, words separated by spaces (as FINHOUSE_DBT_SELECT)
SELECT_PATTERN = r"^[A-Za-z0-9_.:+*@/,\- ]*$"
#: the operator fields Cosmos templates, filled from the params
TEMPLATED_OPERATOR_ARGS: dict[str, Any] = {
    # an empty var is today: macros/as_of_date.sql treats '' as unset
    "vars": {
        "as_of_date": "{{ params.as_of_date or '' }}",
        # the RAW cut the run reads (finhouse.orchestration.builds: the raw_cut task's XCom)
        "raw_cut": "{{ ti.xcom_pull(task_ids='raw_cut', key='raw_cut') or '' }}",
        "raw_cut_id": "{{ dag_run.run_id }}",
    },
    # rendered "True"/"False"; Cosmos reads the text as a boolean
    "full_refresh": "{{ params.full_refresh }}",
}
#: the dbt statuses run_results.json gives a node that ran as it should
_OK = {"success", "pass", "warn"}
#: the dbt statuses of a node that failed (a model's error, a test's fail or error)
_FAILED = {"error", "fail", "runtime error"}


def params(*, with_select: bool = True) -> dict[str, Param]:
    """The DAG's trigger params; ``select`` only where one ``dbt build`` serves the run
    (watcher mode: in local mode every model's task builds its model)."""
    found = {
        "as_of_date": Param(
            None,
            type=["null", "string"],
            format="date",
            title="As of date",
            description=(
                "Compute every figure as of this day (YYYY-MM-DD: the dbt var as_of_date). "
                "Empty: today (UTC)."
            ),
        ),
        "full_refresh": Param(
            False,
            type="boolean",
            title="Full refresh",
            description=(
                "dbt build --full-refresh: rebuild the incremental models from scratch "
                "instead of restating what changed in RAW."
            ),
        ),
    }
    if with_select:
        found["select"] = Param(
            "",
            type="string",
            pattern=SELECT_PATTERN,
            title="Select",
            description=(
                "Build only these dbt nodes (dbt's --select syntax, e.g. "
                "'+portfolio_daily' or 'path:models/marts'). Empty: the whole project. "
                "The other models' tasks end skipped."
            ),
        )
    return found


def effective_select(requested: str | None, rendered: Sequence[str]) -> str | None:
    """The selection the producer passes to dbt: the requested one within the rendered one
    (``FINHOUSE_DBT_SELECT``: the DAG has tasks for those nodes only), as dbt's syntax says
    it - words are a union, a comma an intersection - so ``(a b) ∩ (x y)`` is
    ``a,x a,y b,x b,y``. None when nothing is requested (the rendered selection stands)."""
    asked = (requested or "").split()
    if not asked:
        return None
    if not rendered:
        return " ".join(asked)
    return " ".join(f"{base},{word}" for base in rendered for word in asked)


def describe(context: Any, select: str | None) -> dict[str, Any]:
    """The run's params as the build uses them."""
    run_params = context["params"]
    return {
        "as_of_date": run_params.get("as_of_date") or None,
        "full_refresh": bool(run_params.get("full_refresh")),
        "select": run_params.get("select") or None,
        "dbt_select": select,
    }


def select_interceptor(rendered: Sequence[str]) -> Callable[[Any, Any], None]:
    """A Cosmos interceptor for the watcher's producer: sets the selection its ``dbt build``
    gets from the ``select`` param, and logs the run's params."""
    rendered = tuple(rendered)

    def intercept(context: Any, operator: Any) -> None:
        select = effective_select(context["params"].get("select"), rendered)
        if select is not None:
            operator.select = select
        described = describe(context, select or (" ".join(rendered) or None))
        log.info(
            "dbt build as of %s%s, selection %s",
            described["as_of_date"] or "today (UTC)",
            ", full refresh" if described["full_refresh"] else "",
            described["dbt_select"] or "the whole project",
        )

    return intercept


def _run_results(project_dir: str) -> dict[str, Any] | None:
    path = Path(project_dir) / "target" / "run_results.json"
    try:
        found: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return found


def record(context: Any, run_results: dict[str, Any] | None) -> dict[str, Any]:
    """What the run asked for and what dbt says it did: the producer's XCom ``dbt_build``."""
    operator = context["task"]
    entry: dict[str, Any] = describe(context, getattr(operator, "select", None))
    if run_results is None:
        entry["dbt"] = None
        return entry
    args = run_results.get("args") or {}
    results = run_results.get("results") or []
    statuses = Counter(
        f"{r['unique_id'].split('.', 1)[0]} {r.get('status')}" for r in results if "unique_id" in r
    )
    entry["dbt"] = {
        "invocation_id": (run_results.get("metadata") or {}).get("invocation_id"),
        "args": {
            key: args.get(key)
            for key in ("which", "select", "exclude", "full_refresh", "vars", "indirect_selection")
        },
        "elapsed_seconds": round(float(run_results.get("elapsed_time") or 0), 1),
        "statuses": dict(sorted(statuses.items())),
        "failed": sorted(
            r["unique_id"] for r in results if "unique_id" in r and r.get("status") in _FAILED
        ),
        "models": {
            r["unique_id"]: r.get("status")
            for r in results
            if str(r.get("unique_id", "")).split(".", 1)[0] in ("model", "seed", "snapshot")
        },
    }
    return entry


def _push_status(ti: Any, unique_id: str, status: str, *, tests: bool) -> None:
    """Report a node's status where its watcher task reads it (Cosmos' XCom keys)."""
    from cosmos.operators._watcher.aggregation import get_tests_status_xcom_key  # noqa: PLC0415
    from cosmos.operators._watcher.state import (  # noqa: PLC0415
        get_status_xcom_key,
        safe_xcom_push,
    )

    if tests:
        safe_xcom_push(task_instance=ti, key=get_tests_status_xcom_key(unique_id), value=status)
    else:
        value = {"status": status, "outlet_uris": []}
        safe_xcom_push(task_instance=ti, key=get_status_xcom_key(unique_id), value=value)


def report_unselected(
    context: Any,
    run_results: dict[str, Any] | None,
    models: Iterable[str],
    tested: Iterable[str],
) -> dict[str, str]:
    """After a selective build, the status of every watched node dbt did not report: the
    models it did not build and the tests of a model none of whose tests ran are
    ``skipped``; a model some of whose tests ran has those tests' aggregate (dbt left out the
    others: with cautious indirect selection, the tests that also read an unselected model).
    When dbt never got to run nodes (no run_results.json: a bad selection, an unreachable
    warehouse) each is ``error``, so its task fails at once rather than building its model
    itself. Returns ``{task's node: status}`` of what it reported."""
    ti = context["ti"]
    tests_per_model: dict[str, list[str]] = getattr(context["task"], "tests_per_model", {}) or {}
    ran = {
        r["unique_id"]: str(r.get("status"))
        for r in (run_results or {}).get("results") or []
        if "unique_id" in r
    }
    reported: dict[str, str] = {}
    for unique_id in models:
        if unique_id not in ran:
            status = "skipped" if run_results is not None else "error"
            _push_status(ti, unique_id, status, tests=False)
            reported[unique_id] = status
    for unique_id in tested:
        expected = tests_per_model.get(unique_id) or []
        done = [ran[t] for t in expected if t in ran]
        if expected and len(done) == len(expected):
            continue  # every test ran: Cosmos reported their aggregate
        if run_results is None:
            status = "error"
        elif not done:
            status = "skipped"
        else:
            status = "pass" if all(s in _OK for s in done) else "fail"
        _push_status(ti, unique_id, status, tests=True)
        reported[f"{unique_id} (tests)"] = status
    return reported


def after_build(models: Sequence[str], tested: Sequence[str]) -> Callable[..., None]:
    """The producer's Cosmos callback (run after ``dbt build``, failed or not, with the copy
    of the project it ran in): records the build; after a selective one, reports the watched
    nodes (``models``: the model tasks' nodes; ``tested``: the models whose tests have a
    task) it did not build."""
    models, tested = tuple(models), tuple(tested)

    def callback(project_dir: str, *, context: Any, **_: Any) -> None:
        run_results = _run_results(project_dir)
        if run_results is not None:
            builds.mark_built(context)
            builds.record_quality(project_dir, context=context)
        entry = record(context, run_results)
        context["ti"].xcom_push(key=RECORD_KEY, value=entry)
        if entry["dbt"] is not None:
            log.info("dbt ran: %s", json.dumps(entry["dbt"]["statuses"]))
        if not context["params"].get("select"):
            return
        reported = report_unselected(context, run_results, models, tested)
        statuses = Counter(reported.values())
        log.info(
            "selective build: reported %d watched nodes outside it (%s)",
            len(reported),
            ", ".join(f"{n} {s}" for s, n in sorted(statuses.items())) or "none",
        )

    return callback
