"""The dbt DAG's PostgreSQL profile keeps the connection's TLS extras: Cosmos' own mapping
keeps sslmode alone, so a warehouse that requires verify-full would lose its CA."""

from __future__ import annotations

import json

import pytest

from finhouse.orchestration import transform

pytestmark = pytest.mark.unit


def test_the_profile_keeps_every_tls_extra_of_the_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FINHOUSE_DBT_TARGET", "dev")
    extras = {
        "sslmode": "verify-full",
        "sslrootcert": "/etc/finhouse/ca.pem",
        "sslcert": "/etc/finhouse/client.pem",
        "sslkey": "/etc/finhouse/client.key",
        "application_name": "finhouse-dbt",
    }
    monkeypatch.setenv(
        "AIRFLOW_CONN_FINHOUSE_DBT",
        json.dumps(
            {
                "conn_type": "postgres",
                "host": "warehouse.example",
                "port": 5433,
                "login": "transformer",
                "password": "not-in-the-profile",
                "schema": "warehouse",
                "extra": extras,
            }
        ),
    )
    profile = transform.profile_config().profile_mapping.profile  # type: ignore[union-attr]
    assert {k: profile[k] for k in extras} == extras
    assert (profile["host"], profile["port"], profile["dbname"]) == (
        "warehouse.example",
        5433,
        "warehouse",
    )
    assert profile["schema"] == "staging"
    # the password goes to dbt through an environment variable, never into profiles.yml
    assert "not-in-the-profile" not in json.dumps(profile)
