"""``finhouse db up|down|status`` on a cluster of its own (not the session's)."""

from __future__ import annotations

import os
import shutil
import socket
import stat
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from finhouse_local.cluster import LOGIN_ROLES, ROLES, Provisioner
from tests.conftest import free_port, run_cli

pytestmark = pytest.mark.integration


@pytest.fixture
def own_state() -> Iterator[dict[str, str]]:
    state = Path(tempfile.mkdtemp(prefix="finhouse-cluster-test-"))
    state.chmod(0o755)
    env = {**os.environ, "FINHOUSE_STATE_DIR": str(state), "FINHOUSE_PG_PORT": str(free_port())}
    try:
        yield env
    finally:
        run_cli("db", "down", env=env)


def _status(env: dict[str, str]) -> dict[str, str]:
    out = run_cli("db", "status", "--show-password", env=env, check=True)
    return dict(line.split(" ", 1) for line in out.stdout.splitlines())


def test_up_twice_status_and_down(own_state: dict[str, str]) -> None:
    first = run_cli("db", "up", env=own_state, check=True)
    assert "started" in first.stdout
    again = run_cli("db", "up", env=own_state, check=True)
    assert "already running" in again.stdout
    dsns = _status(own_state)
    assert set(dsns) == {"oltp", "warehouse", "airflow", "superset"}
    assert all(
        d.startswith("postgresql://finhouse:") and f":{own_state['FINHOUSE_PG_PORT']}/" in d
        for d in dsns.values()
    )
    # without --show-password the output is fit for logs
    password = urlsplit(dsns["oltp"]).password
    assert password
    plain = run_cli("db", "status", env=own_state, check=True).stdout
    assert password not in plain
    assert plain.count("finhouse:***@") == 4
    with psycopg.connect(dsns["warehouse"]) as conn:
        schemas = dict(
            conn.execute("""select nspname, pg_get_userbyid(nspowner)
                                       from pg_namespace where nspname in
                                       ('raw', 'finhouse_meta', 'staging', 'intermediate',
                                        'marts')""").fetchall()
        )
        assert schemas == {
            "raw": "loader",
            "finhouse_meta": "loader",
            "staging": "transformer",
            "intermediate": "transformer",
            "marts": "transformer",
        }
        roles = {
            r[0]
            for r in conn.execute(
                "select rolname from pg_roles where rolname in "
                "('loader', 'transformer', 'reporter', 'oltp_app', 'oltp_extract', 'airflow')"
            )
        }
        assert len(roles) == 6
        monitor = conn.execute("select pg_has_role('oltp_extract', 'pg_monitor', 'member')")
        assert monitor.fetchone() == (True,)
    # the extract role is read-only and bounded by a statement timeout
    out = run_cli(
        "db", "status", "--role", "oltp_extract", "--show-password", env=own_state, check=True
    )
    extract_dsn = out.stdout.splitlines()[0].split(" ", 1)[1]
    with psycopg.connect(extract_dsn) as conn:
        assert conn.execute("show statement_timeout").fetchone() == ("30min",)
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("create table t (x int)")
    down = run_cli("db", "down", env=own_state, check=True)
    assert "stopped" in down.stdout
    not_running = run_cli("db", "status", env=own_state)
    assert not_running.returncode == 1
    assert "not running" in not_running.stderr
    assert (
        run_cli("db", "down", env=own_state, check=True).stdout.strip()
        == "embedded PostgreSQL was not running"
    )


def test_data_survives_restart_and_stale_pid_is_handled(own_state: dict[str, str]) -> None:
    run_cli("db", "up", env=own_state, check=True)
    dsn = _status(own_state)["warehouse"]
    with psycopg.connect(dsn) as conn:
        conn.execute("create table public.keep (x int)")
        conn.execute("insert into public.keep values (42)")
    run_cli("db", "down", env=own_state, check=True)
    pidfile = Path(own_state["FINHOUSE_STATE_DIR"]) / "pg" / "data" / "postmaster.pid"
    pidfile.write_text("999999\n")  # a crashed server leaves its pid file behind
    up = run_cli("db", "up", env=own_state, check=True)
    assert "started" in up.stdout
    with psycopg.connect(_status(own_state)["warehouse"]) as conn:
        assert conn.execute("select x from public.keep").fetchone() == (42,)


