"""The platform running locally without Docker: ``finhouse platform up|down|status``
(``make up`` / ``make down``).

``up`` makes sure the embedded PostgreSQL runs, lets the caller prepare the OLTP (the CLI
creates the schema and seeds it when empty), migrates Airflow's metadata database, then
starts in the background, each in its own session:

* ``airflow standalone`` (scheduler, DAG processor, triggerer, API server with the UI) on
  ``FINHOUSE_AIRFLOW_PORT`` (8080), LocalExecutor sized for a small machine, DAGs unpaused so
  their schedules really run; log ``<state>/logs/airflow.log``, PID ``<state>/run/airflow.pid``;
* the OLTP simulator (``finhouse oltp simulate``), a tick every ``FINHOUSE_SIMULATE_INTERVAL``
  seconds (60; ``off`` disables it), so scheduled loads see live activity; log
  ``<state>/logs/simulator.log``, PID ``<state>/run/simulator.pid``;
* Superset (gunicorn, ``superset/run.py serve``) on ``SUPERSET_PORT`` (8088) once ``make
  superset`` has bootstrapped it for this state folder (``make up`` does); log
  ``<state>/logs/superset.log``, PID ``<state>/run/superset.pid``;
* the log keeper (:mod:`finhouse_local.logkeeper`), which rotates those logs past
  ``FINHOUSE_LOG_MAX_MB`` and deletes Airflow's task logs past ``FINHOUSE_LOG_RETENTION_DAYS``;
  log ``<state>/logs/logkeeper.log``, PID ``<state>/run/logkeeper.pid``.

It waits until ``GET /api/v2/monitor/health`` answers healthy and the finhouse DAGs are
parsed, unpauses any paused finhouse DAG through the REST API and prints where to log in.

``down`` stops Airflow the way it wants to be stopped: SIGINT to ``airflow standalone`` (a
SIGTERM would orphan its scheduler and workers), up to 30 s to finish, then SIGTERM and
SIGKILL to whatever of it remains. Every process started here carries
``FINHOUSE_PLATFORM_STATE``/``FINHOUSE_PLATFORM_SERVICE`` in its environment, inherited by its
children, so ``down`` finds exactly what ``up`` started (tasks and dbt subprocesses included)
and never touches anything else. The embedded PostgreSQL is stopped only if ``up`` started it.

Everything lives under the state folder (``FINHOUSE_STATE_DIR``), so a test can run an
isolated instance on a free port. Secrets (DSNs, the admin password) are never printed.

Hardened defaults: every service listens on 127.0.0.1 only (the API server, Airflow's log
servers through :mod:`finhouse_local.airflow_local`, Superset's gunicorn, PostgreSQL); the
logs are mode 0600 in a 0700 folder, and the services run with umask 077, so what they write
themselves (Airflow's task and DAG-processor logs…) is their user's only; the admin password
file is written 0600 from its first byte (:mod:`finhouse_local.private`).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from finhouse import settings
from finhouse.errors import FinhouseError
from finhouse_local import airflow_local, dsns
from finhouse_local.airflow_env import DBT_DOCS_SLUG, airflow_environment, airflow_home
from finhouse_local.cluster import default_cluster
from finhouse_local.paths import REPO_ROOT, dbt_docs_dir, state_dir
from finhouse_local.private import FILE_MODE, PRIVATE_UMASK, open_log, private_dir, write_secret

Echo = Callable[[str], None]

HOST = "127.0.0.1"
#: ``airflow_local_settings`` for the platform's Airflow processes
AIRFLOW_SETTINGS_DIR = REPO_ROOT / "local" / "airflow_settings"
#: ``finhouse oltp simulate`` has no "forever": this many ticks is one (centuries at 1/s)
SIMULATOR_TICKS = 1_000_000_000
ADMIN_USER = "admin"
#: SIGINT lets ``airflow standalone`` stop its components; after this, the rest is killed
AIRFLOW_STOP_GRACE = 30.0
SIMULATOR_STOP_GRACE = 10.0
LOGKEEPER_STOP_GRACE = 5.0
#: environment entries that mark every process started by ``up`` (inherited by children)
TAG_STATE = "FINHOUSE_PLATFORM_STATE"
TAG_SERVICE = "FINHOUSE_PLATFORM_SERVICE"
#: where Airflow (Cosmos' plugin) serves the dbt docs `make docs` generates
DBT_DOCS_PATH = f"/cosmos/{DBT_DOCS_SLUG}/dbt_docs_index.html"
#: Airflow tuning for a 2-core laptop; the environment may override each
TUNING = {
    "AIRFLOW__CORE__PARALLELISM": "4",
    "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "4",
    "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
    "AIRFLOW__API__WORKERS": "1",
    "AIRFLOW__SCHEDULER__MAX_TIS_PER_QUERY": "16",
    # the scheduler starts tasks before the API server listens (it needs ~20-60 s on two
    # busy cores): workers retry for ~2 min instead of ~15 s before failing the task
    "AIRFLOW__WORKERS__EXECUTION_API_RETRIES": "10",
}


class PlatformError(FinhouseError):
    """The local platform cannot be started, stopped or reached."""


def _echo(message: str) -> None:
    sys.stdout.write(message + "\n")
    sys.stdout.flush()


# ------------------------------------------------------------------------------ settings
@dataclass(frozen=True)
class Layout:
    """Where the platform keeps its PID files, logs and markers."""

    state: Path

    @property
    def run(self) -> Path:
        return self.state / "run"

    @property
    def logs(self) -> Path:
        return self.state / "logs"

    @property
    def airflow_pid(self) -> Path:
        return self.run / "airflow.pid"

    @property
    def simulator_pid(self) -> Path:
        return self.run / "simulator.pid"

    @property
    def superset_pid(self) -> Path:
        return self.run / "superset.pid"

    @property
    def logkeeper_pid(self) -> Path:
        return self.run / "logkeeper.pid"

    @property
    def pg_marker(self) -> Path:
        """Present while the embedded PostgreSQL runs because ``up`` started it."""
        return self.run / "postgres.started-by-up"

    @property
    def airflow_log(self) -> Path:
        return self.logs / "airflow.log"

    @property
    def simulator_log(self) -> Path:
        return self.logs / "simulator.log"

    @property
    def superset_log(self) -> Path:
        return self.logs / "superset.log"

    @property
    def logkeeper_log(self) -> Path:
        return self.logs / "logkeeper.log"

    def pidfile(self, service: str) -> Path:
        return {
            "airflow": self.airflow_pid,
            "superset": self.superset_pid,
            "logkeeper": self.logkeeper_pid,
        }.get(service, self.simulator_pid)


def layout() -> Layout:
    return Layout(state_dir())


def airflow_port() -> int:
    return settings.load().airflow_port


def airflow_url(port: int | None = None) -> str:
    return f"http://{HOST}:{port or airflow_port()}"


def simulate_interval() -> float | None:
    """Seconds between simulator ticks (``FINHOUSE_SIMULATE_INTERVAL``); None when ``off``."""
    return settings.load().simulate_interval


def start_timeout() -> float:
    return settings.load().airflow_start_timeout


def _bin(name: str) -> str:
    """An executable of this venv (``airflow``, ``finhouse``)."""
    return str(Path(sys.executable).with_name(name))


def _tags(lay: Layout, service: str) -> dict[str, str]:
    return {TAG_STATE: str(lay.state), TAG_SERVICE: service}


def airflow_process_environment(lay: Layout, port: int) -> dict[str, str]:
    """The environment of ``airflow standalone`` (and of ``airflow db migrate``)."""
    env = {**os.environ, **airflow_environment()}
    # standalone starts its components as `airflow …` from PATH: this venv's first
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    for name, value in TUNING.items():
        env.setdefault(name, value)
    # the scheduler's and triggerer's log servers (8793/8794 by default) must not collide
    # with another instance's
    for name in (
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT",
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT",
    ):
        env.setdefault(name, str(_free_port()))
    # every listening socket on 127.0.0.1: the log servers through Airflow's local settings
    # (finhouse_local.airflow_local), which this folder on the path provides
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(AIRFLOW_SETTINGS_DIR), env.get("PYTHONPATH", "")) if p
    )
    url = airflow_url(port)
    env |= {
        "AIRFLOW__API__HOST": HOST,
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST": HOST,
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": airflow_local.HOSTNAME_CALLABLE,
        "AIRFLOW__API__PORT": str(port),
        # the workers reach the execution API on the same port
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{url}/execution/",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "PYTHONUNBUFFERED": "1",
        "NO_COLOR": "1",
        **_tags(lay, "airflow"),
    }
    return env


def password_file(env: dict[str, str]) -> Path:
    """Where the SimpleAuthManager keeps the generated admin password."""
    configured = env.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE")
    if configured:
        return Path(configured)
    return Path(env["AIRFLOW_HOME"]) / "simple_auth_manager_passwords.json.generated"


def _ensure_password(path: Path) -> None:
    """Generate the admin password ourselves (mode 0600 from its first byte): Airflow would
    print a password it generates into its log. An existing file is narrowed to 0600."""
    passwords: dict[str, str] = {}
    with contextlib.suppress(FileNotFoundError, json.JSONDecodeError):
        passwords = json.loads(path.read_text() or "{}")
    if passwords.get(ADMIN_USER):
        path.chmod(FILE_MODE)
        return
    passwords[ADMIN_USER] = secrets.token_urlsafe(16)
    write_secret(path, json.dumps(passwords) + "\n")


# ------------------------------------------------------------------------------ processes
def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name: [state, ppid, pgrp, session, ...]."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rfind(")") + 2 :].split()


def alive(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    fields = _stat(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def _environ(pid: int) -> set[bytes]:
    try:
        return set(Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"))
    except OSError:
        return set()


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _recorded_pid(lay: Layout, service: str) -> int | None:
    try:
        return int(lay.pidfile(service).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def service_processes(state: Path, service: str | None = None) -> list[int]:
    """PIDs of live processes that ``up`` started for this state folder (one service or all).

    Found by the marks in their environment, which children inherit, and, since Airflow
    retitles some processes (which blanks /proc/PID/environ), by membership of the session
    of the PID file's process when their command line is Airflow's or this venv's."""
    lay = Layout(state)
    services = [service] if service else ["airflow", "simulator", "superset", "logkeeper"]
    state_tag = f"{TAG_STATE}={state}".encode()
    service_tags = {f"{TAG_SERVICE}={s}".encode() for s in services}
    sessions = {str(pid) for s in services if (pid := _recorded_pid(lay, s)) is not None}
    ours = (b"airflow", b"gunicorn", str(Path(sys.executable).parent).encode())
    me = os.getpid()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        pid = int(entry.name)
        fields = _stat(pid)
        if fields is None or fields[0] in ("Z", "X"):
            continue
        env = _environ(pid)
        tagged = state_tag in env and bool(env & service_tags)
        if tagged or (fields[3] in sessions and any(m in _cmdline(pid) for m in ours)):
            pids.append(pid)
    return sorted(pids)


