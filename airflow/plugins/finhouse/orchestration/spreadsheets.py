"""One DAG per spreadsheet dataset (``finhouse_files_<dataset>``), from
:data:`finhouse.files.DATASETS`.

Each run loads the dataset's new and changed files into ``raw.file_<dataset>``, marks the rows
of deleted files and quarantines malformed files (:mod:`finhouse.files`). A run that
quarantines a file fails after loading the others — one alert naming the file, the row and the
column — and the next runs leave the file quarantined until it (or another file of its
dataset) changes. Emits the RAW table's Asset on success; the dbt DAG's next build reads the
table (the dbt DAG is not scheduled on it: spreadsheets change seldom, the OLTP's loads
trigger builds every few minutes).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from airflow.sdk import DAG, Asset, task
from airflow.sdk.exceptions import AirflowFailException
from airflow.timetables.trigger import CronTriggerTimetable

from finhouse import settings
from finhouse.files import DatasetSpec
from finhouse.orchestration import alerts
from finhouse.orchestration.ingestion import DEFAULT_ARGS, START, no_retry_on_bad_input, raw_asset

log = logging.getLogger("finhouse.files")


def _doc(spec: DatasetSpec) -> str:
    columns = "\n".join(
        f"| `{c.name}` | {c.kind}{' (required)' if c.name in spec.key or c.required else ''} "
        f"| {c.description} |"
        for c in spec.columns
    )
    return f"""
### Load the `{spec.name}` spreadsheets into RAW

{spec.description.capitalize()}: the `.csv` and `.xlsx` files of `<FINHOUSE_FILES_DIR>/{spec.name}/`
(merged by column name; headers are matched case-insensitively, spaces as `_`) into
`raw.{spec.raw_table}`, key ({", ".join(spec.key)}).

| column | kind | meaning |
|---|---|---|
{columns}

* A file is loaded once per content (SHA-256); a changed file replaces its rows, a deleted
  file's rows are marked deleted, a new column is added to RAW as text.
* A malformed file (wrong type, missing required column, empty or repeated key — also across
  files) is **quarantined**: nothing of it loads, the others do, and the run **fails** with one
  line naming the file, row and column. `finhouse files status` lists every file's state.
"""


def build_files_dag(spec: DatasetSpec) -> DAG:
    schedule = settings.load().files_schedule
    asset: Asset = raw_asset(spec.raw_table)
    with DAG(
        dag_id=f"finhouse_files_{spec.name}",
        description=f"Loads the {spec.name} spreadsheets into raw.{spec.raw_table}",
        doc_md=_doc(spec),
        schedule=CronTriggerTimetable(schedule, timezone="UTC"),
        start_date=START,
        catchup=False,
        max_active_runs=1,
        dagrun_timeout=dt.timedelta(hours=1),
        default_args={**DEFAULT_ARGS, **alerts.callbacks()},
        tags=["finhouse", "ingestion", "spreadsheets", spec.name],
    ) as dag:

        @task(task_id="load_files", outlets=[asset])
        @no_retry_on_bad_input
        def load_files(**context: Any) -> dict[str, Any]:
            from finhouse import endpoints, files  # noqa: PLC0415
            from finhouse.orchestration import connections  # noqa: PLC0415

            target = endpoints.target(connections.warehouse_loader_dsn())
            try:
                result = files.load_dataset(
                    target, spec.name, run_id=str(context["run_id"]), lock_wait=600
                )
            finally:
                target.close()
            log.info("%s", result.summary())
            if result.newly_quarantined:
                raise AirflowFailException(
                    "quarantined: "
                    + "; ".join(f.describe(spec.name) for f in result.newly_quarantined)
                )
            return {
                "loaded": result.count("loaded"),
                "deleted": result.count("deleted"),
                "quarantined": result.count("quarantined", "still quarantined"),
                "rows": sum(f.rows for f in result.files),
            }

        load_files()
    return dag
