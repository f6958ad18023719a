"""Snowflake connection settings from URLs (FINHOUSE_WAREHOUSE_DSN, Airflow connections)."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from finhouse.errors import ConfigError
from finhouse.targets.snowflake_connection import describe, params_from_url

pytestmark = pytest.mark.unit


def test_finhouse_url_with_password() -> None:
    params = params_from_url(
        "snowflake://loader:s%40cret@xy12345.eu-west-1/FINHOUSE?warehouse=LOADING&role=LOADER"
    )
    assert params == {
        "user": "loader",
        "password": "s@cret",
        "account": "xy12345.eu-west-1",
        "database": "FINHOUSE",
        "warehouse": "LOADING",
        "role": "LOADER",
    }
    assert "s@cret" not in describe(params)


def test_key_pair_file_selects_jwt() -> None:
    params = params_from_url(
        "snowflake://finhouse_loader@acct/FINHOUSE?private_key_file=/keys/loader.p8&role=LOADER"
    )
    assert params["private_key_file"] == "/keys/loader.p8"
    assert params["authenticator"] == "SNOWFLAKE_JWT"
    assert "password" not in params


def test_emulator_host_port_protocol() -> None:
    params = params_from_url(
        "snowflake://u:p@emulator/FINHOUSE?protocol=http&host=127.0.0.1&port=8765"
    )
    assert (params["protocol"], params["host"], params["port"]) == ("http", "127.0.0.1", 8765)


def test_airflow_connection_uri_with_key_content() -> None:
    from airflow.models.connection import Connection  # noqa: PLC0415

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    conn = Connection(
        conn_id="finhouse_warehouse",
        conn_type="snowflake",
        login="finhouse_loader",
        schema="RAW",
        extra=json.dumps(
            {
                "account": "xy12345",
                "database": "FINHOUSE",
                "warehouse": "LOADING",
                "role": "LOADER",
                "private_key_content": pem,
            }
        ),
    )
    params = params_from_url(conn.get_uri())
    assert params["account"] == "xy12345"
    assert params["database"] == "FINHOUSE"
    assert (params["role"], params["warehouse"], params["user"]) == (
        "LOADER",
        "LOADING",
        "finhouse_loader",
    )
    assert params["authenticator"] == "SNOWFLAKE_JWT"
    assert isinstance(params["private_key"], bytes)
    assert "private_key_content" not in params


@pytest.mark.parametrize(
    "url",
    ["postgresql://x@y/z", "snowflake:///FINHOUSE", "snowflake://u@a/FINHOUSE?port=" + quote("x")],
)
def test_bad_urls_are_one_clear_error(url: str) -> None:
    with pytest.raises(ConfigError):
        params_from_url(url)