def test_port_in_use_gets_a_clear_message(own_state: dict[str, str]) -> None:
    port = int(own_state["FINHOUSE_PG_PORT"])
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", port))
        blocker.listen()
        out = run_cli("db", "up", env=own_state)
    assert out.returncode == 1
    assert out.stderr.count("\n") == 1
    assert f"port {port} on 127.0.0.1 is in use" in out.stderr
    assert "FINHOUSE_PG_PORT" in out.stderr


def test_pgserver_wheel_serves_when_the_machine_has_no_postgresql(
    own_state: dict[str, str],
) -> None:
    """The fallback a machine without PostgreSQL uses: the server inside the pgserver wheel."""
    env = {**own_state, "FINHOUSE_PG_BINARIES": "pgserver"}
    run_cli("db", "up", env=env, check=True)
    dsns = _status(env)
    with psycopg.connect(dsns["oltp"]) as conn:
        version = conn.execute("show server_version").fetchone()
        assert version is not None
        assert version[0].startswith("16.")  # the wheel's, not the machine's 15
        assert conn.execute(
            "select count(*) from pg_roles where rolname in ('loader', 'transformer', 'reporter')"
        ).fetchone() == (3,)
    run_cli("db", "down", env=env, check=True)


def test_unknown_binaries_choice_is_refused(own_state: dict[str, str]) -> None:
    out = run_cli("db", "up", env={**own_state, "FINHOUSE_PG_BINARIES": "docker"})
    assert out.returncode == 1
    assert "FINHOUSE_PG_BINARIES must be auto, system or pgserver" in out.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="only root runs the server as another user")
def test_root_in_a_private_folder_gets_a_cluster_its_service_user_can_reach() -> None:
    """A clone in /root or a private temp folder: the service user cannot traverse it, so the
    cluster lives under /var/lib/finhouse, the state folder links to it, and `db up` says so."""
    private = Path(tempfile.mkdtemp(prefix="finhouse-private-"))  # 0700, root's
    assert private.stat().st_mode & 0o777 == 0o700
    state = private / "state"
    env = {**os.environ, "FINHOUSE_STATE_DIR": str(state), "FINHOUSE_PG_PORT": str(free_port())}
    link = state / "pg"
    try:
        up = run_cli("db", "up", env=env, check=True)
        assert link.is_symlink()
        home = link.resolve()
        assert home.parent == Path("/var/lib/finhouse")
        assert f"data in {home / 'data'}" in up.stdout
        assert f"cannot reach {state}" in up.stdout
        assert f"the cluster lives in {home}" in up.stdout
        # the secrets stay root's even in the shared folder
        creds = home / "credentials.json"
        assert (creds.stat().st_uid, creds.stat().st_mode & 0o777) == (0, 0o600)
        with psycopg.connect(_status(env)["warehouse"]) as conn:
            assert conn.execute("select 1").fetchone() == (1,)
        # known by its link from now on: a second start finds it running, nothing moves
        again = run_cli("db", "up", env=env, check=True)
        assert "already running" in again.stdout
        assert link.resolve() == home
        run_cli("db", "down", env=env, check=True)
        assert "started" in run_cli("db", "up", env=env, check=True).stdout
    finally:
        run_cli("db", "down", env=env)
        if link.is_symlink():
            shutil.rmtree(link.resolve(), ignore_errors=True)
        shutil.rmtree(private, ignore_errors=True)


# --------------------------------------------------------------------------- hardened defaults
#: who may connect where (docs/local.md): the owner, and the roles named for the database
MAY_CONNECT = {
    "oltp": {ROLES.app, ROLES.extract},
    "warehouse": {"loader", "transformer", "reporter"},
    "airflow": {"airflow"},
    "superset": {"superset"},
    "postgres": set(),
    "template1": set(),
}


def test_no_database_is_open_to_public(pg_server: Provisioner) -> None:
    """Every role reaches the databases it needs and no other: the reporter cannot open
    Airflow's or Superset's metadata, the OLTP, or the administrator's databases."""
    for database, allowed in MAY_CONNECT.items():
        for role in LOGIN_ROLES:
            dsn = pg_server.dsn(database, role)
            if role in allowed:
                with psycopg.connect(dsn) as conn:
                    assert conn.execute("select current_user").fetchone() == (role,)
            else:
                with pytest.raises(psycopg.OperationalError, match="permission denied"):
                    psycopg.connect(dsn).close()
    with psycopg.connect(pg_server.dsn("postgres"), autocommit=True) as conn:
        open_to_public = conn.execute(
            "select datname from pg_database "
            "where has_database_privilege('public', oid, 'connect') "
            "or has_database_privilege('public', oid, 'temporary') "
            "or has_database_privilege('public', oid, 'create')"
        ).fetchall()
    assert open_to_public == []


