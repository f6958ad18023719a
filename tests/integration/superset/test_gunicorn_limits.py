"""Superset's gunicorn (superset/run.py ``gunicorn_command``, the command ``make up`` and the
Superset tests serve with) listens on 127.0.0.1 only and enforces its request limits.

The server is the Superset venv's gunicorn with exactly those options; only the application
is a small WSGI one (Superset itself needs a bootstrapped metadata database: the tests of
test_superset.py serve it with the same command and render every dashboard through it)."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator

import psutil
import pytest
import requests

from tests.conftest import free_port
from tests.integration.superset.conftest import SUPERSET_PYTHON, load_script

pytestmark = pytest.mark.integration

APP = """
def app(environ, start_response):
    body = str(len(environ.get("PATH_INFO", "") + environ.get("QUERY_STRING", ""))).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    if not SUPERSET_PYTHON.exists():
        pytest.fail("the Superset venv is missing: run `make superset-install` (make test does)")
    folder = tmp_path_factory.mktemp("wsgi")
    (folder / "limits_app.py").write_text(APP)
    port = free_port()
    command = load_script("run").gunicorn_command(port, workers=1)
    assert command[-1] == "superset.app:create_app()"
    command = [*command[:-1], "--chdir", str(folder), "limits_app:app"]
    log = (folder / "gunicorn.log").open("wb")
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(base, timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert proc.poll() is None, (folder / "gunicorn.log").read_text()
            assert time.monotonic() < deadline, "gunicorn did not answer"
            time.sleep(0.2)
        yield base, proc.pid
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


def _listening(pid: int) -> set[tuple[str, int]]:
    found = set()
    for process in [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]:
        for conn in process.net_connections(kind="inet"):
            if conn.status == psutil.CONN_LISTEN:
                found.add((conn.laddr.ip, conn.laddr.port))
    return found


def test_it_listens_on_127_0_0_1_only(server: tuple[str, int]) -> None:
    base, pid = server
    port = int(base.rsplit(":", 1)[1])
    assert _listening(pid) == {("127.0.0.1", port)}


def _raw(base: str, request: bytes) -> bytes:
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(request)
        conn.shutdown(socket.SHUT_WR)
        reply = b""
        while chunk := conn.recv(65536):
            reply += chunk
    return reply.split(b"\r\n", 1)[0]


def _request(path: str, headers: list[str] | None = None) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1", *(headers or []), "Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_a_long_url_of_a_listing_is_served(server: tuple[str, int]) -> None:
    """A rison filter over 1,250 ids (~7.5 KB): longer than any URL Superset 6 makes."""
    base, _ = server
    ids = ",".join(str(10_000 + i) for i in range(1250))
    path = f"/api/v1/chart/?q=(filters:!((col:id,opr:in,value:!({ids}))),page_size:100)"
    assert 7000 < len(path) < 8100
    status = _raw(base, _request(path))
    assert status == b"HTTP/1.1 200 OK"


def test_a_request_line_over_8190_bytes_is_refused(server: tuple[str, int]) -> None:
    base, _ = server
    status = _raw(base, _request("/?q=" + "x" * 8200))
    assert status.startswith(b"HTTP/1.1 4"), status  # 400 or 414, never served


def test_more_than_100_headers_are_refused(server: tuple[str, int]) -> None:
    base, _ = server
    assert _raw(base, _request("/", [f"X-H{i}: v" for i in range(90)])) == b"HTTP/1.1 200 OK"
    status = _raw(base, _request("/", [f"X-H{i}: v" for i in range(120)]))
    assert status.startswith(b"HTTP/1.1 4"), status


def test_a_header_over_8190_bytes_is_refused(server: tuple[str, int]) -> None:
    base, _ = server
    cookie = "session=" + "c" * 7000  # a big cookie jar still passes
    assert _raw(base, _request("/", [f"Cookie: {cookie}"])) == b"HTTP/1.1 200 OK"
    status = _raw(base, _request("/", ["Cookie: session=" + "c" * 9000]))
    assert status.startswith(b"HTTP/1.1 4"), status


def test_the_limits_are_in_the_command() -> None:
    command = load_script("run").gunicorn_command(8088)
    pairs = dict(zip(command[1::2], command[2::2], strict=False))
    assert pairs["--bind"] == "127.0.0.1:8088"
    assert pairs["--limit-request-line"] == "8190"
    assert pairs["--limit-request-fields"] == "100"
    assert pairs["--limit-request-field_size"] == "8190"
    assert pairs["--timeout"] == "120"
