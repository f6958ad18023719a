"""The contributor guardrails hold: CI lints before it tests and fails on a lint error, the
pre-commit hooks run `make lint`'s commands with the project's pinned tools, and the GitHub
workflow runs .ci/run.

The lint test is real: it runs .ci/run on a copy of what `make lint` reads, with one unused
import added, and sees the run fail at ruff. `make` is a recording shim there, which runs the
real `make lint` but refuses `make test`, so the test takes a second, never starts the suite,
and sees the order of the targets. The tools are the installed ones (`.venv`, through the
Makefile's stamp), so the test skips where they are not installed.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.specifiers import SpecifierSet

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
CI_RUN = REPO / ".ci" / "run"
MAKEFILE = REPO / "Makefile"
PRE_COMMIT = REPO / ".pre-commit-config.yaml"
WORKFLOW = REPO / ".github" / "workflows" / "ci.yml"
#: what `make lint` reads, copied beside .ci/run (the stamp's hash covers the first two)
LINT_INPUTS = ("requirements/airflow.txt", "pyproject.toml", "requirements/dbt.txt", "Makefile")
#: a `make` that records its arguments, runs the real one for lint and refuses test
MAKE_SHIM = """#!/usr/bin/env bash
echo "$*" >> "$SHIM_LOG"
case " $* " in
  *" test "*) echo "make test reached" >&2; exit 97 ;;
esac
if [ "$SHIM_MODE" = record ]; then exit 0; fi
exec "$REAL_MAKE" "$@"
"""


def af_stamp() -> Path:
    """The Makefile's stamp of the installed .venv (AF_HASH: requirements/airflow.txt and
    pyproject.toml, hashed together)."""
    text = b"".join((REPO / name).read_bytes() for name in LINT_INPUTS[:2])
    return REPO / ".venv" / f".finhouse-{hashlib.sha256(text).hexdigest()[:16]}"


def test_af_stamp_is_the_makefiles_rule() -> None:
    makefile = MAKEFILE.read_text()
    assert re.search(
        r"^AF_HASH\s*:= \$\(shell cat requirements/airflow.txt pyproject.toml \| sha256sum "
        r"\| cut -c1-16\)$",
        makefile,
        re.M,
    )
    assert re.search(r"^AF_STAMP\s*:= \$\(VENV\)/\.finhouse-\$\(AF_HASH\)$", makefile, re.M)
    # `make lint` installs what it needs itself (the .venv of the pins), nothing else: it runs
    # on a fresh clone before `make test` and reuses that install after it.
    assert re.search(r"^lint: \$\(AF_STAMP\) ##", makefile, re.M)


def lint_commands() -> list[str]:
    """The recipe lines of the Makefile's `lint` target, with $(VENV) spelled out."""
    recipe = re.search(r"^lint:.*\n((?:\t.*\n)+)", MAKEFILE.read_text(), re.M)
    assert recipe, "the Makefile has no lint target"
    venv = re.search(r"^VENV\s*:= (\S+)$", MAKEFILE.read_text(), re.M)
    assert venv
    return [
        line.strip().removeprefix("@").replace("$(VENV)", venv.group(1))
        for line in recipe.group(1).splitlines()
    ]


