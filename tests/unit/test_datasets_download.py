"""Downloads over real HTTP, from a loopback server: resume with Range, offline errors, and
the metadata archive. The served files are the real ones from ../shared."""

from __future__ import annotations

import hashlib
import io
import re
import tarfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import ClassVar

import pytest

from huntlab import datasets
from huntlab.dataset_catalog import UPSTREAM_RAW_PREFIX, catalog
from huntlab.errors import DownloadError, HuntlabError
from tests.support.http_server import closed_port, serving

WMI_2020 = "empire_wmi_dcerpc_wmi_IWbemServices_ExecMethod"


class RangeHandler(BaseHTTPRequestHandler):
    """Serves files from ``root`` with an ETag, honours ``Range: bytes=N-`` with ``If-Range``
    (as GitHub's raw file server does), records what it sent.

    ``cut_after`` (bytes) makes the next full response stop short, like a dropped connection.
    """

    root: ClassVar[Path]
    files: ClassVar[dict[str, bytes]] = {}
    log: ClassVar[list[tuple[str, str | None, int]]] = []
    cut_after: ClassVar[int | None] = None

    def do_GET(self) -> None:
        body = self.files.get(self.path)
        if body is None:
            target = self.root / self.path.lstrip("/")
            body = target.read_bytes() if target.is_file() else None
        if body is None:
            self.send_error(404)
            return
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        wanted = self.headers.get("Range")
        if self.headers.get("If-Range") not in (None, etag):
            wanted = None  # the file changed: the whole new file
        start = 0
        if wanted:
            match = re.fullmatch(r"bytes=(\d+)-", wanted)
            assert match, wanted
            start = int(match.group(1))
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        chunk = body[start:]
        self.send_header("ETag", etag)
        self.send_header("Content-Length", str(len(chunk)))
        self.end_headers()
        cut = type(self).cut_after
        if cut is not None and not wanted:
            type(self).cut_after = None
            chunk = chunk[:cut]
            self.close_connection = True
        # Logged before sending: the client may be done before this thread runs again.
        self.log.append((self.path, wanted, len(chunk)))
        self.wfile.write(chunk)
        self.wfile.flush()

    def log_message(self, format: str, *args: object) -> None:  # keep pytest output clean
        pass


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, type[RangeHandler]]]:
    handler = type("Handler", (RangeHandler,), {
        "root": tmp_path / "served", "files": {}, "log": [], "cut_after": None,
    })
    with serving(handler) as url:
        yield url, handler


