"""Airflow dbt DAG (finhouse_dbt): the dbt project rendered by Cosmos from its manifest."""

from finhouse.orchestration.transform import build_dbt_dag

finhouse_dbt = build_dbt_dag()
