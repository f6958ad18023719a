"""DSNs in every form finhouse accepts: redacted wherever they are shown, converted to URLs
for Airflow, refused without showing them when malformed (finhouse.connections)."""

from __future__ import annotations

import pytest
from psycopg.conninfo import conninfo_to_dict

from finhouse import settings
from finhouse.connections import as_url, connect, redact
from finhouse.errors import ConfigError

pytestmark = pytest.mark.unit

SECRET = "S3cr3t"  # noqa: S105 - the marker a message must never contain


REDACTED: list[tuple[str, str, list[str]]] = [
    # (dsn, its secret, what stays readable)
    ("postgresql://loader:se-cret@db.example:5432/warehouse", "se-cret", ["loader", "db.example"]),
    ("postgres://loader:p%40ss%2Fw@db.example/warehouse", "p%40ss", ["loader", "warehouse"]),
    ("postgresql://loader:p@ss@db.example/warehouse", "p@ss", ["db.example", "warehouse"]),
    ("postgresql://loader:pa/ss#x?y@db.example/warehouse", "pa/ss#x", ["loader"]),
    ("postgresql://loader@db.example/wh?password=se-cret&sslmode=require", "se-cret", ["sslmode"]),
    ("postgresql://db.example/wh?sslpassword=se-cret&user=loader", "se-cret", ["user=loader"]),
    ("host=db.example password='se cret' dbname=warehouse", "se cret", ["dbname=warehouse"]),
    ("host=db.example password=se-cret dbname=warehouse", "se-cret", ["dbname=warehouse"]),
    (
        "host=db.example password = 'it\\'s se-cret' user=x",
        "se-cret",
        ["host=db.example", "user=x"],
    ),
    ("host=db.example password=se cret-part dbname=wh", "cret-part", ["dbname=wh"]),
    ("host=db.example dbname=wh password='unterminated se-cret", "se-cret", ["dbname=wh"]),
    ("host=h sslpassword=se-cret scram_client_key=ke-y dbname=wh", "se-cret", ["dbname=wh"]),
    ("host=h scram_client_key=ke-y dbname=wh", "ke-y", ["dbname=wh"]),
    ("dbname='postgresql://u:se-cret@h/db'", "se-cret", ["postgresql://u:"]),
    ("snowflake://loader:se-cret@acct/FINHOUSE?role=LOADER", "se-cret", ["acct", "role=LOADER"]),
    ("snowflake://loader@acct/DB?private_key_file_pwd=se-cret&warehouse=W", "se-cret", ["W"]),
    ("snowflake://loader@acct/DB?token=se-cret&role=R", "se-cret", ["role=R"]),
    (
        "snowflake://loader@acct/STAGING?__extra__=%7B%22private_key_content%22%3A+%22se-cret"
        "%22%2C+%22role%22%3A+%22LOADER%22%7D",
        "se-cret",
        ["LOADER"],
    ),
    ('{"conn_type": "postgres", "password": "se-cret", "host": "h"}', "se-cret", ['"host": "h"']),
    ('{"extra": "{\\"private_key_content\\": \\"se-cret\\"}"}', "se-cret", ["extra"]),
    ("{not json se-cret", "se-cret", []),
]


@pytest.mark.parametrize(("dsn", "secret", "kept"), REDACTED)
def test_redact_hides_the_secret_of_every_form(dsn: str, secret: str, kept: list[str]) -> None:
    shown = redact(dsn)
    assert secret not in shown
    assert "se-cret" not in shown
    for part in kept:
        assert part in shown, shown


def test_redact_keeps_what_has_no_secret() -> None:
    for dsn in (
        "postgresql://loader@db.example:5432/warehouse?sslmode=require",
        "host=db.example port=5432 dbname=warehouse user=loader",
        "postgresql://h:5432/db?application_name=a@b",
        "",
    ):
        assert redact(dsn) == dsn
    assert redact("postgresql://u:pw@h/db") == "postgresql://u:***@h/db"


def test_keyword_dsns_are_accepted_and_become_urls_for_airflow(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    keyword = (
        "host=/var/run/postgresql port=5433 dbname=warehouse user=loader "
        "password='p w@/x' sslmode=require"
    )
    monkeypatch.setenv("FINHOUSE_WAREHOUSE_DSN", keyword)
    assert settings.load().warehouse_dsn == keyword
    url = as_url(keyword)
    assert url.startswith("postgresql://loader:")
    assert conninfo_to_dict(url) == conninfo_to_dict(keyword)
    assert as_url("postgresql://u@h/db") == "postgresql://u@h/db"


def test_connect_refuses_a_malformed_dsn_without_showing_it() -> None:
    for dsn in (f"host=h password={SECRET} pw dbname=d", f"snowflake://u:{SECRET}@acct/DB"):
        with pytest.raises(ConfigError) as caught:
            connect(dsn)
        assert SECRET not in str(caught.value)


@pytest.mark.parametrize(
    ("dsn", "given", "opened"),
    [
        # the DSN's options first, the caller's after: both apply, the caller's wins a tie
        (
            "host=h options='-c search_path=app -c TimeZone=Europe/Paris'",
            {"options": "-c TimeZone=UTC"},
            {"options": "-c search_path=app -c TimeZone=Europe/Paris -c TimeZone=UTC"},
        ),
        (
            "postgresql://u@h/db?options=-c%20lock_timeout%3D5s",
            {"options": "-c TimeZone=UTC"},
            {"options": "-c lock_timeout=5s -c TimeZone=UTC"},
        ),
        ("host=h", {"options": "-c TimeZone=UTC"}, {"options": "-c TimeZone=UTC"}),
        ("host=h options='-c x.y=1'", {}, {"options": "-c x.y=1"}),
        # the DSN's connect_timeout stands; without one, the default
        ("host=h connect_timeout=3", {}, {"connect_timeout": "3"}),
        ("host=h", {}, {"connect_timeout": "10"}),
        ("host=h sslmode=verify-full", {}, {"sslmode": "verify-full"}),
    ],
)
def test_connect_keeps_what_the_dsn_says(
    monkeypatch: pytest.MonkeyPatch, dsn: str, given: dict[str, str], opened: dict[str, str]
) -> None:
    """What reaches libpq (psycopg.connect merges its keyword arguments into the DSN)."""
    import psycopg  # noqa: PLC0415

    seen: list[dict[str, str]] = []

    def fake_connect(conninfo: str, **kwargs: object) -> None:
        seen.append(dict(conninfo_to_dict(conninfo, **kwargs)))

    monkeypatch.setattr(psycopg, "connect", fake_connect)
    connect(dsn, **given)
    assert {k: str(v) for k, v in seen[0].items() if k in opened} == opened
