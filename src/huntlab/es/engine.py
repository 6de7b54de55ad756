"""The native Elasticsearch node: a real single-node server run as a local process.

The server is Elastic's own build published on Maven Central
(``org.elasticsearch.distribution.integ-test-zip:elasticsearch``, packaging ``zip``): no
bundled JDK (it runs on the machine's Java 17+) and no x-pack security, so it is bound to
127.0.0.1. The zip is downloaded once into the shared cache (``$HUNTLAB_CACHE/elasticsearch``),
checked against the checksum Maven Central publishes beside it and unpacked there; each huntlab
home gets its own config, data, logs and pid file under ``$HUNTLAB_HOME/elasticsearch/``.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from huntlab import versions
from huntlab.errors import DownloadError, ServiceError
from huntlab.settings import DEFAULT_BIND, Settings, load_settings

MAVEN_CENTRAL = "https://repo1.maven.org/maven2"
GROUP_PATH = "org/elasticsearch/distribution/integ-test-zip/elasticsearch"
START_TIMEOUT = 180.0
STOP_TIMEOUT = 60.0
# The uid/gid the server sees inside its user namespace when huntlab runs as root.
UNPRIVILEGED_ID = 65534


@dataclass(frozen=True)
class NodePaths:
    """Where one home keeps its node: config, data, logs, temporary files and the pid file."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    @property
    def pid_file(self) -> Path:
        return self.root / "elasticsearch.pid"

    @property
    def server_log(self) -> Path:
        # The cluster name is "huntlab", so the server writes logs/huntlab.log.
        return self.logs / "huntlab.log"

    @property
    def console_log(self) -> Path:
        return self.logs / "console.log"


def node_paths(settings: Settings | None = None) -> NodePaths:
    settings = settings or load_settings()
    return NodePaths(settings.home / "elasticsearch")


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


def distribution_zip(settings: Settings | None = None, *, progress: bool = True) -> Path:
    """The verified distribution zip in the cache, downloading it the first time."""
    settings = settings or load_settings()
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


def install(settings: Settings | None = None, *, progress: bool = True) -> Path:
    """Download (once) and unpack the server; return its installation folder."""
    settings = settings or load_settings()
    version = versions.elastic_version()
    dist = settings.cache / "elasticsearch" / f"elasticsearch-{version}"
    if (dist / "bin" / "elasticsearch").is_file():
        install_root_plugin(dist)
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
    install_root_plugin(dist)
    return dist


ROOT_PLUGIN = "huntlab-root"


def install_root_plugin(dist: Path) -> Path:
    """Build and install the small plugin that answers ``GET /`` (see its source).

    The distribution lacks Elastic's rest-root module; clients that first ask ``GET /`` for
    the version (the Spark connector, Logstash) fail without it.
    """
    from huntlab.resources import resource_dir

    return install_plugin(dist, resource_dir("elasticsearch") / "plugins" / ROOT_PLUGIN)


