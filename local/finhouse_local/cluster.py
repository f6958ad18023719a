"""A private PostgreSQL cluster for the laptop, CI and the tests (``finhouse db up|down|status``).

It lives under the repository's ignored state folder, listens on 127.0.0.1 at a private port
with its own socket directory, and holds the databases ``oltp``, ``warehouse``, ``airflow``
and ``superset`` with the roles of the role matrix of docs/architecture.md. The machine's PostgreSQL
binaries are used when present, the ``pgserver`` wheel's otherwise. ``initdb`` refuses to run
as root, so under root the server runs as an unprivileged system user; when that user cannot
reach the state folder (a clone in /root or in a private temp folder), the cluster lives in
``/var/lib/finhouse/pg-<hash of the state path>`` instead and the state folder's ``pg``
links to it (`finhouse db up` says so; `make clean` deletes both).

Nothing is open to ``PUBLIC``: a database takes connections from its owner and from the
roles :data:`CONNECTS` names for its kind only (``postgres`` and the templates from the
administrator alone), and TEMPORARY is the loader's and the transformer's on the warehouse,
never the reporter's. Role names reach SQL as quoted identifiers (``sql.Identifier``).

Passwords are generated per cluster and kept in ``credentials.json`` beside the data
directory, never in code or committed files; it, initdb's password file and the server's
``postgres.log`` are mode 0600 from their first byte (:mod:`finhouse_local.private`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

from finhouse import settings
from finhouse.errors import ClusterError
from finhouse_local.paths import state_dir
from finhouse_local.private import open_log, write_secret


@dataclass(frozen=True)
class OltpRoles:
    """Role names of the embedded cluster's OLTP (also created on CI and in docker-compose)."""

    admin: str = "finhouse"
    app: str = "oltp_app"
    extract: str = "oltp_extract"


ROLES = OltpRoles()
LOADER, TRANSFORMER, REPORTER = "loader", "transformer", "reporter"
WAREHOUSE_ROLES: tuple[str, ...] = (LOADER, TRANSFORMER, REPORTER)
SERVICE_USERS = ("postgres", "finhousepg")
DATABASES = ("oltp", "warehouse", "airflow", "superset")
#: who may connect to a database of each kind besides its owner (the administrator, a
#: superuser, always may): PUBLIC may not (CONNECT and TEMPORARY are revoked)
CONNECTS: dict[str, tuple[str, ...]] = {
    "oltp": (ROLES.extract,),  # and oltp_app, its owner
    "warehouse": WAREHOUSE_ROLES,
    "plain": (),  # airflow, superset: their owner only
}
#: the administrator's own databases, closed to PUBLIC too
ADMIN_DATABASES = ("postgres", "template1", "template0")
#: login roles and the database each one owns (None: owns no database)
LOGIN_ROLES = {
    ROLES.app: "oltp",
    ROLES.extract: None,
    LOADER: None,
    TRANSFORMER: None,
    REPORTER: None,
    "airflow": "airflow",
    "superset": "superset",
}
#: warehouse schemas and their owners (docs/architecture.md, role matrix)
WAREHOUSE_SCHEMAS = {
    "raw": LOADER,
    "finhouse_meta": LOADER,
    "staging": TRANSFORMER,
    "intermediate": TRANSFORMER,
    "marts": TRANSFORMER,
}
EXTRACT_STATEMENT_TIMEOUT = "30min"
#: where a root-run cluster goes when its service user cannot reach the state folder
RELOCATED_ROOT = Path("/var/lib/finhouse")


def _pgserver_bindir() -> Path:
    try:
        import pgserver  # noqa: PLC0415 - optional fallback
    except ImportError:
        raise ClusterError(
            "no PostgreSQL server binaries found (looked for initdb/pg_ctl) and the pgserver "
            "wheel is not installed: install PostgreSQL or `pip install pgserver`"
        ) from None
    return Path(pgserver.__file__).parent / "pginstall" / "bin"


