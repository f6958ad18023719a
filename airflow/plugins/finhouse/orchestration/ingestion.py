"""One ingestion DAG and one reconcile DAG per source table, from one factory.

DAG files call :func:`build_ingestion_dag` and :func:`build_reconcile_dag` for each entry of
:data:`finhouse.tables.TABLES`. Building a DAG does no I/O: the pipeline (psycopg, the
targets) is imported inside the task callables. The tasks that read the source and write RAW
name both tables for OpenLineage (:mod:`finhouse.orchestration.lineage`).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any, TypeVar

from airflow.sdk import DAG, Asset, Param, TriggerRule, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException
from airflow.timetables.interval import CronDataIntervalTimetable
from airflow.timetables.trigger import CronTriggerTimetable

from finhouse import config, settings
from finhouse.errors import ConfigError, FinhouseError, SchemaDriftError, WindowError
from finhouse.orchestration import alerts, lineage
from finhouse.orchestration.lineage import lineage_task
from finhouse.tables import TableSpec

if TYPE_CHECKING:
    from finhouse.targets.base import Mode

log = logging.getLogger("finhouse.ingest")

OWNER = "finhouse-data"
START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
DEFAULT_ARGS: dict[str, Any] = {
    "owner": OWNER,
    "retries": 2,
    # FINHOUSE_RETRY_DELAY_SECONDS: the first retry's delay (then doubling, up to 10 min);
    # read at import, so a bad value is the DAG files' import error, naming it
    "retry_delay": dt.timedelta(seconds=settings.load().retry_delay_seconds),
    "retry_exponential_backoff": True,
    "max_retry_delay": dt.timedelta(minutes=10),
}


F = TypeVar("F", bound=Callable[..., Any])
#: errors a retry cannot fix: fail at once instead of retrying with backoff
PERMANENT = (ConfigError, SchemaDriftError, WindowError)


def no_retry_on_bad_input(func: F) -> F:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except PERMANENT as exc:
            raise AirflowFailException(f"{type(exc).__name__}: {exc}") from exc

    return wrapper  # type: ignore[return-value]


def raw_asset(table: str) -> Asset:
    """The Asset of a RAW table: a real URI, e.g. postgres://host:port/warehouse/raw/loans.

    Its name is its URI: were the name fixed, moving the warehouse (a new URI under the old
    name) would leave the registered asset inactive and fail every run's outlet."""
    return Asset(uri=config.raw_asset_uri(table), group="finhouse_raw")


def _doc(spec: TableSpec) -> str:
    cursor_note = (
        "an append-only ledger: one RAW row per `id`"
        if spec.kind == "append_only"
        else "updatable: RAW keeps one row per (`id`, `updated_at`) version"
    )
    return f"""
### Ingest `{spec.name}` into RAW

Extract-load of the OLTP table `{spec.source_schema}.{spec.name}` into `raw.{spec.name}`
({cursor_note}) every run (`{spec.schedule}`).

* **What a run reads**: every row version committed in the source since the previous run's
  snapshot, in the source's commit order (transaction snapshots and row `xmin`), whatever the
  rows' `{spec.cursor}` says: rows stamped before their transaction began (`bulk_create`),
  changes that never touched the stamp (`QuerySet.update()`), skewed app clocks are all loaded.
  Rows, the source times covered and the snapshot appear in the task log and in
  `finhouse_meta.load_runs`.
* **Exactly once**: RAW rows, deletion marks, the watermark and the audit row commit in one
  transaction; runs of this table never overlap (a lock shared with backfills and the CLI).
  RAW's current version of a key is the one the latest load saw (greatest `_loaded_at`).
* **Emits** the Asset `{config.raw_asset_uri(spec.name)}` on success (zero-row runs too: the
  event means "fresh up to the new watermark"), with rows and watermark as extra.

**Trigger with params**: `full_refresh` makes RAW equal to the source (a bulk copy into an empty
table — tables over {spec.parallel_threshold:,} rows in {spec.parallel_ranges} parallel key
ranges — else a comparison of every row by hashes that reloads what differs and marks hard
deletes); `window_start` + `window_end` (ISO 8601 with a time zone) reprocess the rows whose
`{spec.cursor}` lies in that window. **Backfill** (UI: *Backfill*, or
`airflow backfill create --dag-id ingest_{spec.name} --from-date … --to-date …`): each run
reprocesses its data interval idempotently and never moves the watermark.
Hard deletes are marked by the `reconcile_{spec.name}` DAG.
"""


