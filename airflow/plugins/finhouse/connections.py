"""Opening database connections with errors an operator can act on (and no secrets in them),
and the DSN forms finhouse accepts:

* ``postgresql://USER:PASSWORD@HOST:PORT/DBNAME?sslmode=…`` (``postgres://`` too);
* libpq keyword/value strings, ``host=… port=… dbname=… user=… password='se cret'``;
* ``snowflake://USER:PASSWORD@ACCOUNT/DATABASE?warehouse=…&role=…`` (and the URI of an
  Airflow Snowflake connection, whose secrets may sit in its query or its ``__extra__`` JSON).

:func:`redact` hides the secrets of every form; messages and logs only ever show that.
psycopg is imported when a connection is opened or a DSN parsed, not with this module:
``finhouse.settings`` uses it while Airflow parses DAG files, which open no connection.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, unquote_plus, urlencode

from finhouse.errors import ConfigError, DatabaseUnavailableError

if TYPE_CHECKING:
    import psycopg

POSTGRES_SCHEMES = ("postgresql", "postgres")
MASK = "***"
#: ``scheme://`` opening a URL-form DSN (libpq itself knows only the two lower-case ones)
_URL = re.compile(r"^\s*([A-Za-z][A-Za-z0-9+.\-]*)://")
#: ``key =`` in a libpq keyword/value string
_KEYWORD = re.compile(r"([^\s=']+)\s*=\s*")
#: suffixes of parameter names whose values are secrets: libpq's ``password``,
#: ``sslpassword``, ``oauth_client_secret``, ``scram_client_key``; Snowflake's
#: ``private_key_file_pwd``, ``token``, ``passcode``, ``private_key``
_SECRET_SUFFIXES = ("password", "pwd", "passphrase", "secret", "token", "passcode", "_key")


def is_secret_key(key: str) -> bool:
    """Whether a connection parameter holds a secret; Airflow's ``extra__<type>__<name>``
    spelling of Snowflake extras counts as ``<name>``."""
    name = key.strip().lower().rsplit("__", 1)[-1]
    return name == "private_key_content" or name.endswith(_SECRET_SUFFIXES)


def dsn_scheme(dsn: str) -> str | None:
    """``postgresql``, ``snowflake``… as written (libpq is case-sensitive), None for the
    keyword/value form."""
    match = _URL.match(dsn)
    return match.group(1) if match else None


# ------------------------------------------------------------------------------ redaction
def redact(dsn: str) -> str:
    """The DSN without its secrets, fit for messages and logs: the password of a URL, secret
    query parameters (``password``, ``sslpassword``, ``private_key_file_pwd``, ``token``…,
    inside an Airflow ``__extra__`` JSON too), secret values of a libpq keyword/value string
    (quoted or not), and the secret fields of a JSON connection. When the text cannot be
    read as any form, as much is hidden as could be a secret."""
    if _URL.match(dsn):
        return _redact_url(dsn)
    if dsn.lstrip().startswith("{"):
        return _redact_json_text(dsn)
    if "=" in dsn:
        return _redact_keywords(dsn)
    return dsn


def _userinfo_end(tail: str) -> int:
    """Where the ``user:password`` of a URL (after ``scheme://``) ends, at its ``@``; -1 when
    it has none. The ``@`` is the last one of the authority, so a raw ``@`` in a password
    stays in it. A raw ``/``, ``?`` or ``#`` in a password (libpq would misread the URL) ends
    the authority early; then the last ``@`` of the whole URL is taken, unless what follows
    the first ``:`` reads as a port."""
    end = min((i for i in (tail.find(c) for c in "/?#") if i != -1), default=len(tail))
    at = tail.rfind("@", 0, end)
    if at != -1 or tail.startswith("["):
        return at
    colon = tail.find(":", 0, end)
    if colon == -1 or tail[colon + 1 : end].isdigit():
        return -1
    return tail.rfind("@")


def _redact_url(url: str) -> str:
    start = url.index("://") + 3
    head, tail = url[:start], url[start:]
    at = _userinfo_end(tail)
    if at != -1:
        user, colon, _password = tail[:at].partition(":")
        tail = f"{user}:{MASK}@{tail[at + 1 :]}" if colon else tail
    base, question, query = tail.partition("?")
    if not question:
        return head + base
    pairs = []
    for pair in query.split("&"):
        key, equals, value = pair.partition("=")
        name = unquote_plus(key)
        if name == "__extra__" and equals:
            value = quote(_redact_json_text(unquote_plus(value)), safe="")
        elif is_secret_key(name) and equals:
            value = MASK
        pairs.append(f"{key}{equals}{value}")
    return f"{head}{base}?{'&'.join(pairs)}"


def _redact_json_value(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: MASK if is_secret_key(str(key)) and item else _redact_json_value(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_redact_json_value(item) for item in value]
    if isinstance(value, str) and (value.lstrip().startswith("{") or _URL.match(value)):
        # an Airflow connection's ``extra`` as JSON text, or a URI inside the JSON
        return redact(value)
    return value


def _redact_json_text(text: str) -> str:
    try:
        return json.dumps(_redact_json_value(json.loads(text)))
    except ValueError:
        return MASK  # unreadable: any part of it could be the secret


def _redact_keywords(text: str) -> str:
    """libpq's keyword/value syntax: ``key = value``, the value bare or single-quoted, a
    backslash escaping the character after it in either."""
    out: list[str] = []
    i, n = 0, len(text)
    #: after a secret value: bare words without ``=`` (``password=se cret``, which libpq
    #: rejects) are taken as the rest of the secret
    in_secret = False
    while i < n:
        if text[i].isspace():
            out.append(text[i])
            i += 1
            continue
        match = _KEYWORD.match(text, i)
        if match is None:
            j = i
            while j < n and not text[j].isspace():
                j += 2 if text[j] == "\\" else 1
            out.append(MASK if in_secret else text[i:j])
            i = j
            continue
        key = match.group(1)
        i = start = match.end()
        quoted = i < n and text[i] == "'"
        if quoted:
            i += 1
            while i < n and text[i] != "'":
                i += 2 if text[i] == "\\" else 1
            if i >= n:  # unterminated: all that follows belongs to this value
                out.append(match.group(0) + MASK)
                break
            i += 1
        else:
            while i < n and not text[i].isspace():
                i += 2 if text[i] == "\\" else 1
        value = text[start:i]
        in_secret = is_secret_key(key)
        if in_secret:
            value = MASK
        elif key.lower() == "dbname":
            # libpq expands a dbname that is itself a connection string
            inner = value[1:-1] if quoted else value
            if ("=" in inner or "://" in inner) and redact(inner) != inner:
                value = f"'{redact(inner)}'" if quoted else redact(inner)
        out.append(match.group(0) + value)
    return "".join(out)


def secrets_of(dsn: str) -> list[str]:
    """The secret values a DSN holds, as far as they can be read (raw and decoded): a
    message about the DSN can be checked not to contain any of them."""
    found: list[str] = []
    if _URL.match(dsn):
        tail = dsn[dsn.index("://") + 3 :]
        at = _userinfo_end(tail)
        if at != -1 and ":" in tail[:at]:
            found.append(tail[:at].partition(":")[2])
        query = tail[at + 1 :].partition("?")[2] if at != -1 else tail.partition("?")[2]
        for pair in query.split("&"):
            key, _, value = pair.partition("=")
            if is_secret_key(unquote_plus(key)):
                found.append(value)
    elif "=" in dsn:
        for match in re.finditer(r"([^\s=']+)\s*=\s*('(?:[^'\\]|\\.)*'?|(?:[^\s\\]|\\.)*)", dsn):
            if is_secret_key(match.group(1)):
                found.append(match.group(2).strip("'"))
    return [s for value in found for s in {value, unquote(value), unquote_plus(value)} if s]


# ------------------------------------------------------------------------------ parsing
def _safe_reason(exc: BaseException) -> str:
    """psycopg's complaint about a conninfo, with any quoted fragment that is not an
    option's name (or ``=``) masked: libpq quotes pieces of the string (``missing "=" after
    "cret"``), which can be pieces of a password."""
    from psycopg import pq  # noqa: PLC0415

    keywords = {"=", *(o.keyword.decode() for o in pq.Conninfo.get_defaults())}
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return re.sub(r'"([^"]*)"', lambda m: m.group(0) if m.group(1) in keywords else '"…"', first)


def postgres_fields(dsn: str) -> dict[str, str]:
    """libpq's reading of a PostgreSQL DSN, URL or keyword/value: ``{"host": …, "port": …,
    "dbname": …, "user": …, "password": …, "sslmode": …}`` (what is given). A ``ConfigError``
    that shows no part of the string when libpq cannot read it."""
    from psycopg import ProgrammingError  # noqa: PLC0415
    from psycopg.conninfo import conninfo_to_dict  # noqa: PLC0415

    scheme = dsn_scheme(dsn)
    if scheme is not None and scheme not in POSTGRES_SCHEMES:
        raise ConfigError(f"not a PostgreSQL DSN (scheme {scheme!r})")
    try:
        return {k: str(v) for k, v in conninfo_to_dict(dsn).items() if v is not None}
    except ProgrammingError as exc:
        raise ConfigError(f"not a valid PostgreSQL DSN: {_safe_reason(exc)}") from None


def as_url(dsn: str) -> str:
    """A PostgreSQL DSN as a ``postgresql://`` URL (Airflow reads ``AIRFLOW_CONN_*`` only in
    URI or JSON form): a URL unchanged, a keyword/value string converted, its options other
    than host, port, user, password and database in the query."""
    if dsn_scheme(dsn) is not None:
        return dsn
    fields = postgres_fields(dsn)
    user = quote(fields.pop("user", ""), safe="")
    password = quote(fields.pop("password", ""), safe="")
    hosts = (fields.pop("host", "") or fields.pop("hostaddr", "")).split(",")
    ports = fields.pop("port", "").split(",")
    ports = ports * len(hosts) if len(ports) == 1 else ports
    netloc = ",".join(
        (f"[{h}]" if ":" in h else quote(h, safe="")) + (f":{p}" if p else "")
        for h, p in zip(hosts, ports, strict=False)
    )
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    database = quote(fields.pop("dbname", ""), safe="")
    query = f"?{urlencode(fields)}" if fields else ""
    return f"postgresql://{auth}{netloc}/{database}{query}"


# ------------------------------------------------------------------------------ connecting
def connect(dsn: str, *, connect_timeout: int = 10, **kwargs: Any) -> psycopg.Connection:
    """``psycopg.connect`` that turns "does not answer" into one clear ``FinhouseError``; a
    DSN psycopg cannot read (or another database's) is a ``ConfigError`` with no secret.

    What the DSN says is kept: its ``options`` (``-c search_path=…``) come before the
    session options a caller passes (``options=``, e.g. the extract's fixed text forms), so
    both apply and, for a parameter both set, the caller's wins; its ``connect_timeout``
    stands, ``connect_timeout`` here being the default for a DSN without one. Other keyword
    arguments replace the DSN's value (``application_name``)."""
    import psycopg  # noqa: PLC0415
    from psycopg.conninfo import conninfo_to_dict  # noqa: PLC0415

    scheme = dsn_scheme(dsn)
    if scheme is not None and scheme not in POSTGRES_SCHEMES:
        raise ConfigError(f"{redact(dsn)} is not a PostgreSQL DSN: this needs PostgreSQL")
    try:
        given = conninfo_to_dict(dsn)
        if given.get("options") and kwargs.get("options"):
            # the DSN's first: where both set one parameter, finhouse's own value wins
            kwargs["options"] = f"{given['options']} {kwargs['options']}"
        if given.get("connect_timeout") is None:
            kwargs["connect_timeout"] = connect_timeout
        return psycopg.connect(dsn, **kwargs)
    except psycopg.OperationalError as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise DatabaseUnavailableError(f"cannot connect to {redact(dsn)}: {reason}") from None
    except psycopg.ProgrammingError as exc:
        # raised before connecting, by the conninfo parser, whose message quotes the string
        raise ConfigError(
            f"not a valid PostgreSQL DSN ({redact(dsn)}): {_safe_reason(exc)}"
        ) from None


class ReusedConnection:
    """One autocommit connection reused for a run's small control statements, reopened when
    it was closed or broke — also when the server restarted since its last use (a long-lived
    Airflow worker outlives a database restart); thread-safe (one user at a time)."""

    def __init__(self, dsn: str, **kwargs: Any) -> None:
        self._dsn = dsn
        self._kwargs = {"autocommit": True, **kwargs}
        self._conn: psycopg.Connection | None = None
        self._lock = threading.Lock()

    def _alive(self) -> bool:
        if self._conn is None or self._conn.closed or self._conn.broken:
            return False
        try:
            self._conn.execute("select 1")
        except psycopg.OperationalError:
            return False
        return True

    @contextmanager
    def __call__(self) -> Iterator[psycopg.Connection]:
        with self._lock:
            conn = self._conn
            if conn is None or not self._alive():
                if conn is not None:
                    conn.close()
                conn = self._conn = connect(self._dsn, **self._kwargs)
            yield conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
