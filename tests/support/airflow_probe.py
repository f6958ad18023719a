"""Run inside an Airflow-configured subprocess (see tests/e2e/conftest.py); prints JSON.

integrity                 every DAG's tags, owner, retries, docs, and the parse time
test RUNS_JSON            dag.test() each [dag_id, conf] in turn through finhouse's DAG
                          runner (one process) and report runs' and tasks' states
"""

from __future__ import annotations

import io
import json
import sys
import time
from pathlib import Path
from typing import Any

DAGS = Path(__file__).resolve().parents[2] / "airflow" / "dags"


def _bag():
    from airflow.dag_processing.dagbag import DagBag  # noqa: PLC0415

    return DagBag(dag_folder=str(DAGS))


def _param(params, name: str) -> dict:
    """A trigger param as the UI's form shows it: its default, description and schema."""
    param = params.get_param(name)
    return {"default": param.value, "description": param.description, "schema": param.schema}


def integrity() -> dict:
    started = time.perf_counter()
    bag = _bag()
    seconds = time.perf_counter() - started
    dags = {}
    for dag_id, dag in bag.dags.items():
        dags[dag_id] = {
            "tags": sorted(dag.tags),
            "doc_md": bool(dag.doc_md and dag.doc_md.strip()),
            "max_active_runs": dag.max_active_runs,
            "tasks": {
                t.task_id: {
                    "owner": t.owner,
                    "retries": t.retries,
                    "outlets": [getattr(o, "uri", str(o)) for o in t.outlets],
                    "upstream": sorted(t.upstream_task_ids),
                    "trigger_rule": str(getattr(t.trigger_rule, "value", t.trigger_rule)),
                    "dbt_cmd_flags": [str(f) for f in getattr(t, "dbt_cmd_flags", None) or []],
                    "sensor_mode": getattr(t, "mode", None),
                }
                for t in dag.tasks
            },
            "params": sorted(dag.params.keys()),
            "param_specs": {name: _param(dag.params, name) for name in dag.params},
            "schedule": type(dag.timetable).__name__,
            "cron": getattr(dag.timetable, "_expression", None),
            "asset_condition": sorted(
                getattr(a, "uri", str(a))
                for a in getattr(getattr(dag.timetable, "asset_condition", None), "objects", [])
            ),
        }
    return {
        "errors": {k: str(v) for k, v in bag.import_errors.items()},
        "dags": dags,
        "parse_seconds": seconds,
    }


def test(runs: list[list]) -> list[dict]:
    """Through the runner ``finhouse dags run`` and ``make demo`` use; each run's progress
    lines (every half second here) come back with it."""
    from finhouse_local.dag_runner import run_dags  # noqa: PLC0415

    progress = io.StringIO()
    results = run_dags(
        [(dag_id, conf) for dag_id, conf in runs], progress=progress, progress_every=0.5
    )
    lines = progress.getvalue().splitlines()
    return [
        {**r.as_json(), "progress": [ln.strip() for ln in lines if f" {r.dag_id}: " in ln]}
        for r in results
    ]


MARKER = "@@RESULT@@"


def run(env: dict[str, str], *args: str, timeout: float = 600) -> tuple[Any, str, str]:
    """Run this probe in a fresh process with ``env``: (its one-line JSON result, stdout,
    stderr). The caller side, for the tests."""
    import subprocess  # noqa: PLC0415

    out = subprocess.run(
        [sys.executable, __file__, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    marker = out.stdout.rfind(MARKER)
    assert out.returncode == 0, (out.stdout[-3000:], out.stderr[-5000:])
    assert marker >= 0, out.stdout[-3000:]
    # the result is one line; a process the run forked (OpenLineage's emitters) may log after it
    return json.loads(out.stdout[marker + len(MARKER) :].splitlines()[0]), out.stdout, out.stderr


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    result = integrity() if command == "integrity" else test(json.loads(args[0]))
    sys.stdout.write("\n" + MARKER + json.dumps(result) + "\n")
