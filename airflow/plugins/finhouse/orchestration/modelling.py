"""The default-model DAGs (docs/ml.md):

* ``finhouse_ml_train`` (``FINHOUSE_ML_TRAIN_SCHEDULE``, monthly by default; on demand from the
  UI): trains a gradient-boosted model and the logistic-regression baseline on the marts'
  training set, measures them out of time, stores the version with its model card, promotes
  it only when it beats the serving model on the test set (:func:`finhouse.ml.train`), then
  scores the active loans with whichever model serves.
* ``finhouse_ml_score`` (``FINHOUSE_ML_SCORE_SCHEDULE``, daily): scores every active loan
  with the serving model and measures the features' drift (:func:`finhouse.ml.score`).

Both first wait for the marts they read (``marts_built``: on a fresh platform, the first dbt
build). On a young book they skip rather than fail: training when the marts hold too few
labelled loans (``ml.TooFewLoansError``), scoring while no model has been promoted
(``ml.NoServingModelError``); the task's log says why. ``finhouse ml train|score`` by hand
report the same as errors.

Both run as the transformer (the connection ``finhouse_dbt``), which owns the ``ml`` schema;
the marts ``loan_default_scores`` and ``expected_loss_by_segment`` are views, current as soon
as a scoring commits.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from airflow.sdk import DAG, task
from airflow.timetables.trigger import CronTriggerTimetable

from finhouse import settings
from finhouse.orchestration import alerts
from finhouse.orchestration.ingestion import DEFAULT_ARGS, START
from finhouse.orchestration.marts_ready import WAIT, marts_built

log = logging.getLogger("finhouse.ml")

TRAIN_DAG_ID = "finhouse_ml_train"
SCORE_DAG_ID = "finhouse_ml_score"

TRAIN_DOC = """
### Default model: training

Trains a gradient-boosted model (LightGBM) and a logistic-regression baseline on
`marts.ml_training_set` and measures both on `marts.ml_testing_set` (loans disbursed after the
split date: out of time) - AUC, KS, Brier score, calibration - with the seed generator's own
risk beside them when the OLTP was seeded by finhouse. The version and its model card go to
`FINHOUSE_ML_DIR`; it replaces the serving model only when its test AUC beats the serving
model's on the same test set. Then `score` scores the active loans.

Schedule: `FINHOUSE_ML_TRAIN_SCHEDULE` (monthly). By hand: `finhouse ml train`.
"""

SCORE_DOC = """
### Default model: scoring

Scores every active loan with the serving model into `ml.loan_default_scores` (marts
`loan_default_scores`: PD, risk band, expected loss = PD x outstanding principal;
`expected_loss_by_segment`) and measures each feature's drift since training
(`marts.ml_feature_drift`, population stability index).

Schedule: `FINHOUSE_ML_SCORE_SCHEDULE` (daily). By hand: `finhouse ml score`.
"""


#: what training reads, and what scoring reads (``marts_built`` waits for them)
TRAIN_MARTS = ("ml_training_set", "ml_testing_set")
SCORE_MARTS = ("loans_current", "ml_default_features")


def _score() -> dict[str, Any]:
    from airflow.sdk.exceptions import AirflowSkipException  # noqa: PLC0415

    from finhouse import ml  # noqa: PLC0415
    from finhouse.orchestration import connections  # noqa: PLC0415

    try:
        result = ml.score(connections.transformer_dsn())
    except ml.NoServingModelError as exc:
        # a young platform: nothing promoted yet (training skipped, too little history)
        raise AirflowSkipException(str(exc)) from None
    log.info("%s", result.describe())
    return {
        "model_version": result.model_version,
        "loans": result.loans,
        "mean_probability": result.mean_probability,
        "drifted": result.drifted,
    }


def _dag(dag_id: str, description: str, doc_md: str, cron: str, hours: float) -> DAG:
    """A DAG of the model on a cron (UTC); ``hours``: its work's limit, beyond the wait for
    the first build."""
    return DAG(
        dag_id=dag_id,
        description=description,
        doc_md=doc_md,
        schedule=CronTriggerTimetable(cron, timezone="UTC"),
        start_date=START,
        catchup=False,
        max_active_runs=1,
        dagrun_timeout=WAIT + dt.timedelta(hours=hours),
        default_args={**DEFAULT_ARGS, **alerts.callbacks()},
        tags=["finhouse", "ml"],
    )


def build_train_dag() -> DAG:
    with _dag(
        TRAIN_DAG_ID,
        "Trains the default model; it serves only if it beats the serving one",
        TRAIN_DOC,
        settings.load().ml_train_schedule,
        hours=2,
    ) as dag:

        @task(task_id="train")
        def train() -> dict[str, Any]:
            from airflow.sdk.exceptions import AirflowSkipException  # noqa: PLC0415

            from finhouse import ml  # noqa: PLC0415
            from finhouse.orchestration import connections  # noqa: PLC0415

            try:
                oltp: str | None = connections.oltp_extract_dsn()
            except Exception:  # noqa: BLE001 - the generator's risk is optional
                oltp = None
            try:
                result = ml.train(connections.transformer_dsn(), oltp_dsn=oltp)
            except ml.TooFewLoansError as exc:
                # too little history to learn from: skipped (and scoring with it), not failed
                raise AirflowSkipException(str(exc)) from None
            log.info("%s", result.describe())
            return {"version": result.version, "promoted": result.promoted}

        @task(task_id="score")
        def score(_trained: Any) -> dict[str, Any]:
            return _score()

        trained = train()
        marts_built(TRAIN_MARTS) >> trained
        score(trained)
    return dag


def build_score_dag() -> DAG:
    with _dag(
        SCORE_DAG_ID,
        "Scores every active loan with the serving default model",
        SCORE_DOC,
        settings.load().ml_score_schedule,
        hours=1,
    ) as dag:

        @task(task_id="score")
        def score() -> dict[str, Any]:
            return _score()

        marts_built(SCORE_MARTS) >> score()
    return dag