def _find_bindir() -> Path:
    """The machine's PostgreSQL binaries, else the ones inside the pgserver wheel.

    ``FINHOUSE_PG_BINARIES`` = ``auto`` (default), ``system`` or ``pgserver`` forces a choice;
    ``FINHOUSE_PG_BINDIR`` names the folder of the system's binaries.
    """
    choice = settings.load().pg_binaries
    if choice == "pgserver":
        return _pgserver_bindir()
    if given := settings.load().pg_bindir:
        # named explicitly: used, or an error, never silently passed over
        if not ((given / "initdb").exists() and (given / "pg_ctl").exists()):
            raise ClusterError(f"FINHOUSE_PG_BINDIR={given} holds no initdb and pg_ctl")
        return given
    candidates: list[Path] = []
    if pg_config := shutil.which("pg_config"):
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if out.returncode == 0:
            candidates.append(Path(out.stdout.strip()))
    candidates += sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    if initdb := shutil.which("initdb"):
        candidates.append(Path(initdb).resolve().parent)
    for candidate in candidates:
        if (candidate / "initdb").exists() and (candidate / "pg_ctl").exists():
            return candidate
    if choice == "system":
        raise ClusterError(
            "FINHOUSE_PG_BINARIES=system but no PostgreSQL server binaries "
            "were found (initdb/pg_ctl)"
        )
    return _pgserver_bindir()


@dataclass(frozen=True)
class ServiceUser:
    uid: int
    gid: int
    name: str


def _service_user() -> ServiceUser | None:
    """The unprivileged user the server runs as when we are root (None when not root)."""
    if os.geteuid() != 0:
        return None
    for name in SERVICE_USERS:
        with contextlib.suppress(KeyError):
            entry = pwd.getpwnam(name)
            return ServiceUser(entry.pw_uid, entry.pw_gid, name)
    name = SERVICE_USERS[-1]
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
        check=True,
        capture_output=True,
    )
    entry = pwd.getpwnam(name)
    return ServiceUser(entry.pw_uid, entry.pw_gid, name)


def _runs_for(user: ServiceUser, path: Path) -> bool:
    """Whether ``user`` can execute ``path`` (every folder above it traversable)."""
    probe = subprocess.run(
        ["test", "-x", str(path)],
        user=user.uid,
        group=user.gid,
        extra_groups=[],
        capture_output=True,
        check=False,
    )
    return probe.returncode == 0