def run_ci(tmp_path: Path, mode: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """.ci/run in a copy of the repository's lint inputs, with the make shim first on PATH."""
    real_make = shutil.which("make")
    if real_make is None:
        pytest.skip("no make here")
    copy = tmp_path / "repo"
    (copy / ".ci").mkdir(parents=True)
    shutil.copy2(CI_RUN, copy / ".ci" / "run")
    for name in LINT_INPUTS:
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, copy / name)
    (copy / "dbt" / "finhouse").mkdir(parents=True)
    if mode == "lint":
        stamp = af_stamp()
        if not stamp.exists():
            pytest.skip(f"the lint tools are not installed ({stamp.name} missing): make install")
        (copy / ".venv").symlink_to(REPO / ".venv")
        # The stamp must stay newer than its prerequisites, so make never reinstalls the
        # shared .venv from this copy.
        older = stamp.stat().st_mtime - 60
        for name in LINT_INPUTS[:2]:
            os.utime(copy / name, (older, older))
    shims = tmp_path / "bin"
    shims.mkdir()
    shim = shims / "make"
    shim.write_text(MAKE_SHIM)
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    log = tmp_path / "make.log"
    log.touch()
    env = {
        "PATH": f"{shims}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": str(tmp_path),
        "SHIM_LOG": str(log),
        "SHIM_MODE": mode,
        "REAL_MAKE": real_make,
    }
    out = subprocess.run(
        ["bash", str(copy / ".ci" / "run")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return out, log.read_text().split("\n")[:-1]


def test_ci_run_lints_then_tests(tmp_path: Path) -> None:
    out, calls = run_ci(tmp_path, "record")
    assert calls[:1] == ["lint"], f".ci/run does not start with make lint: {calls}"
    assert calls == ["lint", "test"], calls
    # the recording shim refuses `make test` (exit 97), and .ci/run passes that on
    assert out.returncode == 97, out.stderr


def test_ci_run_fails_on_a_lint_error(tmp_path: Path) -> None:
    probe = tmp_path / "repo" / "airflow" / "dags" / "lint_probe.py"
    probe.parent.mkdir(parents=True)
    probe.write_text('"""An unused import: ruff F401."""\n\nimport os\n')
    out, calls = run_ci(tmp_path, "lint")
    assert out.returncode != 0, "a lint error did not fail .ci/run"
    assert calls == ["lint"], f"make test ran after a failed lint: {calls}"
    assert "F401" in out.stdout + out.stderr, out.stdout + out.stderr
    assert "lint_probe.py" in out.stdout + out.stderr
    assert "make test reached" not in out.stderr


# ---------------------------------------------------------------------------- pre-commit
def pre_commit_hooks() -> dict[str, dict[str, Any]]:
    config = yaml.safe_load(PRE_COMMIT.read_text())
    hooks = {}
    for repo in config["repos"]:
        # local hooks only: they call the tools of .venv, pinned in requirements/airflow.txt,
        # so pre-commit and `make lint` cannot disagree on a version
        assert repo["repo"] == "local", f"{repo['repo']}: a hook with its own tool version"
        hooks |= {hook["id"]: hook for hook in repo["hooks"]}
    return hooks


def test_pre_commit_runs_the_commands_of_make_lint() -> None:
    hooks = pre_commit_hooks()
    entries = {hook["entry"]: hook for hook in hooks.values()}
    commands = lint_commands()
    assert len(commands) == len(hooks), f"make lint: {commands}; pre-commit: {list(entries)}"
    for command in commands:
        tool = command.split()[0]
        assert tool.startswith(".venv/bin/"), f"{command}: not the pinned .venv's tool"
        if command in entries:  # the same command, on the whole project
            assert entries[command].get("pass_filenames") is False, command
            continue
        # sqlfluff on the changed files of the path `make lint` gives it
        program, path = command.rsplit(" ", 1)
        hook = entries.get(program)
        assert hook, f"no pre-commit hook runs {command!r}"
        assert hook.get("pass_filenames", True), program
        assert hook["files"].startswith(f"^{re.escape(path)}/"), hook["files"]
    for hook in hooks.values():
        assert hook["language"] == "unsupported", hook["id"]  # pre-commit's name for "system"


def test_pre_commit_config_is_valid() -> None:
    """pre-commit's own check when pre-commit is installed (CONTRIBUTING.md says how)."""
    # the pinned one of .venv (requirements/airflow.txt), else one on PATH
    beside = Path(sys.executable).with_name("pre-commit")
    pre_commit = str(beside) if beside.exists() else shutil.which("pre-commit")
    if pre_commit is None:
        pytest.skip("pre-commit is not installed here")
    out = subprocess.run(
        [pre_commit, "validate-config", str(PRE_COMMIT)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr


# ---------------------------------------------------------------------------- GitHub Actions
def test_github_workflow_runs_ci_run() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    # YAML 1.1 reads the key `on` as True
    triggers = workflow.get("on", workflow.get(True))
    assert {"push", "pull_request"} <= set(triggers), triggers
    assert workflow["concurrency"]["group"]
    assert workflow["permissions"] == {"contents": "read"}
    jobs = workflow["jobs"]
    runs = [
        (name, job)
        for name, job in jobs.items()
        if any(re.search(r"(^|\s)(bash )?\.ci/run\b", step.get("run", "")) for step in job["steps"])
    ]
    assert len(runs) == 1, "one job runs .ci/run"
    name, job = runs[0]
    assert str(job["runs-on"]).startswith("ubuntu-"), job["runs-on"]
    # well under the 30 minutes the whole run must stay below: `make test` ~10 min, lint ~1
    assert 0 < job["timeout-minutes"] <= 30, job["timeout-minutes"]
    # the project's Python: the image of the CI machines (Debian 12, Python 3.11)
    image = job["container"]["image"] if isinstance(job["container"], dict) else job["container"]
    version = re.fullmatch(r"python:(\d+\.\d+)(?:\.\d+)?-bookworm", image)
    assert version, image
    requires = re.search(
        r'^requires-python\s*=\s*"([^"]+)"', (REPO / "pyproject.toml").read_text(), re.M
    )
    assert requires
    assert SpecifierSet(requires.group(1)).contains(f"{version.group(1)}.0"), name
    assert f"Python {version.group(1)}" in (REPO / "README.md").read_text()
    steps = job["steps"]
    assert steps[0]["uses"].startswith("actions/checkout@"), "check out first"
    cache = [step for step in steps if str(step.get("uses", "")).startswith("actions/cache@")]
    assert cache, "no pip cache"
    assert "requirements/" in cache[0]["with"]["key"]