def _leader(lay: Layout, service: str) -> int | None:
    """The PID in the service's PID file, if that process runs and is ours."""
    pid = _recorded_pid(lay, service)
    if pid is None:
        return None
    tags = {f"{k}={v}".encode() for k, v in _tags(lay, service).items()}
    return pid if alive(pid) and tags <= _environ(pid) else None


def _wait(done: Callable[[], bool], seconds: float, step: float = 0.2) -> bool:
    deadline = time.monotonic() + seconds
    while not done():
        if time.monotonic() > deadline:
            return False
        time.sleep(step)
    return True


def _signal(pids: Iterable[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def _stop_service(lay: Layout, service: str, first: signal.Signals, grace: float) -> list[int]:
    """Stop a service: ``first`` to its main process, ``grace`` seconds to finish, then
    SIGTERM and SIGKILL to whatever of it remains. Returns the PIDs that were running."""
    leader = _leader(lay, service)
    running = set(service_processes(lay.state, service))
    if leader is not None:
        running.add(leader)
        # its components; their own children keep standalone's output pipes open, so
        # standalone itself may wait for those: the components' exit is enough
        components = [p for p in running if (_stat(p) or ["", ""])[1] == str(leader)]
        _signal([leader], first)
        _wait(
            lambda: not alive(leader) or (bool(components) and not any(map(alive, components))),
            grace,
        )
    for sig, seconds in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        remaining = [p for p in {*running, *service_processes(lay.state, service)} if alive(p)]
        if not remaining:
            break
        if leader is not None:  # its process group (a PID in use as a PGID is not reused)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(leader, sig)
        _signal(remaining, sig)
        _wait(lambda rem=remaining: not any(alive(p) for p in rem), seconds)  # type: ignore[misc]
    lay.pidfile(service).unlink(missing_ok=True)
    if survivors := [p for p in service_processes(lay.state, service) if alive(p)]:
        raise PlatformError(f"{service}: processes {survivors} did not stop")
    return sorted(running)


def _start(lay: Layout, service: str, args: list[str], env: dict[str, str], log_file: Path) -> int:
    private_dir(lay.logs)
    with open_log(log_file) as log:
        log.write(f"\n===== finhouse platform up: {service} {time.strftime('%c')}\n".encode())
        log.flush()
        proc = subprocess.Popen(  # noqa: S603 - this venv's own executables
            args,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own session and process group: Ctrl-C spares it
            cwd=REPO_ROOT,
            umask=PRIVATE_UMASK,  # what the service writes itself is its user's only
        )
    proc.returncode = 0  # it outlives us on purpose: no "still running" warning
    lay.pidfile(service).write_text(f"{proc.pid}\n")
    return proc.pid


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()[-lines:]
    except OSError:
        return ""
    return "\n".join("    " + line for line in text)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((HOST, port)) == 0


# ------------------------------------------------------------------------------ REST API
class ApiError(PlatformError):
    def __init__(self, status: int, method: str, path: str, detail: str) -> None:
        super().__init__(f"{method} {path}: HTTP {status}: {detail[:500]}")
        self.status = status


class AirflowApi:
    """A small client of Airflow's REST API v2 (JWT from ``POST /auth/token``)."""

    def __init__(self, base_url: str, passwords: Path, user: str = ADMIN_USER) -> None:
        self.base_url = base_url.rstrip("/")
        self.passwords = passwords
        self.user = user
        self._token: str | None = None

    def _request(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: dict[str, Any] | None = None,
        *,
        auth: bool = True,
        timeout: float = 60.0,
    ) -> Any:
        url = self.base_url + path
        if params:
            url += "?" + urllib.parse.urlencode(params, doseq=True)
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        # a busy API server (one worker on two cores) may answer late: reads are retried,
        # a POST that creates something (a run, a backfill) never is
        retry_slow = method in ("GET", "PATCH") or path == "/auth/token"
        attempts, relogged = 3, False
        while True:
            attempts -= 1
            if auth:
                headers["Authorization"] = f"Bearer {self.token()}"
            request = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310
            try:
                with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                    raw = response.read()
                    return json.loads(raw) if raw else None
            except urllib.error.HTTPError as exc:
                detail = exc.read().decode(errors="replace")
                if exc.code == 401 and auth and not relogged:
                    self._token, relogged = None, True  # expired: log in again once
                    continue
                raise ApiError(exc.code, method, path, detail) from None
            except (TimeoutError, ConnectionError, urllib.error.URLError):
                if not retry_slow or attempts <= 0:
                    raise
                time.sleep(1)

    def token(self) -> str:
        if self._token is None:
            password = json.loads(self.passwords.read_text())[self.user]
            answer = self._request(
                "POST", "/auth/token", {"username": self.user, "password": password}, auth=False
            )
            self._token = str(answer["access_token"])
        return self._token

    def health(self) -> dict[str, Any]:
        return self._request("GET", "/api/v2/monitor/health", auth=False, timeout=15)

    def get(self, path: str, **params: Any) -> Any:
        return self._request("GET", path, params=params)

    def post(self, path: str, body: Any) -> Any:
        return self._request("POST", path, body)

    def patch(self, path: str, body: Any, **params: Any) -> Any:
        return self._request("PATCH", path, body, params)


def api_for(port: int | None = None) -> AirflowApi:
    """A REST client for the platform of this state folder (``FINHOUSE_STATE_DIR``)."""
    env = {**os.environ, **airflow_environment()}
    return AirflowApi(airflow_url(port), password_file(env))


def _unhealthy(health: dict[str, Any]) -> list[str]:
    parts = ("metadatabase", "scheduler", "dag_processor", "triggerer")
    return [p for p in parts if (health.get(p) or {}).get("status") != "healthy"]


class _Progress:
    """One progress line: rewritten in place on a terminal, a line every 15 s otherwise."""

    def __init__(self, echo: Echo) -> None:
        self.echo = echo
        self.tty = sys.stdout.isatty()
        self.started = time.monotonic()
        self.last = -1.0

    def show(self, text: str) -> None:
        elapsed = time.monotonic() - self.started
        line = f"==> {text} ({elapsed:.0f} s)"
        if self.tty:
            sys.stdout.write("\r\033[K" + line)
            sys.stdout.flush()
        elif self.last < 0 or elapsed - self.last >= 15:
            self.echo(line)
            self.last = elapsed

    def done(self, text: str) -> None:
        if self.tty:
            sys.stdout.write("\r\033[K")
        self.echo(f"==> {text} ({time.monotonic() - self.started:.0f} s)")


def expected_dag_ids() -> list[str]:
    from finhouse.tables import TABLES  # noqa: PLC0415

    return [f"{kind}_{t}" for kind in ("ingest", "reconcile") for t in TABLES] + [
        "finhouse_dbt",
        "finhouse_maintenance",
    ]


def _wait_ready(api: AirflowApi, leader: int, lay: Layout, timeout: float, echo: Echo) -> None:
    """Until the health endpoint says healthy and the finhouse DAGs are parsed."""
    progress = _Progress(echo)
    deadline = time.monotonic() + timeout
    waiting_for = "the API server"
    while True:
        if not alive(leader):
            progress.done("Airflow stopped while starting")
            raise PlatformError(
                f"airflow standalone exited while starting; the end of {lay.airflow_log}:\n"
                + _tail(lay.airflow_log)
            )
        try:
            unhealthy = _unhealthy(api.health())
            waiting_for = ", ".join(unhealthy) if unhealthy else ""
        except (OSError, ApiError, ValueError):
            unhealthy = ["api"]
        if not unhealthy:
            break
        if time.monotonic() > deadline:
            progress.done("Airflow did not become healthy")
            raise PlatformError(
                f"Airflow is not healthy after {timeout:.0f} s (waiting for {waiting_for}); "
                f"see {lay.airflow_log}"
            )
        progress.show(f"starting Airflow at {api.base_url}: waiting for {waiting_for}")
        time.sleep(1)
    expected = set(expected_dag_ids())
    while True:
        found = {d["dag_id"] for d in finhouse_dags(api)}
        missing = expected - found
        if not missing:
            break
        errors = api.get("/api/v2/importErrors", limit=100).get("import_errors", [])
        if time.monotonic() > deadline or (errors and not (missing - _dags_in(errors))):
            progress.done("Airflow is healthy, but not every finhouse DAG loaded")
            for error in errors:
                last = (error.get("stack_trace") or "").strip().splitlines()[-1:]
                echo(f"    import error in {error.get('filename')}: {' '.join(last)}")
            echo(f"    missing DAGs: {', '.join(sorted(missing))}")
            return
        progress.show(f"Airflow is healthy; parsing DAGs ({len(found)}/{len(expected)})")
        time.sleep(1)
    progress.done(f"Airflow is healthy; {len(found)} finhouse DAGs loaded")


def _dags_in(errors: list[dict[str, Any]]) -> set[str]:
    """DAG ids defined by files that fail to import (ingestion.py: ingest_/reconcile_*)."""
    names: set[str] = set()
    for error in errors:
        stem = Path(str(error.get("filename", ""))).stem
        if stem == "transform":
            names.add("finhouse_dbt")
        elif stem == "maintenance":
            names.add("finhouse_maintenance")
        elif stem == "ingestion":
            names |= {d for d in expected_dag_ids() if d.startswith(("ingest_", "reconcile_"))}
    return names


def finhouse_dags(api: AirflowApi) -> list[dict[str, Any]]:
    return list(api.get("/api/v2/dags", tags="finhouse", limit=100).get("dags", []))


def unpause_all(api: AirflowApi) -> list[str]:
    """Unpause every paused finhouse DAG; returns their ids."""
    paused = [d["dag_id"] for d in finhouse_dags(api) if d.get("is_paused")]
    for dag_id in paused:
        api.patch(f"/api/v2/dags/{dag_id}", {"is_paused": False}, update_mask="is_paused")
    return paused


# ------------------------------------------------------------------------------ PostgreSQL
def _ensure_postgres(lay: Layout, echo: Echo) -> None:
    """``finhouse db up``; remembers whether ``up`` (or ``make up``'s db-up) started it."""
    if dsns.uses_external_servers():
        echo("==> using the servers of FINHOUSE_OLTP_DSN / FINHOUSE_WAREHOUSE_DSN")
        return
    cluster = default_cluster()
    # ``make up`` exports when it began (FINHOUSE_UP_SINCE): a PostgreSQL its ``db-up`` step
    # started since then counts as started by ``up`` (so ``make down`` stops it again)
    started = cluster.up() or _started_since(cluster, settings.load().up_since)
    if started:
        lay.pg_marker.write_text("the embedded PostgreSQL was started by `platform up`\n")
    state = "started" if started else "already running"
    echo(f"==> embedded PostgreSQL {state} on {cluster.host}:{cluster.port}")


def _started_since(cluster: Any, began: float | None) -> bool:
    if began is None:
        return False
    with cluster.admin_connection() as conn:
        row = conn.execute("select extract(epoch from pg_postmaster_start_time())").fetchone()
    return row is not None and float(row[0]) >= began - 1


# ------------------------------------------------------------------------------ commands
@dataclass
class Status:
    airflow_pid: int | None
    simulator_pid: int | None
    url: str
    health: dict[str, Any] | None
    postgres: str
    pg_started_by_up: bool
    superset_pid: int | None = None

    @property
    def running(self) -> bool:
        return self.airflow_pid is not None


def status() -> Status:
    lay = layout()
    port = airflow_port()
    airflow = _leader(lay, "airflow")
    health = None
    if airflow is not None:
        with contextlib.suppress(OSError, ApiError, ValueError):
            health = api_for(port).health()
    return Status(
        airflow_pid=airflow,
        simulator_pid=_leader(lay, "simulator"),
        url=airflow_url(port),
        health=health,
        postgres=_postgres_state(),
        pg_started_by_up=lay.pg_marker.exists(),
        superset_pid=_leader(lay, "superset"),
    )


def _postgres_state() -> str:
    if dsns.uses_external_servers():
        return "external (FINHOUSE_OLTP_DSN / FINHOUSE_WAREHOUSE_DSN)"
    cluster = default_cluster()
    try:
        running = cluster.status().running
    except FinhouseError as exc:
        return f"unknown ({exc})"
    return f"{'running' if running else 'not running'} on {cluster.host}:{cluster.port}"


def describe(st: Status) -> str:
    lay = layout()
    if st.airflow_pid is None:
        airflow = "not running"
    elif st.health is None:
        airflow = f"pid {st.airflow_pid}, {st.url}: the API does not answer"
    else:
        bad = _unhealthy(st.health)
        airflow = f"pid {st.airflow_pid}, {st.url}: " + (
            "healthy" if not bad else "unhealthy: " + ", ".join(bad)
        )
    simulator = f"pid {st.simulator_pid}" if st.simulator_pid else "not running"
    superset = (
        f"pid {st.superset_pid}, http://{HOST}:{superset_port()}"
        if st.superset_pid
        else "not running"
    )
    pg = st.postgres + (" (started by `up`)" if st.pg_started_by_up else "")
    return "\n".join(
        [
            f"{'Airflow':<12}{airflow}",
            f"{'simulator':<12}{simulator}",
            f"{'Superset':<12}{superset}",
            f"{'PostgreSQL':<12}{pg}",
            f"{'logs':<12}{lay.logs}",
        ]
    )


def _ensure_logkeeper(lay: Layout, echo: Echo) -> int:
    """The log keeper (:mod:`finhouse_local.logkeeper`), started once per state folder."""
    if (pid := _leader(lay, "logkeeper")) is not None:
        return pid
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **_tags(lay, "logkeeper")}
    args = [sys.executable, "-m", "finhouse_local.logkeeper"]
    pid = _start(lay, "logkeeper", args, env, lay.logkeeper_log)
    cfg = settings.load()
    echo(
        f"==> log keeper started (pid {pid}): logs rotated past {cfg.log_max_mb:g} MB, "
        f"task logs kept {cfg.log_retention_days:g} days"
    )
    return pid


def _ensure_simulator(lay: Layout, echo: Echo) -> int | None:
    if (pid := _leader(lay, "simulator")) is not None:
        return pid
    interval = simulate_interval()
    if interval is None:
        echo("==> OLTP simulator off (FINHOUSE_SIMULATE_INTERVAL=off)")
        return None
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **_tags(lay, "simulator")}
    args = [_bin("finhouse"), "oltp", "simulate", "--ticks", str(SIMULATOR_TICKS)]
    args += ["--interval", f"{interval:g}"]
    pid = _start(lay, "simulator", args, env, lay.simulator_log)
    echo(f"==> OLTP simulator started (pid {pid}): live activity every {interval:g} s")
    return pid


