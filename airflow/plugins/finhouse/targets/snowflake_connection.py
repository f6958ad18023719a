"""Snowflake connection settings from a ``snowflake://`` URL or the ``SNOWFLAKE_*`` environment.

URL form (``FINHOUSE_WAREHOUSE_DSN``)::

    snowflake://USER[:PASSWORD]@ACCOUNT/DATABASE[/SCHEMA]?warehouse=LOADING&role=LOADER
        [&private_key_file=/path/key.p8&private_key_file_pwd=…]   key-pair auth
        [&authenticator=…&protocol=http&host=…&port=…]             e.g. an emulator

An Airflow Snowflake connection's URI (``Connection.get_uri()``: account, database, role,
warehouse, private key in the extras, the schema in the path) is understood too. Secrets are
never part of messages: :func:`describe` names account, user, database and role only.
"""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from finhouse.errors import ConfigError

#: query parameters passed to ``snowflake.connector.connect`` as they are
_PASSTHROUGH = (
    "account",
    "warehouse",
    "role",
    "database",
    "schema",
    "authenticator",
    "protocol",
    "host",
    "region",
    "private_key_file",
    "private_key_file_pwd",
    "token",
)
_INTEGER = ("port", "login_timeout", "network_timeout", "socket_timeout")


def _private_key_from_pem(pem: str, passphrase: str | None) -> bytes:
    """DER bytes of a PEM private key (an Airflow connection's ``private_key_content``)."""
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415

    key = serialization.load_pem_private_key(
        pem.encode(), password=passphrase.encode() if passphrase else None
    )
    return key.private_bytes(
        encoding=serialization.Encoding.DER,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )


def params_from_url(url: str) -> dict[str, Any]:
    """``snowflake.connector.connect`` keyword arguments for a ``snowflake://`` URL."""
    parts = urlsplit(url)
    if parts.scheme != "snowflake":
        raise ConfigError(f"not a snowflake:// URL (scheme {parts.scheme or 'none'!r})")
    query: dict[str, Any] = dict(parse_qsl(parts.query, keep_blank_values=False))
    if "__extra__" in query:
        try:
            query.update(json.loads(query.pop("__extra__")))
        except json.JSONDecodeError as exc:
            raise ConfigError(f"the Snowflake URL's __extra__ is not JSON: {exc}") from None
    # Airflow spells a few settings its own way
    for airflow_name, name in (
        ("extra__snowflake__account", "account"),
        ("extra__snowflake__warehouse", "warehouse"),
        ("extra__snowflake__database", "database"),
        ("extra__snowflake__role", "role"),
        ("private_key_file_pwd", "private_key_file_pwd"),
    ):
        if airflow_name in query and name not in query:
            query[name] = query.pop(airflow_name)
    params: dict[str, Any] = {}
    if parts.username:
        params["user"] = unquote(parts.username)
    if parts.password:
        params["password"] = unquote(parts.password)
    path = [unquote(p) for p in parts.path.strip("/").split("/") if p]
    if "database" in query:
        # Airflow's form: the path is the schema, the database an extra
        if path:
            query.setdefault("schema", path[0])
    else:
        if path:
            params["database"] = path[0]
        if len(path) > 1:
            params["schema"] = path[1]
    if "account" not in query and parts.hostname:
        params["account"] = parts.hostname
    for name in _PASSTHROUGH:
        if query.get(name) not in (None, ""):
            params[name] = query[name]
    for name in _INTEGER:
        if query.get(name) not in (None, ""):
            try:
                params[name] = int(query[name])
            except ValueError:
                raise ConfigError(f"the Snowflake URL's {name} must be a number") from None
    if query.get("private_key_content"):
        params["private_key"] = _private_key_from_pem(
            str(query["private_key_content"]), params.pop("private_key_file_pwd", None)
        )
    if "private_key_file" in params or "private_key" in params:
        params.setdefault("authenticator", "SNOWFLAKE_JWT")
    if not params.get("account"):
        raise ConfigError("the Snowflake URL names no account (snowflake://USER@ACCOUNT/DB)")
    return params


