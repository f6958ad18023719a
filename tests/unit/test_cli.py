"""The CLI where the local tooling (finhouse_local) is not installed, as in the Airflow image:
the commands that need it, and the embedded cluster's DSNs when none is set, are one line
saying so; the rest works with DSNs from the environment."""

from __future__ import annotations

import os
import sys

import pytest

from finhouse import cli

pytestmark = pytest.mark.unit


@pytest.fixture
def no_local_tooling(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("FINHOUSE_"):
            monkeypatch.delenv(name)
    # None in sys.modules: `import finhouse_local…` raises ModuleNotFoundError
    for name in [m for m in sys.modules if m.startswith("finhouse_local")] + ["finhouse_local"]:
        monkeypatch.setitem(sys.modules, name, None)


def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    monkeypatch.setattr(sys, "argv", ["finhouse", *args])
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return err


@pytest.mark.usefixtures("no_local_tooling")
@pytest.mark.parametrize(
    "args",
    [("db", "up"), ("db", "status"), ("platform", "status"), ("dags", "run", "x"), ("dbt",)],
)
def test_local_commands_say_they_need_the_local_tooling(
    args: tuple[str, ...], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    err = run(monkeypatch, capsys, *args)
    assert err.startswith(f"finhouse: error: `finhouse {' '.join(args[:2])}")
    assert "needs the local tooling (the finhouse_local package)" in err


@pytest.mark.usefixtures("no_local_tooling")
def test_without_a_dsn_the_embedded_cluster_is_named_with_the_setting(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    err = run(monkeypatch, capsys, "oltp", "summary")
    assert err == (
        "finhouse: error: FINHOUSE_OLTP_DSN is not set, and the embedded PostgreSQL instead "
        "needs the local tooling (the finhouse_local package), which is not installed here\n"
    )
    err = run(monkeypatch, capsys, "report")
    assert err.startswith("finhouse: error: FINHOUSE_WAREHOUSE_DSN is not set, and the embedded")


@pytest.mark.usefixtures("no_local_tooling")
def test_with_a_dsn_no_local_tooling_is_needed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # port 9: nothing answers, so the command gets as far as connecting
    monkeypatch.setenv("FINHOUSE_OLTP_DSN", "postgresql://app:secret@127.0.0.1:9/oltp")
    err = run(monkeypatch, capsys, "oltp", "summary")
    assert err.startswith("finhouse: error: cannot connect to postgresql://app:***@127.0.0.1:9")


@pytest.mark.usefixtures("no_local_tooling")
@pytest.mark.parametrize(
    "args",
    [
        ("close", "2026-11"),
        ("report", "monthly", "--month", "2026-11", "--out", "/nonexistent"),
        ("export", "--all", "--to", "/nonexistent"),
    ],
)
def test_closes_reports_and_exports_refuse_a_snowflake_warehouse_without_its_secret(
    args: tuple[str, ...], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    dsn = "snowflake://svc:s3cr3t-pw@acct/db?warehouse=w&role=r"
    for variable in ("FINHOUSE_WAREHOUSE_DSN", "FINHOUSE_TRANSFORMER_DSN", "FINHOUSE_REPORTER_DSN"):
        monkeypatch.setenv(variable, dsn)
    err = run(monkeypatch, capsys, *args)
    assert "is not a PostgreSQL DSN: this needs PostgreSQL" in err
    assert "s3cr3t" not in err
