"""Airflow spreadsheet DAGs (finhouse_files_<dataset>): one per dataset of finhouse.files."""

from finhouse.errors import ConfigError
from finhouse.orchestration import noise

# known noise of Cosmos and Airflow quieted before either is imported (see noise.py)
noise.install()

try:
    from finhouse.files import DATASETS
    from finhouse.orchestration.spreadsheets import build_files_dag

    for _spec in DATASETS.values():
        globals()[f"finhouse_files_{_spec.name}"] = build_files_dag(_spec)
except ConfigError as _error:
    # A bad FINHOUSE_* setting fails this file with one import error naming the variable;
    # see ingestion.py beside it.
    raise _error.with_traceback(None) from None  # a bad FINHOUSE_* setting, named below