def test_the_reporter_may_not_create_temporary_tables(pg_server: Provisioner) -> None:
    for role, allowed in (("reporter", False), ("loader", True), ("transformer", True)):
        with psycopg.connect(pg_server.dsn("warehouse", role), autocommit=True) as conn:
            if allowed:
                conn.execute("create temp table t (x int)")
            else:
                with pytest.raises(
                    psycopg.errors.InsufficientPrivilege,
                    match="permission denied to create temporary tables",
                ):
                    conn.execute("create temp table t (x int)")


def test_a_database_made_for_a_test_is_as_closed(pg_server: Provisioner) -> None:
    """``create_database`` of every kind: the same rules on any name."""
    name = f"plain_{uuid.uuid4().hex[:8]}"
    pg_server.create_database(name, "plain", owner="airflow")
    try:
        with psycopg.connect(pg_server.dsn(name, "airflow")) as conn:
            conn.execute("create temp table t (x int)")  # its owner's
        for role in ("reporter", "superset", ROLES.app):
            with pytest.raises(psycopg.OperationalError, match="permission denied"):
                psycopg.connect(pg_server.dsn(name, role)).close()
    finally:
        pg_server.drop_database(name)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_secrets_and_the_log_are_readable_by_their_owner_only(
    own_state: dict[str, str],
) -> None:
    root = Path(own_state["FINHOUSE_STATE_DIR"]) / "pg"
    run_cli("db", "up", env=own_state, check=True)
    assert _mode(root / "credentials.json") == 0o600
    assert _mode(root / "postgres.log") == 0o600
    assert not (root / ".pwfile").exists()
    assert not list(root.glob(".*.tmp"))  # write_secret's temporary files
    if os.geteuid() == 0:  # the server, running as its own user, writes the log
        assert (root / "postgres.log").stat().st_uid != 0
    # a log left readable by an older version is narrowed when the server starts again
    run_cli("db", "down", env=own_state, check=True)
    (root / "postgres.log").chmod(0o644)
    run_cli("db", "up", env=own_state, check=True)
    assert _mode(root / "postgres.log") == 0o600


@pytest.mark.skipif(os.geteuid() != 0, reason="only root runs the server as another user")
def test_server_binaries_the_service_user_cannot_reach_are_run_from_a_copy(
    own_state: dict[str, str],
) -> None:
    """The pgserver wheel's binaries in the venv of a clone in /root: the service user cannot
    execute them there, so they run from a copy it can reach (made once, then reused)."""
    import pgserver  # noqa: PLC0415

    private = Path(tempfile.mkdtemp(prefix="finhouse-private-bin-"))  # 0700, root's
    wheel = Path(pgserver.__file__).parent
    install = private / "pgserver" / "pginstall"
    shutil.copytree(wheel / "pginstall", install, symlinks=True)
    shutil.copytree(wheel.with_name("pgserver.libs"), private / "pgserver.libs")
    env = {**own_state, "FINHOUSE_PG_BINDIR": str(install / "bin")}
    copies = set(Path("/var/lib/finhouse").glob("pginstall-*"))
    try:
        run_cli("db", "up", env=env, check=True)
        (copy,) = set(Path("/var/lib/finhouse").glob("pginstall-*")) - copies
        with psycopg.connect(_status(env)["warehouse"]) as conn:
            version = conn.execute("show server_version").fetchone()
            assert version is not None
            assert version[0].startswith("16.")  # the wheel's server, run from the copy
        postmaster = Path(own_state["FINHOUSE_STATE_DIR"]) / "pg" / "data" / "postmaster.pid"
        pid = postmaster.read_text().split()[0]
        assert Path(f"/proc/{pid}/exe").resolve().is_relative_to(copy)
        run_cli("db", "down", env=env, check=True)
        run_cli("db", "up", env=env, check=True)  # the copy is reused, not made again
        assert set(Path("/var/lib/finhouse").glob("pginstall-*")) - copies == {copy}
    finally:
        run_cli("db", "down", env=env)
        for made in set(Path("/var/lib/finhouse").glob("pginstall-*")) - copies:
            shutil.rmtree(made, ignore_errors=True)
        shutil.rmtree(private, ignore_errors=True)
