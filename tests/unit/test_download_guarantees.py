"""What every download guarantees, against a real loopback HTTP server that misbehaves on
purpose: resume only when the server proves the file unchanged (If-Range), 416 restarts,
a short body is never accepted, a known hash is checked, and the lock is really exclusive."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from huntlab import datasets
from huntlab.errors import DownloadError
from tests.support.paths import REPO

BODY_V1 = bytes(range(256)) * 400  # 100 KiB
BODY_V2 = bytes(reversed(range(256))) * 400  # same size, other content


@dataclass
class Served:
    """One file the server holds: its body and its strong ETag."""

    body: bytes
    etag: str


@dataclass
class Behaviour:
    files: dict[str, Served] = field(default_factory=dict)
    requests: list[dict[str, str]] = field(default_factory=list)
    cut_next: int | None = None  # the next full reply stops after this many bytes
    no_length: bool = False  # full replies carry no Content-Length (close-delimited)
    hold: threading.Event | None = None  # full replies pause halfway until this is set
    holding: threading.Event = field(default_factory=threading.Event)


def _handler(state: Behaviour) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            state.requests.append({k: v for k, v in self.headers.items()})
            served = state.files.get(self.path)
            if served is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = served.body
            wanted = self.headers.get("Range")
            if_range = self.headers.get("If-Range")
            # RFC 9110: a Range with a stale If-Range is ignored (the full new file is sent).
            if wanted and (if_range is None or if_range == served.etag):
                match = re.fullmatch(r"bytes=(\d+)-", wanted)
                assert match, wanted
                start = int(match.group(1))
                if start >= len(body):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(body)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("ETag", served.etag)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                self.wfile.write(body[start:])
                return
            self.send_response(200)
            self.send_header("ETag", served.etag)
            chunk = body
            if state.cut_next is not None:
                chunk, state.cut_next = body[: state.cut_next], None
            if state.no_length:
                self.send_header("Connection", "close")
                self.close_connection = True
            else:
                self.send_header("Content-Length", str(len(body)))
                if len(chunk) < len(body):
                    self.close_connection = True
            self.end_headers()
            if state.hold is not None:
                half = len(chunk) // 2
                self.wfile.write(chunk[:half])
                self.wfile.flush()
                state.holding.set()
                state.hold.wait(60)
                chunk = chunk[half:]
            self.wfile.write(chunk)
            self.wfile.flush()

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def server() -> Iterator[tuple[str, Behaviour]]:
    state = Behaviour()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", state
    finally:
        if state.hold is not None:
            state.hold.set()
        httpd.shutdown()
        httpd.server_close()


def _interrupted_first_try(
    tmp_path: Path, server: tuple[str, Behaviour], cut: int
) -> tuple[str, Path, Path]:
    """Serve BODY_V1 as /f.zip, cut the first reply after ``cut`` bytes: (url, dest, .part)."""
    base, state = server
    state.files["/f.zip"] = Served(BODY_V1, '"v1"')
    state.cut_next = cut
    url, dest = base + "/f.zip", tmp_path / "f.zip"
    with pytest.raises(DownloadError):
        datasets.download(url, dest)
    part = dest.with_name(dest.name + ".part")
    assert part.stat().st_size == cut
    return url, dest, part


def test_a_416_reply_restarts_instead_of_accepting_the_part(
    tmp_path: Path, server: tuple[str, Behaviour]
) -> None:
    url, dest, part = _interrupted_first_try(tmp_path, server, 1000)
    # The .part grew past the real size (another tool, a disk error): the server answers 416.
    part.write_bytes(os.urandom(len(BODY_V1) + 5000))
    datasets.download(url, dest)
    assert dest.read_bytes() == BODY_V1
    assert not part.exists()


def test_a_stale_part_is_not_resumed_when_the_file_changed(
    tmp_path: Path, server: tuple[str, Behaviour]
) -> None:
    url, dest, _ = _interrupted_first_try(tmp_path, server, len(BODY_V1) // 3)
    state = server[1]
    state.files["/f.zip"] = Served(BODY_V2, '"v2"')  # upstream replaced the file
    datasets.download(url, dest)
    assert dest.read_bytes() == BODY_V2
    assert state.requests[-1].get("If-Range") == '"v1"'


def test_a_resume_sends_if_range_and_appends(
    tmp_path: Path, server: tuple[str, Behaviour]
) -> None:
    url, dest, _ = _interrupted_first_try(tmp_path, server, 4096)
    state = server[1]
    assert datasets.download(url, dest) == len(BODY_V1) - 4096
    assert state.requests[-1]["Range"] == "bytes=4096-"
    assert state.requests[-1]["If-Range"] == '"v1"'
    assert dest.read_bytes() == BODY_V1


def test_a_reply_without_length_that_closes_early_is_not_accepted(
    tmp_path: Path, server: tuple[str, Behaviour]
) -> None:
    base, state = server
    state.files["/f.zip"] = Served(BODY_V1, '"v1"')
    state.no_length = True
    state.cut_next = len(BODY_V1) // 2
    dest = tmp_path / "f.zip"
    with pytest.raises(DownloadError) as err:
        datasets.download(base + "/f.zip", dest)
    assert base + "/f.zip" in str(err.value)
    assert not dest.exists()


def test_a_mirror_hash_that_does_not_match_rejects_the_file(
    dataset_cache: Path, monkeypatch: pytest.MonkeyPatch, server: tuple[str, Behaviour],
    metadata_dir: Path,
) -> None:
    from huntlab.dataset_catalog import UPSTREAM_RAW_PREFIX, catalog

    base, state = server
    monkeypatch.setenv("HUNTLAB_DATASETS_METADATA", str(metadata_dir))
    monkeypatch.setenv("HUNTLAB_DATASETS_BASE_URL", base)
    ds = catalog().get("empire_launcher_vbs")
    [file] = [f for f in ds.files if f.kind == "host"]
    served = "/" + file.link[len(UPSTREAM_RAW_PREFIX):]
    state.files[served] = Served(BODY_V1, '"v1"')
    folder = served.rsplit("/", 1)[0]
    wrong = hashlib.sha256(b"something else").hexdigest()
    state.files[folder + "/SHA256SUMS"] = Served(
        f"{wrong}  {file.filename}\n".encode(), '"sums"'
    )
    with pytest.raises(DownloadError) as err:
        datasets.get(ds.id, kinds=["host"])
    assert wrong in str(err.value) and base + served in str(err.value)
    assert not (dataset_cache / "datasets" / ds.name / file.relpath).exists()

    right = hashlib.sha256(BODY_V1).hexdigest()
    state.files[folder + "/SHA256SUMS"] = Served(f"{right} *{file.filename}\n".encode(), '"s2"')
    [stored] = datasets.get(ds.id, kinds=["host"])
    assert stored.sha256 == right
    assert stored.verified and "SHA256SUMS" in stored.verified


_DOWNLOAD_SCRIPT = """
import sys
from pathlib import Path
from huntlab import datasets
datasets.download(sys.argv[1], Path(sys.argv[2]))
"""


def test_two_processes_downloading_the_same_file_both_end_with_one_good_file(
    tmp_path: Path, server: tuple[str, Behaviour]
) -> None:
    base, state = server
    state.files["/f.zip"] = Served(BODY_V1, '"v1"')
    state.hold = threading.Event()
    dest = tmp_path / "f.zip"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    command = [sys.executable, "-c", _DOWNLOAD_SCRIPT, base + "/f.zip", str(dest)]
    first = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    assert state.holding.wait(60), "the first download never reached the server"
    second = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    # The second waits for the first's lock (it says so) rather than failing or writing too.
    assert second.stderr is not None
    line = second.stderr.readline()
    assert "waiting" in line and "another huntlab process" in line, line
    state.hold.set()
    assert first.wait(60) == 0, first.stderr.read() if first.stderr else ""
    assert second.wait(60) == 0, second.stderr.read()
    assert dest.read_bytes() == BODY_V1
    assert not dest.with_name("f.zip.part").exists()
    assert len([r for r in state.requests if r.get("Range") is None]) == 1
    # The lock file stays: unlinking it while held is what let two processes both "hold" it.
    assert dest.with_name("f.zip.lock").exists()


def test_maven_download_checks_the_published_checksum(
    tmp_path: Path, server: tuple[str, Behaviour]
) -> None:
    from huntlab.download import maven_download

    base, state = server
    state.files["/m.zip"] = Served(BODY_V1, '"m"')
    state.files["/m.zip.sha512"] = Served(hashlib.sha512(b"other").hexdigest().encode(), '"x"')
    target = tmp_path / "cache" / "m.zip"
    with pytest.raises(DownloadError) as err:
        maven_download(base + "/m.zip", target, progress=False)
    assert base + "/m.zip.sha512" in str(err.value)
    assert not target.exists() and not target.with_name("m.zip.verified").exists()

    del state.files["/m.zip.sha512"]  # only a .sha1 published: that one is used
    state.files["/m.zip.sha1"] = Served(f"{hashlib.sha1(BODY_V1).hexdigest()}  m.zip".encode(),
                                        '"y"')
    assert maven_download(base + "/m.zip", target, progress=False) == target
    assert target.read_bytes() == BODY_V1
    assert target.with_name("m.zip.verified").read_text().startswith("sha1 ")
