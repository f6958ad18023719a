"""Airflow month-end close DAG (finhouse_close): each month's figures frozen from the marts."""

from finhouse.errors import ConfigError
from finhouse.orchestration import noise

# known noise of Cosmos and Airflow quieted before either is imported (see noise.py)
noise.install()

try:
    from finhouse.orchestration.closing import build_close_dag

    finhouse_close = build_close_dag()
except ConfigError as _error:
    # A bad FINHOUSE_* setting fails this file with one import error naming the variable;
    # see ingestion.py beside it.
    raise _error.with_traceback(None) from None  # a bad FINHOUSE_* setting, named below