def _bindir_for(user: ServiceUser | None) -> Path:
    """The server binaries (:func:`_find_bindir`), where the user the server runs as can
    execute them. The pgserver wheel's live inside the venv, which a clone in a private folder
    (/root…) keeps from the service user: their install (bin, lib, share and the wheel's
    libraries; ~40 MB) is then copied once under :data:`RELOCATED_ROOT`, readable by everyone,
    and run from there."""
    bindir = _find_bindir()
    if user is None or _runs_for(user, bindir / "initdb"):
        return bindir
    install = bindir.resolve().parent  # …/pgserver/pginstall
    # the wheel's binaries find their libraries by RPATH $ORIGIN/../../../pgserver.libs: the
    # copy keeps that layout from the package's parent folder
    base = install.parent.parent
    parts = [install, *base.glob(f"{install.parent.name}.libs")]
    digest = hashlib.sha256(str(install).encode()).hexdigest()[:12]
    copy = RELOCATED_ROOT / f"pginstall-{digest}"
    copied_bin = copy / install.relative_to(base) / "bin"
    if not (copied_bin / "initdb").exists():
        RELOCATED_ROOT.mkdir(parents=True, exist_ok=True)
        RELOCATED_ROOT.chmod(0o755)
        partial = copy.with_name(copy.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        for part in parts:
            shutil.copytree(part, partial / part.relative_to(base), symlinks=True)
        for folder, _dirs, files in os.walk(partial):
            Path(folder).chmod(0o755)  # the server's own files: readable by its user
            for name in files:
                path = Path(folder) / name
                if not path.is_symlink():
                    mode = path.stat().st_mode
                    path.chmod(mode | 0o444 | (0o111 if mode & 0o100 else 0))
        shutil.rmtree(copy, ignore_errors=True)
        partial.rename(copy)
    if not _runs_for(user, copied_bin / "initdb"):
        raise ClusterError(
            f"the PostgreSQL service user {user.name!r} cannot run the server binaries in "
            f"{bindir} nor their copy in {copy}: set FINHOUSE_PG_BINDIR"
        )
    return copied_bin


@dataclass
class Status:
    running: bool
    pid: int | None
    port: int
    data_dir: Path


class Provisioner:
    """Creates finhouse's roles and databases on a PostgreSQL server it administers."""

    host: str
    port: int
    admin_user: str = ROLES.admin

    def credentials(self) -> dict[str, str]:
        raise NotImplementedError

    def _ensure_credentials(self) -> dict[str, str]:
        return self.credentials()

    def dsn(self, database: str, role: str | None = None) -> str:
        role = role or self.admin_user
        creds = self.credentials()
        if role not in creds:
            raise ClusterError(f"unknown role {role!r} in the embedded PostgreSQL")
        return f"postgresql://{role}:{creds[role]}@{self.host}:{self.port}/{database}"

    @contextlib.contextmanager
    def admin_connection(self, database: str = "postgres") -> Iterator[psycopg.Connection]:
        deadline = time.monotonic() + 30
        while True:
            try:
                conn = psycopg.connect(self.dsn(database), autocommit=True, connect_timeout=5)
                break
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise ClusterError(
                        f"cannot connect to the embedded PostgreSQL: {exc}"
                    ) from None
                time.sleep(0.2)
        with conn:
            yield conn

    def bootstrap(self) -> None:
        """Create the roles and databases if missing (idempotent)."""
        creds = self._ensure_credentials()
        ident = sql.Identifier
        with self.admin_connection() as conn:
            for role in LOGIN_ROLES:
                exists = conn.execute(
                    "select 1 from pg_roles where rolname = %s", (role,)
                ).fetchone()
                verb = "alter" if exists else "create"
                conn.execute(
                    sql.SQL(verb + " role {} login password {}").format(
                        ident(role), sql.Literal(creds[role])
                    )
                )
            extract = ident(ROLES.extract)
            conn.execute(sql.SQL("grant pg_monitor to {}").format(extract))
            conn.execute(
                sql.SQL("alter role {} set statement_timeout = {}").format(
                    extract, sql.Literal(EXTRACT_STATEMENT_TIMEOUT)
                )
            )
            conn.execute(
                sql.SQL("alter role {} set default_transaction_read_only = on").format(extract)
            )
            for role in WAREHOUSE_ROLES:
                conn.execute(sql.SQL("alter role {} set timezone = 'UTC'").format(ident(role)))
            # dbt's long CTE chains cost seconds of LLVM compilation per statement with JIT
            # on (measured: 17 s of a 19 s incremental statement), far more than it saves.
            conn.execute(sql.SQL("alter role {} set jit = off").format(ident(TRANSFORMER)))
            # the administrator's databases: no one else connects
            for name in ADMIN_DATABASES:
                conn.execute(sql.SQL("revoke all on database {} from public").format(ident(name)))
        self.create_database("oltp", "oltp")
        self.create_database("warehouse", "warehouse")
        self.create_database("airflow", "plain", owner="airflow")
        self.create_database("superset", "plain", owner="superset")

    def create_database(self, name: str, kind: str, owner: str | None = None) -> None:
        """Create database ``name`` (if missing) set up as an ``oltp``, ``warehouse`` or
        ``plain`` database (one application's own: its owner alone connects). Its
        privileges are set every time: nothing for ``PUBLIC`` (no CONNECT, no TEMPORARY),
        CONNECT for the roles of :data:`CONNECTS` of its kind."""
        ident = sql.Identifier
        with self.admin_connection() as conn:
            if not conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone():
                db_owner = owner or (ROLES.app if kind == "oltp" else self.admin_user)
                conn.execute(
                    sql.SQL("create database {} owner {}").format(ident(name), ident(db_owner))
                )
            conn.execute(sql.SQL("revoke all on database {} from public").format(ident(name)))
            for role in CONNECTS.get(kind, ()):
                conn.execute(
                    sql.SQL("grant connect on database {} to {}").format(ident(name), ident(role))
                )
        if kind == "oltp":
            self._setup_oltp(name)
        elif kind == "warehouse":
            self._setup_warehouse(name)

    def drop_database(self, name: str) -> None:
        with self.admin_connection() as conn:
            conn.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
            )

    def _setup_oltp(self, name: str) -> None:
        app, extract = sql.Identifier(ROLES.app), sql.Identifier(ROLES.extract)
        with self.admin_connection(name) as conn:
            conn.execute(sql.SQL("alter schema public owner to {}").format(app))
            conn.execute(sql.SQL("grant usage on schema public to {}").format(extract))
            conn.execute(
                sql.SQL("grant select on all tables in schema public to {}").format(extract)
            )
            conn.execute(
                sql.SQL(
                    "alter default privileges for role {} in schema public "
                    "grant select on tables to {}"
                ).format(app, extract)
            )

    def _setup_warehouse(self, name: str) -> None:
        ident = sql.Identifier
        loader, transformer = ident(LOADER), ident(TRANSFORMER)
        with self.admin_connection(name) as conn:
            conn.execute(sql.SQL("revoke all on schema public from public"))
            # temporary tables: the loader lands rows in them, dbt builds incremental models
            # and unit tests through them; the reporter reads, nothing more
            conn.execute(
                sql.SQL("grant create, temporary on database {} to {}, {}").format(
                    ident(name), loader, transformer
                )
            )
            for schema, owner in WAREHOUSE_SCHEMAS.items():
                conn.execute(
                    sql.SQL("create schema if not exists {} authorization {}").format(
                        ident(schema), ident(owner)
                    )
                )
                conn.execute(
                    sql.SQL("alter schema {} owner to {}").format(ident(schema), ident(owner))
                )
            # transformer reads what loader writes (role matrix); reporter gets USAGE on marts
            # here and SELECT on each mart from dbt's grants config.
            for schema in ("raw", "finhouse_meta"):
                conn.execute(
                    sql.SQL("grant usage on schema {} to {}").format(ident(schema), transformer)
                )
                conn.execute(
                    sql.SQL("grant select on all tables in schema {} to {}").format(
                        ident(schema), transformer
                    )
                )
                conn.execute(
                    sql.SQL(
                        "alter default privileges for role {} in schema {} "
                        "grant select on tables to {}"
                    ).format(loader, ident(schema), transformer)
                )
            conn.execute(
                sql.SQL("grant usage on schema {} to {}").format(ident("marts"), ident(REPORTER))
            )


