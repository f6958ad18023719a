"""Airflow ingestion DAGs: one per OLTP table, plus one reconcile DAG each, from one config."""

from finhouse.errors import ConfigError
from finhouse.orchestration import noise

# known noise of Cosmos and Airflow quieted before either is imported (see noise.py)
noise.install()

try:
    from finhouse.orchestration.ingestion import build_ingestion_dag, build_reconcile_dag
    from finhouse.tables import TABLES

    for _spec in TABLES.values():
        globals()[f"ingest_{_spec.name}"] = build_ingestion_dag(_spec)
        globals()[f"reconcile_{_spec.name}"] = build_reconcile_dag(_spec)
except ConfigError as _error:
    # A bad FINHOUSE_* setting (read while the DAGs are built; see finhouse.settings) fails
    # this whole file: one import error, no DAG quietly missing. Raised again from here with
    # its traceback and context dropped, so the error Airflow records (the last frames and
    # the message) is this line and "finhouse.errors.ConfigError: FINHOUSE_… must be …".
    raise _error.with_traceback(None) from None  # a bad FINHOUSE_* setting, named below
