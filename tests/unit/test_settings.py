"""Every FINHOUSE_* setting is read through finhouse.settings: a bad value is one line naming
the variable (never a secret), DSNs are validated and redacted in every form, and the
registry knows every variable the repository mentions.

The registry drives the tests: each setting is tried with bad values of its kind, so a new
setting whose reader does not validate (or of a kind nobody gave bad values for) fails here.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from psycopg.conninfo import conninfo_to_dict

from finhouse import settings
from finhouse.connections import as_url, connect, redact
from finhouse.errors import ConfigError
from finhouse.settings import REGISTRY, Setting

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
FINHOUSE = str(Path(sys.executable).with_name("finhouse"))
SECRET = "S3cr3t"  # noqa: S105 - the marker a message must never contain
NOWHERE = "/nonexistent/finhouse-test"

#: values each kind of setting must refuse (the password of each DSN contains SECRET)
BAD: dict[str, list[str]] = {
    "DSN (PostgreSQL)": [
        f"mysql://u:{SECRET}-pw@h/db",
        f"PostgreSQL://u:{SECRET}-pw@h/db",
        f"postgresql://u:{SECRET}-pw@h",
        f"postgresql://u:{SECRET}-pw@/db",
        f"postgresql://u:{SECRET}-pw@h:port/db",
        f"postgresql://u:{SECRET}/pw@h/db",  # a raw "/": libpq reads a port out of it
        f"postgresql://u:{SECRET}-pw@h/db?nonsense=1",
        f"host=h password={SECRET}-pw",
        f"host=h dbname=d password={SECRET} pw",
        f"host=h dbname=d password='{SECRET}",
        f"dbname=d password={SECRET}-pw",
        "localhost",
    ],
    "DSN (PostgreSQL or Snowflake)": [
        f"mysql://u:{SECRET}-pw@h/db",
        f"postgresql://u:{SECRET}-pw@h",
        f"host=h password={SECRET}-pw",
        f"host=h dbname=d password={SECRET} pw",
        f"snowflake://u:{SECRET}-pw@acct",
        f"snowflake://u:{SECRET}-pw@/DB",
        f"snowflake://u:{SECRET}-pw@acct:port/DB",
        f"snowflake://u:{SECRET}-pw@acct/?__extra__=nojson",
    ],
    "DSN (Snowflake)": [
        f"postgresql://u:{SECRET}-pw@h/db",
        f"snowflake://u:{SECRET}-pw@/?role=ACCOUNTADMIN",
        f"host=h dbname=d password={SECRET}-pw",
    ],
    "DSN (PostgreSQL URL)": [
        f"host=h dbname=d password={SECRET}-pw",
        f"postgresql://u:{SECRET}-pw@h",
    ],
    "URL": [
        f"ftp://hooks.example/{SECRET}",
        f"https:///{SECRET}",
        f"http://hooks.example:99999/{SECRET}",
        f"hooks.example/{SECRET}",
        f"https://hooks.example/{SECRET} x",
    ],
    "cron": ["every day", "* * * * * *", "61 * * * *", "* * *", "@once"],
    "rows": ["-1", "2e6", "2,000,000", "lots"],
    "seconds": ["nan", "inf", "-1", "1_0", "soon"],
    "MB": ["0", "nan", "big"],
    "whole seconds": ["0", "1.5", "soon"],
    "integer": ["zero", "0", "1.5", "999"],
    "port": ["0", "65536", "http", "54 329"],
    "choice": ["nope"],
    "0 or 1": ["true", "yes", "2"],
    "seconds or off": ["0", "-5", "never", "nan"],
    "unix time": ["yesterday", "-1", "inf"],
    "identifier": ["re porter", "1role", "x;drop"],
    "e-mail addresses": ["nobody", "ops@example.org risk@example.org", "a@b, <c@d>"],
    "dbt selectors": ["'quoted'", "a;b", "$(rm)"],
    "directory": [str(Path(__file__))],
    "file": [str(REPO)],
    "script variable": ["X LARGE", "a;b", "x'y"],
}
#: a value each kind takes
GOOD: dict[str, str] = {
    "DSN (PostgreSQL)": "host=/var/run/postgresql port=5433 dbname=oltp password='se cret'",
    "DSN (PostgreSQL or Snowflake)": "snowflake://u:pw@acct/FINHOUSE?role=LOADER&warehouse=W",
    "DSN (Snowflake)": "snowflake://admin:pw@acct/?role=ACCOUNTADMIN",
    "DSN (PostgreSQL URL)": "postgresql://u:p%40w@127.0.0.1:5432/oltp?sslmode=require",
    "URL": "https://hooks.example/T0/B0/token",
    "cron": "0 0 29 2 *",
    "rows": "0",
    "seconds": "5.5",
    "MB": "64",
    "whole seconds": "60",
    "integer": "4",
    "port": "15432",
    "choice": "",  # each choice setting's own choices: see test_every_setting_takes_good
    "0 or 1": "1",
    "seconds or off": "2.5",
    "unix time": "1767225600",
    "identifier": "bi_reader",
    "e-mail addresses": "ops@example.org, risk@example.org ,",
    "dbt selectors": "path:models/staging +portfolio_daily tag:daily,config.materialized:view",
    "directory": str(REPO / "dbt" / "finhouse"),
    "file": NOWHERE,  # the executable is not checked to exist while DAGs parse
    "script variable": "XLARGE",
}
#: settings that take any text, on purpose (what finhouse sets for its children, pass-through)
FREE_FORM = {
    "FINHOUSE_DBT_HOST",
    "FINHOUSE_DBT_USER",
    "FINHOUSE_DBT_PASSWORD",
    "FINHOUSE_DBT_DBNAME",
    "FINHOUSE_PLATFORM_STATE",
    "FINHOUSE_SNOWFLAKE_SMOKE_DBT_ARGS",
}
RETIRED = {"FINHOUSE_EXTRACT_LAG_SECONDS", "FINHOUSE_EXTRACT_SKEW_SECONDS"}


@pytest.fixture(autouse=True)
def no_finhouse_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's own FINHOUSE_* variables must not leak into these tests."""
    for name in list(os.environ):
        if name.startswith("FINHOUSE_"):
            monkeypatch.delenv(name)


