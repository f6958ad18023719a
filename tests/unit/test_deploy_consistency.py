"""The deployment files agree with each other and with the code.

docker-compose.yml and its development override docker-compose.dev.yml, the Astro project in
airflow/ (Dockerfile, requirements, settings, compose override), the pins of requirements/,
.env.example, the docs that list the secrets, the PostgreSQL init scripts and the connection
ids and environment variables the finhouse code reads. Files are parsed (PyYAML, regular
expressions), nothing is built or started; `docker compose config` runs only when a compose
client is installed.
"""

from __future__ import annotations

import ast
import fnmatch
import functools
import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from finhouse import settings
from finhouse_local import cluster
from finhouse_local.cluster import ROLES, WAREHOUSE_ROLES

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
AIRFLOW = REPO / "airflow"
COMPOSE_FILE = REPO / "docker-compose.yml"
DEV_COMPOSE_FILE = REPO / "docker-compose.dev.yml"
ASTRO_OVERRIDE = AIRFLOW / "docker-compose.override.yml"
#: where docs/orchestration.md lists every variable compose requires ("Secrets")
SECRETS_DOC = REPO / "docs" / "orchestration.md"
#: the dbt project the image carries: the one the Makefile parses (DBT_DIR)
DBT_PROJECT = REPO / "dbt" / "finhouse"
ENV_EXAMPLE = REPO / ".env.example"
DOCKERFILE = AIRFLOW / "Dockerfile"
#: where the Astro Runtime image puts the build context (its ONBUILD `COPY . .`)
IMAGE_HOME = "/usr/local/airflow"

#: the services that run Airflow itself; each must run the image built from airflow/Dockerfile
AIRFLOW_SERVICES = {
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
}
#: connections the code uses only in production (FINHOUSE_DBT_TARGET=prod): no local Snowflake
#: exists, so neither airflow_settings.yaml nor docker-compose.yml defines them.
PROD_ONLY_CONNECTIONS = {"finhouse_snowflake"}
#: the role each local connection logs in as (docs/architecture.md, role matrix; least privilege)
CONNECTION_ROLES = {
    "finhouse_oltp": ROLES.extract,
    "finhouse_warehouse": "loader",
    "finhouse_dbt": "transformer",
    "finhouse_export": "reporter",
}
#: the maintenance DAG's way to Airflow's own metadata database, not a pipeline role
METADATA_CONNECTION = "finhouse_airflow_db"
#: variables docker compose itself reads (not interpolated into docker-compose.yml)
COMPOSE_OWN_VARIABLES = {"COMPOSE_PROFILES"}
#: the one-shot service of the image, which runs no finhouse code (no development mounts)
ONE_SHOT = "airflow-init"
#: the named build context that carries the dbt project into the image
DBT_CONTEXT = "finhouse-dbt"

VARIABLE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")
BARE_VARIABLE = re.compile(r"(?<!\$)\$([A-Za-z_][A-Za-z0-9_]*)")


# ---------------------------------------------------------------------------- readers
@functools.cache
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def services() -> dict[str, dict[str, Any]]:
    return compose()["services"]


def environment(service: str) -> dict[str, str]:
    env = services()[service].get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


@functools.cache
def env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, sep, value = line.partition("=")
            assert sep, f".env.example: not NAME=value: {line!r}"
            values[name.strip()] = value.strip()
    return values


def interpolate(text: str, values: dict[str, str]) -> str:
    """docker compose's ${VAR}, ${VAR:-default} and ${VAR:?error}, and $$ for $."""

    def substitute(match: re.Match[str]) -> str:
        name, operator, argument = match.group(1), match.group(2), match.group(3)
        value = values.get(name)
        if operator in (":-", "-") and not value:
            return argument
        if operator in (":?", "?") and not value:
            raise AssertionError(f"{name} is required ({argument}) but has no value")
        return value or ""

    return VARIABLE.sub(substitute, text).replace("$$", "$")


def example_values() -> dict[str, str]:
    """.env.example, with the secrets it leaves empty on purpose filled in."""
    return {name: value or f"test-{name.lower()}" for name, value in env_example().items()}


def pins(path: Path) -> dict[str, str]:
    """``name==version`` lines of a requirements file, by canonical name (extras dropped)."""
    found: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;]+)", line)
        assert match, f"{path.relative_to(REPO)}: not an exact pin: {line!r}"
        found[canonicalize_name(match.group(1))] = match.group(3)
    return found


