"""Run DAGs once, through Airflow itself (``dag.test()``), several in one process so Airflow's
start-up (imports, the in-process execution API) is paid once. ``finhouse dags run`` and
``make demo`` use it; so do the end-to-end tests.

Must run in a process whose environment configures Airflow (``airflow_env``) before Airflow
is imported. What ``dag.test()`` needs beyond a scheduler (:func:`run_producer_first`) is done
here, to the DAG objects it runs, never in the DAG code.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from finhouse_local.paths import REPO_ROOT
from finhouse_local.private import open_log, private_dir


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

    return DagBag(dag_folder=str(dags_folder or REPO_ROOT / "airflow" / "dags"))


@contextlib.contextmanager
def output_to(log_file: Path | None) -> Iterator[TextIO]:
    """Send everything written to stdout/stderr (Airflow's task logs included) to ``log_file``
    for the block; yields a stream to the original terminal for progress lines."""
    if log_file is None:
        yield sys.stderr
        return
    private_dir(log_file.parent)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    terminal = os.fdopen(os.dup(2), "w", buffering=1)
    with open_log(log_file) as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield terminal
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            terminal.close()


#: the dbt resources a Cosmos watcher producer reports one by one as dbt finishes them (its
#: XCom ``<resource>__<project>__<name>_status``; tests report as ``…_tests_status``)
_WATCHED_RESOURCES = ("model__", "seed__", "snapshot__")


class TaskProgress:
    """Every few seconds, one line: how many tasks of the DAG's newest run have finished, and,
    for a Cosmos watcher DAG, how many dbt models, seeds and snapshots its producer's one
    ``dbt build`` has finished so far (the tasks only finish once it is done)."""

    def __init__(
        self,
        dag_id: str,
        total: int,
        out: TextIO,
        every: float = 10.0,
        *,
        producer: str | None = None,
        nodes: int = 0,
    ) -> None:
        self.dag_id, self.total, self.out, self.every = dag_id, total, out, every
        self.producer, self.nodes = producer, nodes
        self.started = time.perf_counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> TaskProgress:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _finished(self) -> tuple[int, int]:
        """(tasks finished, dbt nodes the producer reported finished) of the newest run."""
        from airflow.models.dagrun import DagRun  # noqa: PLC0415
        from airflow.models.taskinstance import TaskInstance  # noqa: PLC0415
        from airflow.models.xcom import XComModel  # noqa: PLC0415
        from airflow.utils.session import create_session  # noqa: PLC0415
        from sqlalchemy import func, or_, select  # noqa: PLC0415

        with create_session() as session:
            run_id = session.scalar(
                select(DagRun.run_id)
                .where(DagRun.dag_id == self.dag_id)
                .order_by(DagRun.id.desc())
                .limit(1)
            )
            count = session.scalar(
                select(func.count()).where(
                    TaskInstance.dag_id == self.dag_id,
                    TaskInstance.run_id == run_id,
                    TaskInstance.state.in_(("success", "failed", "skipped", "upstream_failed")),
                )
            )
            nodes: int | None = 0
            if self.producer is not None:
                nodes = session.scalar(
                    select(func.count()).where(
                        XComModel.dag_id == self.dag_id,
                        XComModel.run_id == run_id,
                        XComModel.task_id == self.producer,
                        or_(*(XComModel.key.startswith(p) for p in _WATCHED_RESOURCES)),
                        XComModel.key.endswith("_status"),
                        ~XComModel.key.endswith("_tests_status"),
                    )
                )
        return int(count or 0), int(nodes or 0)

    def line(self, done: int, nodes: int, seconds: float) -> str:
        built = f"{nodes}/{self.nodes} dbt models, seeds and snapshots built, " * bool(self.nodes)
        return f"  {self.dag_id}: {built}{done}/{self.total} tasks done ({seconds:.0f} s)"

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            try:
                done, nodes = self._finished()
            except Exception:  # progress is best effort: it never fails a run
                logging.getLogger(__name__).debug("progress query failed", exc_info=True)
                continue
            seconds = time.perf_counter() - self.started
            self.out.write(self.line(done, nodes, seconds) + "\n")
            self.out.flush()


def run_producer_first(dag: Any) -> None:
    """For ``dag.test()``, which runs one task at a time in no set order: every Cosmos watcher
    consumer that a scheduler would start alongside the producer (to report its model live)
    waits for the producer to finish instead; a consumer picked first would otherwise wait
    forever for a build that never starts. A scheduler runs the DAG as built."""
    from cosmos.constants import PRODUCER_WATCHER_TASK_ID  # noqa: PLC0415

    producer = dag.task_dict.get(PRODUCER_WATCHER_TASK_ID)
    if producer is None:
        return
    # what runs before the producer (finhouse's raw_cut) runs before its consumers too
    first = {producer.task_id, *producer.upstream_task_ids}
    for task in dag.tasks:
        if not hasattr(task, "producer_task_id") or task is producer:
            continue
        if task.upstream_task_ids <= first:
            producer >> task
            # after the producer, failed or not (the task reports or rebuilds its model), but
            # not when nothing before it succeeded (raw_cut failed: no build will report)
            task.trigger_rule = "all_done_min_one_success"


def _watched_build(dag: Any) -> dict[str, Any]:
    """The producer of a Cosmos watcher DAG and how many dbt nodes it reports (one consumer
    task each); nothing for any other DAG."""
    from cosmos.constants import PRODUCER_WATCHER_TASK_ID  # noqa: PLC0415
    from cosmos.operators.watcher import DbtTestWatcherOperator  # noqa: PLC0415

    producer = dag.task_dict.get(PRODUCER_WATCHER_TASK_ID)
    if producer is None:
        return {}
    nodes = [
        t
        for t in dag.tasks
        if getattr(t, "producer_task_id", None) and not isinstance(t, DbtTestWatcherOperator)
    ]
    return {"producer": producer.task_id, "nodes": len(nodes)}


def run_dags(
    runs: Sequence[tuple[str, dict[str, Any] | None]],
    *,
    on_start: Callable[[], None] | None = None,
    on_done: Callable[[RunResult], None] | None = None,
    stop_on_failure: bool = False,
    progress: TextIO | None = None,
    progress_every: float = 10.0,
) -> list[RunResult]:
    """``dag.test()`` each (dag_id, conf) in order; unknown DAG ids fail before anything runs.
    With ``progress``, DAGs with many tasks report how far they are every few seconds."""
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
    if on_start:
        on_start()
    results = []
    for dag_id, conf in runs:
        started = time.perf_counter()
        dag = bag.get_dag(dag_id)
        run_producer_first(dag)
        watch: contextlib.AbstractContextManager[Any] = (
            TaskProgress(dag_id, len(dag.tasks), progress, progress_every, **_watched_build(dag))
            if progress is not None and len(dag.tasks) > 10
            else contextlib.nullcontext()
        )
        with watch:
            run = dag.test(run_conf=conf)
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
    results = list(results)
    width = max((len(r.dag_id) for r in results), default=0) + 2
    return "\n".join(
        f"{r.dag_id:<{width}}{r.state:<9}{len(r.tasks):>4} tasks {r.seconds:>7.1f} s"
        + (f"  failed: {', '.join(r.failed_tasks())}" if not r.ok else "")
        for r in results
    )
