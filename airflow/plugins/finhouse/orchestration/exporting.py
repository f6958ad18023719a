"""The export DAG (``finhouse_export``): after each successful build of the marts, the marts
marked for export (``meta: {export: …}`` in their YAML) written as CSV and Parquet with a
manifest, atomically (:mod:`finhouse.exports`).

* Scheduled on :data:`MARTS_BUILT`, the Asset ``dbt_build_check`` emits when the dbt DAG's
  verdict is a success: a failed build exports nothing.
* One task per marked mart (from dbt's manifest, read when the DAG file is parsed, as Cosmos
  reads it for the dbt DAG); each reads its mart in one read-only snapshot through the
  connection ``finhouse_export`` (else ``finhouse_dbt``), publishes it under
  ``FINHOUSE_EXPORT_URL`` and removes its exports past ``FINHOUSE_EXPORT_RETENTION_DAYS``.
* Idempotent: a run of unchanged marts writes nothing; retried, a task finds its export done.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from airflow.sdk import DAG, task

from finhouse import config, exports, settings
from finhouse.orchestration import alerts
from finhouse.orchestration.builds import MARTS_BUILT
from finhouse.orchestration.ingestion import DEFAULT_ARGS, START

log = logging.getLogger("finhouse.exports")

DAG_ID = "finhouse_export"


def marked_marts() -> dict[str, exports.ExportSpec]:
    """The marts marked for export, from the parsed dbt project (none if it is not parsed)."""
    manifest = config.dbt_project_dir() / "target" / "manifest.json"
    try:
        return exports.specs(json.loads(manifest.read_text()))
    except (OSError, ValueError):
        return {}


DOC = """
### Mart exports

After each successful build of the marts (the Asset `finhouse_marts_built`, emitted by the dbt
DAG's `dbt_build_check`), each mart marked `meta: {export: …}` in its YAML is written as CSV and
Parquet (by month where it has a date) with a manifest: rows, columns and types, SHA-256 of every
file, the dbt run. An export is complete or invisible: readers start from
`<mart>/LATEST.json`. Unchanged content writes nothing. Where: `FINHOUSE_EXPORT_URL` (a folder or
an `s3://`, `gs://`… URL); kept `FINHOUSE_EXPORT_RETENTION_DAYS` days. By hand:
`finhouse export MART… [--as-of D] [--to URL]`.
"""


def build_export_dag() -> DAG:
    cfg = settings.load()
    # read here: a bad setting fails the DAG file with one line naming it, not a task
    keep_days, destination = cfg.export_retention_days, exports.destination()
    with DAG(
        dag_id=DAG_ID,
        description="Writes the marts marked for export as CSV and Parquet after each build",
        doc_md=DOC,
        schedule=[MARTS_BUILT],
        start_date=START,
        catchup=False,
        max_active_runs=1,
        dagrun_timeout=dt.timedelta(hours=2),
        default_args={**DEFAULT_ARGS, **alerts.callbacks()},
        tags=["finhouse", "exports"],
    ) as dag:
        for name, spec in marked_marts().items():

            @task(task_id=f"export_{name}", doc_md=f"Exports `marts.{name}`.")
            def export(spec: exports.ExportSpec = spec, **context: Any) -> dict[str, Any]:
                from finhouse.orchestration import connections  # noqa: PLC0415

                manifest, wrote = exports.export_mart(
                    connections.export_reader_dsn(),
                    spec,
                    destination,
                    dbt_run_id=_triggering_run(context),
                    keep_days=keep_days,
                )
                log.info("%s", exports.describe(manifest, destination, wrote))
                return {"export_id": manifest.export_id, "rows": manifest.rows, "wrote": wrote}

            export()
    return dag


def _triggering_run(context: Any) -> str | None:
    """The dbt DAG run whose success triggered this run (its Asset event's source)."""
    events = context.get("triggering_asset_events") or {}
    for found in events.values():
        for event in found or []:
            run_id = getattr(event, "source_run_id", None)
            if run_id:
                return str(run_id)
    return None
