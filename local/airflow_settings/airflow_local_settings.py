"""Airflow's local settings for the local platform only: ``finhouse platform up`` puts this
folder on the ``PYTHONPATH`` of ``airflow standalone``, and Airflow imports this module in
each of its processes (``airflow.settings.import_local_settings``). It binds the log servers
to 127.0.0.1 (:mod:`finhouse_local.airflow_local`). Not in the Airflow image, which has no
local platform."""

from __future__ import annotations

from finhouse_local.airflow_local import install as _install

#: nothing here is a setting or a cluster policy for Airflow to pick up
__all__: list[str] = []

_install()
