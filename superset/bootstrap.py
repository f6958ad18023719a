"""Initialise Superset and import finhouse's dashboards as code (idempotent).

Run with the Superset venv's Python (``make superset``, ``make up``, the docker-compose
``superset-init`` service, the tests); ``superset/run.py bootstrap`` fills the environment
for the embedded PostgreSQL. Steps:

1. ``superset db upgrade`` (the metadata schema in SUPERSET_METADATA_DB_URI), in process;
2. the admin user from SUPERSET_ADMIN_USERNAME / SUPERSET_ADMIN_PASSWORD (created once; its
   password is reset to the environment's on every run), then ``superset init``'s roles;
3. the assets under ``superset/assets/`` zipped and imported with overwrite (the database
   URI replaced by SUPERSET_WAREHOUSE_DSN, the warehouse ``reporter`` role, whose password
   is passed to the import and never written to a file);
4. roles, row-level security filters and users from ``superset/security.yaml``.

No secret is printed.
"""

from __future__ import annotations

import io
import os
import re
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

HERE = Path(__file__).resolve().parent
ASSETS = HERE / "assets"
SECURITY = HERE / "security.yaml"
DATABASE_FILE = "databases/finhouse_warehouse.yaml"


def log(message: str) -> None:
    print(f"superset bootstrap: {message}", flush=True)  # noqa: T201


def warehouse_uri(dsn: str | None = None) -> tuple[str, str]:
    """(SQLAlchemy URI with the password masked, the password) of SUPERSET_WAREHOUSE_DSN."""
    dsn = dsn or os.environ["SUPERSET_WAREHOUSE_DSN"]
    parts = urlsplit(dsn)
    if parts.scheme not in ("postgresql", "postgres", "postgresql+psycopg2"):
        raise SystemExit("SUPERSET_WAREHOUSE_DSN must be a postgresql:// URL")
    password = unquote(parts.password or "")
    user = quote(unquote(parts.username or "reporter"), safe="")
    host = parts.hostname or "localhost"
    netloc = f"{user}:XXXXXXXXXX@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(("postgresql+psycopg2", netloc, parts.path, parts.query, "")), password


def assets_bundle(sqlalchemy_uri: str | None = None) -> bytes:
    """The committed YAML as the ZIP Superset exports (one root folder), the database's URI
    replaced by ``sqlalchemy_uri`` (password masked) when given."""
    buffer = io.BytesIO()
    line = f"sqlalchemy_uri: {sqlalchemy_uri}"
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        for path in sorted(ASSETS.rglob("*.yaml")):
            name = str(path.relative_to(ASSETS))
            text = path.read_text()
            if name == DATABASE_FILE and sqlalchemy_uri:
                # a function, not a replacement string: the URI is taken as is (a "\" in it
                # would be an escape there)
                text = re.sub(r"(?m)^sqlalchemy_uri: .*$", lambda _match: line, text)
            bundle.writestr(f"finhouse_assets/{name}", text)
    return buffer.getvalue()


def bundle_contents(bundle: bytes) -> dict[str, str]:
    """File name (without the root folder) -> YAML text, as Superset's import reads a ZIP."""
    with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
        return {
            name.split("/", 1)[1]: archive.read(name).decode()
            for name in archive.namelist()
            if name.endswith(".yaml")
        }


def upgrade_metadata() -> None:
    """``superset db upgrade``, in this process (Flask-Migrate as Superset configures it)."""
    from flask_migrate import upgrade  # noqa: PLC0415

    upgrade()


def ensure_user(sm: Any, username: str, password: str, roles: list[str], **names: str) -> Any:
    role_objs = []
    for name in roles:
        role = sm.find_role(name)
        if role is None:
            raise SystemExit(f"role {name!r} does not exist")
        role_objs.append(role)
    user = sm.find_user(username=username)
    if user is None:
        user = sm.add_user(
            username,
            names.get("first_name", username),
            names.get("last_name", "User"),
            names.get("email", f"{username}@finhouse.invalid"),
            role_objs,
            password=password,
        )
        if not user:
            raise SystemExit(f"could not create the Superset user {username!r}")
        log(f"user {username} created")
    else:
        user.roles = role_objs
        user.active = True
        sm.reset_password(user.id, password)
        sm.update_user(user)
    return user


