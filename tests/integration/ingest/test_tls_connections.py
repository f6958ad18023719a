"""Airflow connections reach a PostgreSQL that requires TLS, through the code the ingestion
tasks run (``finhouse.orchestration.connections`` -> ``endpoints`` -> ``pipeline.ingest``).

A cluster of its own (the embedded :class:`Cluster`, so the session's stays as it is) gets a
certificate authority and a server certificate made here (``cryptography``: a CA, and a
certificate it signs for 127.0.0.1 and localhost), ``ssl = on`` by ``ALTER SYSTEM`` and a
reload, and a ``pg_hba.conf`` in which the ingestion roles (``oltp_extract``, ``loader``) may
log in over TLS only::

    hostssl   all oltp_extract,loader 127.0.0.1/32 scram-sha-256
    hostnossl all oltp_extract,loader all          reject

Then the Airflow connections ``finhouse_oltp`` and ``finhouse_warehouse`` (``AIRFLOW_CONN_*``
in Airflow's JSON form) with extra ``sslmode=require`` load a table end to end; with
``sslmode=verify-full`` and ``sslrootcert`` the server's certificate is checked (and one from
another authority refused); with ``sslmode=disable`` the server refuses the login; against a
server without TLS, ``sslmode=require`` refuses to go on. An ``options`` extra is in force in
the sessions the extract and the load open. No message shows the password.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from finhouse import endpoints, pipeline
from finhouse.connections import connect
from finhouse.errors import DatabaseUnavailableError, safe_error_text
from finhouse.oltp import schema
from finhouse.oltp import seed as seeding
from finhouse.orchestration import connections
from finhouse.tables import TABLES
from finhouse_local.cluster import ROLES, Cluster, Provisioner, _service_user
from tests.conftest import free_port

pytestmark = pytest.mark.integration

TLS_ONLY = (ROLES.extract, "loader")


# --------------------------------------------------------------------------- certificates
@dataclass
class Authority:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _authority(common: str) -> Authority:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common))
        .issuer_name(_name(common))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return Authority(key, cert)


def _server_certificate(ca: Authority) -> tuple[bytes, bytes]:
    """(certificate, key) in PEM for 127.0.0.1 and localhost, signed by ``ca``."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(ca.key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


# --------------------------------------------------------------------------- the server
@dataclass
class TlsServer:
    cluster: Cluster
    ca_file: Path
    other_ca_file: Path

    def fields(self, role: str, database: str) -> dict[str, Any]:
        """An Airflow connection's fields for ``role`` on ``database``."""
        return {
            "conn_type": "postgres",
            "host": self.cluster.host,
            "port": self.cluster.port,
            "schema": database,
            "login": role,
            "password": self.cluster.credentials()[role],
        }


def _enable_tls(cluster: Cluster, ca: Authority) -> None:
    cert, key = _server_certificate(ca)
    user = _service_user()
    for name, data in (("server.crt", cert), ("server.key", key)):
        path = cluster.data_dir / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        if user is not None:
            os.chown(path, user.uid, user.gid)
    hba = cluster.data_dir / "pg_hba.conf"
    roles = ",".join(TLS_ONLY)
    hba.write_text(
        f"hostssl   all {roles} 127.0.0.1/32 scram-sha-256\n"
        f"hostnossl all {roles} all reject\n" + hba.read_text()
    )
    with cluster.admin_connection() as conn:
        conn.execute("alter system set ssl = on")
        conn.execute("alter system set ssl_cert_file = 'server.crt'")
        conn.execute("alter system set ssl_key_file = 'server.key'")
        conn.execute("select pg_reload_conf()")
    with cluster.admin_connection() as conn:
        assert conn.execute("show ssl").fetchone() == ("on",)


@pytest.fixture(scope="module")
def tls_server() -> Iterator[TlsServer]:
    root = Path(tempfile.mkdtemp(prefix="finhouse-tls-"))
    root.chmod(0o755)
    cluster = Cluster(root / "pg", free_port(), durable=False)
    try:
        cluster.up()
        ca, other = _authority("finhouse test CA"), _authority("someone else's CA")
        _enable_tls(cluster, ca)
        (root / "ca.pem").write_bytes(ca.pem())
        (root / "other-ca.pem").write_bytes(other.pem())
        app = cluster.dsn("oltp", ROLES.app)
        schema.init(app)
        seeding.seed(app, scale=0.05, seed=5, as_of=dt.datetime.now(dt.UTC).date())
        yield TlsServer(cluster, root / "ca.pem", root / "other-ca.pem")
    finally:
        cluster.destroy()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def airflow_connections(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    """Sets the Airflow connections ``finhouse_oltp``/``finhouse_warehouse`` as a
    deployment does (``AIRFLOW_CONN_*``, JSON form); nothing else configures a DSN."""
    for name in list(os.environ):
        if name.startswith("AIRFLOW_CONN_") or (
            name.startswith("FINHOUSE_") and name.endswith("_DSN")
        ):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))

    def define(conn_id: str, fields: dict[str, Any], extra: dict[str, Any]) -> None:
        monkeypatch.setenv(
            f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({**fields, "extra": extra})
        )

    return define


def _ssl_of_session(dsn: str) -> tuple[bool, str | None]:
    with connect(dsn) as conn:
        row = conn.execute(
            "select ssl, version from pg_stat_ssl where pid = pg_backend_pid()"
        ).fetchone()
    assert row is not None
    return bool(row[0]), row[1]


