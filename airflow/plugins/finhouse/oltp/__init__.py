"""The OLTP stand-in: the *source system* (the institution's Django app), not the pipeline.

``schema`` creates its tables, ``seed`` fills them with deterministic synthetic history,
``simulate`` mutates them like the live app. The pipeline packages never import this one
(enforced by ruff's banned-api rule); only the CLI and the tests drive it.
"""