SUPERSET_STOP_GRACE = 30.0


def superset_port() -> int:
    return settings.read_variable("SUPERSET_PORT", Annotated[int, settings.port()], 8088)


def _superset_files() -> tuple[Path, Path, Path]:
    """(the Superset venv's gunicorn, superset/run.py, the bootstrap's marker)."""
    return (
        REPO_ROOT / ".venv-superset" / "bin" / "gunicorn",
        REPO_ROOT / "superset" / "run.py",
        state_dir() / "superset" / "bootstrapped",
    )


def _superset_answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}/health", timeout=5) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def _ensure_superset(lay: Layout, echo: Echo) -> int | None:
    """Serve Superset (gunicorn) when it is installed and bootstrapped (``make superset``)."""
    if (pid := _leader(lay, "superset")) is not None:
        return pid
    gunicorn, run, bootstrapped = _superset_files()
    if not (gunicorn.exists() and run.exists() and bootstrapped.exists()):
        echo("==> Superset not started: not bootstrapped here yet (`make superset`)")
        return None
    port = superset_port()
    if _port_in_use(port):
        raise PlatformError(f"port {port} on {HOST} is in use; choose another with SUPERSET_PORT")
    env = {**os.environ, "SUPERSET_PORT": str(port), **_tags(lay, "superset")}
    lay.run.mkdir(parents=True, exist_ok=True)
    pid = _start(lay, "superset", [sys.executable, str(run), "serve"], env, lay.superset_log)
    if not _wait(lambda: _superset_answers(port) or not alive(pid), start_timeout(), 1.0):
        raise PlatformError(f"Superset did not answer on :{port}; see {lay.superset_log}")
    if not alive(pid):
        raise PlatformError(
            f"Superset exited at start; the end of {lay.superset_log}:\n" + _tail(lay.superset_log)
        )
    echo(f"==> Superset started (pid {pid}) on http://{HOST}:{port}, log {lay.superset_log}")
    return pid