# --------------------------------------------------------------------------- the tests
def test_sslmode_require_loads_a_table_over_tls_through_the_ingestion_path(
    tls_server: TlsServer, airflow_connections: Any
) -> None:
    airflow_connections(
        connections.OLTP_CONN_ID,
        tls_server.fields(ROLES.extract, "oltp"),
        {"sslmode": "require"},
    )
    airflow_connections(
        connections.WAREHOUSE_CONN_ID,
        tls_server.fields("loader", "warehouse"),
        {"sslmode": "require"},
    )
    source_dsn, target_dsn = connections.oltp_extract_dsn(), connections.warehouse_loader_dsn()
    assert _ssl_of_session(source_dsn)[0] is True
    assert _ssl_of_session(target_dsn)[0] is True
    source, target = endpoints.source(source_dsn), endpoints.target(target_dsn)
    try:
        summary = pipeline.ingest(TABLES["users"], source, target, run_id="tls-1")
    finally:
        source.close()
        target.close()
    with psycopg.connect(tls_server.cluster.dsn("oltp")) as conn:
        users = conn.execute("select count(*) from users").fetchone()
    assert users is not None
    assert users[0] > 0
    assert summary.rows_loaded == users[0]


def test_verify_full_checks_the_certificate_against_sslrootcert(
    tls_server: TlsServer, airflow_connections: Any
) -> None:
    fields = tls_server.fields(ROLES.extract, "oltp")
    airflow_connections(
        connections.OLTP_CONN_ID,
        fields,
        {"sslmode": "verify-full", "sslrootcert": str(tls_server.ca_file)},
    )
    tls, version = _ssl_of_session(connections.oltp_extract_dsn())
    assert tls is True
    assert version is not None
    assert version.startswith("TLSv1.")
    # a certificate from another authority: refused, in one line without the password
    airflow_connections(
        connections.OLTP_CONN_ID,
        fields,
        {"sslmode": "verify-full", "sslrootcert": str(tls_server.other_ca_file)},
    )
    with pytest.raises(DatabaseUnavailableError) as refused:
        endpoints.source(connections.oltp_extract_dsn()).check()
    assert "certificate verify failed" in str(refused.value)
    assert fields["password"] not in str(refused.value)


def test_sslmode_disable_is_refused_by_the_tls_only_rule(
    tls_server: TlsServer, airflow_connections: Any
) -> None:
    fields = tls_server.fields(ROLES.extract, "oltp")
    airflow_connections(connections.OLTP_CONN_ID, fields, {"sslmode": "disable"})
    airflow_connections(
        connections.WAREHOUSE_CONN_ID,
        tls_server.fields("loader", "warehouse"),
        {"sslmode": "disable"},
    )
    source = endpoints.source(connections.oltp_extract_dsn())
    target = endpoints.target(connections.warehouse_loader_dsn())
    with pytest.raises(DatabaseUnavailableError) as refused:
        pipeline.ingest(TABLES["users"], source, target, run_id="tls-2")
    text = str(refused.value)
    assert "no encryption" in text  # pg_hba.conf: the hostnossl reject line
    assert text.count("\n") == 0
    for shown in (text, safe_error_text(refused.value)):
        assert fields["password"] not in shown
        assert "password=***" in shown


def test_sslmode_require_refuses_a_server_without_tls(
    pg_server: Provisioner, airflow_connections: Any
) -> None:
    """The session's server offers no TLS: ``require`` does not fall back to plain text."""
    password = pg_server.credentials()[ROLES.extract]
    airflow_connections(
        connections.OLTP_CONN_ID,
        {
            "conn_type": "postgres",
            "host": pg_server.host,
            "port": pg_server.port,
            "schema": "oltp",
            "login": ROLES.extract,
            "password": password,
        },
        {"sslmode": "require"},
    )
    with pytest.raises(DatabaseUnavailableError) as refused:
        endpoints.source(connections.oltp_extract_dsn()).check()
    assert "server does not support SSL, but SSL was required" in str(refused.value)
    assert password not in str(refused.value)


def test_the_options_extra_is_in_force_in_the_extract_and_load_sessions(
    tls_server: TlsServer, airflow_connections: Any
) -> None:
    airflow_connections(
        connections.OLTP_CONN_ID,
        tls_server.fields(ROLES.extract, "oltp"),
        {
            "sslmode": "require",
            "options": "-c search_path=finhouse_probe,public -c lock_timeout=4321",
        },
    )
    airflow_connections(
        connections.WAREHOUSE_CONN_ID,
        tls_server.fields("loader", "warehouse"),
        {"sslmode": "require", "options": "-c statement_timeout=98765"},
    )
    source = endpoints.source(connections.oltp_extract_dsn())
    target = endpoints.target(connections.warehouse_loader_dsn())
    try:
        with source.snapshot() as snap:
            seen = {
                name: snap.conn.execute(f"show {name}").fetchone()[0]  # type: ignore[index]
                for name in ("search_path", "lock_timeout", "TimeZone", "DateStyle")
            }
        with target.control_connection() as conn:
            loader = {
                name: conn.execute(f"show {name}").fetchone()[0]  # type: ignore[index]
                for name in ("statement_timeout", "TimeZone")
            }
    finally:
        source.close()
        target.close()
    # the connection's options, and finhouse's own session settings beside them
    assert seen == {
        "search_path": "finhouse_probe,public",
        "lock_timeout": "4321ms",
        "TimeZone": "UTC",
        "DateStyle": "ISO, MDY",
    }
    assert loader == {"statement_timeout": "98765ms", "TimeZone": "UTC"}
