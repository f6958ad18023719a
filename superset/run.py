"""Superset against the embedded PostgreSQL: the environment, the bootstrap and the server.

Run with the main venv's Python (it knows the finhouse cluster); Superset itself runs from
``.venv-superset``:

    .venv/bin/python superset/run.py bootstrap    # make superset: init + import (idempotent)
    .venv/bin/python superset/run.py serve        # gunicorn on 127.0.0.1:$SUPERSET_PORT (8088)
    .venv/bin/python superset/run.py screenshots  # make screenshots (docs/screenshots/*.png)

Secrets come from the environment when set (SUPERSET_SECRET_KEY, SUPERSET_ADMIN_PASSWORD,
SUPERSET_BRANCH_MANAGER_PASSWORD, SUPERSET_METADATA_DB_URI, SUPERSET_WAREHOUSE_DSN);
otherwise the key and passwords are generated once into ``.finhouse/superset/credentials.json``
(mode 0600, ignored by git) and the databases are the cluster's ``superset`` database (role
``superset``) and ``warehouse`` as ``reporter``. Nothing secret is printed.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
VENV = REPO / ".venv-superset"
PYTHON = VENV / "bin" / "python"


def state_dir() -> Path:
    from finhouse_local.paths import state_dir as finhouse_state  # noqa: PLC0415

    return finhouse_state() / "superset"


def credentials() -> dict[str, str]:
    """The generated secret key and passwords (created once, mode 0600)."""
    path = state_dir() / "credentials.json"
    creds: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    changed = False
    for key in ("secret_key", "admin_password", "branch_manager_password"):
        if not creds.get(key):
            creds[key] = secrets.token_urlsafe(32 if key == "secret_key" else 18)
            changed = True
    if changed:
        from finhouse_local.private import write_secret  # noqa: PLC0415

        write_secret(path, json.dumps(creds, indent=2))
    return creds


def environment(
    metadata_uri: str | None = None, warehouse_dsn: str | None = None
) -> dict[str, str]:
    """The environment Superset's config and bootstrap read."""
    from finhouse_local import dsns  # noqa: PLC0415
    from finhouse_local.cluster import default_cluster  # noqa: PLC0415

    creds = credentials()
    env = dict(os.environ)
    env.setdefault("SUPERSET_SECRET_KEY", creds["secret_key"])
    env.setdefault("SUPERSET_ADMIN_USERNAME", "admin")
    env.setdefault("SUPERSET_ADMIN_PASSWORD", creds["admin_password"])
    env.setdefault("SUPERSET_BRANCH_MANAGER_PASSWORD", creds["branch_manager_password"])
    if metadata_uri is None and not env.get("SUPERSET_METADATA_DB_URI"):
        dsn = default_cluster().dsn("superset", "superset")
        metadata_uri = "postgresql+psycopg2://" + dsn.split("://", 1)[1]
    if metadata_uri:
        env["SUPERSET_METADATA_DB_URI"] = metadata_uri
    if warehouse_dsn is None and not env.get("SUPERSET_WAREHOUSE_DSN"):
        from finhouse.connections import as_url  # noqa: PLC0415

        # a URL for Superset's SQLAlchemy, also from a libpq keyword/value DSN
        warehouse_dsn = as_url(dsns.warehouse_dsn("reporter"))
    if warehouse_dsn:
        env["SUPERSET_WAREHOUSE_DSN"] = warehouse_dsn
    env["SUPERSET_CONFIG_PATH"] = str(HERE / "superset_config.py")
    env.setdefault("SUPERSET_PORT", "8088")
    env["PYTHONPATH"] = str(HERE)
    env["DO_NOT_TRACK"] = "1"
    env["SUPERSET_LOAD_EXAMPLES"] = "no"
    env.pop("FLASK_APP", None)
    return env


