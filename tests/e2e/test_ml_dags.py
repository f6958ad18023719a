"""The default-model DAGs under real Airflow (dag.test()) on the dbt tests' warehouse (scale
0.2): before any model, finhouse_ml_score skips its scoring (the run succeeds); then
finhouse_ml_train trains, promotes the first model and scores; finhouse_ml_score scores again
with the serving model; the marts show the scores at once."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from finhouse import ml
from finhouse_local.cluster import Provisioner
from tests.e2e.conftest import airflow_env, run_dags
from tests.integration.dbt.conftest import Warehouse, built  # noqa: F401 - the fixture

pytestmark = pytest.mark.e2e


def test_the_ml_dags_train_then_score(
    built: Warehouse,  # noqa: F811 - the dbt tests' fixture, imported above
    pg_server: Provisioner,
    airflow_db: None,
    tmp_path: Path,
) -> None:
    # other tests rebuild loans_current alone, and replacing a table drops the views on it
    built.dbt("run", "--select", "config.materialized:view,marts")
    env = airflow_env(pg_server)
    env["AIRFLOW_CONN_FINHOUSE_DBT"] = built.dsn("transformer")
    env["AIRFLOW_CONN_FINHOUSE_OLTP"] = built.server.dsn(built.oltp, "oltp_extract")
    env["FINHOUSE_ML_DIR"] = str(tmp_path / "ml")
    early, trained, scored = run_dags(
        env, ("finhouse_ml_score", None), ("finhouse_ml_train", None), ("finhouse_ml_score", None)
    )
    # no model promoted yet: nothing to score with - skipped, not failed (a young platform)
    assert early["state"] == "success", early.get("log")
    assert early["tasks"] == {"marts_built": "success", "score": "skipped"}
    assert trained["state"] == "success", trained.get("log")
    assert trained["tasks"] == {"marts_built": "success", "train": "success", "score": "success"}
    assert scored["state"] == "success", scored.get("log")
    version = ml.serving_version(tmp_path / "ml")
    assert version is not None
    with psycopg.connect(built.dsn("reporter")) as wh:
        (active,) = wh.execute(
            "select count(*) from marts.loans_current where outstanding_principal > 0"
        ).fetchone() or (0,)
        scores = wh.execute(
            "select count(*), min(model_version), max(model_version) from marts.loan_default_scores"
        ).fetchone()
    with psycopg.connect(built.dsn("transformer")) as conn:
        runs = conn.execute(
            "select count(*) from ml.scoring_runs where model_version = %s", (version,)
        ).fetchone()
    assert scores == (active, version, version)
    assert active > 0
    # one scoring after training, one by the scoring DAG (others may come from other tests)
    assert runs is not None
    assert runs[0] >= 2
