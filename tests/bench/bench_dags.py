"""DAG parse benchmark (``make bench``): all DAG files together, parsed by Airflow's DagBag
(goal: <= 1 s).

Measured the way a DAG processor meets the files: Airflow, its providers and plugins are
imported once (the processor's start-up), then each round builds a fresh DagBag of
airflow/dags (six ingestion DAGs, six reconcile DAGs, the Cosmos dbt DAG rendered from the
dbt manifest). Prints every round and the median; writes artifacts/bench-dags.json.
Runs with the project's Airflow configuration against a throw-away state directory: parsing
does no I/O beyond reading the files and the manifest.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "artifacts"
ROUNDS = 7


def configure() -> None:
    state = tempfile.mkdtemp(prefix="finhouse-bench-dags-")
    # external (never contacted) servers: the DAG files only need the addresses
    os.environ.update(
        {
            "FINHOUSE_STATE_DIR": state,
            "FINHOUSE_OLTP_DSN": "postgresql://oltp_app:x@127.0.0.1:5999/oltp",
            "FINHOUSE_OLTP_EXTRACT_DSN": "postgresql://oltp_extract:x@127.0.0.1:5999/oltp",
            "FINHOUSE_WAREHOUSE_DSN": "postgresql://loader:x@127.0.0.1:5999/warehouse",
            "FINHOUSE_TRANSFORMER_DSN": "postgresql://transformer:x@127.0.0.1:5999/warehouse",
        }
    )
    from finhouse_local.airflow_env import airflow_environment  # noqa: PLC0415

    os.environ.update(airflow_environment())


def main() -> None:
    configure()
    started = time.perf_counter()
    from airflow import plugins_manager  # noqa: PLC0415
    from airflow.dag_processing.dagbag import DagBag  # noqa: PLC0415

    plugins_manager.ensure_plugins_loaded()
    import finhouse.orchestration.ingestion  # noqa: PLC0415
    import finhouse.orchestration.transform  # noqa: F401, PLC0415

    start_up = time.perf_counter() - started
    folder = str(REPO / "airflow" / "dags")
    rounds, dags, tasks = [], 0, 0
    for i in range(ROUNDS):
        t0 = time.perf_counter()
        bag = DagBag(dag_folder=folder)
        rounds.append(time.perf_counter() - t0)
        if bag.import_errors:
            raise SystemExit(f"DAG files fail to import: {bag.import_errors}")
        dags, tasks = len(bag.dags), sum(len(d.tasks) for d in bag.dags.values())
        sys.stderr.write(f"[bench] round {i + 1}: {rounds[-1]:.3f} s\n")
    median = statistics.median(rounds)
    sys.stdout.write(
        f"DAG parse (DagBag, {dags} DAGs, {tasks} tasks): median {median:.3f} s over "
        f"{ROUNDS} rounds (min {min(rounds):.3f}, max {max(rounds):.3f}); goal <= 1 s\n"
        f"  one-time start-up (Airflow, providers, plugins, Cosmos imports): {start_up:.1f} s\n"
    )
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "bench-dags.json").write_text(
        json.dumps(
            {
                "dags": dags,
                "tasks": tasks,
                "rounds": rounds,
                "median": median,
                "start_up": start_up,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