def params_from_env(role_default: str = "ACCOUNTADMIN") -> dict[str, Any]:
    """Connection settings from ``SNOWFLAKE_ACCOUNT``, ``SNOWFLAKE_USER``, and
    ``SNOWFLAKE_PASSWORD`` or ``SNOWFLAKE_PRIVATE_KEY_PATH`` (+ ``_PASSPHRASE``),
    ``SNOWFLAKE_ROLE``, ``SNOWFLAKE_WAREHOUSE`` (the same variables dbt's prod target reads)."""
    account, user = os.environ.get("SNOWFLAKE_ACCOUNT"), os.environ.get("SNOWFLAKE_USER")
    if not account or not user:
        raise ConfigError(
            "no Snowflake credentials: set SNOWFLAKE_ACCOUNT and SNOWFLAKE_USER (and "
            "SNOWFLAKE_PRIVATE_KEY_PATH or SNOWFLAKE_PASSWORD), or pass --dsn snowflake://…"
        )
    params: dict[str, Any] = {
        "account": account,
        "user": user,
        "role": os.environ.get("SNOWFLAKE_ROLE", role_default),
    }
    if os.environ.get("SNOWFLAKE_WAREHOUSE"):
        params["warehouse"] = os.environ["SNOWFLAKE_WAREHOUSE"]
    if os.environ.get("SNOWFLAKE_PRIVATE_KEY_PATH"):
        params["private_key_file"] = os.environ["SNOWFLAKE_PRIVATE_KEY_PATH"]
        params["authenticator"] = "SNOWFLAKE_JWT"
        if os.environ.get("SNOWFLAKE_PRIVATE_KEY_PASSPHRASE"):
            params["private_key_file_pwd"] = os.environ["SNOWFLAKE_PRIVATE_KEY_PASSPHRASE"]
    elif os.environ.get("SNOWFLAKE_PASSWORD"):
        params["password"] = os.environ["SNOWFLAKE_PASSWORD"]
    else:
        raise ConfigError("set SNOWFLAKE_PRIVATE_KEY_PATH (key pair) or SNOWFLAKE_PASSWORD")
    return params


def describe(params: dict[str, Any]) -> str:
    """Where a connection goes, without secrets."""
    where = f"{params.get('user', '?')}@{params.get('account', '?')}"
    if params.get("host"):
        where += (
            f" via {params.get('protocol', 'https')}://{params['host']}:{params.get('port', '')}"
        )
    return f"{where} (role {params.get('role', 'default')})"


def connect(params: dict[str, Any], **extra: Any) -> Any:
    """``snowflake.connector.connect`` with UTC sessions and bounded timeouts; a failure to
    connect becomes one ``DatabaseUnavailableError`` line without secrets."""
    import snowflake.connector  # noqa: PLC0415 - heavy; only when Snowflake is used

    from finhouse.errors import DatabaseUnavailableError  # noqa: PLC0415

    session = {"TIMEZONE": "UTC", **extra.pop("session_parameters", {})}
    kwargs = {"login_timeout": 60, "network_timeout": 300, **params, **extra}
    try:
        return snowflake.connector.connect(session_parameters=session, **kwargs)
    except snowflake.connector.errors.DatabaseError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DatabaseUnavailableError(
            f"cannot connect to Snowflake {describe(params)}: {reason}"
        ) from None


def url_from_env(role: str, warehouse: str, database: str | None = None) -> str:
    """A ``snowflake://`` URL for ``FINHOUSE_WAREHOUSE_DSN`` built from the ``SNOWFLAKE_*``
    variables (``make snowflake-smoke``); it carries the password when one is set, so it
    belongs in a child process's environment, never in a log."""
    from urllib.parse import quote, urlencode  # noqa: PLC0415

    params = params_from_env(role)
    query: dict[str, str] = {"role": role, "warehouse": warehouse}
    if "private_key_file" in params:
        query["private_key_file"] = params["private_key_file"]
        if "private_key_file_pwd" in params:
            query["private_key_file_pwd"] = params["private_key_file_pwd"]
    auth = quote(params["user"], safe="")
    if "password" in params:
        auth += ":" + quote(params["password"], safe="")
    db = database or os.environ.get("SNOWFLAKE_DATABASE", "FINHOUSE")
    return f"snowflake://{auth}@{params['account']}/{quote(db)}?{urlencode(query)}"
