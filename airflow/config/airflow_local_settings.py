"""Airflow's local settings in the image: ``$AIRFLOW_HOME/config`` (this folder, copied to
/usr/local/airflow/config) is on the path of every Airflow process, which imports this module
at start. It quiets the known noise of Airflow and Cosmos in the processes that parse no DAG
file, the triggerer above all (:mod:`finhouse.orchestration.noise`). The local platform uses
``local/airflow_settings`` instead."""

from __future__ import annotations

from finhouse.orchestration import noise as _noise

#: nothing here is a setting or a cluster policy for Airflow to pick up
__all__: list[str] = []

_noise.install()