def _parse_instant(value: str, name: str) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise WindowError(f"param {name} {value!r} is not an ISO 8601 time") from None
    if parsed.tzinfo is None:
        raise WindowError(f"param {name} {value!r} needs a time zone")
    return parsed


def _run_mode(context: Any) -> tuple[Mode, dt.datetime | None, dt.datetime | None]:
    """(mode, since, until) for this DAG run: params first, then the run's type."""
    params = context["params"]
    dag_run = context["dag_run"]
    start, end = params.get("window_start"), params.get("window_end")
    if params.get("full_refresh"):
        if start or end:
            raise WindowError("full_refresh takes no window_start/window_end")
        return "full", None, None
    if start or end:
        if not (start and end):
            raise WindowError("window_start and window_end go together")
        return "window", _parse_instant(start, "window_start"), _parse_instant(end, "window_end")
    # run_type is a DagRunType (a str enum: its value is "backfill") on the task side
    if getattr(dag_run.run_type, "value", dag_run.run_type) == "backfill":
        return "window", context["data_interval_start"], context["data_interval_end"]
    return "incremental", None, None


def _dsns() -> tuple[str, str]:
    """(OLTP for extracts, warehouse as the loader): the Airflow connections, else the
    environment (:mod:`finhouse.orchestration.connections`)."""
    from finhouse.orchestration import connections  # noqa: PLC0415

    return connections.oltp_extract_dsn(), connections.warehouse_loader_dsn()


def _endpoints(dsns: tuple[str, str]) -> tuple[Any, Any]:
    from finhouse import endpoints  # noqa: PLC0415

    oltp, warehouse = dsns
    return endpoints.source(oltp), endpoints.target(warehouse)


def _source_table(spec: TableSpec, dsns: tuple[str, str]) -> lineage.Table:
    return lineage.table(dsns[0], spec.source_schema, spec.name)


def _raw_table(
    spec: TableSpec, dsns: tuple[str, str], summary: dict[str, Any] | None = None
) -> lineage.Table:
    rows = summary["rows_loaded"] + summary["rows_replaced"] if summary else None
    size = summary["bytes"] if summary else None
    return lineage.table(dsns[1], "raw", spec.name, rows=rows, size=size)


def build_ingestion_dag(spec: TableSpec) -> DAG:
    asset = raw_asset(spec.name)
    with DAG(
        dag_id=f"ingest_{spec.name}",
        description=f"Incremental extract-load of {spec.name} into raw.{spec.name}",
        doc_md=_doc(spec),
        schedule=CronDataIntervalTimetable(spec.schedule, timezone="UTC"),
        start_date=START,
        catchup=False,
        max_active_runs=1,
        dagrun_timeout=dt.timedelta(hours=3),
        default_args={**DEFAULT_ARGS, **alerts.callbacks()},
        tags=["finhouse", "ingestion", spec.kind.replace("_", "-"), spec.name],
        params={
            "full_refresh": Param(
                False,
                type="boolean",
                title="Full refresh",
                description="Make RAW equal to the source (history kept, hard deletes marked).",
            ),
            "window_start": Param(
                None,
                type=["null", "string"],
                format="date-time",
                title="Window start",
                description="Reprocess [start, end): ISO 8601 with zone.",
            ),
            "window_end": Param(
                None,
                type=["null", "string"],
                format="date-time",
                title="Window end",
                description="End of the window (exclusive).",
            ),
        },
        render_template_as_native_obj=False,
    ) as dag:

        @lineage_task(task_id="extract_load")
        @no_retry_on_bad_input
        def extract_load() -> dict[str, Any]:
            from finhouse import pipeline  # noqa: PLC0415

            context = get_current_context()
            mode, since, until = _run_mode(context)
            run_id = f"{context['dag_run'].run_id}#{context['ti'].try_number}"
            dsns = _dsns()
            source, target = _endpoints(dsns)
            lineage.report(context, inputs=[_source_table(spec, dsns)])
            if mode == "full" and pipeline.needs_parallel_full_refresh(spec, source, target):
                plan = pipeline.plan_full_refresh(spec, source, target, run_id)
                log.info("%s: full refresh in %d parallel key ranges", spec.name, len(plan.ranges))
                return {"plan": asdict(plan), "summary": None}
            summary = pipeline.ingest(
                spec,
                source,
                target,
                mode=mode,
                since=since,
                until=until,
                run_id=run_id,
            ).as_json()
            lineage.report(context, outputs=[_raw_table(spec, dsns, summary)])
            return {"plan": None, "summary": summary}

        @task(task_id="key_ranges")
        def key_ranges(result: dict[str, Any]) -> list[list[int]]:
            return list(result["plan"]["ranges"]) if result["plan"] else []

        @lineage_task(task_id="extract_range", max_active_tis_per_dagrun=spec.parallel_ranges)
        @no_retry_on_bad_input
        def extract_range(key_range: list[int], result: dict[str, Any]) -> int:
            from finhouse import pipeline  # noqa: PLC0415

            dsns = _dsns()
            source, target = _endpoints(dsns)
            plan = pipeline.FullRefreshPlan(**result["plan"])
            rows = pipeline.extract_range(spec, source, target, plan, (key_range[0], key_range[1]))
            # staged for RAW: publish swaps the ranges in
            lineage.report(
                get_current_context(),
                inputs=[_source_table(spec, dsns)],
                outputs=[lineage.table(dsns[1], "raw", spec.name, rows=rows)],
            )
            return rows

        @task(task_id="publish", outlets=[asset], trigger_rule=TriggerRule.NONE_FAILED)
        @no_retry_on_bad_input
        def publish(result: dict[str, Any]) -> dict[str, Any]:
            from finhouse import pipeline  # noqa: PLC0415

            context = get_current_context()
            if result["plan"]:
                source, target = _endpoints(_dsns())
                plan = pipeline.FullRefreshPlan(**result["plan"])
                summary = pipeline.publish_full_refresh(spec, source, target, plan).as_json()
            else:
                summary = result["summary"]
            context["outlet_events"][asset].extra = {
                "table": spec.name,
                "mode": summary["mode"],
                "rows_extracted": summary["rows_extracted"],
                "rows_loaded": summary["rows_loaded"],
                "rows_deleted": summary["rows_deleted"],
                "watermark": summary["watermark"],
                "held_back_by": summary["held_back_by"],
            }
            log.info("%s: emitting %s (watermark %s)", spec.name, asset.uri, summary["watermark"])
            return summary

        result: Any = extract_load()
        staged = extract_range.partial(result=result).expand(key_range=key_ranges(result))
        staged >> publish(result)
    return dag


