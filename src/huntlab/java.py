"""The one place huntlab finds a Java: version-checked, then passed to whoever needs it.

Elasticsearch 8 and Spark 3.5 both run on Java 17 to 21. The lab's native services, the
Elasticsearch plugin builds (``javac``) and the Spark connector's truststore (``keytool``) all
take the :class:`Java` found here as an argument rather than looking for one themselves.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from huntlab.errors import HuntlabError

MIN_MAJOR = 17
MAX_MAJOR = 21
# Where a user points huntlab at a JDK, most specific first.
ENV_NAMES = ("HUNTLAB_JAVA_HOME", "JAVA_HOME")
INSTALL_HINT = (
    "install a JDK 17 (Debian: apt-get install openjdk-17-jdk-headless) or point "
    "HUNTLAB_JAVA_HOME at one"
)


@dataclass(frozen=True)
class Java:
    """A Java home whose version has been checked."""

    home: Path
    major: int

    def tool(self, name: str) -> Path:
        """``bin/<name>`` of this Java (``javac``, ``keytool``), or a clear error: a JRE lacks
        the compiler."""
        path = self.home / "bin" / name
        if not path.is_file():
            raise HuntlabError(
                f"{self.home} has no bin/{name} (a JRE rather than a JDK?): {INSTALL_HINT}"
            )
        return path


def java_major(java: Path) -> int | None:
    """The major version ``java -version`` reports (8 for ``1.8.0``), or None."""
    try:
        out = subprocess.run(
            [str(java), "-version"], capture_output=True, text=True, timeout=30, check=False
        ).stderr
    except (OSError, subprocess.TimeoutExpired):
        return None
    for token in out.split():
        token = token.strip('"')
        head = token.split(".")[0]
        if head.isdigit() and ("." in token or token.isdigit()):
            major = int(head)
            return int(token.split(".")[1]) if major == 1 else major
    return None


def _candidates() -> list[Path]:
    homes = [Path(os.environ[name]) for name in ENV_NAMES if os.environ.get(name)]
    on_path = shutil.which("java")
    if on_path:
        homes.append(Path(on_path).resolve().parent.parent)
    homes += sorted(Path("/usr/lib/jvm").glob(f"*{MIN_MAJOR}*"))
    return homes


@functools.cache
def _find(key: tuple[str | None, ...]) -> Java:
    del key  # only the cache key: the environment the search ran in
    seen: list[str] = []
    for home in _candidates():
        java = home / "bin" / "java"
        if not java.is_file():
            continue
        major = java_major(java)
        seen.append(f"{home} (Java {major})")
        if major is not None and MIN_MAJOR <= major <= MAX_MAJOR:
            return Java(home, major)
    found = "; found: " + ", ".join(seen) if seen else ""
    raise HuntlabError(
        f"huntlab needs Java {MIN_MAJOR} to {MAX_MAJOR} (Spark 3.5 and Elasticsearch 8 run on "
        f"it): {INSTALL_HINT}{found}"
    )


def find_java() -> Java:
    """The first Java 17 to 21 of ``HUNTLAB_JAVA_HOME``, ``JAVA_HOME``, ``java`` on PATH and
    ``/usr/lib/jvm``; a :class:`HuntlabError` naming what was found otherwise."""
    return _find((*(os.environ.get(name) for name in ENV_NAMES), os.environ.get("PATH")))
