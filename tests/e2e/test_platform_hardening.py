"""The platform as `make up` runs it (`finhouse platform up`), in its own state folder and on
free ports, with its hardened defaults checked on the running processes:

* every socket a process of the platform listens on is 127.0.0.1's: the API server, the
  scheduler's worker log server and the triggerer's log server (Airflow 3.3 binds those to
  every interface unless told otherwise: ``finhouse_local.airflow_local``), and the embedded
  PostgreSQL's postmaster;
* the log servers answer there (403 without the API server's token), and a task records
  127.0.0.1 as its host, which is where the API server fetches a running task's log;
* the logs (``airflow.log``, ``simulator.log``, Airflow's own task and DAG-processor logs) and
  the admin password file are their owner's only.
"""

from __future__ import annotations

import datetime as dt
import json
import stat
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from finhouse.oltp import schema
from finhouse.oltp.seed import seed
from finhouse_local import services
from finhouse_local.cluster import Cluster, Provisioner
from finhouse_local.services import AirflowApi
from tests.conftest import Databases, free_port, run_cli
from tests.e2e.test_platform_rest import _ensure_manifest, _platform_env, _tail

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@dataclass
class Running:
    api: AirflowApi
    state: Path
    api_port: int
    log_ports: dict[str, int]


@pytest.fixture
def running(pg_server: Provisioner, dbs: Databases, tmp_path: Path) -> Iterator[Running]:
    schema.init(dbs.oltp_dsn)
    seed(dbs.oltp_dsn, scale=0.02, seed=3, as_of=dt.datetime.now(dt.UTC).date())
    _ensure_manifest()
    meta_db = f"airflow_{uuid.uuid4().hex[:10]}"
    pg_server.create_database(meta_db, "plain", owner="airflow")
    state = tmp_path / "state"
    port = free_port()
    log_ports = {"worker": free_port(), "trigger": free_port()}
    env = _platform_env(pg_server, dbs, meta_db, state, port) | {
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(log_ports["worker"]),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(log_ports["trigger"]),
    }
    lay = services.Layout(state)
    started: set[int] = set()
    try:
        up = run_cli("platform", "up", env=env, timeout=480)
        started |= set(services.service_processes(state))
        assert up.returncode == 0, (
            f"platform up failed ({up.returncode}):\n{up.stdout[-3000:]}\n{up.stderr[-3000:]}\n"
            f"airflow.log:\n{_tail(lay.airflow_log, 60)}"
        )
        passwords = state / "airflow" / "simple_auth_manager_passwords.json.generated"
        api = AirflowApi(services.airflow_url(port), passwords)
        yield Running(api, state, port, log_ports)
    finally:
        started |= set(services.service_processes(state))
        down = run_cli("platform", "down", env=env, timeout=180)
        survivors = sorted({p for p in started if services.alive(p)})
        pg_server.drop_database(meta_db)
        assert down.returncode == 0, down.stdout + down.stderr
        assert not survivors, f"processes survived `platform down`: {survivors}"


def _listening(pids: list[int]) -> dict[tuple[str, int], int]:
    """(address, port) -> pid of every TCP socket these processes listen on."""
    found: dict[tuple[str, int], int] = {}
    for pid in pids:
        try:
            connections = psutil.Process(pid).net_connections(kind="inet")
        except psutil.NoSuchProcess:
            continue
        for conn in connections:
            if conn.status == psutil.CONN_LISTEN:
                found[(conn.laddr.ip, conn.laddr.port)] = pid
    return found


def _poll(what: str, probe: object, timeout: float) -> object:
    deadline = time.monotonic() + timeout
    while True:
        if result := probe():  # type: ignore[operator]
            return result
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f} s waiting for {what}"
        time.sleep(1)


def _private(path: Path) -> bool:
    return stat.S_IMODE(path.stat().st_mode) & 0o077 == 0


def test_every_service_listens_on_127_0_0_1_and_writes_private_files(
    running: Running, pg_server: Provisioner
) -> None:
    ports = {running.api_port, *running.log_ports.values()}

    def sockets() -> dict[tuple[str, int], int] | None:
        found = _listening(services.service_processes(running.state))
        return found if ports <= {port for _, port in found} else None

    found = _poll("the API server and both log servers", sockets, 120)
    assert isinstance(found, dict)
    assert {address for address, _ in found} == {"127.0.0.1"}, found
    # the log servers are Airflow's (they want the API server's signed token)
    for name, port in running.log_ports.items():
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/log/x.log", timeout=10)
        assert refused.value.code == 403, name
    # the embedded PostgreSQL
    if isinstance(pg_server, Cluster):
        postmaster = int((pg_server.data_dir / "postmaster.pid").read_text().split()[0])
        assert {a for a, _ in _listening([postmaster])} == {"127.0.0.1"}

    # a task ran (ingest_users runs at start-up): its host is 127.0.0.1, its log private
    api = running.api

    def ran() -> list[dict[str, object]] | None:
        tis = api.get("/api/v2/dags/ingest_users/dagRuns/~/taskInstances", limit=20)
        done = [t for t in tis["task_instances"] if t["state"] in ("success", "failed")]
        return done or None

    tis = _poll("a task of ingest_users", ran, 300)
    assert isinstance(tis, list)
    assert {t["hostname"] for t in tis} == {"127.0.0.1"}
    task_logs = list((running.state / "airflow" / "logs").rglob("*.log"))
    assert task_logs, "no task log written"
    for folder in (running.state / "logs", running.state / "airflow" / "logs"):
        for path in [folder, *folder.rglob("*")]:
            assert _private(path), f"{path} is readable by others: {oct(path.stat().st_mode)}"
    password_file = running.state / "airflow" / "simple_auth_manager_passwords.json.generated"
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    assert json.loads(password_file.read_text())["admin"]
    for log in ("airflow.log", "simulator.log"):
        assert stat.S_IMODE((running.state / "logs" / log).stat().st_mode) == 0o600
