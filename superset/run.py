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
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
VENV = REPO / ".venv-superset"
PYTHON = VENV / "bin" / "python"


def state_dir() -> Path:
    from finhouse import config  # noqa: PLC0415

    return config.state_dir() / "superset"


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
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.touch(mode=0o600)
        tmp.write_text(json.dumps(creds, indent=2))
        tmp.replace(path)
    return creds


def environment(
    metadata_uri: str | None = None, warehouse_dsn: str | None = None
) -> dict[str, str]:
    """The environment Superset's config and bootstrap read."""
    from finhouse import config  # noqa: PLC0415
    from finhouse.embedded.cluster import default_cluster  # noqa: PLC0415

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
        warehouse_dsn = config.warehouse_dsn("reporter")
    if warehouse_dsn:
        env["SUPERSET_WAREHOUSE_DSN"] = warehouse_dsn
    env["SUPERSET_CONFIG_PATH"] = str(HERE / "superset_config.py")
    env.setdefault("SUPERSET_PORT", "8088")
    env["PYTHONPATH"] = str(HERE)
    env["DO_NOT_TRACK"] = "1"
    env["SUPERSET_LOAD_EXAMPLES"] = "no"
    env.pop("FLASK_APP", None)
    return env


def gunicorn_command(port: int | str, workers: int = 2) -> list[str]:
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
        "--timeout",
        "120",
        "--limit-request-line",
        "0",
        "--limit-request-field_size",
        "0",
        "superset.app:create_app()",
    ]


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "help"
    if not PYTHON.exists():
        sys.stderr.write("the Superset venv is missing: run `make superset-install`\n")
        return 1
    env = environment()
    if command == "bootstrap":
        os.execve(str(PYTHON), [str(PYTHON), str(HERE / "bootstrap.py")], env)  # noqa: S606
    if command == "serve":
        cmd = gunicorn_command(env["SUPERSET_PORT"])
        os.execve(cmd[0], cmd, env)  # noqa: S606
    if command == "screenshots":
        cmd = [str(PYTHON), str(HERE / "screenshots.py"), *argv[1:]]
        os.execve(cmd[0], cmd, env)  # noqa: S606
    sys.stderr.write("usage: run.py bootstrap | serve | screenshots [OUT_DIR]\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
