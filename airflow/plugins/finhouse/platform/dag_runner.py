"""Run DAGs once, through Airflow itself (``dag.test()``), several in one process so Airflow's
start-up (imports, the in-process execution API) is paid once. ``finhouse dags run`` and
``make demo`` use it; so do the end-to-end tests.

Must run in a process whose environment configures Airflow (``airflow_env``) before Airflow
is imported.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finhouse import config


@dataclass
class RunResult:
    dag_id: str
    run_id: str
    state: str
    seconds: float
    tasks: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.state == "success"

    def failed_tasks(self) -> list[str]:
        return [t for t, s in self.tasks.items() if s not in ("success", "skipped")]

    def as_json(self) -> dict[str, Any]:
        return {
            "dag_id": self.dag_id,
            "run_id": self.run_id,
            "state": self.state,
            "seconds": round(self.seconds, 2),
            "tasks": self.tasks,
        }


def dag_bag(dags_folder: Path | None = None) -> Any:
    from airflow.dag_processing.dagbag import DagBag  # noqa: PLC0415

    return DagBag(dag_folder=str(dags_folder or config.REPO_ROOT / "airflow" / "dags"))


def run_dags(
    runs: Sequence[tuple[str, dict[str, Any] | None]],
    *,
    on_done: Callable[[RunResult], None] | None = None,
    stop_on_failure: bool = False,
) -> list[RunResult]:
    """``dag.test()`` each (dag_id, conf) in order; unknown DAG ids fail before anything runs."""
    from finhouse.errors import ConfigError  # noqa: PLC0415

    bag = dag_bag()
    if bag.import_errors:
        raise ConfigError(
            "DAG files fail to import: "
            + "; ".join(
                f"{Path(k).name}: {str(v).strip().splitlines()[-1]}"
                for k, v in bag.import_errors.items()
            )
        )
    missing = [dag_id for dag_id, _ in runs if dag_id not in bag.dags]
    if missing:
        raise ConfigError(
            f"unknown DAG {', '.join(missing)} (known: {', '.join(sorted(bag.dags))})"
        )
    results = []
    for dag_id, conf in runs:
        started = time.perf_counter()
        run = bag.get_dag(dag_id).test(run_conf=conf)
        result = RunResult(
            dag_id=dag_id,
            run_id=run.run_id,
            state=str(run.state),
            seconds=time.perf_counter() - started,
            tasks={_task_key(ti): str(ti.state) for ti in run.get_task_instances()},
        )
        results.append(result)
        if on_done:
            on_done(result)
        if stop_on_failure and not result.ok:
            break
    return results


def _task_key(ti: Any) -> str:
    return ti.task_id + (f"[{ti.map_index}]" if ti.map_index >= 0 else "")


def describe(results: Iterable[RunResult]) -> str:
    return "\n".join(
        f"{r.dag_id:<24}{r.state:<9}{len(r.tasks):>4} tasks {r.seconds:>7.1f} s"
        + (f"  failed: {', '.join(r.failed_tasks())}" if not r.ok else "")
        for r in results
    )
