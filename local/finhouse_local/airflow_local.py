"""What the local platform (``finhouse platform up``) changes in Airflow itself: every socket
it opens listens on 127.0.0.1.

The API server takes its address from ``[api] host``, the scheduler's health check (off by
default) from ``[scheduler] scheduler_health_check_server_host``, and both are set so
(:func:`finhouse_local.services.airflow_process_environment`). The log servers the scheduler
and the triggerer start (``[logging] worker_log_server_port``/``trigger_log_server_port``: the
API server fetches a running task's log from them) have no such setting in Airflow 3.3: they
bind every interface (``uvicorn.run(host="")`` in ``airflow.utils.serve_logs.core``). So
:func:`install`, run in every Airflow process of the platform through Airflow's own hook for
local customisations (``airflow_local_settings``, which ``local/airflow_settings/`` on the
platform's ``PYTHONPATH`` provides; neither is in the Airflow image), gives that module a
``uvicorn`` whose ``run`` binds 127.0.0.1, and :func:`hostname` (``[core]
hostname_callable``) records 127.0.0.1 as the host of tasks and triggerers, so the API server
fetches their logs there. Airflow's log line still says "Starting log server on
http://[::]:PORT"; the socket is 127.0.0.1's (``tests/e2e/test_platform_hardening.py``).
"""

from __future__ import annotations

from typing import Any

LOOPBACK = "127.0.0.1"
#: ``[core] hostname_callable``
HOSTNAME_CALLABLE = f"{__name__}.hostname"


def hostname() -> str:
    """The host Airflow records for this machine's tasks and triggerer: the loopback address
    the log servers listen on."""
    return LOOPBACK


class LoopbackUvicorn:
    """uvicorn as the log server sees it: ``run`` binds 127.0.0.1 whatever it is asked."""

    def __init__(self, module: Any) -> None:
        self._module = module

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module, name)

    def run(self, app: Any, **kwargs: Any) -> Any:
        return self._module.run(app, **{**kwargs, "host": LOOPBACK})


def install() -> None:
    """Bind Airflow's log servers to 127.0.0.1 in this process and the ones it forks, and
    quiet the known noise of Airflow and Cosmos (:mod:`finhouse.orchestration.noise`)."""
    from airflow.utils.serve_logs import core  # noqa: PLC0415 - Airflow's processes only

    from finhouse.orchestration import noise  # noqa: PLC0415

    noise.install()

    if not isinstance(core.uvicorn, LoopbackUvicorn):
        core.uvicorn = LoopbackUvicorn(core.uvicorn)  # type: ignore[assignment]
