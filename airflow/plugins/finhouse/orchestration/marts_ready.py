"""The first task of a scheduled DAG that reads the marts: ``marts_built`` waits for them.

On a fresh platform every DAG is unpaused at once, and a DAG scheduled by the clock (the
month-end close, the default model's training and scoring) runs its latest due tick at
once - before the first dbt build has created the marts it reads. Failing there would
alert for nothing and use up the retries; instead the run waits: the sensor checks every
:data:`POKE_SECONDS` that the marts exist, in reschedule mode (no worker slot held between
checks), up to :data:`WAIT` - then fails without retrying, its log naming the marts still
missing. A check that cannot reach the warehouse fails the try and is retried as any task.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import Any

from airflow.sdk import PokeReturnValue, task

log = logging.getLogger("finhouse.orchestration")

TASK_ID = "marts_built"
MARTS = "marts"
POKE_SECONDS = 60
#: how long a run waits for the first build (a DAG's dagrun_timeout must exceed it)
WAIT = dt.timedelta(hours=6)


def missing_marts(dsn: str, names: Sequence[str]) -> list[str]:
    """The marts among ``names`` that do not exist in the warehouse (schema ``marts``)."""
    from finhouse.connections import connect  # noqa: PLC0415

    with connect(dsn) as conn:
        # the catalog, not to_regclass: it needs no privilege on the schema
        found = {
            row[0]
            for row in conn.execute(
                "select c.relname from pg_class c "
                "join pg_namespace n on n.oid = c.relnamespace "
                "where n.nspname = %s and c.relname = any(%s)",
                (MARTS, list(names)),
            ).fetchall()
        }
    return [name for name in names if name not in found]


def marts_built(names: Sequence[str]) -> Any:
    """The sensor task (call it inside a DAG; its result is the upstream of the readers)."""
    wanted = tuple(names)

    @task.sensor(
        task_id=TASK_ID,
        poke_interval=POKE_SECONDS,
        timeout=WAIT.total_seconds(),
        mode="reschedule",
    )
    def wait() -> PokeReturnValue:
        from finhouse.orchestration import connections  # noqa: PLC0415

        missing = missing_marts(connections.transformer_dsn(), wanted)
        if missing:
            log.info(
                "waiting for the first dbt build (finhouse_dbt): %s not built yet",
                ", ".join(f"{MARTS}.{name}" for name in missing),
            )
        return PokeReturnValue(is_done=not missing)

    return wait()