def install_plugin(dist: Path, source: Path) -> Path:
    """Build the plugin whose sources are in ``source`` (``src/**.java`` and
    ``plugin-descriptor.properties.in``) and install it in ``dist/plugins/<folder name>``.

    Compiled with the JDK's ``javac`` against the server's own jars, once per distribution and
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
    javac = java_home() / "bin" / "javac"
    if not javac.is_file():
        raise ServiceError(
            f"{javac} not found: the native Elasticsearch node needs a JDK 17 to build its "
            f"{name} plugin (Debian: apt-get install openjdk-17-jdk-headless), or set ES_JAVA_HOME"
        )
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


STANDIN_PLUGIN = "huntlab-analysis-standin"


def standin_distribution(settings: Settings | None = None) -> Path:
    """A hard-linked copy of the cached distribution with ``huntlab-analysis-standin`` (see
    its source): what the Docker stand-in image and the tests' secured nodes run, so that the
    ``.security`` index (users, roles, API keys) can be created. The lab's own native node
    runs the distribution as shipped."""
    from huntlab.resources import resource_dir

    dist = install(settings, progress=False)
    copy = dist.with_name(dist.name + "-standin")
    if not (copy / "bin" / "elasticsearch").is_file():
        shutil.rmtree(copy, ignore_errors=True)
        staging = Path(tempfile.mkdtemp(dir=dist.parent, prefix=".standin-"))
        try:
            # Hard links: no 200 MB copy; the server never writes into its installation.
            shutil.copytree(dist, staging / "dist", copy_function=os.link)
            try:
                (staging / "dist").rename(copy)
            except OSError:
                if not (copy / "bin" / "elasticsearch").is_file():
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    install_root_plugin(copy)  # rebuilt here too when its source changed
    install_plugin(copy, resource_dir("elasticsearch") / "plugins" / STANDIN_PLUGIN)
    return copy


def java_home() -> Path:
    """The JDK to run the server with: ``ES_JAVA_HOME``, ``HUNTLAB_JAVA_HOME`` (set by
    install.sh), ``JAVA_HOME``, or ``java`` on PATH."""
    for name in ("ES_JAVA_HOME", "HUNTLAB_JAVA_HOME", "JAVA_HOME"):
        value = os.environ.get(name)
        if value and (Path(value) / "bin" / "java").is_file():
            return Path(value)
    java = shutil.which("java")
    if java:
        return Path(java).resolve().parent.parent
    raise ServiceError(
        "no Java found for Elasticsearch: install a JDK 17 (Debian: openjdk-17-jdk-headless) "
        "or set ES_JAVA_HOME"
    )


def _unprivileged_prefix() -> list[str]:
    """How to start the server when huntlab runs as root (CI, containers).

    Elasticsearch refuses to run as root. Rather than needing a second account that can read
    the cache and home, the server runs in a user namespace where it is an ordinary user while
    its files stay the caller's (``unshare --map-user``).
    """
    if os.geteuid() != 0:
        return []
    unshare = shutil.which("unshare")
    if unshare is None:
        raise ServiceError(
            "Elasticsearch refuses to run as root and `unshare` (util-linux) is missing; "
            "run huntlab as an ordinary user or install util-linux"
        )
    return [unshare, "--user", f"--map-user={UNPRIVILEGED_ID}", f"--map-group={UNPRIVILEGED_ID}"]


def _heap_options(heap: str) -> str:
    return f"-Xms{heap}\n-Xmx{heap}\n"


def _config_yaml(
    settings: Settings, paths: NodePaths, extra: Mapping[str, str] | None = None
) -> str:
    port = settings.es_port
    lines = [
        "# Written by huntlab on every start; edit huntlab settings instead.",
        "cluster.name: huntlab",
        "node.name: huntlab-native",
        # Always loopback: this distribution has no security, and `listen` is JupyterLab's
        # address on a team server, never Elasticsearch's.
        f"network.host: {DEFAULT_BIND}",
        f"http.port: {port}",
        # The transport port is not used by a single node; pick any free one.
        "transport.port: 0",
        "discovery.type: single-node",
        f"path.data: {paths.data}",
        f"path.logs: {paths.logs}",
        "xpack.security.enabled: false",
        # Absolute free-space watermarks: percentages block indexing on large, full disks.
        "cluster.routing.allocation.disk.watermark.low: 2gb",
        "cluster.routing.allocation.disk.watermark.high: 1gb",
        "cluster.routing.allocation.disk.watermark.flood_stage: 500mb",
        "action.destructive_requires_name: true",
    ]
    if extra:
        # Extra settings replace the defaults of the same name (e.g. xpack.security.enabled).
        lines = [line for line in lines if line.split(":", 1)[0] not in extra]
        lines.append("# Extra settings given to huntlab.es.engine.start.")
        lines.extend(f"{key}: {value}" for key, value in extra.items())
    return "\n".join([*lines, ""])


def write_config(
    settings: Settings, dist: Path, extra_config: Mapping[str, str] | None = None
) -> NodePaths:
    paths = node_paths(settings)
    for folder in (paths.config, paths.data, paths.logs, paths.tmp):
        folder.mkdir(parents=True, exist_ok=True)
    for name in ("jvm.options", "log4j2.properties"):
        shutil.copyfile(dist / "config" / name, paths.config / name)
    options = paths.config / "jvm.options.d"
    options.mkdir(exist_ok=True)
    (options / "heap.options").write_text(_heap_options(settings.es_heap), encoding="utf-8")
    (paths.config / "elasticsearch.yml").write_text(
        _config_yaml(settings, paths, extra_config), "utf-8"
    )
    return paths


def read_pid(settings: Settings | None = None) -> int | None:
    """The server's pid when the pid file names a live process, else None."""
    pid_file = node_paths(settings).pid_file
    try:
        pid = int(pid_file.read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return None
    # A killed server whose parent has not reaped it yet is a zombie: not running.
    return pid if _alive(pid) else None


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(text[-lines:])


def _health(
    url: str, timeout: float = 2.0, settings: Settings | None = None
) -> dict[str, object] | None:
    import orjson

    try:
        request, context = _request(f"{url}/_cluster/health", url, settings)
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            loaded = orjson.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None
    return loaded if isinstance(loaded, dict) else None


def _request(
    target: str, url: str, settings: Settings | None
) -> tuple[urllib.request.Request, ssl.SSLContext | None]:
    """A probe of the node; over HTTPS (a node started with TLS) it carries the settings'
    CA and credentials."""
    request = urllib.request.Request(target)
    if settings is None or not url.startswith("https://"):
        return request, None
    context = ssl.create_default_context(cafile=settings.es_ca)
    if settings.es_user:
        token = base64.b64encode(f"{settings.es_user}:{settings.es_password or ''}".encode())
        request.add_header("Authorization", f"Basic {token.decode('ascii')}")
    elif settings.es_api_key:
        request.add_header("Authorization", f"ApiKey {settings.es_api_key}")
    return request, context


def _local_url(settings: Settings) -> str:
    # HTTPS only when the settings name this very node over HTTPS (a node started with
    # xpack.security.http.ssl through ``extra_config``); the default node speaks HTTP.
    url = urlsplit(settings.es_url)
    local = url.hostname in (DEFAULT_BIND, "localhost") and url.port == settings.es_port
    scheme = "https" if url.scheme == "https" and local else "http"
    return f"{scheme}://127.0.0.1:{settings.es_port}"


def wait(settings: Settings | None = None, timeout: float = START_TIMEOUT) -> dict[str, object]:
    """Wait (at most ``timeout`` seconds) until the node answers with yellow or green health."""
    settings = settings or load_settings()
    paths = node_paths(settings)
    deadline = time.monotonic() + timeout
    url = _local_url(settings)
    while time.monotonic() < deadline:
        health = _health(url, settings=settings)
        if health and health.get("status") in ("yellow", "green"):
            return health
        time.sleep(0.5)
    raise ServiceError(
        f"Elasticsearch on {url} not healthy after {timeout:.0f} s; read {paths.server_log}"
    )


def _server_env(paths: NodePaths) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "ES_JAVA_HOME": str(java_home()),
            "ES_PATH_CONF": str(paths.config),
            "ES_TMPDIR": str(paths.tmp),
        }
    )
    env.pop("ES_JAVA_OPTS", None)
    return env


