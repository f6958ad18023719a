"""finhouse: the analytics platform of a microfinance institution.

Pipeline stages live in their own subpackages (ingestion, state, targets come with
their issues); ``finhouse.oltp`` is the OLTP stand-in, i.e. the *source system*,
and the pipeline never imports it; ``finhouse.embedded`` runs the local PostgreSQL.
"""

__version__ = "0.1.0"