def _access(lay: Layout, port: int, env: dict[str, str], simulator: int | None) -> str:
    url = airflow_url(port)
    sim = f"pid {simulator}, log {lay.simulator_log}" if simulator else "off"
    superset = (
        f"http://{HOST}:{superset_port()}   (user admin, password: SUPERSET_ADMIN_PASSWORD or "
        f"{state_dir() / 'superset' / 'credentials.json'})"
        if _leader(lay, "superset") is not None
        else "not running (`make superset`, then `make up`)"
    )
    docs = (
        f"{url}{DBT_DOCS_PATH}   (Browse > dbt docs; `make docs` regenerates)"
        if (dbt_docs_dir() / "index.html").exists()
        else "not generated yet (`make docs`)"
    )
    return "\n".join(
        [
            f"  {'Airflow':<11}{url}   (REST API: {url}/api/v2)",
            f"  {'login':<11}user {ADMIN_USER}, password in {password_file(env)}",
            f"  {'dbt docs':<11}{docs}",
            f"  {'Superset':<11}{superset}",
            f"  {'simulator':<11}{sim}",
            f"  {'logs':<11}{lay.airflow_log}",
            f"  {'stop':<11}make down   (or: finhouse platform down)",
        ]
    )


def next_steps() -> str:
    """What to open after `make demo`, and how: the lines it ends with."""
    from finhouse import exports, files, ml  # noqa: PLC0415 - its pyarrow only when this is printed

    lay = layout()
    airflow_passwords = password_file({**os.environ, "AIRFLOW_HOME": str(airflow_home())})
    cluster = default_cluster()
    postgres = f"; PostgreSQL's files in {cluster.root}" if cluster.relocated else ""
    superset = f"http://{HOST}:{superset_port()}"
    return "\n".join(
        [
            "==> next",
            "  make up      runs the platform in the background, the OLTP kept live:",
            f"               Airflow   {airflow_url()}  user {ADMIN_USER}, password in",
            f"                         {airflow_passwords}",
            f"               Superset  {superset}  user admin, password: SUPERSET_ADMIN_PASSWORD"
            " or in",
            f"                         {state_dir() / 'superset' / 'credentials.json'}",
            "  make down    stops it; `make clean` deletes the data",
            "  make docs    dbt's docs site (then in Airflow: Browse > dbt docs)",
            f"  the data     {lay.state}{postgres}",
            "               (the marts: schema marts of database warehouse;",
            "               `.venv/bin/finhouse db status --role reporter` prints a read-only DSN)",
            f"  the exports  {exports.destination()} (CSV, Parquet and a manifest per mart;",
            "               `.venv/bin/finhouse export --all` writes them again)",
            f"  the report   {exports.destination()}/monthly_report/<close id>/ (the last",
            "               month's close as a PDF and an Excel workbook; `.venv/bin/finhouse",
            "               close --list`, `finhouse report monthly --month YYYY-MM`)",
            f"  the model    {ml.model_dir()} (a folder per version with its model card;",
            "               `.venv/bin/finhouse ml list`; Superset: Default risk)",
            f"  spreadsheets {files.files_dir()} (a folder per dataset: edit or drop .csv/.xlsx",
            "               files; the finhouse_files_* DAGs load them, `finhouse files status`)",
            "  the docs     docs/README.md (operations, metrics, settings)",
        ]
    )


