"""The Elasticsearch distribution the native node runs, fetched from Maven Central.

The server is Elastic's own build published there
(``org.elasticsearch.distribution.integ-test-zip:elasticsearch``, packaging ``zip``): no
bundled JDK (it runs on the machine's Java 17+) and no x-pack security, so it is bound to
127.0.0.1. The zip is downloaded once into the shared cache (``$HUNTLAB_CACHE/elasticsearch``),
checked against the checksum Maven Central publishes beside it, and unpacked there.
"""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from pathlib import Path

from huntlab import versions
from huntlab.download import maven_download
from huntlab.java import Java
from huntlab.lab.native.plugins import install_root_plugin
from huntlab.settings import Settings

MAVEN_CENTRAL = "https://repo1.maven.org/maven2"
GROUP_PATH = "org/elasticsearch/distribution/integ-test-zip/elasticsearch"


def zip_url(version: str | None = None) -> str:
    version = version or versions.elastic_version()
    return f"{MAVEN_CENTRAL}/{GROUP_PATH}/{version}/elasticsearch-{version}.zip"


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