def import_assets(admin: Any) -> None:
    from superset.commands.importers.v1.assets import ImportAssetsCommand  # noqa: PLC0415
    from superset.utils.core import override_user  # noqa: PLC0415

    uri, password = warehouse_uri()
    contents = bundle_contents(assets_bundle(uri))
    with override_user(admin):
        ImportAssetsCommand(contents, passwords={DATABASE_FILE: password}).run()
    counts = {
        kind: sum(k.startswith(kind) for k in contents)
        for kind in ("datasets/", "charts/", "dashboards/")
    }
    log("imported " + ", ".join(f"{n} {kind.rstrip('/')}" for kind, n in counts.items()))


def apply_security(sm: Any) -> None:
    import yaml  # noqa: PLC0415
    from superset import db  # noqa: PLC0415
    from superset.connectors.sqla.models import RowLevelSecurityFilter, SqlaTable  # noqa: PLC0415

    spec = yaml.safe_load(SECURITY.read_text())

    def dataset(name: str) -> SqlaTable:
        table = db.session.query(SqlaTable).filter_by(table_name=name, schema="marts").one_or_none()
        if table is None:
            raise SystemExit(f"security.yaml names dataset {name!r}, which the assets lack")
        return table

    for role_spec in spec.get("roles", []):
        role = sm.find_role(role_spec["name"]) or sm.add_role(role_spec["name"])
        wanted = set()
        for name in role_spec.get("datasets", []):
            pv = sm.add_permission_view_menu("datasource_access", dataset(name).perm)
            wanted.add(pv.id)
            if pv not in role.permissions:
                role.permissions.append(pv)
        # exactly the listed datasets: drop access granted by hand or by an older spec
        role.permissions = [
            pv
            for pv in role.permissions
            if pv.permission.name != "datasource_access" or pv.id in wanted
        ]
    for rls in spec.get("rls_filters", []):
        flt = db.session.query(RowLevelSecurityFilter).filter_by(name=rls["name"]).one_or_none()
        if flt is None:
            flt = RowLevelSecurityFilter(name=rls["name"])
            db.session.add(flt)
        flt.description = rls.get("description")
        flt.filter_type = rls.get("filter_type", "Regular")
        flt.group_key = rls.get("group_key")
        flt.clause = rls["clause"]
        flt.roles = [sm.find_role(name) for name in rls["roles"]]
        flt.tables = [dataset(name) for name in rls["tables"]]
    db.session.commit()
    for user in spec.get("users", []):
        password = os.environ.get(user["password_env"])
        if not password:
            log(f"{user['password_env']} unset: user {user['username']} not created")
            continue
        ensure_user(
            sm,
            user["username"],
            password,
            user["roles"],
            first_name=user.get("first_name", user["username"]),
            last_name=user.get("last_name", "User"),
            email=user.get("email", ""),
        )
    db.session.commit()
    log(
        f"security: {len(spec.get('roles', []))} role(s), "
        f"{len(spec.get('rls_filters', []))} RLS filter(s), {len(spec.get('users', []))} user(s)"
    )


def main() -> None:
    os.environ.setdefault("SUPERSET_CONFIG_PATH", str(HERE / "superset_config.py"))
    for name in ("SUPERSET_SECRET_KEY", "SUPERSET_METADATA_DB_URI", "SUPERSET_WAREHOUSE_DSN",
                 "SUPERSET_ADMIN_PASSWORD"):  # fmt: skip
        if not os.environ.get(name):
            raise SystemExit(f"{name} is not set (superset/run.py fills it for the local cluster)")
    from superset.app import create_app  # noqa: PLC0415

    app = create_app()
    with app.app_context():
        from superset import appbuilder, db, security_manager  # noqa: PLC0415

        log("migrating the metadata database (superset db upgrade)")
        upgrade_metadata()

        log("roles and permissions (superset init)")
        appbuilder.add_permissions(update_perms=True)
        security_manager.sync_role_definitions()
        db.session.commit()
        admin = ensure_user(
            security_manager,
            os.environ.get("SUPERSET_ADMIN_USERNAME", "admin"),
            os.environ["SUPERSET_ADMIN_PASSWORD"],
            ["Admin"],
            first_name="finhouse",
            last_name="Admin",
            email=os.environ.get("SUPERSET_ADMIN_EMAIL", "admin@finhouse.invalid"),
        )
        db.session.commit()
        import_assets(admin)
        apply_security(security_manager)
    log("done")


if __name__ == "__main__":
    main()
