"""Airflow ingestion DAGs: one per OLTP table, plus one reconcile DAG each, from one config."""

from finhouse.orchestration.ingestion import build_ingestion_dag, build_reconcile_dag
from finhouse.tables import TABLES

for _spec in TABLES.values():
    globals()[f"ingest_{_spec.name}"] = build_ingestion_dag(_spec)
    globals()[f"reconcile_{_spec.name}"] = build_reconcile_dag(_spec)
