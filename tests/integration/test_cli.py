"""The command line as an operator meets it: help that reads well, one-line errors."""

from __future__ import annotations

import os

import pytest

from tests.conftest import Databases, free_port, run_cli

pytestmark = pytest.mark.integration

COMMANDS = [
    [],
    ["db"],
    ["db", "up"],
    ["db", "down"],
    ["db", "status"],
    ["oltp"],
    ["oltp", "init"],
    ["oltp", "seed"],
    ["oltp", "simulate"],
    ["oltp", "summary"],
    ["dags"],
    ["dags", "run"],
    ["files"],
    ["files", "load"],
    ["files", "status"],
    ["files", "seed"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "finhouse")
def test_every_command_has_help(command: list[str]) -> None:
    out = run_cli(*command, "--help")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("Usage: finhouse")
    assert len(out.stdout.splitlines()) >= 4
    assert out.stderr == ""


def _one_line_error(out: object, code: int | None = None) -> str:
    assert out.returncode != 0  # type: ignore[attr-defined]
    if code is not None:
        assert out.returncode == code  # type: ignore[attr-defined]
    err = out.stderr  # type: ignore[attr-defined]
    assert err.count("\n") == 1, err
    assert err.startswith("finhouse: error: ")
    assert "Traceback" not in err
    return err


def test_unknown_subcommand() -> None:
    err = _one_line_error(run_cli("frobnicate"), 2)
    assert "frobnicate" in err


def test_negative_scale(dbs: Databases) -> None:
    err = _one_line_error(run_cli("oltp", "seed", "--scale", "-1", env=dbs.env()), 2)
    assert "--scale" in err
    assert "greater than 0" in err


def test_dsn_that_does_not_answer() -> None:
    env = {
        **os.environ,
        "FINHOUSE_OLTP_DSN": f"postgresql://nobody:secret@127.0.0.1:{free_port()}/oltp",
    }
    for args in (
        ["oltp", "init"],
        ["oltp", "summary"],
        ["oltp", "seed", "--scale", "0.1"],
        ["oltp", "simulate", "--ticks", "1"],
    ):
        err = _one_line_error(run_cli(*args, env=env), 1)
        assert "cannot connect to postgresql://nobody:***@127.0.0.1" in err
        assert "secret" not in err


def test_malformed_dsn() -> None:
    env = {**os.environ, "FINHOUSE_WAREHOUSE_DSN": "mysql://x@y/z"}
    err = _one_line_error(run_cli("db", "status", env=env), 1)
    assert "FINHOUSE_WAREHOUSE_DSN must be a URL starting with postgresql://" in err


def test_seed_before_init_says_what_to_do(dbs: Databases) -> None:
    err = _one_line_error(run_cli("oltp", "seed", "--scale", "0.1", env=dbs.env()), 1)
    assert "finhouse oltp init" in err


def test_bad_as_of_date(dbs: Databases) -> None:
    _one_line_error(run_cli("oltp", "seed", "--as-of", "yesterday", env=dbs.env()), 2)


def test_external_servers_start_nothing(dbs: Databases) -> None:
    env = dbs.env()
    up = run_cli("db", "up", env=env)
    assert up.returncode == 0
    assert "nothing to start" in up.stdout
    status = run_cli("db", "status", "--show-password", env=env)
    lines = dict(line.split(" ", 1) for line in status.stdout.splitlines())
    assert lines == {"oltp": dbs.oltp_dsn, "warehouse": dbs.warehouse_dsn("loader")}


def test_snowflake_warehouse_without_its_target_gets_one_line(dbs: Databases) -> None:
    from finhouse.oltp import schema  # noqa: PLC0415

    schema.init(dbs.oltp_dsn)  # the source is fine: the warehouse is what cannot be reached
    env = {**dbs.env(), "FINHOUSE_WAREHOUSE_DSN": "snowflake://user@account/FINHOUSE"}
    err = _one_line_error(run_cli("ingest", "users", env=env), 1)
    assert "Snowflake" in err


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((), "name DAGs to run"),
        (("ingest_users", "--conf", "{not json"), "--conf is not JSON"),
        (("ingest_users", "--conf", "[1, 2]"), "--conf must be a JSON object"),
    ],
)
def test_dags_run_usage_errors(dbs: Databases, args: tuple[str, ...], expected: str) -> None:
    err = _one_line_error(run_cli("dags", "run", *args, env=dbs.env()), 2)
    assert expected in err


def test_dags_run_unknown_dag_names_the_known_ones(dbs: Databases) -> None:
    err = _one_line_error(run_cli("dags", "run", "ingest_userz", env=dbs.env()), 1)
    assert "unknown DAG ingest_userz" in err
    assert "ingest_users" in err
    assert "finhouse_dbt" in err