#: What gunicorn lets a request send before Superset sees it (more is refused with a 4xx):
#:
#: * ``--limit-request-line 8190``: the method, URL and protocol, in bytes - gunicorn's
#:   largest finite value (its default is 4094; 0 means unlimited, up to 1 MB with gunicorn
#:   27's parser). Superset's docs and images pass 0, which dates from when a chart's whole
#:   definition (a Markdown widget's text too) travelled in the explore URL; Superset 6 keeps
#:   that state on the server (``form_data_key``, permalinks, ``native_filters_key``) and
#:   POSTs chart queries, and its longest GETs, the rison ``?q=`` of list and filter calls,
#:   stay far below 8 KB (``tests/integration/superset``: every dashboard renders).
#: * ``--limit-request-fields 100``: headers per request (gunicorn's default; a browser sends
#:   about 20).
#: * ``--limit-request-field_size 8190``: bytes per header (gunicorn's default). Superset's 0
#:   means exactly this to gunicorn 27, which reads 0 as its default; 8 KB holds the cookies of
#:   every app on 127.0.0.1 (Airflow's and Superset's share the host).
#: * ``--timeout 120``: a worker silent that long is restarted; above Superset's own request
#:   timeout (``SUPERSET_WEBSERVER_TIMEOUT``, 60 s), which answers a slow query first.
REQUEST_LIMITS = {
    "--limit-request-line": "8190",
    "--limit-request-fields": "100",
    "--limit-request-field_size": "8190",
    "--timeout": "120",
    "--graceful-timeout": "10",
}


def gunicorn_command(port: int | str, workers: int = 2) -> list[str]:
    """gunicorn serving Superset on 127.0.0.1 only, with :data:`REQUEST_LIMITS`."""
    limits = [part for flag, value in REQUEST_LIMITS.items() for part in (flag, value)]
    return [
        str(VENV / "bin" / "gunicorn"),
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        "gthread",
        "--threads",
        "4",
        *limits,
        "superset.app:create_app()",
    ]


def bootstrapped_marker() -> Path:
    """Present once the bootstrap succeeded for this state folder (``platform up`` serves
    Superset only then)."""
    return state_dir() / "bootstrapped"


def bootstrap(env: dict[str, str]) -> int:
    if env["SUPERSET_WAREHOUSE_DSN"].startswith("snowflake://"):
        # the committed database asset (superset/assets/databases) is the PostgreSQL warehouse:
        # there is no Snowflake one to import
        sys.stderr.write("superset: the warehouse is Snowflake; Superset is not set up for it\n")
        return 0
    out = subprocess.run([str(PYTHON), str(HERE / "bootstrap.py")], env=env, check=False)  # noqa: S603
    if out.returncode == 0:
        bootstrapped_marker().write_text("ok\n")
    return out.returncode


def healthy(port: int | str) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def wait_healthy(port: int | str, proc: subprocess.Popen[bytes] | None, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not healthy(port):
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"Superset exited ({proc.returncode}) before answering")
        if time.monotonic() > deadline:
            raise SystemExit(f"Superset did not answer on :{port} within {timeout:.0f} s")
        time.sleep(1)


def screenshots(env: dict[str, str], args: list[str]) -> int:
    """Screenshots of every dashboard; starts a temporary server if none answers."""
    port = env["SUPERSET_PORT"]
    proc = None
    if not healthy(port):
        from finhouse_local.private import open_log  # noqa: PLC0415

        log = config_state_logs() / "superset-screenshots.log"
        with open_log(log) as out:
            proc = subprocess.Popen(  # noqa: S603
                gunicorn_command(port), env=env, stdout=out, stderr=subprocess.STDOUT
            )
    try:
        wait_healthy(port, proc, 180)
        cmd = [str(PYTHON), str(HERE / "screenshots.py"), *(args or ["docs/screenshots"])]
        report = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)  # noqa: S603
        sys.stderr.write(report.stderr[-3000:])
        for entry in json.loads(report.stdout or "[]"):
            state = (
                "ok"
                if entry["ok"]
                else "PROBLEMS " + json.dumps({k: entry[k] for k in ("errors", "empty", "undrawn")})
            )
            sys.stdout.write(f"{entry['png']}: {entry['rendered']} charts, {state}\n")
        return report.returncode
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(60)


def config_state_logs() -> Path:
    from finhouse_local.paths import state_dir as finhouse_state  # noqa: PLC0415
    from finhouse_local.private import private_dir  # noqa: PLC0415

    return private_dir(finhouse_state() / "logs")


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "help"
    if not PYTHON.exists():
        sys.stderr.write("the Superset venv is missing: run `make superset-install`\n")
        return 1
    env = environment()
    if command == "bootstrap":
        return bootstrap(env)
    if command == "serve":
        cmd = gunicorn_command(env["SUPERSET_PORT"])
        os.execve(cmd[0], cmd, env)  # noqa: S606
    if command == "screenshots":
        return screenshots(env, argv[1:])
    sys.stderr.write("usage: run.py bootstrap | serve | screenshots [OUT_DIR]\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
