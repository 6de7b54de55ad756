"""The native lab's guarantees against other processes and other users on the same host:
only our own processes are signalled or trusted with a secret, only a huntlab home is purged,
and everything in a home is private to its owner."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import psutil
import pytest

from huntlab.lab import processes
from tests.support.cli import run_huntlab
from tests.support.private_files import open_to_others


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUNTLAB_", "JUPYTER_"))}
    env["HUNTLAB_HOME"] = str(home)
    return env


@pytest.fixture
def victim() -> Iterator[subprocess.Popen[bytes]]:
    """A real process huntlab did not start."""
    proc = subprocess.Popen(["sleep", "600"])
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def _record_pid(home: Path, name: str, pid: int) -> None:
    """A pid record naming ``pid`` with its true start time: what a tampered or recycled
    record would look like at its most convincing."""
    started = psutil.Process(pid).create_time()
    path = processes.pid_path(home, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"pid": pid, "started": started, "argv": ["elasticsearch"]}))


def test_es_stop_never_signals_a_process_huntlab_did_not_start(
    tmp_path: Path, victim: subprocess.Popen[bytes]
) -> None:
    home = tmp_path / "home"
    _record_pid(home, "elasticsearch", victim.pid)
    done = run_huntlab("es", "stop", "--timeout", "5", env=_env(home), timeout=60)
    assert done.returncode == 0, done.stderr
    assert victim.poll() is None, "huntlab signalled a process it did not start"
    assert "was not running" in done.stdout
    assert f"process {victim.pid}" in done.stderr and "did not start" in done.stderr
    assert "Traceback" not in done.stderr
    assert processes.running(home, "elasticsearch") is None


def test_a_bare_pid_record_is_not_trusted(tmp_path: Path, victim: subprocess.Popen[bytes]) -> None:
    home = tmp_path / "home"
    path = processes.pid_path(home, "elasticsearch")
    path.parent.mkdir(parents=True)
    path.write_text(f"{victim.pid}\n")
    done = run_huntlab("es", "stop", "--timeout", "5", env=_env(home), timeout=60)
    assert done.returncode == 0, done.stderr
    assert victim.poll() is None
    assert "was not running" in done.stdout


def test_a_process_of_another_user_is_left_alone_with_a_clear_message(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        other = subprocess.Popen(["sleep", "600"], user=65534, group=65534)
    else:
        pytest.skip("needs root to start a process as another user")
    try:
        home = tmp_path / "home"
        _record_pid(home, "elasticsearch", other.pid)
        done = run_huntlab("down", env=_env(home), timeout=60)
        assert done.returncode == 0, done.stderr
        assert other.poll() is None
        assert f"process {other.pid}" in done.stderr
        assert "Traceback" not in done.stderr and "PermissionError" not in done.stderr
    finally:
        other.kill()
        other.wait()


def test_our_own_supervised_process_is_still_recognised(tmp_path: Path) -> None:
    started = processes.start(tmp_path, "sleeper", ["sleep", "600"])
    try:
        assert processes.running(tmp_path, "sleeper") == started
    finally:
        assert processes.stop(tmp_path, "sleeper", timeout=10)


class _Recorder(http.server.BaseHTTPRequestHandler):
    """Answers every GET with ``answer`` (Jupyter's and Spark's status look alike enough) and
    records the request's headers."""

    seen: ClassVar[list[dict[str, str]]] = []
    answer: ClassVar[dict[str, object]] = {
        "version": "2.99.0",
        "status": "ALIVE",
        "workers": [{"state": "ALIVE"}],
    }

    def do_GET(self) -> None:
        _Recorder.seen.append({"path": self.path, **dict(self.headers.items())})
        body = json.dumps(self.answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def stranger() -> Iterator[int]:
    """An HTTP server of another program, on a free port (returned)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Recorder.seen.clear()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def test_the_spark_probe_accepts_no_master_but_the_labs(tmp_path: Path, stranger: int) -> None:
    from huntlab.lab.native.plan import plan
    from huntlab.lab.native.spark import master_alive, spark_status
    from huntlab.settings import load_settings

    lab = plan(load_settings(home=tmp_path, spark_master_ui_port=stranger))
    assert _Recorder.answer["status"] == "ALIVE"
    assert not master_alive(lab, workers=1)
    assert not spark_status(lab)[0].up


def test_status_sends_the_token_to_no_process_the_lab_did_not_start(
    tmp_path: Path, stranger: int
) -> None:
    """Lab down, somebody else listening on the Jupyter port: `huntlab status` may reach it
    (liveness) but never hands it the token."""
    home = tmp_path / "home"
    home.mkdir()
    token = "f" * 64
    (home / "jupyter_token").write_text(token + "\n")
    (home / "config.json").write_text(json.dumps({"runtime": "native", "jupyter_port": stranger}))
    done = run_huntlab("status", env=_env(home), timeout=120)
    assert done.returncode == 3  # nothing of the lab runs
    jupyter = [line for line in done.stdout.splitlines() if line.startswith("jupyter")]
    assert jupyter and jupyter[0].split()[1] == "down"
    for request in _Recorder.seen:
        assert "Authorization" not in request, request
        assert token not in json.dumps(request), request


def test_purge_refuses_a_folder_that_is_not_a_huntlab_home(tmp_path: Path) -> None:
    folder = tmp_path / "projects"
    for sub in ("logs", "run", "spark", "elasticsearch"):
        (folder / sub).mkdir(parents=True)
        (folder / sub / "keep.txt").write_text("mine")
    done = run_huntlab("down", "--purge", "--home", str(folder), env=_env(tmp_path / "x"))
    assert done.returncode != 0
    assert "not a huntlab home" in done.stderr and "Traceback" not in done.stderr
    for sub in ("logs", "run", "spark", "elasticsearch"):
        assert (folder / sub / "keep.txt").read_text() == "mine"
    assert not (folder / "config.json").exists()


def test_purge_refuses_the_root_folder() -> None:
    # Checked on the guard itself, never through a real purge: a regression must not be able
    # to delete anything under / while this test runs.
    from huntlab.errors import HuntlabError
    from huntlab.lab.home import ensure_home, require_home

    with pytest.raises(HuntlabError, match="refusing"):
        require_home(Path("/"), "purge")
    with pytest.raises(HuntlabError, match="refusing"):
        ensure_home(Path("/"))


def test_purge_refuses_the_users_home_folder(tmp_path: Path) -> None:
    from huntlab.lab.home import MARKER

    user_home = tmp_path / "user"  # a stand-in $HOME
    (user_home / "logs").mkdir(parents=True)
    (user_home / MARKER).write_text("")  # even with the marker: never a lab's home
    env = {**_env(tmp_path / "x"), "HOME": str(user_home)}
    done = run_huntlab("down", "--purge", "--home", str(user_home), env=env)
    assert done.returncode != 0
    assert "refusing" in done.stderr and "Traceback" not in done.stderr
    assert (user_home / "logs").is_dir()


def test_purge_of_a_real_home_keeps_notebooks_and_marker(tmp_path: Path) -> None:
    from huntlab.lab.home import MARKER, ensure_home

    home = tmp_path / "lab"
    ensure_home(home)
    (home / "logs").mkdir()
    (home / "workspace").mkdir()
    (home / "workspace" / "mine.ipynb").write_text("{}")
    done = run_huntlab("down", "--purge", "--home", str(home), env=_env(tmp_path / "x"))
    assert done.returncode == 0, done.stderr
    assert not (home / "logs").exists()
    assert (home / "workspace" / "mine.ipynb").is_file()
    assert (home / MARKER).is_file()


def test_a_non_empty_folder_is_not_taken_over_as_a_home(tmp_path: Path) -> None:
    from huntlab.errors import HuntlabError
    from huntlab.lab.home import ensure_home

    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "letter.txt").write_text("hi")
    with pytest.raises(HuntlabError, match="not a huntlab home"):
        ensure_home(folder)
    assert sorted(p.name for p in folder.iterdir()) == ["letter.txt"]


def _wait_for_exit(pid: int, timeout: float = 30) -> None:
    """Wait for a detached service to end. ``processes.start`` drops its Popen, whose
    finaliser reaps a child that has already exited, so a quick one may be gone before psutil
    looks (a full run failed so): a pid already gone has ended."""
    with contextlib.suppress(psutil.NoSuchProcess):
        psutil.Process(pid).wait(timeout)


def test_everything_the_lab_writes_in_its_home_is_private(tmp_path: Path) -> None:
    from huntlab.files import atomic_write
    from huntlab.lab import tls
    from huntlab.lab.config import update_config
    from huntlab.lab.home import ensure_home
    from huntlab.lab.native.jupyter import notebooks_source
    from huntlab.lab.token import ensure_token
    from huntlab.lab.workspace import sync_notebooks
    from huntlab.readers.report import ReadReport, RejectsWriter

    old = os.umask(0o022)  # a usual umask: the lab must not depend on a stricter one
    try:
        home = tmp_path / "lab"
        ensure_home(home)
        ensure_token(home)
        update_config(home, runtime="native")
        tls.self_signed(home)
        sync_notebooks(notebooks_source(), home)
        started = processes.start(
            home, "writer", [sys.executable, "-c", "open('made-by-service.txt', 'w').write('x')"],
            cwd=home,
        )  # fmt: skip
        _wait_for_exit(started.pid)
        # Files a few folders down, where none exist yet (`huntlab hunts get` writes
        # workspace/hunts/playbook/<id>.ipynb): the folders above them are private too.
        rejects = RejectsWriter(home / "rejects" / "deep" / "r.jsonl", ReadReport())
        rejects.write("file.json", 1, "not JSON", b"{")
        rejects.close()
        atomic_write(home / "workspace" / "hunts" / "playbook" / "x.ipynb", "{}\n")
    finally:
        os.umask(old)
    assert (home / "made-by-service.txt").is_file()
    assert open_to_others(home) == []