@functools.cache
def dockerfile() -> str:
    return DOCKERFILE.read_text()


def instructions() -> str:
    """The Dockerfile's instructions: comments dropped, continued lines joined."""
    lines = [line for line in dockerfile().splitlines() if not line.lstrip().startswith("#")]
    return "\n".join(lines).replace("\\\n", " ")


def dockerfile_env() -> dict[str, str]:
    """The ENV instructions' NAME=value pairs (continued lines joined)."""
    text = dockerfile().replace("\\\n", " ")
    values: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("ENV "):
            values |= dict(re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=(\S+)", line[4:]))
    return values


def code_files() -> list[Path]:
    return sorted((AIRFLOW / "plugins" / "finhouse").rglob("*.py")) + sorted(
        (AIRFLOW / "dags").glob("*.py")
    )


@functools.cache
def code_text() -> str:
    return "\n".join(path.read_text() for path in code_files())


def code_connection_ids() -> set[str]:
    text = code_text()
    return set(re.findall(r"""_CONN_ID\s*=\s*["']([^"']+)["']""", text)) | set(
        re.findall(r"""\bconn_id\s*=\s*["']([^"']+)["']""", text)
    )


def settings_connections() -> dict[str, dict[str, Any]]:
    settings = yaml.safe_load((AIRFLOW / "airflow_settings.yaml").read_text())
    return {conn["conn_id"]: conn for conn in settings["airflow"]["connections"]}


def compose_connections(service: str = "airflow-scheduler") -> dict[str, str]:
    values = example_values()
    return {
        key.removeprefix("AIRFLOW_CONN_").lower(): interpolate(value, values)
        for key, value in environment(service).items()
        if key.startswith("AIRFLOW_CONN_")
    }


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore excludes ``path`` or a folder above it (``!`` re-includes).
    Patterns are relative to the context root; ``**/NAME`` matches NAME at any depth."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for raw in patterns:
        pattern = raw.removeprefix("!").strip("/")
        if pattern.startswith("**/"):
            hit = any(fnmatch.fnmatchcase(part, pattern[3:]) for part in parts)
        else:
            hit = any(fnmatch.fnmatchcase(prefix, pattern) for prefix in prefixes)
        if hit:
            excluded = not raw.startswith("!")
    return excluded


# ---------------------------------------------------------------------------- the image
def test_every_airflow_service_runs_the_image_built_from_airflow_dockerfile() -> None:
    assert set(services()) >= AIRFLOW_SERVICES, "an Airflow service is missing from compose"
    runs_airflow = {
        name
        for name, service in services().items()
        if re.search(r"(^|[\s,\[])airflow\s", " ".join(map(str, service.get("command") or [])))
    }
    assert runs_airflow <= AIRFLOW_SERVICES, f"services running airflow: {runs_airflow}"
    images = set()
    for name in sorted(AIRFLOW_SERVICES | {"simulator"}):
        service = services()[name]
        build = service.get("build")
        assert isinstance(build, dict), f"{name} is not built from airflow/Dockerfile"
        context = (REPO / build["context"]).resolve()
        assert context == AIRFLOW, f"{name} builds from {build['context']}, not ./airflow"
        assert (context / build.get("dockerfile", "Dockerfile")).resolve() == DOCKERFILE
        images.add(service.get("image"))
    assert len(images) == 1, f"the Airflow services name different images: {images}"


def test_runtime_tag_is_the_airflow_version_of_the_pins() -> None:
    froms = re.findall(r"^FROM\s+(\S+)", dockerfile(), flags=re.MULTILINE)
    assert froms, "no FROM in airflow/Dockerfile"
    # The Astro CLI reads the runtime version from the first FROM: it must be the runtime.
    image, _, tag = froms[0].rpartition(":")
    assert image == "astrocrpublic.azurecr.io/runtime", f"not an Astro Runtime 3 image: {image}"
    match = re.fullmatch(r"(\d+\.\d+-\d+)(?:-python-(\d+\.\d+))?", tag)
    assert match, f"unexpected runtime tag {tag!r}"
    runtime, python = match.groups()

    table = dict(re.findall(r"^#\s+runtime\s+(\S+)\s+=\s+Airflow\s+(\S+)", dockerfile(), re.M))
    assert runtime in table, f"runtime {runtime} is missing from the Dockerfile's version table"
    airflow_pin = pins(REPO / "requirements" / "airflow.txt")["apache-airflow"]
    assert table[runtime] == airflow_pin, (
        f"runtime {runtime} is Airflow {table[runtime]}; requirements/airflow.txt: {airflow_pin}"
    )
    assert runtime.split("-")[0] == ".".join(airflow_pin.split(".")[:2])

    labels = dict(re.findall(r'(io\.finhouse\.[a-z-]+)="([^"]*)"', dockerfile()))
    assert labels.get("io.finhouse.airflow-version") == airflow_pin
    assert labels.get("io.finhouse.astro-runtime") == runtime

    # Runtime 3.3 defaults to Python 3.14: the tag must name a Python the project supports.
    assert python, "pin the runtime's Python flavour (-python-X.Y)"
    project = (REPO / "pyproject.toml").read_text()
    requires = re.search(r'^requires-python\s*=\s*"([^"]+)"', project, re.M)
    assert requires
    assert SpecifierSet(requires.group(1)).contains(f"{python}.0"), (
        f"Python {python} is outside requires-python {requires.group(1)}"
    )


def test_airflow_requirements_are_the_pins_of_the_freeze() -> None:
    freeze = pins(REPO / "requirements" / "airflow.txt")
    image = pins(AIRFLOW / "requirements.txt")
    wanted = {
        "apache-airflow-providers-postgres",
        "apache-airflow-providers-snowflake",
        "astronomer-cosmos",
        "psycopg",
        "pydantic-settings",
        "faker",
        "click",
        "rich",
        "pyarrow",
        "fsspec",
        "openpyxl",
    }
    assert wanted <= set(image), f"missing from airflow/requirements.txt: {wanted - set(image)}"
    assert not {"apache-airflow", "apache-airflow-core", "apache-airflow-task-sdk"} & set(image), (
        "the Astro Runtime image provides Airflow: do not pin it in airflow/requirements.txt"
    )
    differ = {name: (version, freeze.get(name)) for name, version in image.items()}
    differ = {name: pair for name, pair in differ.items() if pair[0] != pair[1]}
    assert not differ, f"airflow/requirements.txt vs requirements/airflow.txt: {differ}"


def test_dbt_venv_of_the_image_has_the_pins_of_requirements_dbt() -> None:
    assert pins(AIRFLOW / "requirements-dbt.txt") == pins(REPO / "requirements" / "dbt.txt")
    env = dockerfile_env()
    venv = re.search(r"python -m venv (\S+)", dockerfile())
    assert venv, "the Dockerfile creates no venv for dbt"
    install = re.search(rf"{re.escape(venv.group(1))}/bin/pip install .*-r (\S+)", dockerfile())
    assert install, "the dbt venv is not installed from a requirements file"
    assert install.group(1) == f"{IMAGE_HOME}/requirements-dbt.txt"
    assert env["FINHOUSE_DBT_EXECUTABLE"] == f"{venv.group(1)}/bin/dbt"


def airflow_image_services() -> dict[str, dict[str, Any]]:
    """The services built from airflow/Dockerfile (the Airflow services and the simulator)."""
    return {
        name: service
        for name, service in services().items()
        if (service.get("build") or {}).get("context") == "./airflow"
    }


def dbt_source_paths() -> list[str]:
    """The dbt project's source folders (dbt_project.yml's *-paths) that exist."""
    project = yaml.safe_load((DBT_PROJECT / "dbt_project.yml").read_text())
    keys = ("model-paths", "macro-paths", "seed-paths", "test-paths", "snapshot-paths")
    folders = [folder for key in keys for folder in project.get(key, [])]
    folders += project.get("analysis-paths", [])
    return [f for f in folders if (DBT_PROJECT / f).is_dir()]


def test_dockerfile_builds_the_manifest_where_the_dbt_dag_reads_it() -> None:
    env = dockerfile_env()
    assert env.get("AIRFLOW__COSMOS__ENABLE_TELEMETRY") == "False"
    assert env.get("AIRFLOW__COSMOS__CACHE_DIR")
    assert env.get("DO_NOT_TRACK") == "1"
    assert env.get("DBT_SEND_ANONYMOUS_USAGE_STATS") == "False"
    project = env["FINHOUSE_DBT_PROJECT_DIR"]
    # `astro dev` bind-mounts include/ over the image: a manifest built there would vanish.
    assert not project.startswith(f"{IMAGE_HOME}/include"), project
    run = dockerfile().replace("\\\n", " ")
    assert re.search(rf"cd {re.escape(project)}\s+&&.*dbt parse", run), (
        f"dbt parse does not run in FINHOUSE_DBT_PROJECT_DIR ({project})"
    )


def test_dockerfile_takes_the_dbt_project_from_its_build_context() -> None:
    """No copy step before a build: the dbt project reaches the image through a build
    context of its own, the working tree's dbt/finhouse, not through a copy in airflow/."""
    project = dockerfile_env()["FINHOUSE_DBT_PROJECT_DIR"]
    copies = re.findall(r"^COPY\s+(.*)$", dockerfile(), flags=re.MULTILINE)
    into_project = [c for c in copies if c.split()[-1].rstrip("/") == project]
    assert len(into_project) == 1, f"one COPY into {project} expected: {copies}"
    context = re.search(r"--from=(\S+)", into_project[0])
    assert context, f"the dbt project is not copied from a named build context: {into_project}"
    assert context.group(1) == DBT_CONTEXT
    assert "--chown=astro" in into_project[0], "dbt parse must be able to write target/"
    assert not re.search(r"\binclude/", instructions()), (
        "the Dockerfile still reads a copy of the dbt project from include/"
    )
    # A named context needs the BuildKit Dockerfile frontend 1.4 or later: ask for it.
    assert dockerfile().startswith("# syntax=docker/dockerfile:1\n")
    # Every build of the image, in docker-compose.yml, passes that context: the dbt project
    # the Makefile parses (`make install`), inside the repository.
    assert re.search(r"^DBT_DIR\s*:=\s*dbt/finhouse$", (REPO / "Makefile").read_text(), re.M)
    for name, service in airflow_image_services().items():
        contexts = service["build"].get("additional_contexts") or {}
        if isinstance(contexts, list):
            contexts = dict(item.split("=", 1) for item in contexts)
        assert DBT_CONTEXT in contexts, f"{name}: no {DBT_CONTEXT} build context"
        path = (REPO / contexts[DBT_CONTEXT]).resolve()
        assert path == DBT_PROJECT.resolve(), f"{name}: {path}"
        assert path.is_relative_to(REPO)
        assert (path / "dbt_project.yml").is_file()


def test_no_copy_step_is_left() -> None:
    """The sync script is gone: nothing may tell anyone to run it."""
    assert not (AIRFLOW / "scripts" / "sync-dbt.sh").exists()
    skip_dirs = {".git", "node_modules", "target", "logs", "__pycache__", "dbt_packages"}
    mentions = []
    for folder, dirs, files in os.walk(REPO):
        dirs[:] = [
            d
            for d in dirs
            if d not in skip_dirs and (not d.startswith(".") or d in {".ci", ".github", ".astro"})
        ]
        for file in files:
            path = Path(folder) / file
            # the changelog records the removal; this test names the script on purpose
            if path in (Path(__file__), REPO / "CHANGELOG.md") or path.suffix not in {
                "",
                ".md",
                ".yml",
                ".yaml",
                ".sh",
                ".mk",
                ".py",
                ".txt",
                ".example",
                ".toml",
            }:
                continue
            try:
                text = path.read_text()
            except (UnicodeDecodeError, OSError):
                continue
            if "sync-dbt" in text:
                mentions.append(str(path.relative_to(REPO)))
    assert not mentions, f"these still mention the retired sync-dbt.sh: {mentions}"


def test_dockerignore_keeps_what_the_build_needs() -> None:
    patterns = [
        line.strip()
        for line in (AIRFLOW / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    needed = [
        "requirements.txt",
        "requirements-dbt.txt",
        "packages.txt",
        "dags/ingestion.py",
        "plugins/finhouse/config.py",
        ".astro/test_dag_integrity_default.py",
    ]
    assert not [path for path in needed if dockerignored(path, patterns)]
    # a copy of the dbt project left in include/ by older checkouts never enters the image
    for left_out in ("include/dbt/finhouse/dbt_project.yml", ".env", "logs/x.log"):
        assert dockerignored(left_out, patterns), f"{left_out} is sent to the build"


def test_astro_project_files() -> None:
    project = yaml.safe_load((AIRFLOW / ".astro" / "config.yaml").read_text())
    assert project["project"]["name"]
    assert (AIRFLOW / "packages.txt").exists()
    integrity = (AIRFLOW / ".astro" / "test_dag_integrity_default.py").read_text()
    assert "dag_integrity_exceptions.txt" in integrity
    assert (AIRFLOW / ".astro" / "dag_integrity_exceptions.txt").exists()


# ---------------------------------------------------------------------------- connections
def test_connections_are_the_ones_the_dag_code_uses() -> None:
    used = code_connection_ids()
    assert used >= PROD_ONLY_CONNECTIONS, "a production-only connection is no longer used"
    local = used - PROD_ONLY_CONNECTIONS
    assert set(settings_connections()) == local, "airflow_settings.yaml vs the code"
    assert set(CONNECTION_ROLES) == local - {METADATA_CONNECTION}
    for name in AIRFLOW_SERVICES:
        assert set(compose_connections(name)) == local, f"{name}: AIRFLOW_CONN_* vs the code"


@pytest.mark.parametrize("conn_id", sorted(CONNECTION_ROLES))
def test_settings_and_compose_define_a_connection_alike(conn_id: str) -> None:
    uri = urlsplit(compose_connections()[conn_id])
    conn = settings_connections()[conn_id]
    assert uri.scheme == conn["conn_type"] == "postgres"
    assert uri.hostname == conn["conn_host"]
    assert (uri.port or 5432) == int(conn["conn_port"])
    assert uri.path.strip("/") == conn["conn_schema"]
    assert uri.username == conn["conn_login"] == CONNECTION_ROLES[conn_id]
    assert conn["conn_host"] in services(), f"{conn_id}: no compose service {conn['conn_host']}"
    # The settings' placeholder passwords are .env.example's, so an unchanged copy works.
    assert uri.password == conn["conn_password"]


def test_the_metadata_connection_is_the_metadata_database() -> None:
    """finhouse_maintenance runs `airflow db clean` on the URL in this connection's extra:
    in compose, the URL Airflow itself uses."""
    for name in AIRFLOW_SERVICES:
        conn = json.loads(compose_connections(name)[METADATA_CONNECTION])
        database = interpolate(
            environment(name)["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"], example_values()
        )
        assert conn["extra"]["sql_alchemy_conn"] == database, name
    extra = settings_connections()[METADATA_CONNECTION]["conn_extra"]
    assert extra["sql_alchemy_conn"].startswith("postgresql+psycopg2://")


def test_environment_variables_are_ones_the_code_reads() -> None:
    # what finhouse.settings declares for operators (not the tests' or retired ones)
    read = {
        name
        for name in settings.known_names()
        if (spec := settings.lookup(name)) is not None and spec.scope == "operator"
    }
    passed = {key for name in services() for key in environment(name) if key.startswith("FINHOUSE")}
    passed |= {key for key in dockerfile_env() if key.startswith("FINHOUSE")}
    assert passed, "no FINHOUSE_* variable reaches the containers"
    assert passed <= read, f"set but read by no code: {passed - read}"
    dsn = interpolate(environment("simulator")["FINHOUSE_OLTP_DSN"], example_values())
    assert urlsplit(dsn).scheme in ("postgresql", "postgres")
    assert urlsplit(dsn).username == ROLES.app


# ---------------------------------------------------------------------------- compose
def test_airflow_port_is_the_one_the_readmes_give() -> None:
    ports = services()["airflow-apiserver"]["ports"]
    assert len(ports) == 1
    host_port = interpolate(str(ports[0]), env_example()).rsplit(":", 2)[-2:]
    assert host_port[1] == "8080", "the API server listens on 8080 in its container"
    for readme in (AIRFLOW / "README.md", COMPOSE_FILE):
        assert f"http://localhost:{host_port[0]}" in readme.read_text(), readme
    base_url = environment("airflow-apiserver")["AIRFLOW__API__BASE_URL"]
    base_url = interpolate(base_url, env_example())
    assert base_url == f"http://localhost:{host_port[0]}"
    astro = yaml.safe_load((AIRFLOW / ".astro" / "config.yaml").read_text())
    astro_port = str((astro.get("webserver") or {}).get("port", 8080))
    assert f"http://localhost:{astro_port}" in (AIRFLOW / "README.md").read_text()


def test_celery_profile_adds_redis_and_a_worker() -> None:
    in_profile = {name for name, s in services().items() if "celery" in (s.get("profiles") or [])}
    assert "redis" in in_profile
    commands = {name: str(services()[name].get("command")) for name in in_profile}
    workers = [name for name, command in commands.items() if "airflow celery worker" in command]
    assert workers, "the celery profile has no airflow celery worker"
    executors = {environment(name)["AIRFLOW__CORE__EXECUTOR"] for name in AIRFLOW_SERVICES}
    assert len(executors) == 1, f"the Airflow services disagree on the executor: {executors}"
    executor = executors.pop()
    assert interpolate(executor, {}) == "LocalExecutor"
    assert interpolate(executor, {"AIRFLOW_EXECUTOR": "CeleryExecutor"}) == "CeleryExecutor"
    for name, service in services().items():
        if name in in_profile:
            continue
        for dependency, spec in (service.get("depends_on") or {}).items():
            if dependency in in_profile:
                assert spec.get("required") is False, f"{name} needs {dependency} of a profile"


def test_every_compose_variable_is_in_env_example() -> None:
    text = COMPOSE_FILE.read_text()
    used = {m.group(1) for m in VARIABLE.finditer(text)} | set(BARE_VARIABLE.findall(text))
    documented = set(env_example())
    assert used <= documented, f"missing from .env.example: {used - documented}"
    unused = documented - used - COMPOSE_OWN_VARIABLES
    assert not unused, f"in .env.example but not used by docker-compose.yml: {unused}"
    for match in VARIABLE.finditer(text):
        if re.search(r"PASSWORD|SECRET|FERNET", match.group(1)):
            assert match.group(2) == ":?", f"{match.group(0)}: a secret needs ${{VAR:?message}}"


def required_variables(text: str) -> set[str]:
    """The ${VAR:?message} names: compose stops when one of them has no value."""
    return {m.group(1) for m in VARIABLE.finditer(text) if m.group(2) in (":?", "?")}


def documented_secrets() -> dict[str, str]:
    """docs/orchestration.md's Secrets table: variable -> placeholder | empty: generate."""
    rows = re.findall(
        r"^\| `([A-Z][A-Z0-9_]*)` \|[^\n]*\| (placeholder|empty: generate) \|$",
        SECRETS_DOC.read_text(),
        flags=re.MULTILINE,
    )
    return dict(rows)


#: how the docs spell a count of secrets
NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def test_every_required_compose_variable_is_in_env_example_and_the_docs() -> None:
    required = required_variables(COMPOSE_FILE.read_text())
    assert required, "docker-compose.yml requires no variable"
    example = env_example()
    assert required <= set(example), f"missing from .env.example: {required - set(example)}"
    # .env.example says which ones compose requires: every *_PASSWORD, *_SECRET*, *_KEY
    secret_like = {name for name in example if re.search(r"_PASSWORD$|_SECRET|_KEY$", name)}
    assert secret_like == required, f".env.example's rule vs compose: {secret_like ^ required}"

    docs = documented_secrets()
    assert set(docs) == required, f"{SECRETS_DOC.name} Secrets vs compose: {set(docs) ^ required}"
    empty = {name for name in required if not example[name]}
    assert {name for name, kind in docs.items() if kind == "empty: generate"} == empty
    # Each place that tells a newcomer what to fill in names the empty ones and their number.
    count = NUMBER_WORDS[len(empty)]
    for path in (ENV_EXAMPLE, AIRFLOW / "README.md"):
        text = " ".join(path.read_text().replace("#", " ").split())
        assert not (missing := {name for name in empty if name not in text}), (path, missing)
        assert re.search(rf"\b{count}\b", text, flags=re.IGNORECASE), (path, count)
    for path in (SECRETS_DOC, COMPOSE_FILE):
        claims = re.findall(r"\b(\w+) (?:are |its )?(?:left )?empty", path.read_text(), re.I)
        numbers = [w.lower() for w in claims if w.lower() in NUMBER_WORDS]
        assert numbers, f"{path.name} does not say how many secrets are empty"
        assert set(numbers) == {count}, f"{path.name} says {numbers}, .env.example has {count}"


def mounts(service: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """A service's bind mounts (short syntax): container path -> (host path, mode)."""
    found = {}
    for volume in service.get("volumes") or []:
        source, target, *mode = str(volume).split(":")
        if source.startswith((".", "/")):
            found[target] = (source, mode[0] if mode else "rw")
    return found


def expected_image_path(source: Path) -> str:
    """Where the image holds a file of the working tree (the build copies airflow/ to
    IMAGE_HOME and the dbt project to FINHOUSE_DBT_PROJECT_DIR), or '' for neither."""
    project = DBT_PROJECT.resolve()
    if source.is_relative_to(project):
        inside = source.relative_to(project).as_posix()
        return f"{dockerfile_env()['FINHOUSE_DBT_PROJECT_DIR']}/{inside}"
    if source.is_relative_to(AIRFLOW):
        return f"{IMAGE_HOME}/{source.relative_to(AIRFLOW).as_posix()}"
    return ""


@pytest.mark.parametrize(
    ("override", "base_dir"), [(DEV_COMPOSE_FILE, REPO), (ASTRO_OVERRIDE, AIRFLOW)]
)
def test_development_mounts_exist_and_are_where_the_image_has_them(
    override: Path, base_dir: Path
) -> None:
    services_ = yaml.safe_load(override.read_text())["services"]
    assert services_, f"{override.name} defines no service"
    for name, service in services_.items():
        for target, (source, mode) in mounts(service).items():
            path = (base_dir / source).resolve()
            assert path.exists(), f"{override.name} {name}: {source} does not exist"
            assert path.is_relative_to(REPO), f"{override.name} {name}: {source} is outside"
            assert expected_image_path(path) == target, (
                f"{override.name} {name}: {source} is mounted on {target}, the image has it at "
                f"{expected_image_path(path) or 'no path'}"
            )
            assert mode == "ro", f"{override.name} {name}: mount {source} read-only"
    # the dbt mounts cover every source folder of the dbt project, and nothing else of it
    # (target/ holds the image's manifest, which a host folder would hide)
    dbt_targets = {
        target.removeprefix(dockerfile_env()["FINHOUSE_DBT_PROJECT_DIR"] + "/")
        for service in services_.values()
        for target in mounts(service)
        if target.startswith(dockerfile_env()["FINHOUSE_DBT_PROJECT_DIR"] + "/")
    }
    assert dbt_targets == set(dbt_source_paths()), (override.name, dbt_targets)


def test_dev_override_mounts_the_code_into_every_service_that_runs_it() -> None:
    override = yaml.safe_load(DEV_COMPOSE_FILE.read_text())["services"]
    assert set(override) <= set(services()), "the override names a service compose lacks"
    runs_code = set(airflow_image_services()) - {ONE_SHOT}
    assert set(override) == runs_code, f"dev mounts vs the image's services: {set(override)}"
    wanted = {f"{IMAGE_HOME}/dags", f"{IMAGE_HOME}/plugins"} | {
        f"{dockerfile_env()['FINHOUSE_DBT_PROJECT_DIR']}/{folder}" for folder in dbt_source_paths()
    }
    for name, service in override.items():
        assert set(mounts(service)) == wanted, f"{name}: {set(mounts(service)) ^ wanted}"
        # nothing else overridden: the development stack is the stack, plus the mounts
        assert set(service) == {"volumes"}, f"{name} overrides {set(service) - {'volumes'}}"
        # a mount must not hide a named volume's path of docker-compose.yml
        base = {str(v).split(":")[1] for v in services()[name].get("volumes") or []}
        assert not base & set(mounts(service)), name


def test_astro_override_joins_the_compose_network() -> None:
    override = yaml.safe_load(ASTRO_OVERRIDE.read_text())
    network = compose()["networks"]["default"]["name"]
    assert override["networks"][network] == {"name": network, "external": True}
    for name, service in override["services"].items():
        assert network in service["networks"], name


def test_healthchecks_and_dependency_conditions() -> None:
    one_shot = {name for name, s in services().items() if s.get("restart") == "no"}
    assert one_shot == {"airflow-init"}
    for name, service in services().items():
        if name not in one_shot:
            assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        depends = service.get("depends_on") or {}
        assert isinstance(depends, dict), f"{name}: depends_on without conditions"
        for dependency, spec in depends.items():
            wanted = (
                "service_completed_successfully" if dependency in one_shot else "service_healthy"
            )
            assert spec.get("condition") == wanted, f"{name} -> {dependency}"
    for name in AIRFLOW_SERVICES - one_shot:
        assert services()[name]["depends_on"]["airflow-init"]
    assert set(compose().get("volumes") or {}), "no named volumes"


def test_database_init_scripts_create_the_role_matrix() -> None:
    init = REPO / "docker" / "postgres-init"
    expected_roles = {
        "oltp": {ROLES.app, ROLES.extract},
        "warehouse": set(WAREHOUSE_ROLES),
    }
    for database, roles in expected_roles.items():
        service = f"{database}-db"
        mounts = [str(volume) for volume in services()[service]["volumes"]]
        assert f"./docker/postgres-init/{database}:/docker-entrypoint-initdb.d:ro" in mounts
        scripts = "\n".join(path.read_text() for path in sorted((init / database).glob("*.sh")))
        assert set(re.findall(r"create role (\w+) login", scripts)) == roles
        assert re.search(rf"create database {database}\b", scripts)
        required = set(re.findall(r"\$\{(\w+):\?", scripts))
        assert required <= set(environment(service)), f"{service} lacks {required}"
    warehouse = "\n".join(p.read_text() for p in (init / "warehouse").glob("*.sh"))
    schemas = dict(re.findall(r"create schema (\w+) authorization (\w+)", warehouse))
    assert schemas == cluster.WAREHOUSE_SCHEMAS
    oltp = "\n".join(p.read_text() for p in (init / "oltp").glob("*.sh"))
    assert f"create database oltp owner {ROLES.app}" in oltp
    assert f"grant pg_monitor to {ROLES.extract}" in oltp
    for database in ("oltp", "warehouse"):  # closed to PUBLIC, as cluster.py closes them
        script = "\n".join(p.read_text() for p in (init / database).glob("*.sh"))
        for closed in (database, "postgres", "template1"):
            assert f"revoke all on database {closed} from public;" in script, (database, closed)


def test_the_superset_image_serves_with_the_request_limits_of_make_up() -> None:
    tree = ast.parse((REPO / "superset" / "run.py").read_text())
    (limits,) = [
        ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign)
        and any(getattr(t, "id", None) == "REQUEST_LIMITS" for t in node.targets)
    ]
    (cmd,) = [
        line
        for line in (REPO / "superset" / "Dockerfile").read_text().splitlines()
        if line.startswith("CMD ")
    ]
    served = shlex.split(json.loads(cmd.removeprefix("CMD "))[-1])
    assert served[served.index("exec") + 1] == "gunicorn"
    for option, value in limits.items():
        assert served[served.index(option) + 1] == value, option


# ---------------------------------------------------------------------------- docker compose
def compose_command() -> list[str] | None:
    def answers(command: list[str]) -> bool:
        try:
            out = subprocess.run(
                [*command, "version"], capture_output=True, text=True, timeout=30, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            return False
        return out.returncode == 0 and "version v2" in out.stdout.lower()

    for command in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(command[0]) and answers(command):
            return command
    return None


def test_docker_compose_config_accepts_the_file(tmp_path: Path) -> None:
    command = compose_command()
    if command is None:
        pytest.skip("no Docker Compose v2 client (`docker compose` or `docker-compose`) here")
    env_file = tmp_path / "test.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in example_values().items()))
    clean = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)}

    def config(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*command, "-f", str(COMPOSE_FILE), *args, "config", "-q"],
            cwd=REPO,
            env=clean,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    for profile in ([], ["--profile", "celery"]):
        out = config("--env-file", str(env_file), *profile)
        assert out.returncode == 0, out.stderr
        out = config("-f", str(DEV_COMPOSE_FILE), "--env-file", str(env_file), *profile)
        assert out.returncode == 0, out.stderr
    # .env.example as it is leaves the Airflow secrets empty: compose must refuse, naming one.
    out = config("--env-file", str(ENV_EXAMPLE))
    assert out.returncode != 0
    assert "AIRFLOW_" in out.stderr
