"""Secret files exist with mode 0600 from their first byte and replace the old one whole;
logs are opened 0600, an older wider one narrowed (finhouse_local.private)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from finhouse_local import private

pytestmark = pytest.mark.unit


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The widest umask: whatever is private is so by the code, not by the umask."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_a_secret_is_created_0600(tmp_path: Path, open_umask: None) -> None:
    path = tmp_path / "deep" / "credentials.json"
    private.write_secret(path, '{"admin": "s3cret"}')
    assert path.read_text() == '{"admin": "s3cret"}'
    assert _mode(path) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["credentials.json"]


def test_a_wider_secret_is_replaced_by_a_0600_one(tmp_path: Path, open_umask: None) -> None:
    path = tmp_path / "credentials.json"
    path.write_text("old")
    path.chmod(0o644)
    private.write_secret(path, "new")
    assert path.read_text() == "new"
    assert _mode(path) == 0o600


def test_the_file_never_exists_with_a_wider_mode(
    tmp_path: Path, open_umask: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """How the file is made: a new name opened O_CREAT|O_EXCL|O_NOFOLLOW with mode 0600 (so
    not a file or link already there), complete and 0600 when it replaces the target."""
    path = tmp_path / "credentials.json"
    path.write_text("old")
    path.chmod(0o600)
    opened: list[tuple[str, int, int]] = []
    real_open, real_replace = os.open, Path.replace

    def spy_open(file: str | os.PathLike[str], flags: int, mode: int = 0o777) -> int:
        opened.append((str(file), flags, mode))
        return real_open(file, flags, mode)

    def spy_replace(self: Path, target: str | os.PathLike[str]) -> Path:
        assert Path(target) == path
        assert _mode(self) == 0o600  # the new file, before it takes the name
        assert self.read_text() == "new text"  # complete
        assert path.read_text() == "old"  # the old one untouched until now
        return real_replace(self, target)

    monkeypatch.setattr(os, "open", spy_open)
    monkeypatch.setattr(Path, "replace", spy_replace)
    private.write_secret(path, "new text")
    [(name, flags, mode)] = opened
    assert Path(name).parent == tmp_path
    assert Path(name) != path
    for flag in (os.O_CREAT, os.O_EXCL, os.O_NOFOLLOW, os.O_WRONLY):
        assert flags & flag == flag
    assert mode == 0o600
    assert path.read_text() == "new text"


def test_nothing_already_at_the_temporary_name_is_written_through(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "credentials.json"
    planted = tmp_path / ".credentials.json.0000000000000000.tmp"
    target = tmp_path / "elsewhere"
    target.write_text("not yours")
    planted.symlink_to(target)
    monkeypatch.setattr(private.secrets, "token_hex", lambda _n: "0" * 16)
    with pytest.raises(FileExistsError):
        private.write_secret(path, "secret")
    assert target.read_text() == "not yours"
    assert not path.exists()


def test_a_failed_write_leaves_the_old_secret_and_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "credentials.json"
    path.write_text("old")

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="No space left"):
        private.write_secret(path, "new")
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["credentials.json"]


def test_a_log_is_opened_0600_and_an_older_wider_one_narrowed(
    tmp_path: Path, open_umask: None
) -> None:
    log = tmp_path / "logs" / "airflow.log"
    with private.open_log(log) as out:
        out.write(b"first\n")
    assert _mode(log) == 0o600
    log.chmod(0o644)
    with private.open_log(log) as out:
        assert _mode(log) == 0o600  # before anything is written
        out.write(b"second\n")
    assert log.read_bytes() == b"first\nsecond\n"


def test_a_private_dir_is_the_owners_only(tmp_path: Path, open_umask: None) -> None:
    folder = tmp_path / "logs"
    folder.mkdir(mode=0o755)
    assert private.private_dir(folder) == folder
    assert _mode(folder) == 0o700