def write_keystore(dist: Path, paths: NodePaths, entries: Mapping[str, str]) -> Path:
    """A new ``elasticsearch.keystore`` in the node's config holding ``entries`` (secure
    settings such as ``bootstrap.password``), written by the distribution's own tool."""
    keystore = paths.config / "elasticsearch.keystore"
    keystore.unlink(missing_ok=True)
    tool = [*_unprivileged_prefix(), str(dist / "bin" / "elasticsearch-keystore")]
    env = _server_env(paths)
    commands = [([*tool, "create"], "")]
    commands += [([*tool, "add", "-x", name], value) for name, value in entries.items()]
    for command, value in commands:
        result = subprocess.run(
            command, input=value, env=env, capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise ServiceError(
                f"elasticsearch-keystore {' '.join(command[len(tool) :])} failed "
                f"(exit {result.returncode}):\n{result.stdout}{result.stderr}"
            )
    return keystore


def start(
    settings: Settings | None = None,
    *,
    timeout: float = START_TIMEOUT,
    progress: bool = True,
    extra_config: Mapping[str, str] | None = None,
    keystore: Mapping[str, str] | None = None,
    dist: Path | None = None,
) -> int:
    """Start the node (installing it first if needed) and wait for health; return its pid.

    ``extra_config``: more ``elasticsearch.yml`` settings (replacing huntlab's of the same
    name), ``keystore``: secure settings written to a new keystore, ``dist``: an installation
    folder other than the cached one (a test copy with plugins of its own). Both serve a node with
    security on (the TLS tests); ``settings.es_url`` then says ``https://127.0.0.1:<port>``
    and carries the CA and credentials the health probe uses.
    """
    settings = settings or load_settings()
    running = read_pid(settings)
    if running is not None:
        wait(settings, timeout)
        return running
    dist = dist or install(settings, progress=progress)
    paths = write_config(settings, dist, extra_config)
    if keystore:
        write_keystore(dist, paths, keystore)
    env = _server_env(paths)
    paths.pid_file.unlink(missing_ok=True)
    with paths.console_log.open("ab") as console:
        # -d: the launcher returns once the server runs; -p: the server's own pid, so stop and
        # status act on the server, not on the launcher.
        launcher = subprocess.Popen(
            [
                *_unprivileged_prefix(),
                str(dist / "bin" / "elasticsearch"),
                "-d",
                "-p",
                str(paths.pid_file),
            ],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=console,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            code = launcher.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            launcher.kill()
            launcher.wait()
            raise ServiceError(
                f"Elasticsearch did not start within {timeout:.0f} s; read {paths.server_log} "
                f"and {paths.console_log}"
            ) from None
    if code != 0:
        raise ServiceError(
            f"Elasticsearch failed to start (exit {code}); read {paths.console_log} and "
            f"{paths.server_log}:\n{_tail(paths.console_log)}"
        )
    wait(settings, timeout)
    pid = read_pid(settings)
    if pid is None:
        raise ServiceError(f"Elasticsearch started but wrote no pid file; read {paths.server_log}")
    return pid


def stop(settings: Settings | None = None, *, timeout: float = STOP_TIMEOUT) -> bool:
    """Stop the node: SIGTERM, wait at most ``timeout`` seconds, then SIGKILL.

    Returns False when no node was running.
    """
    settings = settings or load_settings()
    pid = read_pid(settings)
    paths = node_paths(settings)
    if pid is None:
        paths.pid_file.unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            break
        time.sleep(0.25)
    else:
        os.kill(pid, signal.SIGKILL)
        while _alive(pid):
            time.sleep(0.1)
    paths.pid_file.unlink(missing_ok=True)
    return True


def _alive(pid: int) -> bool:
    try:
        # Reap it when it is our child; a zombie still answers kill(0).
        waited, _ = os.waitpid(pid, os.WNOHANG)
        if waited == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's live process
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().split(") ", 1)[1][:1] != "Z"
    except OSError:
        return True


@dataclass(frozen=True)
class NodeStatus:
    running: bool
    pid: int | None
    url: str
    version: str | None
    health: str | None
    log: Path


def status(settings: Settings | None = None) -> NodeStatus:
    import orjson

    settings = settings or load_settings()
    pid = read_pid(settings)
    url = _local_url(settings)
    version = None
    health = _health(url, settings=settings)
    if health is not None:
        try:
            request, context = _request(url, url, settings)
            with urllib.request.urlopen(request, timeout=2, context=context) as response:
                info = orjson.loads(response.read())
            version = info.get("version", {}).get("number")
        except (urllib.error.URLError, OSError, ValueError):
            pass
    return NodeStatus(
        running=pid is not None,
        pid=pid,
        url=url,
        version=version,
        health=str(health.get("status")) if health else None,
        log=node_paths(settings).server_log,
    )
