"""Elasticsearch secrets given to a command: ``-`` reads them from standard input (nothing in
the process list); a literal value still works but the command warns that others can see it."""

from __future__ import annotations

import base64
import http.server
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest


class _Recorder(http.server.BaseHTTPRequestHandler):
    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:  # the client's first request (GET /) carries the credentials
        self.seen.append(self.headers.get("Authorization", ""))
        self.send_response(401)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_GET

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[tuple[str, list[str]]]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    _Recorder.seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _Recorder.seen
    server.shutdown()


def _query(url: str, home: Path, *extra: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUNTLAB_")}
    env["HUNTLAB_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "huntlab", "query", "EventID:1", "--es-url", url, *extra],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


def test_password_from_standard_input_reaches_the_server(
    recorder: tuple[str, list[str]], tmp_path: Path
) -> None:
    url, seen = recorder
    done = _query(url, tmp_path, "--es-user", "hunter", "--es-password", "-", stdin="s3cret\n")
    expected = "Basic " + base64.b64encode(b"hunter:s3cret").decode()
    assert expected in seen, (seen, done.stderr)
    assert "warning" not in done.stderr
    assert "Traceback" not in done.stderr


def test_password_on_the_command_line_is_warned_about(
    recorder: tuple[str, list[str]], tmp_path: Path
) -> None:
    url, _ = recorder
    done = _query(url, tmp_path, "--es-user", "hunter", "--es-password", "s3cret")
    assert "visible to other local users" in done.stderr
    assert "HUNTLAB_ES_PASSWORD" in done.stderr


def test_empty_standard_input_is_a_usage_error(
    recorder: tuple[str, list[str]], tmp_path: Path
) -> None:
    url, seen = recorder
    done = _query(url, tmp_path, "--es-api-key", "-")
    assert done.returncode == 2
    assert "nothing on standard input" in done.stderr
    assert not seen
