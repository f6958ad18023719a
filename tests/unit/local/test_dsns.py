"""The CLI's and the local platform's connections: the configured ones, else the embedded
cluster's, a least-privilege role per purpose."""

from __future__ import annotations

import os

import pytest

from finhouse_local import dsns
from finhouse_local.cluster import ServerAt

pytestmark = pytest.mark.unit


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> ServerAt:
    for name in list(os.environ):
        if name.startswith("FINHOUSE_"):
            monkeypatch.delenv(name)
    # an administered server's DSNs, without the server (nothing connects here)
    embedded = ServerAt("postgresql://finhouse:pw@127.0.0.1:5999/postgres")
    monkeypatch.setattr(dsns, "default_cluster", lambda: embedded)
    return embedded


def test_unset_means_the_embedded_cluster_a_role_per_purpose(server: ServerAt) -> None:
    assert not dsns.uses_external_servers()
    assert dsns.oltp_dsn("app") == server.dsn("oltp", "oltp_app")
    assert dsns.oltp_dsn("extract") == server.dsn("oltp", "oltp_extract")
    for role in ("loader", "transformer", "reporter"):
        assert dsns.warehouse_dsn(role) == server.dsn("warehouse", role)  # type: ignore[arg-type]


def test_configured_servers_come_first(server: ServerAt, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINHOUSE_WAREHOUSE_DSN", "postgresql://loader:pw@wh.example/warehouse")
    assert dsns.uses_external_servers()
    assert dsns.warehouse_dsn("transformer") == "postgresql://loader:pw@wh.example/warehouse"
    # each DSN falls back on its own: the OLTP is still the embedded one
    assert dsns.oltp_dsn("app") == server.dsn("oltp", "oltp_app")
