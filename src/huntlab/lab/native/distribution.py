"""The Elasticsearch distribution the native node runs, fetched from Maven Central.

The server is Elastic's own build published there
(``org.elasticsearch.distribution.integ-test-zip:elasticsearch``, packaging ``zip``): no
bundled JDK (it runs on the machine's Java 17+) and no x-pack security, so it is bound to
127.0.0.1. The zip is downloaded once into the shared cache (``$HUNTLAB_CACHE/elasticsearch``),
checked against the checksum Maven Central publishes beside it, and unpacked there.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from huntlab import versions
from huntlab.errors import DownloadError
from huntlab.java import Java
from huntlab.lab.native.plugins import install_root_plugin
from huntlab.settings import Settings

MAVEN_CENTRAL = "https://repo1.maven.org/maven2"
GROUP_PATH = "org/elasticsearch/distribution/integ-test-zip/elasticsearch"


def zip_url(version: str | None = None) -> str:
    version = version or versions.elastic_version()
    return f"{MAVEN_CENTRAL}/{GROUP_PATH}/{version}/elasticsearch-{version}.zip"


def _fetch(url: str, dest: Path, progress: bool) -> None:
    from tqdm import tqdm

    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            with (
                dest.open("wb") as out,
                tqdm(
                    total=total,
                    unit="B",
                    unit_scale=True,
                    desc=f"download {Path(url).name}",
                    disable=not progress,
                ) as bar,
            ):
                while chunk := response.read(1 << 20):
                    out.write(chunk)
                    bar.update(len(chunk))
    except (urllib.error.URLError, OSError) as exc:
        raise DownloadError(
            f"{url}: download failed ({exc}); check the network or place the file at {dest}"
        ) from exc


def _expected_digest(url: str) -> tuple[str, str]:
    """The (algorithm, hex digest) Maven Central publishes beside ``url``."""
    last_error: Exception | None = None
    for algorithm in ("sha512", "sha1"):
        try:
            with urllib.request.urlopen(f"{url}.{algorithm}", timeout=30) as response:
                text = response.read().decode("ascii", "replace").split()
            if text:
                return algorithm, text[0].lower()
        except (urllib.error.URLError, OSError) as exc:
            last_error = exc
    raise DownloadError(f"{url}: no .sha512 or .sha1 checksum could be fetched ({last_error})")


def _digest(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def maven_download(url: str, target: Path, *, progress: bool = True) -> Path:
    """``url`` (a Maven Central file) at ``target``, checked against the checksum published
    beside it; downloaded once, then trusted through a ``.verified`` marker."""
    target.parent.mkdir(parents=True, exist_ok=True)
    verified = target.with_name(target.name + ".verified")
    if target.is_file() and verified.is_file():
        return target
    algorithm, expected = _expected_digest(url)
    if not target.is_file():
        fd, part_name = tempfile.mkstemp(dir=target.parent, prefix=target.name, suffix=".part")
        os.close(fd)
        part = Path(part_name)
        try:
            _fetch(url, part, progress)
            actual = _digest(part, algorithm)
            if actual != expected:
                raise DownloadError(
                    f"{url}: {algorithm} {actual} does not match the published {expected}; "
                    "retry the download"
                )
            part.replace(target)
        finally:
            part.unlink(missing_ok=True)
    else:
        actual = _digest(target, algorithm)
        if actual != expected:
            target.unlink()
            raise DownloadError(
                f"{target}: {algorithm} does not match {url}.{algorithm}; the broken file was "
                "removed, run the command again to download it anew"
            )
    verified.write_text(f"{algorithm} {expected}\n", encoding="ascii")
    return target


def distribution_zip(settings: Settings, *, progress: bool = True) -> Path:
    """The verified distribution zip in the cache, downloading it the first time."""
    version = versions.elastic_version()
    target = settings.cache / "elasticsearch" / f"elasticsearch-{version}.zip"
    return maven_download(zip_url(version), target, progress=progress)


def extract_zip(archive: Path, target: Path) -> None:
    """Unpack ``archive`` into ``target``, keeping the files' Unix modes (the launchers)."""
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            extracted = Path(zf.extract(info, target))
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                extracted.chmod(mode)


def install(settings: Settings, java: Java, *, progress: bool = True) -> Path:
    """Download (once) and unpack the server, with the plugin the lab needs built by ``java``;
    return its installation folder."""
    version = versions.elastic_version()
    dist = settings.cache / "elasticsearch" / f"elasticsearch-{version}"
    if (dist / "bin" / "elasticsearch").is_file():
        install_root_plugin(dist, java)
        return dist
    archive = distribution_zip(settings, progress=progress)
    # Unpack beside the final folder, then rename: a concurrent install never sees half a tree.
    staging = Path(tempfile.mkdtemp(dir=dist.parent, prefix=".unpack-"))
    try:
        extract_zip(archive, staging)
        unpacked = staging / f"elasticsearch-{version}"
        try:
            unpacked.rename(dist)
        except OSError:
            if not (dist / "bin" / "elasticsearch").is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    install_root_plugin(dist, java)
    return dist
