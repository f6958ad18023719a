"""Airflow default-model DAGs (finhouse_ml_train, finhouse_ml_score): train, validate and
score (finhouse.orchestration.modelling)."""

from finhouse.errors import ConfigError
from finhouse.orchestration import noise

# known noise of Cosmos and Airflow quieted before either is imported (see noise.py)
noise.install()

try:
    from finhouse.orchestration.modelling import build_score_dag, build_train_dag

    finhouse_ml_train = build_train_dag()
    finhouse_ml_score = build_score_dag()
except ConfigError as _error:
    # A bad FINHOUSE_* setting fails this file with one import error naming the variable;
    # see ingestion.py beside it.
    raise _error.with_traceback(None) from None  # a bad FINHOUSE_* setting, named below
