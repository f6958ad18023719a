"""finhouse: the analytics platform of a microfinance institution - the pipeline.

What the DAG files import: settings (:mod:`finhouse.settings`, :mod:`finhouse.config`), the
source tables, extract, state, targets (load), the pipeline that joins them, orchestration
(DAG factories), and the CLI (:mod:`finhouse.cli`). ``finhouse.oltp`` is the OLTP stand-in,
i.e. the *source system*, and the pipeline never imports it; nor the local tooling
(``finhouse_local``: the embedded PostgreSQL, the local Airflow), which only the CLI uses.
"""

__version__ = "0.1.0"
