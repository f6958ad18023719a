"""Every FINHOUSE_* setting is a field of finhouse.settings.FinhouseSettings: a bad value is
one line naming the variable (never a secret), DSNs are validated in every form, the object
knows every variable the repository mentions, and docs/settings.md is what it generates.

The declared settings drive the tests: each is tried with bad values of its kind, so a new
setting whose type does not validate (or of a kind nobody gave bad values for) fails here.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Any

import pytest
from pydantic import ValidationError

from finhouse import settings
from finhouse.errors import ConfigError
from finhouse.settings import Spec

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
    "days": ["0", "-1", "nan", "inf", "a week", "9999"],
    "whole seconds": ["0", "1.5", "soon"],
    "integer": ["zero", "0", "1.5", "999"],
    "port": ["0", "65536", "http", "54 329"],
    "choice": ["nope"],
    "0 or 1": ["true", "yes", "2"],
    "seconds or off": ["0", "-5", "never", "nan"],
    "unix time": ["yesterday", "-1", "inf"],
    "role name": [
        "re porter",
        "1role",
        "x;drop",
        "reporter; drop schema marts cascade",
        'reporter" to public; --',
        "Reporter",
        "public",
        "PUBLIC",
        "current_user",
        "pg_read_all_data",
        "r" * 64,
    ],
    "e-mail addresses": ["nobody", "ops@example.org risk@example.org", "a@b, <c@d>"],
    "dbt selectors": ["'quoted'", "a;b", "$(rm)"],
    "directory": [str(Path(__file__))],
    "file": [str(REPO)],
    "script variable": ["X LARGE", "a;b", "x'y"],
    "folder or URL": [f"s3://key:{SECRET}@bucket/x", f"Bad Scheme://u:{SECRET}@x/y"],
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
    "days": "0.5",
    "whole seconds": "60",
    "integer": "4",
    "port": "15432",
    "choice": "",  # each choice setting's own choices: see test_every_setting_takes_good
    "0 or 1": "1",
    "seconds or off": "2.5",
    "unix time": "1767225600",
    "role name": "bi_reader",
    "e-mail addresses": "ops@example.org, risk@example.org ,",
    "dbt selectors": "path:models/staging +portfolio_daily tag:daily,config.materialized:view",
    "directory": str(REPO / "dbt" / "finhouse"),
    "file": NOWHERE,  # the executable is not checked to exist while DAGs parse
    "script variable": "XLARGE",
    "folder or URL": "s3://bucket/finhouse",
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


SPECS = settings.specs()


def param_id(value: object) -> str:
    return value.name if isinstance(value, Spec) else repr(value)


def variable_for(spec: Spec) -> str:
    """A concrete variable of the setting (a family's for its first member)."""
    if "<TABLE>" in spec.name:
        return spec.variable(settings.TABLE_NAMES[0])
    if "<NAME>" in spec.name:
        return spec.variable("loading_warehouse_size")
    return spec.name


def read(spec: Spec) -> Any:
    return spec.read(variable_for(spec))


def one_line_error(spec: Spec, value: str, monkeypatch: pytest.MonkeyPatch) -> str:
    variable = variable_for(spec)
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        spec.read(variable)
    message = str(caught.value)
    assert "\n" not in message, message
    assert message.startswith(f"{variable} "), message
    return message


def rendered(value: Any) -> str:
    """A value read with the variable unset, as the documentation shows defaults."""
    if value is None:
        return ""
    if isinstance(value, Path):
        return str(value.relative_to(REPO)) if value.is_relative_to(REPO) else str(value)
    if isinstance(value, list):
        return " ".join(value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


checked = [s for s in SPECS if s.scope != "retired" and s.name not in FREE_FORM]


# ------------------------------------------------------------------------------ declarations
def test_the_settings_pin_free_form_and_retired_settings() -> None:
    assert {s.name for s in SPECS if s.kind == "text"} == FREE_FORM
    assert {s.name for s in SPECS if s.scope == "retired"} == RETIRED
    assert all(s.kind in BAD and s.kind in GOOD for s in checked), "a kind with no examples"


def test_every_setting_says_what_it_is() -> None:
    for spec in SPECS:
        assert re.fullmatch(r"FINHOUSE_[A-Z0-9_<>]+", spec.name), spec.name
        assert spec.description, spec.name
        assert "\n" not in spec.description, spec.name
        assert spec.kind, spec.name
        assert spec.group in settings.GROUPS, spec.name
        if spec.kind == "choice":
            assert spec.choices, spec.name
    assert len({s.name for s in SPECS}) == len(SPECS)


def test_every_field_is_a_documented_setting() -> None:
    """Each field of the object (a family's once) is one setting of the documentation."""
    fields = set(settings.FinhouseSettings.model_fields) - {"tables"}
    fields |= {f"tables.{name}" for name in settings.TableSettings.model_fields}
    assert {s.field for s in SPECS if s.scope != "retired"} == fields


@pytest.mark.parametrize("spec", [s for s in SPECS if s.scope != "retired"], ids=param_id)
def test_every_setting_reads_its_documented_default_when_unset(spec: Spec) -> None:
    assert rendered(read(spec)) == spec.default


@pytest.mark.parametrize(
    ("spec", "value"),
    [(s, v) for s in checked for v in BAD[s.kind] if s.kind != "choice"]
    + [(s, "nope") for s in checked if s.kind == "choice"],
    ids=param_id,
)
def test_every_setting_refuses_a_bad_value_in_one_line_naming_it(
    spec: Spec, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    message = one_line_error(spec, value, monkeypatch)
    if spec.secret:
        assert SECRET not in message
    if spec.kind == "URL":
        assert "hooks.example" not in message, "a webhook URL is never shown"
    if spec.kind == "folder or URL":
        assert SECRET not in message, "an export URL's credentials are never shown"


@pytest.mark.parametrize("spec", checked, ids=param_id)
def test_every_setting_takes_a_good_value(spec: Spec, monkeypatch: pytest.MonkeyPatch) -> None:
    if spec.kind == "choice":
        choices = re.findall(r"must be (.*), got", one_line_error(spec, "?", monkeypatch))
        value = re.split(r", | or ", choices[0])[-1]
        assert value in spec.choices
    else:
        value = GOOD[spec.kind]
    monkeypatch.setenv(variable_for(spec), value)
    assert read(spec) not in (None, "", [])


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "reporter; drop schema marts cascade",
            "FINHOUSE_REPORTER_ROLE must be a role name: lower-case letters, digits and _, "
            "starting with a letter or _, at most 63, got 'reporter; drop schema marts cascade'",
        ),
        (
            "Reporter",
            "FINHOUSE_REPORTER_ROLE must be a role name: lower-case letters, digits and _, "
            "starting with a letter or _, at most 63, got 'Reporter'",
        ),
        (
            "public",
            "FINHOUSE_REPORTER_ROLE must name one role, got 'public', which a grant reads as "
            "every role",
        ),
        (
            "current_user",
            "FINHOUSE_REPORTER_ROLE must name one role, got 'current_user', which a grant "
            "reads as another role or no role",
        ),
        (
            "pg_read_all_data",
            "FINHOUSE_REPORTER_ROLE must not name one of PostgreSQL's predefined roles (pg_…), "
            "got 'pg_read_all_data'",
        ),
    ],
)
def test_a_hostile_reporter_role_is_refused_naming_the_variable(
    value: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """dbt pastes the role into its grants: only one plain lower-case role name gets there."""
    monkeypatch.setenv("FINHOUSE_REPORTER_ROLE", value)
    with pytest.raises(ConfigError) as refused:
        settings.load().reporter_role  # noqa: B018
    assert str(refused.value) == message
    with pytest.raises(ConfigError) as everything:
        settings.validate_all()
    assert str(everything.value) == message


def test_a_plain_reporter_role_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    for value in ("reporter", "bi_reader", "_r2", "r" * 63):
        monkeypatch.setenv("FINHOUSE_REPORTER_ROLE", f" {value} ")
        assert settings.load().reporter_role == value


def test_blank_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    # compose files pass `${X:-}` through as an empty string
    monkeypatch.setenv("FINHOUSE_DBT_THREADS", " ")
    monkeypatch.setenv("FINHOUSE_OLTP_DSN", "")
    monkeypatch.setenv("FINHOUSE_USERS_SCHEDULE", "")
    loaded = settings.load()
    assert loaded.dbt_threads == 2
    assert loaded.oltp_dsn is None
    assert loaded.table("users").schedule == "*/15 * * * *"
    assert loaded.problems == []


def test_typed_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINHOUSE_DBT_THREADS", " 8 ")
    monkeypatch.setenv("FINHOUSE_USERS_SCHEDULE", " 0   6 * * 1-5 ")
    monkeypatch.setenv("FINHOUSE_LOANS_RECONCILE_SCHEDULE", "@daily")
    monkeypatch.setenv("FINHOUSE_SIMULATE_INTERVAL", "off")
    monkeypatch.setenv("FINHOUSE_PG_BINARIES", "System")
    monkeypatch.setenv("FINHOUSE_ALERT_EMAIL", "ops@example.org, risk@example.org ,")
    monkeypatch.setenv("FINHOUSE_SNOWFLAKE_VAR_LOADING_WAREHOUSE_SIZE", " XLARGE ")
    loaded = settings.load()
    assert loaded.dbt_threads == 8
    assert loaded.table("users").schedule == "0 6 * * 1-5"
    assert loaded.table("users").reconcile_schedule == "7 * * * *"
    assert loaded.table("loans").reconcile_schedule == "@daily"
    assert loaded.simulate_interval is None
    assert loaded.pg_binaries == "system"
    assert loaded.alert_email == ["ops@example.org", "risk@example.org"]
    assert loaded.snowflake_vars == {"loading_warehouse_size": "XLARGE"}
    assert loaded.dbt_project_dir == REPO / "dbt" / "finhouse"
    with pytest.raises(TypeError):
        settings.lookup("FINHOUSE_USERS_SCHEDULE").read()  # type: ignore[union-attr]


def test_a_bad_value_fails_only_what_reads_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """How a DAG file that does not read a bad variable still imports, whole."""
    monkeypatch.setenv("FINHOUSE_DBT_THREADS", "zero")
    monkeypatch.setenv("FINHOUSE_LOANS_SCHEDULE", "hourly")
    monkeypatch.setenv("FINHOUSE_RETRY_DELAY_SECONDS", "5")
    loaded = settings.load()  # never raises itself
    assert loaded.retry_delay_seconds == 5.0
    assert loaded.dbt_target == "dev"
    with pytest.raises(ConfigError, match=r"^FINHOUSE_DBT_THREADS must be a whole number"):
        _ = loaded.dbt_threads
    # the tables are read together (finhouse.tables builds them all at import)
    with pytest.raises(ConfigError, match=r"^FINHOUSE_LOANS_SCHEDULE must be a cron"):
        loaded.table("users")
    assert [p.split(" ", 1)[0] for p in loaded.problems] == [
        "FINHOUSE_DBT_THREADS",
        "FINHOUSE_LOANS_SCHEDULE",
    ]


def test_values_come_from_the_environment_as_text() -> None:
    with pytest.raises(ValidationError):
        settings.FinhouseSettings(dbt_threads=0)  # type: ignore[arg-type]
    assert settings.FinhouseSettings(dbt_threads="3").dbt_threads == 3  # type: ignore[arg-type]


def test_other_variables_read_with_the_settings_types_name_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port = Annotated[int, settings.port()]
    monkeypatch.setenv("X_SECONDS", "0")
    with pytest.raises(ConfigError, match=r"^X_SECONDS must be a number of seconds at least 1"):
        settings.read_variable("X_SECONDS", Annotated[float, settings.seconds(minimum=1)], 5.0)
    monkeypatch.setenv("X_PORT", "80")
    assert settings.read_variable("X_PORT", Annotated[int, settings.port(minimum=1)], 8080) == 80
    with pytest.raises(ConfigError, match=r"^X_PORT must be a port number from 1024 to 65535"):
        settings.read_variable("X_PORT", port, 8080)
    monkeypatch.setenv("X_PORT", " ")
    assert settings.read_variable("X_PORT", port, 8080) == 8080


def test_a_snowflake_script_variable_must_be_one_the_scripts_use(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FINHOUSE_SNOWFLAKE_VAR_LOADIN_WAREHOUSE_SIZE", "XLARGE")
    with pytest.raises(ConfigError, match=r"&\{loadin_warehouse_size\}, which no Snowflake"):
        _ = settings.load().snowflake_vars


def test_settings_table_names_are_the_tables() -> None:
    from finhouse.tables import TABLES  # noqa: PLC0415

    assert tuple(TABLES) == settings.TABLE_NAMES


# ------------------------------------------------------------------------------ validate_all
def test_validate_all_passes_a_good_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings.validate_all() == []
    for spec in checked:
        if spec.kind not in ("choice", "directory", "file"):
            monkeypatch.setenv(variable_for(spec), GOOD[spec.kind])
    monkeypatch.setenv("FINHOUSE_DBT_TARGET", "prod")
    assert settings.validate_all() == []


def test_validate_all_names_every_bad_value_on_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINHOUSE_DBT_THREADS", "zero")
    monkeypatch.setenv("FINHOUSE_PAYMENTS_SCHEDULE", "hourly")
    monkeypatch.setenv("FINHOUSE_WAREHOUSE_DSN", f"postgresql://loader:{SECRET}@db.example")
    monkeypatch.setenv("FINHOUSE_ALERT_WEBHOOK_URL", f"ftp://hooks.example/{SECRET}")
    monkeypatch.setenv("FINHOUSE_USER_SCHEDULE", "bad but unknown: only a warning")
    with pytest.raises(ConfigError) as caught:
        settings.validate_all()
    message = str(caught.value)
    assert "\n" not in message
    assert SECRET not in message
    names = [
        "FINHOUSE_ALERT_WEBHOOK_URL",
        "FINHOUSE_DBT_THREADS",
        "FINHOUSE_PAYMENTS_SCHEDULE",
        "FINHOUSE_WAREHOUSE_DSN",
    ]
    for name in names:
        assert f"{name} " in message
    # by variable, each whole (a message may hold "; " itself)
    assert [message.index(f"{name} ") for name in names] == sorted(
        message.index(f"{name} ") for name in names
    )
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


# ------------------------------------------------------------------------------ coverage
#: FINHOUSE_ words in the repository that are no setting: Snowflake's schema and users
NOT_SETTINGS = {"FINHOUSE_META", "FINHOUSE_LOADER", "FINHOUSE_TRANSFORMER", "FINHOUSE_REPORTER"}
#: a read of a FINHOUSE_ variable around the settings: os.environ[…], .get(…), getenv(…), a
#: click option's envvar=, or a scan of the environment for a prefix
DIRECT_READ = re.compile(
    r"""(?:environ(?:\.get)?\s*[(\[]|getenv\s*\(|envvar\s*=|startswith\()\s*f?["'](FINHOUSE_[A-Za-z0-9_{}.()]*)"""
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


def test_every_finhouse_variable_the_repository_mentions_is_a_setting() -> None:
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
    assert not unknown, f"not in finhouse.settings.FinhouseSettings: {unknown}"


def test_modules_read_finhouse_variables_through_settings() -> None:
    sources = [
        *(REPO / "airflow" / "plugins" / "finhouse").rglob("*.py"),
        *(REPO / "local" / "finhouse_local").rglob("*.py"),
        *(REPO / "airflow" / "dags").glob("*.py"),
        *(REPO / "superset").glob("*.py"),
    ]
    for path in sources:
        if path == REPO / "airflow" / "plugins" / "finhouse" / "settings.py":
            continue
        names = set(DIRECT_READ.findall(path.read_text()))
        assert not names, f"{path.relative_to(REPO)} reads {names} itself"


# ------------------------------------------------------------------------------ docs
def test_docs_settings_md_is_what_the_settings_generate() -> None:
    committed = settings.DOCS.read_text() if settings.DOCS.exists() else ""
    assert committed == settings.markdown(), (
        "docs/settings.md is stale: python -m finhouse.settings > docs/settings.md"
    )


def test_the_docs_list_every_setting_and_show_no_secret_default() -> None:
    text = settings.markdown()
    for spec in SPECS:
        assert f"| `{spec.name}` |" in text, spec.name
        if spec.secret:
            assert spec.default == "", spec.name


def test_python_m_finhouse_settings_prints_the_docs() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "finhouse.settings"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == settings.markdown()


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