def param_id(value: object) -> str:
    return value.name if isinstance(value, Setting) else repr(value)


def variable_of(setting: Setting[Any]) -> str:
    """A concrete variable of the setting (a family's for its first member)."""
    if "<TABLE>" in setting.name:
        return setting.variable(settings.TABLE_NAMES[0])
    if "<NAME>" in setting.name:
        return setting.variable("loading_warehouse_size")
    return setting.name


def read(setting: Setting[Any]) -> Any:
    return setting.reader(variable_of(setting))


def one_line_error(setting: Setting[Any], value: str, monkeypatch: pytest.MonkeyPatch) -> str:
    variable = variable_of(setting)
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        setting.reader(variable)
    message = str(caught.value)
    assert "\n" not in message, message
    assert message.startswith(f"{variable} "), message
    return message


def rendered(value: Any) -> str:
    """A value read with the variable unset, as the registry documents defaults."""
    if value is None:
        return ""
    if isinstance(value, Path):
        return str(value.relative_to(REPO)) if value.is_relative_to(REPO) else str(value)
    if isinstance(value, list):
        return " ".join(value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


checked = [s for s in REGISTRY if s.scope != "retired" and s.name not in FREE_FORM]


# ------------------------------------------------------------------------------ registry
def test_the_registry_pins_free_form_and_retired_settings() -> None:
    assert {s.name for s in REGISTRY if s.kind == "text"} == FREE_FORM
    assert {s.name for s in REGISTRY if s.scope == "retired"} == RETIRED
    assert all(s.kind in BAD and s.kind in GOOD for s in checked), "a kind with no examples"


def test_every_setting_says_what_it_is() -> None:
    for setting in REGISTRY:
        assert re.fullmatch(r"FINHOUSE_[A-Z0-9_<>]+", setting.name), setting.name
        assert setting.meaning, setting.name
        assert "\n" not in setting.meaning, setting.name
        assert setting.kind, setting.name
    assert len({s.name for s in REGISTRY}) == len(REGISTRY)


@pytest.mark.parametrize("setting", [s for s in REGISTRY if s.scope != "retired"], ids=param_id)
def test_every_setting_reads_its_documented_default_when_unset(setting: Setting[Any]) -> None:
    assert rendered(read(setting)) == setting.default


@pytest.mark.parametrize(
    ("setting", "value"),
    [(s, v) for s in checked for v in BAD[s.kind] if s.kind != "choice"]
    + [(s, "nope") for s in checked if s.kind == "choice"],
    ids=param_id,
)
def test_every_setting_refuses_a_bad_value_in_one_line_naming_it(
    setting: Setting[Any], value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    message = one_line_error(setting, value, monkeypatch)
    if setting.secret:
        assert SECRET not in message
    if setting.kind == "URL":
        assert "hooks.example" not in message, "a webhook URL is never shown"


@pytest.mark.parametrize("setting", checked, ids=param_id)
def test_every_setting_takes_a_good_value(
    setting: Setting[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    if setting.kind == "choice":
        choices = re.findall(r"must be (.*), got", one_line_error(setting, "?", monkeypatch))
        value = re.split(r", | or ", choices[0])[-1]
    else:
        value = GOOD[setting.kind]
    monkeypatch.setenv(variable_of(setting), value)
    assert read(setting) not in (None, "", [])


def test_blank_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    # compose files pass `${X:-}` through as an empty string
    monkeypatch.setenv("FINHOUSE_DBT_THREADS", " ")
    monkeypatch.setenv("FINHOUSE_OLTP_DSN", "")
    assert settings.DBT_THREADS.read() == 2
    assert settings.OLTP_DSN.read() is None


def test_typed_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINHOUSE_DBT_THREADS", " 8 ")
    monkeypatch.setenv("FINHOUSE_USERS_SCHEDULE", " 0   6 * * 1-5 ")
    monkeypatch.setenv("FINHOUSE_LOANS_RECONCILE_SCHEDULE", "@daily")
    monkeypatch.setenv("FINHOUSE_SIMULATE_INTERVAL", "off")
    monkeypatch.setenv("FINHOUSE_PG_BINARIES", "System")
    monkeypatch.setenv("FINHOUSE_ALERT_EMAIL", "ops@example.org, risk@example.org ,")
    assert settings.DBT_THREADS.read() == 8
    assert settings.TABLE_SCHEDULE.read_for("users") == "0 6 * * 1-5"
    assert settings.TABLE_RECONCILE_SCHEDULE.read_for("loans") == "@daily"
    assert settings.SIMULATE_INTERVAL.read() is None
    assert settings.PG_BINARIES.read() == "system"
    assert settings.ALERT_EMAIL.read() == ["ops@example.org", "risk@example.org"]
    with pytest.raises(TypeError):
        settings.TABLE_SCHEDULE.read()


def test_generic_readers_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_FLAG", "maybe")
    with pytest.raises(ConfigError, match=r"^X_FLAG must be true or false"):
        settings.boolean_setting("X_FLAG", default=False)
    for text, value in (("on", True), ("0", False), ("Yes", True)):
        monkeypatch.setenv("X_FLAG", text)
        assert settings.boolean_setting("X_FLAG", default=False) is value
    monkeypatch.setenv("X_SECONDS", "0")
    with pytest.raises(ConfigError, match=r"^X_SECONDS must be a number of seconds at least 1"):
        settings.seconds_setting("X_SECONDS", 5.0, minimum=1)
    monkeypatch.setenv("X_PORT", "80")
    assert settings.port_setting("X_PORT", 8080, minimum=1) == 80
    with pytest.raises(ConfigError, match=r"^X_PORT must be a port number from 1024 to 65535"):
        settings.port_setting("X_PORT", 8080)


def test_a_snowflake_script_variable_must_be_one_the_scripts_use(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FINHOUSE_SNOWFLAKE_VAR_LOADIN_WAREHOUSE_SIZE", "XLARGE")
    with pytest.raises(ConfigError, match=r"&\{loadin_warehouse_size\}, which no Snowflake"):
        settings.SNOWFLAKE_VARIABLE.read_for("loadin_warehouse_size")


def test_settings_table_names_are_the_tables() -> None:
    from finhouse.tables import TABLES  # noqa: PLC0415

    assert tuple(TABLES) == settings.TABLE_NAMES


# ------------------------------------------------------------------------------ validate_all
def test_validate_all_passes_a_good_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings.validate_all() == []
    for setting in checked:
        if setting.kind not in ("choice", "directory", "file"):
            monkeypatch.setenv(variable_of(setting), GOOD[setting.kind])
    monkeypatch.setenv("FINHOUSE_DBT_TARGET", "prod")
    assert settings.validate_all() == []


def test_validate_all_names_every_bad_value_on_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINHOUSE_DBT_THREADS", "zero")
    monkeypatch.setenv("FINHOUSE_PAYMENTS_SCHEDULE", "hourly")
    monkeypatch.setenv("FINHOUSE_WAREHOUSE_DSN", f"postgresql://loader:{SECRET}@db.example")
    monkeypatch.setenv("FINHOUSE_USER_SCHEDULE", "bad but unknown: only a warning")
    with pytest.raises(ConfigError) as caught:
        settings.validate_all()
    message = str(caught.value)
    assert "\n" not in message
    assert SECRET not in message
    for name in ("FINHOUSE_DBT_THREADS", "FINHOUSE_PAYMENTS_SCHEDULE", "FINHOUSE_WAREHOUSE_DSN"):
        assert f"{name} " in message
    assert "FINHOUSE_USER_SCHEDULE" not in message


def test_validate_all_warns_about_unknown_retired_and_ignored_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FINHOUSE_USER_SCHEDULE", "0 * * * *")
    monkeypatch.setenv("FINHOUSE_NO_SUCH_THING", "1")
    monkeypatch.setenv("FINHOUSE_EXTRACT_LAG_SECONDS", "2")
    monkeypatch.setenv("FINHOUSE_OLTP_EXTRACT_DSN", "postgresql://x:pw@h/oltp")
    warnings = settings.validate_all()
    assert all("\n" not in w for w in warnings)
    assert any(
        w.startswith("FINHOUSE_USER_SCHEDULE is not a finhouse setting")
        and "did you mean FINHOUSE_USERS_SCHEDULE?" in w
        for w in warnings
    ), warnings
    assert any(w.startswith("FINHOUSE_NO_SUCH_THING is not a finhouse setting") for w in warnings)
    assert any(w.startswith("FINHOUSE_EXTRACT_LAG_SECONDS is no longer read") for w in warnings)
    assert any(
        w.startswith("FINHOUSE_OLTP_EXTRACT_DSN is set but FINHOUSE_OLTP_DSN is not")
        for w in warnings
    )
    assert not any("pw" in w for w in warnings)


# ------------------------------------------------------------------------------ DSNs
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
    assert settings.WAREHOUSE_DSN.read() == keyword
    url = as_url(keyword)
    assert url.startswith("postgresql://loader:")
    assert conninfo_to_dict(url) == conninfo_to_dict(keyword)
    assert as_url("postgresql://u@h/db") == "postgresql://u@h/db"


def test_connect_refuses_a_malformed_dsn_without_showing_it() -> None:
    for dsn in (f"host=h password={SECRET} pw dbname=d", f"snowflake://u:{SECRET}@acct/DB"):
        with pytest.raises(ConfigError) as caught:
            connect(dsn)
        assert SECRET not in str(caught.value)


# ------------------------------------------------------------------------------ coverage
#: FINHOUSE_ words in the repository that are no setting: Snowflake's schema and users
NOT_SETTINGS = {"FINHOUSE_META", "FINHOUSE_LOADER", "FINHOUSE_TRANSFORMER", "FINHOUSE_REPORTER"}
#: reads that do not go through finhouse.settings yet, each named (a new one fails)
DIRECT_READS = {
    # `finhouse report` reads FINHOUSE_REPORTER_DSN itself (config.warehouse_dsn("reporter")
    # now covers it); `snowflake apply --dsn` is a click option with envvar=
    "airflow/plugins/finhouse/cli.py": {"FINHOUSE_REPORTER_DSN", "FINHOUSE_SNOWFLAKE_ADMIN_DSN"},
}
DIRECT_READ = re.compile(
    r"""(?:environ(?:\.get)?\s*[(\[]|getenv\s*\(|envvar\s*=)\s*f?["'](FINHOUSE_[A-Za-z0-9_{}.()]*)"""
)


def repository_files() -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        pytest.skip("not a git checkout")
    return [REPO / line for line in out.stdout.splitlines() if (REPO / line).is_file()]


def test_every_finhouse_variable_the_repository_mentions_is_in_the_registry() -> None:
    unknown = {}
    for path in repository_files():
        if path == Path(__file__):
            continue  # it names unknown settings on purpose
        try:
            text = path.read_text()
        except (UnicodeDecodeError, OSError):
            continue
        for name in re.findall(r"(?<![A-Za-z0-9_])FINHOUSE_[A-Z0-9_]+", text):
            if name.endswith("_") or name in NOT_SETTINGS:
                continue  # a prefix (FINHOUSE_SNOWFLAKE_VAR_…), or a family's pattern
            if settings.lookup(name) is None:
                unknown.setdefault(name, str(path.relative_to(REPO)))
    assert not unknown, f"not in finhouse.settings.REGISTRY: {unknown}"


def test_modules_read_finhouse_variables_through_settings() -> None:
    package = REPO / "airflow" / "plugins" / "finhouse"
    for path in [*package.rglob("*.py"), *(REPO / "airflow" / "dags").glob("*.py")]:
        if path.name == "settings.py":
            continue
        where = str(path.relative_to(REPO))
        names = set(DIRECT_READ.findall(path.read_text()))
        assert names <= DIRECT_READS.get(where, set()), f"{where} reads {names} itself"


# ------------------------------------------------------------------------------ the CLI
@pytest.mark.parametrize(
    ("args", "variable", "value"),
    [
        (["db", "status"], "FINHOUSE_PG_PORT", "abc"),
        (["db", "status"], "FINHOUSE_OLTP_DSN", f"postgresql://u:{SECRET}@h"),
        (["db", "status"], "FINHOUSE_WAREHOUSE_DSN", f"host=h password={SECRET} pw"),
        (["db", "up"], "FINHOUSE_PG_BINARIES", "docker"),
        (["ingest", "users"], "FINHOUSE_USERS_SCHEDULE", "every day"),
        (["ingest", "users"], "FINHOUSE_USERS_PARALLEL_THRESHOLD", "-1"),
        (["reconcile", "--all"], "FINHOUSE_LOANS_RECONCILE_SCHEDULE", "* * *"),
        (["dags", "run", "ingest_users"], "FINHOUSE_DBT_THREADS", "zero"),
        (["airflow", "version"], "FINHOUSE_RETRY_DELAY_SECONDS", "nan"),
        (["platform", "up"], "FINHOUSE_SIMULATE_INTERVAL", "0"),
        (["dbt", "--version"], "FINHOUSE_TRANSFORMER_DSN", f"mysql://u:{SECRET}@h/db"),
    ],
)
def test_the_cli_says_which_setting_is_bad_in_one_line(
    args: list[str], variable: str, value: str, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FINHOUSE_", "AIRFLOW"))}
    env |= {"FINHOUSE_STATE_DIR": str(tmp_path), variable: value}
    out = subprocess.run(
        [FINHOUSE, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 1, (out.stdout, out.stderr)
    assert out.stderr.startswith(f"finhouse: error: {variable} "), out.stderr
    assert out.stderr.count("\n") == 1, out.stderr
    assert SECRET not in out.stderr
    assert not any(tmp_path.iterdir()), "nothing may start with a bad setting"