def build_reconcile_dag(spec: TableSpec) -> DAG:
    with DAG(
        dag_id=f"reconcile_{spec.name}",
        description=f"Proves raw.{spec.name} equals the source; marks hard deletes",
        doc_md=f"""
### Reconcile `{spec.name}`

Loads what changed since the last run (an ordinary incremental run), then compares RAW's
current state with the source **in the same snapshot**: every column of every row (a hash per
row, summed per bucket of keys on both servers; only differing buckets are read row by row),
keys, counts and the sums of {", ".join(spec.sum_columns) or "-"}. Keys gone from the source
are marked deleted (`_deleted_at`). The task **fails** when any difference is left, so a
person hears about it; trigger with `repair` to reload exactly the keys that differ, in one
transaction with its audit (a `repair` run in `finhouse_meta.load_runs`).
Schedule: `{spec.reconcile_schedule}` (set `FINHOUSE_{spec.name.upper()}_RECONCILE_SCHEDULE`).
Same as `finhouse reconcile {spec.name} [--repair]`.
""",
        schedule=CronTriggerTimetable(spec.reconcile_schedule, timezone="UTC"),
        start_date=START,
        catchup=False,
        max_active_runs=1,
        default_args={**DEFAULT_ARGS, **alerts.callbacks()},
        tags=["finhouse", "reconcile", spec.name],
        params={
            "repair": Param(
                False,
                type="boolean",
                title="Repair",
                description="Reload the keys that are missing or differ in RAW.",
            ),
        },
    ) as dag:

        @lineage_task(task_id="reconcile")
        @no_retry_on_bad_input
        def reconcile() -> dict[str, Any]:
            from finhouse import pipeline  # noqa: PLC0415

            context = get_current_context()
            dsns = _dsns()
            source, target = _endpoints(dsns)
            # it loads what changed, compares both, marks deletions and (repair) reloads keys
            raw = _raw_table(spec, dsns)
            lineage.report(context, inputs=[_source_table(spec, dsns), raw], outputs=[raw])
            report = pipeline.reconcile(
                spec,
                source,
                target,
                run_id=f"{context['dag_run'].run_id}",
                repair=bool(context["params"].get("repair")),
            )
            if not report.clean:
                raise FinhouseError(f"reconcile found differences: {report.describe()}")
            out = asdict(report)
            out["watermark"] = report.watermark.isoformat() if report.watermark else None
            return out

        reconcile()
    return dag
