"""What `make demo` ends with (`finhouse platform next`): the URLs and logins of what
`make up` starts, from the settings in force, and where the data is."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from finhouse import cli

pytestmark = pytest.mark.unit


def test_next_steps_name_the_configured_urls_and_where_the_logins_are(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FINHOUSE_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("FINHOUSE_AIRFLOW_PORT", "18080")
    monkeypatch.setenv("SUPERSET_PORT", "18088")
    monkeypatch.delenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", raising=False)
    monkeypatch.setattr(sys, "argv", ["finhouse", "platform", "next"])
    cli.main()
    out = capsys.readouterr().out
    assert "make up" in out
    assert "Airflow   http://127.0.0.1:18080  user admin" in out
    assert str(tmp_path / "airflow" / "simple_auth_manager_passwords.json.generated") in out
    assert "Superset  http://127.0.0.1:18088  user admin" in out
    assert str(tmp_path / "superset" / "credentials.json") in out
    assert f"the data     {tmp_path}" in out
    assert "make down" in out
    assert "make docs" in out
    # nothing was created to say it: the state folder holds no cluster, no Airflow home
    assert list(tmp_path.iterdir()) == []
