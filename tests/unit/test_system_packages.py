"""`make test` installs its system packages (Debian's chromium and its driver) without a
prompt and says what it installs: the Makefile recipe run against recording stand-ins for
apt-get, sudo and id, with no terminal to answer a question."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]


def _stand_in(path: Path, body: str) -> None:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)


@pytest.mark.parametrize("uid", ["0", "1000"])
def test_the_chromium_recipe_never_prompts_and_names_the_packages(uid: str, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    record = f'echo "apt-get DEBIAN_FRONTEND=$DEBIAN_FRONTEND $*" >> {calls}\n'
    _stand_in(bin_dir / "apt-get", record)
    _stand_in(bin_dir / "sudo", f'echo "sudo $*" >> {calls}\nshift\nexec "$@"\n')
    _stand_in(bin_dir / "id", f"echo {uid}\n")
    target = tmp_path / "chromedriver"
    out = subprocess.run(
        ["make", "--no-print-directory", "-C", str(REPO), f"CHROMEDRIVER={target}", str(target)],
        env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "installing system packages with apt-get: chromium chromium-driver" in out.stdout
    lines = calls.read_text().splitlines()
    apt = [line for line in lines if line.startswith("apt-get")]
    assert apt[0] == "apt-get DEBIAN_FRONTEND=noninteractive update -qq"
    assert apt[1].startswith("apt-get DEBIAN_FRONTEND=noninteractive install -y ")
    assert apt[1].endswith(" chromium chromium-driver")
    sudo = [line for line in lines if line.startswith("sudo")]
    # as root no sudo; otherwise sudo -n, which fails instead of asking for a password
    assert (sudo == []) if uid == "0" else all(s.startswith("sudo -n env ") for s in sudo)
    assert len(sudo) == (0 if uid == "0" else 2)