def test_interrupted_download_resumes_with_range(
    dataset_cache: Path, monkeypatch: pytest.MonkeyPatch, server: tuple[str, type[RangeHandler]],
    datasets_dir: Path, metadata_dir: Path, readme_sha256: dict[str, str],
) -> None:
    url, handler = server
    monkeypatch.setenv("HUNTLAB_DATASETS_METADATA", str(metadata_dir))
    monkeypatch.setenv("HUNTLAB_DATASETS_BASE_URL", url + "/")
    ds = catalog().get(WMI_2020)
    host = next(f for f in ds.files if f.kind == "host")
    assert host.link.startswith(UPSTREAM_RAW_PREFIX)
    served = f"/{host.link[len(UPSTREAM_RAW_PREFIX):]}"
    body = (datasets_dir / f"windows/{WMI_2020}/host/{WMI_2020}.zip").read_bytes()
    handler.files[served] = body
    handler.cut_after = len(body) // 3

    with pytest.raises(DownloadError) as err:
        datasets.get(WMI_2020, kinds=["host"])
    assert url + served in str(err.value)
    part = dataset_cache / "datasets" / WMI_2020 / f"host/{WMI_2020}.zip.part"
    assert part.stat().st_size == len(body) // 3

    [stored] = datasets.get(WMI_2020, kinds=["host"])
    assert handler.log[-1] == (served, f"bytes={len(body) // 3}-", len(body) - len(body) // 3)
    assert stored.fetched == len(body) - len(body) // 3
    assert stored.origin == "download"
    assert not part.exists()
    expected = readme_sha256[f"windows/{WMI_2020}/host/{WMI_2020}.zip"]
    assert stored.sha256 == expected == datasets.sha256_file(stored.path)
    manifest = datasets.read_manifest(WMI_2020)
    assert manifest["files"][f"host/{WMI_2020}.zip"]["source"] == url + served

    # Already there: nothing is fetched again.
    requests = len(handler.log)
    [again] = datasets.get(WMI_2020, kinds=["host"])
    assert (again.origin, again.fetched, len(handler.log)) == ("store", 0, requests)


def test_resolve_downloads_the_event_files_only(
    dataset_cache: Path, monkeypatch: pytest.MonkeyPatch, server: tuple[str, type[RangeHandler]],
    datasets_dir: Path, metadata_dir: Path,
) -> None:
    url, handler = server
    monkeypatch.setenv("HUNTLAB_DATASETS_METADATA", str(metadata_dir))
    monkeypatch.setenv("HUNTLAB_DATASETS_BASE_URL", url)
    ds = catalog().get(WMI_2020)
    for file in ds.files:
        handler.files[f"/{file.link[len(UPSTREAM_RAW_PREFIX):]}"] = (
            datasets_dir / "windows" / WMI_2020 / file.relpath
        ).read_bytes()
    path = datasets.resolve(ds.id)
    assert path == dataset_cache / "datasets" / WMI_2020 / f"host/{WMI_2020}.zip"
    assert [entry[0].split("/")[-2] for entry in handler.log] == ["host"]


def test_offline_get_names_the_url_and_the_way_out(
    dataset_cache: Path, monkeypatch: pytest.MonkeyPatch, metadata_dir: Path
) -> None:
    base = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("HUNTLAB_DATASETS_METADATA", str(metadata_dir))
    monkeypatch.setenv("HUNTLAB_DATASETS_BASE_URL", base)
    ds = catalog().get("empire_launcher_vbs")
    with pytest.raises(DownloadError) as err:
        datasets.get(ds.id)
    message = str(err.value)
    assert datasets.file_url(ds.files[0]) in message
    assert message.startswith(f"could not download {base}/")
    assert "huntlab datasets import FILE --name empire_launcher_vbs" in message
    assert "HUNTLAB_DATASETS_MIRROR" in message
    assert not datasets.manifest_path("empire_launcher_vbs").exists()
    assert datasets.stored_names() == []


def _github_like_archive(metadata_dir: Path, commit: str) -> bytes:
    """A tar.gz laid out like GitHub's repository archives, commit id in the global header."""
    buffer = io.BytesIO()
    top = f"Security-Datasets-{commit}"
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT,
                      pax_headers={"comment": commit}) as tar:
        readme = b"not metadata\n"
        info = tarfile.TarInfo(f"{top}/README.md")
        info.size = len(readme)
        tar.addfile(info, io.BytesIO(readme))
        for kind in ("atomic", "compound"):
            for path in sorted((metadata_dir / kind).glob("*.yaml")):
                tar.add(path, arcname=f"{top}/datasets/{kind}/_metadata/{path.name}")
    return buffer.getvalue()


def test_metadata_download_from_the_repository_archive(
    dataset_cache: Path, monkeypatch: pytest.MonkeyPatch, server: tuple[str, type[RangeHandler]],
    metadata_dir: Path,
) -> None:
    url, handler = server
    commit = (metadata_dir / "COMMIT").read_text().strip()
    handler.files["/archive.tar.gz"] = _github_like_archive(metadata_dir, commit)
    monkeypatch.setenv("HUNTLAB_DATASETS_METADATA_URL", url + "/archive.tar.gz")
    cat = catalog()
    yaml_files = sorted(metadata_dir.glob("*/*.yaml"))
    assert len(cat) == len(yaml_files)
    assert cat.commit == commit
    downloaded = dataset_cache / "security-datasets-metadata"
    assert sorted(p.relative_to(downloaded) for p in downloaded.glob("*/*.yaml")) == sorted(
        p.relative_to(metadata_dir) for p in yaml_files
    )
    assert (downloaded / "COMMIT").read_text().strip() == commit
    assert not (downloaded / "README.md").exists()


def test_metadata_download_offline_says_how_to_point_at_a_copy(
    dataset_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = f"http://127.0.0.1:{closed_port()}/archive.tar.gz"
    monkeypatch.setenv("HUNTLAB_DATASETS_METADATA_URL", source)
    with pytest.raises(HuntlabError) as err:
        catalog()
    message = str(err.value)
    assert source in message
    assert "--metadata DIR" in message and "HUNTLAB_DATASETS_METADATA=DIR" in message
    assert not (dataset_cache / "security-datasets-metadata").exists()
