"""finhouse_local: the tooling that runs finhouse on one machine, apart from the pipeline.

* :mod:`finhouse_local.cluster` - the embedded PostgreSQL (``finhouse db up|down|status``);
* :mod:`finhouse_local.dsns` - the connections of the CLI and the local platform: the
  configured ones, else the embedded cluster's;
* :mod:`finhouse_local.airflow_env`, :mod:`finhouse_local.dbt_env` - Airflow and dbt
  configured for this checkout (``finhouse airflow …``, ``finhouse dbt …``);
* :mod:`finhouse_local.dag_runner` - DAGs run once through ``dag.test()`` (``finhouse dags
  run``, ``make demo``, the end-to-end tests);
* :mod:`finhouse_local.services` - the whole platform in the background (``make up``).

It lives outside ``airflow/plugins`` so the Airflow image, whose build context is
``airflow/``, does not carry it. The pipeline (the ``finhouse`` package that the DAG files
import) never imports it - ruff's banned-api rule (pyproject.toml) enforces that; only the
CLI does, for the commands above, and says so in one line where it is not installed.
"""
