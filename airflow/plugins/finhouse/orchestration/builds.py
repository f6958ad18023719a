"""The two ends of a run of the dbt DAG: the cut it reads RAW as of, and its verdict.

* ``raw_cut`` (first): loads every table once more, each after the tables that reference it
  (:func:`finhouse.cut.refresh_order`), chooses the cut
  (:func:`finhouse.cut.choose`), records it (``finhouse_meta.mart_cuts``, and the build as
  ``running`` in ``finhouse_meta.mart_builds``) and hands dbt ``{table: horizon}``
  (:data:`CUT_XCOM`, the dbt var ``raw_cut``: ``dbt_runs.TEMPLATED_OPERATOR_ARGS``). Every dbt
  call of the run - the producer's build and a model task retried on its own - reads RAW as
  of that one cut.
* ``dbt_build_check`` (last, whatever happened before it): the run's verdict. The watcher's
  producer runs one ``dbt build``; when it fails, its model tasks retry their models one by
  one and may pass, and Airflow, which judges a run by its last tasks, would call the run a
  success. This task fails the run when the build failed, or any task did, naming the
  failing dbt nodes (the producer's record, :mod:`finhouse.orchestration.dbt_runs`) and
  tasks; it records the build's end in ``mart_builds``, and it is the one task of the build
  that alerts (once per run, with those names).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from airflow.sdk import Asset
from airflow.sdk.exceptions import AirflowFailException

from finhouse import settings
from finhouse.errors import FinhouseError, safe_error_text
from finhouse.tables import TABLES

log = logging.getLogger("finhouse.dbt")

CUT_TASK_ID = "raw_cut"
CHECK_TASK_ID = "dbt_build_check"
#: the raw_cut task's XCom holding the dbt var ``raw_cut`` as JSON
CUT_XCOM = "raw_cut"
#: emitted by ``dbt_build_check`` when the build succeeded: the export DAG runs on it
MARTS_BUILT = Asset(uri="finhouse://marts/built", name="finhouse_marts_built", group="finhouse")
#: task states that mean a task did not do its work
FAILED_STATES = ("failed", "upstream_failed")


def mark_built(context: Any) -> None:
    """The producer's ``dbt build`` ended (called by its callback, failed or not): the time the
    marts began to hold the run's cut, ``mart_builds.built_at`` (the run itself ends when its
    model tasks have reported, ``finished_at``). A run without a cut (a build by hand)
    changes nothing; a warehouse that cannot take it costs a warning, not the build."""
    from finhouse import cut, endpoints  # noqa: PLC0415
    from finhouse.orchestration import connections  # noqa: PLC0415

    try:
        cut.built(endpoints.target(connections.warehouse_loader_dsn()), context["dag_run"].run_id)
    except Exception as exc:  # noqa: BLE001 - the record only; the build stands
        log.warning("could not record when the build ended: %s", safe_error_text(exc))


def record_quality(project_dir: str, *, context: Any, **_: Any) -> None:
    """A Cosmos callback (the producer's, through :func:`finhouse.orchestration.dbt_runs.
    after_build`, and ``source_freshness``'s): keeps what the dbt run's tests or freshness
    check found in the data-quality record (:mod:`finhouse.quality`) and says it in one
    line. A warehouse that cannot take it costs a warning, not the run."""
    from finhouse import endpoints, quality  # noqa: PLC0415
    from finhouse.orchestration import connections  # noqa: PLC0415

    try:
        target = endpoints.target(connections.warehouse_loader_dsn())
        base_cmd = list(getattr(context["task"], "base_cmd", None) or [])
        found = quality.record_target(
            target,
            context["dag_run"].run_id,
            Path(project_dir) / "target",
            "freshness" if "freshness" in base_cmd else None,
        )
    except Exception as exc:  # noqa: BLE001 - the record only; the run stands
        log.warning("data quality: could not record this run: %s", safe_error_text(exc))
        return
    if found is not None:
        log.info("data quality: %s", quality.describe(found))


def _endpoints() -> tuple[Any, Any]:
    from finhouse import endpoints  # noqa: PLC0415
    from finhouse.orchestration import connections  # noqa: PLC0415

    return (
        endpoints.source(connections.oltp_extract_dsn()),
        endpoints.target(connections.warehouse_loader_dsn()),
    )


def refresh_all(source: Any, target: Any, run_id: str) -> list[str]:
    """Load every table once more (see the module's doc); returns the tables that could not
    be loaded (their cut then falls back to their latest load, and the tables referencing
    them to loads that precede it)."""
    from finhouse import cut, pipeline  # noqa: PLC0415

    missed = []
    for name in cut.refresh_order():
        try:
            summary = pipeline.ingest(TABLES[name], source, target, run_id=run_id)
        except Exception as exc:  # noqa: BLE001 - an unloadable table only holds the cut back
            log.warning("raw_cut: %s could not be loaded first: %s", name, safe_error_text(exc))
            missed.append(name)
        else:
            log.info("raw_cut: loaded %s first (%d rows)", name, summary.rows_loaded)
    return missed


def raw_cut(**context: Any) -> dict[str, str | None]:
    """The ``raw_cut`` task (see the module's doc)."""
    from finhouse import cut  # noqa: PLC0415

    ti, dag_run = context["ti"], context["dag_run"]
    source, target = _endpoints()
    if settings.load().dbt_cut_refresh == "1":
        refresh_all(source, target, f"{dag_run.run_id}#cut{ti.try_number}")
    chosen = cut.choose(cut.read_loads(target, TABLES))
    cut.record(target, dag_run.run_id, chosen, dag_run_id=dag_run.run_id)
    horizons = chosen.horizons()
    ti.xcom_push(key=CUT_XCOM, value=json.dumps(horizons, sort_keys=True))
    log.info(
        "raw_cut: the marts read RAW as of %s: %s",
        chosen.as_of.isoformat() if chosen.as_of else "?",
        chosen.describe(),
    )
    return horizons


def _flat_states(found: Mapping[str, Any]) -> dict[str, str]:
    """``{task_id: state}`` from the task SDK's ``get_task_states`` answer
    (``{run_id: {task_id: state}}``)."""
    states: dict[str, str] = {}
    for value in found.values():
        if isinstance(value, Mapping):
            states.update({str(k): str(v) for k, v in value.items()})
    return states


def verdict(
    states: Mapping[str, str], record: Mapping[str, Any] | None, producer_id: str | None
) -> list[str]:
    """What failed in the run: the dbt nodes the build failed (``record``: the producer's
    ``dbt_build`` XCom) and the tasks that failed; empty when the run did its work."""
    failed: list[str] = []
    nodes = list((((record or {}).get("dbt") or {}).get("failed")) or [])
    failed += [f"dbt node {node}" for node in nodes]
    producer_state = states.get(producer_id or "", "")
    if producer_id and producer_state in FAILED_STATES and not nodes:
        failed.append(f"task {producer_id} {producer_state} (dbt did not report the nodes)")
    failed += [
        f"task {task_id} {state}"
        for task_id, state in sorted(states.items())
        if state in FAILED_STATES and task_id != producer_id
    ]
    return failed


def check(producer_id: str | None, ignored: Iterable[str] = ()) -> Any:
    """The ``dbt_build_check`` callable."""
    ignored = set(ignored)

    def dbt_build_check(**context: Any) -> None:
        ti, dag_run = context["ti"], context["dag_run"]
        states = _flat_states(ti.get_task_states(dag_id=ti.dag_id, run_ids=[dag_run.run_id]))
        states = {t: s for t, s in states.items() if t not in ignored and t != ti.task_id}
        record = ti.xcom_pull(task_ids=producer_id, key="dbt_build") if producer_id else None
        failed = verdict(states, record, producer_id)
        try:
            from finhouse import cut  # noqa: PLC0415

            cut.finish(_endpoints()[1], dag_run.run_id, failed_nodes=failed)
        except FinhouseError as exc:
            log.warning("dbt_build_check: the build's end was not recorded: %s", exc)
        if failed:
            raise AirflowFailException(
                f"the dbt build failed ({len(failed)}): "
                + "; ".join(failed[:20])
                + (f"; and {len(failed) - 20} more" if len(failed) > 20 else "")
            )
        log.info("dbt_build_check: the build and every task succeeded")

    return dbt_build_check
