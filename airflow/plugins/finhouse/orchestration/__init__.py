"""Airflow-facing code: DAG factories and connection lookup. Only DAG files import this."""
