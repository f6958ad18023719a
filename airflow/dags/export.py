"""Airflow export DAG (finhouse_export): the marts marked for export, as files."""

from finhouse.errors import ConfigError
from finhouse.orchestration import noise

# known noise of Cosmos and Airflow quieted before either is imported (see noise.py)
noise.install()

try:
    from finhouse.orchestration.exporting import build_export_dag

    finhouse_export = build_export_dag()
except ConfigError as _error:
    # A bad FINHOUSE_* setting fails this file with one import error naming the variable;
    # see ingestion.py beside it.
    raise _error.with_traceback(None) from None  # a bad FINHOUSE_* setting, named below