def up(*, prepare_oltp: Callable[[], None] | None = None, echo: Echo = _echo) -> None:
    """Start the platform (see the module doc); says so and does nothing if it runs."""
    # every FINHOUSE_* setting first: a bad one stops here, before anything is started (its
    # warnings are logged when Airflow's environment is built, below)
    settings.validate_all()
    lay = layout()
    lay.run.mkdir(parents=True, exist_ok=True)
    private_dir(lay.logs)
    port = airflow_port()
    if (leader := _leader(lay, "airflow")) is not None:
        env = airflow_process_environment(lay, port)
        simulator = _ensure_simulator(lay, echo)
        _ensure_superset(lay, echo)
        _ensure_logkeeper(lay, echo)
        echo(f"finhouse platform already running (Airflow pid {leader})")
        echo(_access(lay, port, env, simulator))
        return
    if leftovers := service_processes(lay.state, "airflow"):
        echo(f"==> stopping {len(leftovers)} leftover Airflow processes of an earlier run")
        _stop_service(lay, "airflow", signal.SIGTERM, 10.0)
    if _port_in_use(port):
        raise PlatformError(
            f"port {port} on {HOST} is in use by another process; stop it or choose another "
            "port with FINHOUSE_AIRFLOW_PORT"
        )
    _ensure_postgres(lay, echo)
    if prepare_oltp is not None:
        prepare_oltp()
    env = airflow_process_environment(lay, port)
    echo("==> airflow db migrate")
    with open_log(lay.airflow_log) as log:
        out = subprocess.run(  # noqa: S603
            [_bin("airflow"), "db", "migrate"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            check=False,
            timeout=900,
            umask=PRIVATE_UMASK,
        )
    if out.returncode != 0:
        raise PlatformError(
            f"airflow db migrate failed; the end of {lay.airflow_log}:\n" + _tail(lay.airflow_log)
        )
    _ensure_password(password_file(env))
    leader = _start(lay, "airflow", [_bin("airflow"), "standalone"], env, lay.airflow_log)
    echo(f"==> airflow standalone started (pid {leader}), log {lay.airflow_log}")
    try:
        _ensure_logkeeper(lay, echo)
        simulator = _ensure_simulator(lay, echo)
        _ensure_superset(lay, echo)
        api = AirflowApi(airflow_url(port), password_file(env))
        _wait_ready(api, leader, lay, start_timeout(), echo)
        if paused := unpause_all(api):
            echo(f"==> unpaused {len(paused)} DAGs: {', '.join(paused)}")
    except BaseException:
        echo("==> stopping what was started (the log stays)")
        _stop_service(lay, "superset", signal.SIGTERM, SUPERSET_STOP_GRACE)
        _stop_service(lay, "simulator", signal.SIGINT, SIMULATOR_STOP_GRACE)
        _stop_service(lay, "airflow", signal.SIGINT, AIRFLOW_STOP_GRACE)
        _stop_service(lay, "logkeeper", signal.SIGTERM, LOGKEEPER_STOP_GRACE)
        raise
    echo("")
    echo("finhouse platform is up")
    echo(_access(lay, port, env, simulator))


def stop_simulator() -> list[int]:
    """Stop the OLTP simulator ``up`` started (the source then holds still); its PIDs."""
    return _stop_service(layout(), "simulator", signal.SIGINT, SIMULATOR_STOP_GRACE)


def down(*, echo: Echo = _echo) -> list[str]:
    """Stop what ``up`` started; returns what was stopped (idempotent)."""
    lay = layout()
    stopped = []
    if pids := _stop_service(lay, "simulator", signal.SIGINT, SIMULATOR_STOP_GRACE):
        stopped.append(f"OLTP simulator (pid {pids[0]})")
        echo(f"stopped the OLTP simulator (pid {pids[0]})")
    if pids := _stop_service(lay, "superset", signal.SIGTERM, SUPERSET_STOP_GRACE):
        stopped.append(f"Superset ({len(pids)} processes)")
        echo(f"stopped Superset ({len(pids)} processes)")
    if _leader(lay, "airflow") is not None or service_processes(lay.state, "airflow"):
        echo(f"stopping Airflow (SIGINT, up to {AIRFLOW_STOP_GRACE:.0f} s) ...")
    if pids := _stop_service(lay, "airflow", signal.SIGINT, AIRFLOW_STOP_GRACE):
        stopped.append(f"Airflow ({len(pids)} processes)")
        echo(f"stopped Airflow ({len(pids)} processes)")
    if pids := _stop_service(lay, "logkeeper", signal.SIGTERM, LOGKEEPER_STOP_GRACE):
        stopped.append(f"log keeper (pid {pids[0]})")
        echo(f"stopped the log keeper (pid {pids[0]})")
    if lay.pg_marker.exists():
        if default_cluster().down():
            stopped.append("embedded PostgreSQL")
            echo("stopped the embedded PostgreSQL (`up` had started it)")
        lay.pg_marker.unlink(missing_ok=True)
    if not stopped:
        echo("finhouse platform was not running")
    return stopped
