"""The month-end close DAG (``finhouse_close``): each month, the previous month's figures
frozen from the marts (:mod:`finhouse.closes`), then its report pack - a PDF and an Excel
workbook (:mod:`finhouse.report_pack`) - stored with the exports (``FINHOUSE_EXPORT_URL``,
``monthly_report/<close id>/``, the exports' manifest; kept
``FINHOUSE_REPORT_RETENTION_DAYS``).

* Scheduled on day ``FINHOUSE_CLOSE_DAYS_AFTER_MONTH_END`` of each month (06:00 UTC): late
  payments of the month's last days have that long to arrive; it closes the month before
  the run's date.
* On demand (*Trigger DAG* with the param ``month``, ``YYYY-MM``): any month the marts hold
  complete. Closing a month again writes a new version only when a figure changed, with the
  restatement (``closes.restated_figures``, ``closes.restated_loans``).
* On a fresh platform the run first waits for the first dbt build to create the marts
  (``marts_built``, :mod:`finhouse.orchestration.marts_ready`).
* The marts must hold the month complete (built as of a later day): otherwise the task fails
  saying so, and its retries wait for the next build.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from airflow.sdk import DAG, Param, task
from airflow.timetables.trigger import CronTriggerTimetable

from finhouse import closes, settings
from finhouse.orchestration import alerts
from finhouse.orchestration.ingestion import DEFAULT_ARGS, START
from finhouse.orchestration.marts_ready import WAIT, marts_built

log = logging.getLogger("finhouse.closes")

DAG_ID = "finhouse_close"

DOC = """
### Month-end close

Freezes the previous month's month-end figures of the reporting marts (portfolio quality,
provisioning and risk coverage, collections, yield, the financial summary, roll rates and
every loan's position) into the warehouse's `closes` schema: immutable, versioned
(`2026-11-v1`, `-v2`…). A month closed again gets a new version only when a figure changed,
with a restatement: every changed figure (`closes.restated_figures`) and every loan whose
position changed with the payments and write-offs that caused it (`closes.restated_loans`).
Reports read `closes.<section>_as_closed` (each month's latest close). Then `report_pack`
writes the close's PDF and Excel workbook with the exports (`FINHOUSE_EXPORT_URL`, folder
`monthly_report/<close id>/`).

Schedule: day `FINHOUSE_CLOSE_DAYS_AFTER_MONTH_END` of each month, 06:00 UTC. Trigger with
`{"month": "YYYY-MM"}` to close or re-close another month. By hand: `finhouse close YYYY-MM`.
"""


def month_to_close(params: dict[str, Any], logical_date: dt.datetime | None) -> dt.date:
    """The month of the param ``month`` when given, else the month before the run's date."""
    given = (params or {}).get("month")
    if given:
        return closes.parse_month(str(given))
    day = (logical_date or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).date()
    return closes.previous_month(day)


def build_close_dag() -> DAG:
    cfg = settings.load()
    with DAG(
        dag_id=DAG_ID,
        description="Freezes each month's figures from the marts (month-end close)",
        doc_md=DOC,
        schedule=CronTriggerTimetable(f"0 6 {cfg.close_days_after_month_end} * *", timezone="UTC"),
        start_date=START,
        catchup=False,
        max_active_runs=1,
        dagrun_timeout=WAIT + dt.timedelta(hours=1),
        default_args={**DEFAULT_ARGS, **alerts.callbacks()},
        params={
            "month": Param(
                None,
                type=["null", "string"],
                pattern=r"^\d{4}-(0[1-9]|1[0-2])$",
                description="YYYY-MM; empty: the month before the run's date",
            )
        },
        tags=["finhouse", "closes"],
    ) as dag:

        @task(task_id="close_month")
        def close_month(**context: Any) -> dict[str, Any]:
            from finhouse.orchestration import connections  # noqa: PLC0415

            month = month_to_close(context.get("params") or {}, context.get("logical_date"))
            result = closes.close_month(
                connections.transformer_dsn(),
                month,
                reader_role=settings.load().reporter_role,
                closed_by=f"{DAG_ID} {context.get('run_id')}",
            )
            # counts only: the loans' causes (payments, amounts) stay in closes.restated_loans
            log.info("%s", result.describe(limit=0))
            return {
                "month": f"{month:%Y-%m}",
                "close_id": result.close_id or result.previous,
                "new_version": result.close_id is not None,
                "restated_figures": len(result.restated_figures),
                "restated_loans": len(result.restated_loans),
            }

        @task(task_id="report_pack")
        def report(closed: Any) -> dict[str, Any]:  # (the close task's XCom: a dict)
            from finhouse import exports, report_pack  # noqa: PLC0415
            from finhouse.orchestration import connections  # noqa: PLC0415

            pack = report_pack.read_pack(
                connections.export_reader_dsn(),
                closes.parse_month(closed["month"]),
                closed["close_id"],
            )
            destination = exports.destination()
            manifest, wrote = report_pack.publish(
                pack, destination, keep_days=settings.load().report_retention_days
            )
            log.info("%s", report_pack.describe(pack, destination, wrote))
            return {"close_id": pack.close_id, "files": [f.path for f in manifest.files]}

        closed = close_month()
        marts_built([section.mart for section in closes.SECTIONS]) >> closed
        report(closed)
    return dag
