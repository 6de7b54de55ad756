"""Elasticsearch plugins huntlab builds from source (``elasticsearch/plugins/``) with javac.

The distribution lacks Elastic's rest-root module; clients that first ask ``GET /`` for the
version (the Spark connector, Logstash) fail without it, so the native node gets the small
``huntlab-root`` plugin that answers it.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path

from huntlab import versions
from huntlab.errors import ServiceError
from huntlab.java import Java

ROOT_PLUGIN = "huntlab-root"


def plugin_source(name: str) -> Path:
    """The source folder of plugin ``name`` among the files huntlab ships."""
    from huntlab.resources import resource_dir

    return resource_dir("elasticsearch") / "plugins" / name


def install_root_plugin(dist: Path, java: Java) -> Path:
    """Build and install the plugin that answers ``GET /`` (see its source)."""
    return install_plugin(dist, plugin_source(ROOT_PLUGIN), java)


def install_plugin(dist: Path, source: Path, java: Java) -> Path:
    """Build the plugin whose sources are in ``source`` (``src/**.java`` and
    ``plugin-descriptor.properties.in``) and install it in ``dist/plugins/<folder name>``.

    Compiled with ``java``'s ``javac`` against the server's own jars, once per distribution and
    source change.
    """
    name = source.name
    java_files = sorted((source / "src").rglob("*.java"))
    digest = hashlib.sha256()
    for path in [*java_files, source / "plugin-descriptor.properties.in"]:
        digest.update(path.read_bytes())
    stamp_text = digest.hexdigest()
    target = dist / "plugins" / name
    stamp = target / ".source-sha256"
    if stamp.is_file() and stamp.read_text(encoding="ascii").strip() == stamp_text:
        return target
    javac = java.tool("javac")
    version = versions.elastic_version()
    (dist / "plugins").mkdir(exist_ok=True)
    # Built beside plugins/, not in it: the server reads every folder in plugins/.
    staging = Path(tempfile.mkdtemp(dir=dist, prefix=".plugin-build-"))
    try:
        classes = staging / "classes"
        result = subprocess.run(
            [
                str(javac),
                "--release",
                "17",
                "-nowarn",
                "-d",
                str(classes),
                "-cp",
                str(dist / "lib" / "*"),
                *map(str, java_files),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise ServiceError(f"building the {name} plugin failed:\n{result.stderr}")
        out = staging / name
        out.mkdir()
        with zipfile.ZipFile(out / f"{name}.jar", "w", zipfile.ZIP_DEFLATED) as jar:
            for path in sorted(classes.rglob("*.class")):
                jar.write(path, path.relative_to(classes).as_posix())
        descriptor = (source / "plugin-descriptor.properties.in").read_text(encoding="utf-8")
        (out / "plugin-descriptor.properties").write_text(
            descriptor.replace("@VERSION@", version), encoding="utf-8"
        )
        (out / ".source-sha256").write_text(stamp_text + "\n", encoding="ascii")
        shutil.rmtree(target, ignore_errors=True)
        try:
            out.rename(target)
        except OSError:
            # Another huntlab built it at the same moment: fine if theirs is current.
            if not (stamp.is_file() and stamp.read_text(encoding="ascii").strip() == stamp_text):
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