class Cluster(Provisioner):
    """One private cluster rooted at ``root`` (data, socket dir, log, credentials)."""

    def __init__(self, root: Path, port: int, *, durable: bool = True) -> None:
        #: the path the cluster is known by (``<state>/pg``); ``root`` is where it lives, the
        #: same folder or, when relocated, the folder this one links to
        self.link = Path(root).absolute()
        self.port = port
        self.durable = durable
        self.host = "127.0.0.1"
        self._place(self.link.resolve())

    def _place(self, root: Path) -> None:
        self.root = root
        self.data_dir = root / "data"
        self.socket_dir = root / "run"
        self.log_file = root / "postgres.log"
        self.credentials_file = root / "credentials.json"

    @property
    def relocated(self) -> bool:
        """True when the cluster lives outside the state folder (see the module doc)."""
        return self.link != self.root

    # ------------------------------------------------------------------ credentials
    def credentials(self) -> dict[str, str]:
        try:
            return json.loads(self.credentials_file.read_text())
        except FileNotFoundError:
            raise ClusterError(
                f"the embedded PostgreSQL has not been created yet ({self.root}): "
                "run `finhouse db up`"
            ) from None

    def _ensure_credentials(self) -> dict[str, str]:
        creds = self.credentials() if self.credentials_file.exists() else {}
        wanted = [ROLES.admin, *LOGIN_ROLES]
        if missing := [role for role in wanted if role not in creds]:
            for role in missing:
                creds[role] = secrets.token_urlsafe(18)
            write_secret(self.credentials_file, json.dumps(creds, indent=2))
        return creds

    # ------------------------------------------------------------------ process control
    def _run(
        self, args: list[str], user: ServiceUser | None, **kwargs: object
    ) -> subprocess.CompletedProcess[str]:
        kw: dict[str, object] = {"capture_output": True, "text": True, **kwargs}
        if user is not None:
            kw.update(user=user.uid, group=user.gid, extra_groups=[])
            kw["env"] = {**os.environ, "HOME": str(self.root), "USER": user.name}
        return subprocess.run(args, check=False, **kw)  # type: ignore[call-overload]

    def _pg_ctl_status(self, bindir: Path, user: ServiceUser | None) -> int | None:
        if not (self.data_dir / "PG_VERSION").exists():
            return None
        out = self._run([str(bindir / "pg_ctl"), "-D", str(self.data_dir), "status"], user)
        if out.returncode != 0:
            return None
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return -1

    def status(self) -> Status:
        user = _service_user()
        pid = self._pg_ctl_status(_bindir_for(user), user)
        return Status(pid is not None, pid, self.port, self.data_dir)

    def _port_in_use(self) -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(0.5)
            return s.connect_ex((self.host, self.port)) == 0

    def _prepare_dirs(self, user: ServiceUser | None) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if user is not None:
            os.chown(self.root, user.uid, user.gid)
            if not self._reaches(user):
                self._relocate(user)
        self.socket_dir.mkdir(exist_ok=True)
        if user is not None:
            os.chown(self.socket_dir, user.uid, user.gid)

    def _reaches(self, user: ServiceUser) -> bool:
        return self._run(["test", "-w", str(self.root)], user).returncode == 0

    def _relocate(self, user: ServiceUser) -> None:
        """Move a new cluster's folder where the service user can reach it, and link to it."""
        unreachable = (
            f"the PostgreSQL service user {user.name!r} cannot reach {self.root} "
            "(a parent folder is not traversable)"
        )
        if (self.data_dir / "PG_VERSION").exists():
            raise ClusterError(
                f"{unreachable}, and a cluster already lives there: make a parent folder "
                "traversable (chmod o+x) or set FINHOUSE_STATE_DIR to another folder"
            )
        digest = hashlib.sha256(str(self.link).encode()).hexdigest()[:12]
        target = RELOCATED_ROOT / f"pg-{digest}"
        RELOCATED_ROOT.mkdir(parents=True, exist_ok=True)
        RELOCATED_ROOT.chmod(0o755)  # traversable whatever root's umask
        target.mkdir(mode=0o700, exist_ok=True)
        os.chown(target, user.uid, user.gid)
        for child in self.root.iterdir():  # what an earlier attempt left here (credentials)
            shutil.move(child, target / child.name)
        self.root.rmdir()
        self.link.symlink_to(target, target_is_directory=True)
        self._place(target)
        if not self._reaches(user):
            raise ClusterError(f"{unreachable}, nor {target}: set FINHOUSE_STATE_DIR")

    def _initdb(self, bindir: Path, user: ServiceUser | None, creds: dict[str, str]) -> None:
        pwfile = self.root / ".pwfile"
        owner = (user.uid, user.gid) if user is not None else None
        write_secret(pwfile, creds[ROLES.admin] + "\n", owner=owner)
        try:
            out = self._run(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    ROLES.admin,
                    f"--pwfile={pwfile}",
                    "--auth-local=scram-sha-256",
                    "--auth-host=scram-sha-256",
                    "--encoding=UTF8",
                    "--locale=C",
                ]
                + ([] if self.durable else ["--no-sync"]),
                user,
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if out.returncode != 0:
            raise ClusterError(f"initdb failed: {out.stderr.strip() or out.stdout.strip()}")
        settings = {
            "listen_addresses": f"'{self.host}'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.socket_dir}'",
            "max_connections": "200",
            "shared_buffers": "256MB",
            "work_mem": "32MB",
            "maintenance_work_mem": "256MB",
            "timezone": "'UTC'",
            "log_timezone": "'UTC'",
            "synchronous_commit": "off",
            # Keep the log small: the server is a development tool here.
            "log_min_messages": "warning",
        }
        if not self.durable:
            settings |= {"fsync": "off", "full_page_writes": "off"}
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\n# finhouse embedded cluster\n")
            conf.writelines(f"{k} = {v}\n" for k, v in settings.items())

    def up(self) -> bool:
        """Start (creating on first use) and bootstrap; return False if it was already up."""
        user = _service_user()
        bindir = _bindir_for(user)
        self._prepare_dirs(user)
        creds = self._ensure_credentials()
        if not (self.data_dir / "PG_VERSION").exists():
            if self.data_dir.exists():
                shutil.rmtree(self.data_dir)  # a half-made data dir from an interrupted initdb
            self._initdb(bindir, user, creds)
        started = False
        if self._pg_ctl_status(bindir, user) is None:
            pidfile = self.data_dir / "postmaster.pid"
            if pidfile.exists():
                pidfile.unlink()  # pg_ctl says no server runs: the pid file is stale
            if self._port_in_use():
                raise ClusterError(
                    f"port {self.port} on {self.host} is in use by another process; "
                    "stop it or choose another port with FINHOUSE_PG_PORT"
                )
            # 0600 before the server writes to it (pg_ctl appends), owned by the server's user
            open_log(self.log_file, owner=(user.uid, user.gid) if user else None).close()
            out = self._run(
                [
                    str(bindir / "pg_ctl"),
                    "-D",
                    str(self.data_dir),
                    "-l",
                    str(self.log_file),
                    "-o",
                    f"-p {self.port} -k {self.socket_dir}",
                    "-w",
                    "-t",
                    "60",
                    "start",
                ],
                user,
            )
            if out.returncode != 0:
                tail = (
                    self.log_file.read_text(errors="replace").strip().splitlines()[-3:]
                    if self.log_file.exists()
                    else []
                )
                raise ClusterError(
                    "PostgreSQL did not start: "
                    + " | ".join([out.stderr.strip(), *tail]).strip(" |")
                )
            started = True
        self.bootstrap()
        return started

    def down(self) -> bool:
        """Stop the server; return False if it was not running."""
        user = _service_user()
        bindir = _bindir_for(user)
        if self._pg_ctl_status(bindir, user) is None:
            return False
        out = self._run(
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(self.data_dir),
                "-m",
                "fast",
                "-w",
                "-t",
                "60",
                "stop",
            ],
            user,
        )
        if out.returncode != 0:
            raise ClusterError(f"PostgreSQL did not stop: {out.stderr.strip()}")
        return True

    def destroy(self) -> None:
        """Stop and delete the cluster (data, credentials, log; and its link when relocated)."""
        self.down()
        shutil.rmtree(self.root, ignore_errors=True)
        if self.link.is_symlink():
            self.link.unlink()


class ServerAt(Provisioner):
    """A running server we administer through ``admin_dsn`` (e.g. a test container)."""

    def __init__(self, admin_dsn: str) -> None:
        parts = urlsplit(admin_dsn)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 5432
        self.admin_user = parts.username or "postgres"
        self._creds = {self.admin_user: parts.password or ""}
        self._creds |= {role: secrets.token_urlsafe(18) for role in LOGIN_ROLES}

    def credentials(self) -> dict[str, str]:
        return self._creds


def cluster_dir() -> Path:
    """Where the embedded cluster lives: ``<state>/pg``."""
    return state_dir() / "pg"


def cluster_port() -> int:
    """``FINHOUSE_PG_PORT``: the port it listens on (127.0.0.1)."""
    return settings.load().pg_port


def default_cluster() -> Cluster:
    return Cluster(cluster_dir(), cluster_port())
