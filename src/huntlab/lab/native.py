"""The native lab: Elasticsearch, a Spark standalone master and worker, and JupyterLab run as
local processes supervised by huntlab, all state under ``$HUNTLAB_HOME``.

Elasticsearch and Spark listen on 127.0.0.1 only; JupyterLab listens on ``settings.listen``
(beyond loopback only with TLS). The four services start at the same time and each wait is
bounded, failing with the log to read.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from huntlab import versions
from huntlab.errors import HuntlabError, ServiceError
from huntlab.lab import processes, tls
from huntlab.lab.config import update_config
from huntlab.lab.status import ServiceStatus
from huntlab.lab.token import ensure_token, read_token, rotate_token
from huntlab.lab.workspace import sync_notebooks
from huntlab.settings import DEFAULT_BIND, Settings

ELASTICSEARCH = "elasticsearch"
SPARK_MASTER = "spark-master"
SPARK_WORKER = "spark-worker"
JUPYTER = "jupyter"
SERVICES = (ELASTICSEARCH, SPARK_MASTER, SPARK_WORKER, JUPYTER)
# Started and stopped by huntlab.lab.processes (Elasticsearch has its own engine module).
SUPERVISED = (SPARK_MASTER, SPARK_WORKER, JUPYTER)

START_TIMEOUT = 180.0
# Spark's daemons need little heap; the executors get the worker's memory.
SPARK_DAEMON_MEMORY = "256m"
SPARK_WORKER_MEMORY = "1g"

Say = Callable[[str], None]


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- Java and Spark locations


def _java_major(java: Path) -> int | None:
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


def java_home() -> Path:
    """A Java 17 to 21 home (what Spark 3.5 and Elasticsearch 8 both run on)."""
    candidates: list[Path] = []
    for name in ("HUNTLAB_JAVA_HOME", "JAVA_HOME"):
        if os.environ.get(name):
            candidates.append(Path(os.environ[name]))
    on_path = shutil.which("java")
    if on_path:
        candidates.append(Path(on_path).resolve().parent.parent)
    candidates += sorted(Path("/usr/lib/jvm").glob("*17*"))
    seen: list[str] = []
    for home in candidates:
        java = home / "bin" / "java"
        if not java.is_file():
            continue
        major = _java_major(java)
        seen.append(f"{home} (Java {major})")
        if major is not None and 17 <= major <= 21:
            return home
    found = "; found: " + ", ".join(seen) if seen else ""
    raise HuntlabError(
        "the native lab needs Java 17 (Spark 3.5 and Elasticsearch 8 run on it): install it "
        "(Debian: apt-get install openjdk-17-jre-headless) or set HUNTLAB_JAVA_HOME" + found
    )


def spark_home() -> Path:
    try:
        import pyspark
    except ImportError as exc:
        raise HuntlabError("pyspark is not installed: pip install huntlab") from exc
    home = Path(pyspark.__file__).resolve().parent
    if not (home / "bin" / "spark-class").is_file():
        raise HuntlabError(f"{home}/bin/spark-class not found: reinstall pyspark")
    return home


# ---------------------------------------------------------------- the lab's shape


@dataclass(frozen=True)
class LabPlan:
    """Where each service listens, derived from the settings."""

    settings: Settings
    tls: tls.TlsPair | None

    @property
    def home(self) -> Path:
        return self.settings.home

    @property
    def es_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.es_port}"

    @property
    def spark_master_url(self) -> str:
        return f"spark://127.0.0.1:{self.settings.spark_master_port}"

    @property
    def spark_master_ui(self) -> str:
        return f"http://127.0.0.1:{self.settings.spark_master_ui_port}"

    @property
    def spark_worker_ui(self) -> str:
        return f"http://127.0.0.1:{self.settings.spark_worker_ui_port}"

    @property
    def jupyter_scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def jupyter_probe(self) -> str:
        """The URL huntlab itself uses to reach Jupyter (loopback when it listens on all)."""
        host = self.settings.listen
        if host in ("0.0.0.0", "::", "", "localhost"):
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"{self.jupyter_scheme}://{host}:{self.settings.jupyter_port}"

    @property
    def jupyter_url(self) -> str:
        """The URL to give people: this host's name when Jupyter listens beyond loopback."""
        host = self.settings.listen
        if host in ("0.0.0.0", "::"):
            host = socket.getfqdn() or socket.gethostname()
        if ":" in host:
            host = f"[{host}]"
        return f"{self.jupyter_scheme}://{host}:{self.settings.jupyter_port}"


def plan(
    settings: Settings,
    *,
    tls_self_signed: bool = False,
    tls_cert: str | None = None,
    tls_key: str | None = None,
) -> LabPlan:
    """Check the listening address against the TLS choice; generate a certificate if asked."""
    if bool(tls_cert) != bool(tls_key):
        raise HuntlabError("give both --tls-cert and --tls-key (PEM files), or neither")
    pair: tls.TlsPair | None = None
    if tls_cert and tls_key:
        pair = tls.user_pair(tls_cert, tls_key)
    elif tls_self_signed:
        pair = tls.self_signed(settings.home)
    if not tls.is_loopback(settings.listen) and pair is None:
        raise HuntlabError(
            f"--listen {settings.listen} would expose JupyterLab beyond this machine without "
            "TLS: add --tls (a self-signed certificate for this host) or --tls-cert and "
            "--tls-key (your own)"
        )
    return LabPlan(settings, pair)


# ---------------------------------------------------------------- services


def _spark_env(lab: LabPlan, java: Path) -> dict[str, str]:
    spark_dir = lab.home / "spark"
    for sub in ("work", "tmp", "conf"):
        (spark_dir / sub).mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(
        {
            "JAVA_HOME": str(java),
            "SPARK_HOME": str(spark_home()),
            # Binds the web UIs and RPC to loopback (the UIs default to every interface).
            "SPARK_LOCAL_IP": "127.0.0.1",
            "SPARK_LOCAL_DIRS": str(spark_dir / "tmp"),
            "SPARK_WORKER_DIR": str(spark_dir / "work"),
            "SPARK_CONF_DIR": str(spark_dir / "conf"),
            "SPARK_DAEMON_MEMORY": SPARK_DAEMON_MEMORY,
            "SPARK_NO_DAEMONIZE": "1",
            # Executors run the notebooks' Python functions with the lab's interpreter.
            "PYSPARK_PYTHON": sys.executable,
        }
    )
    return env


def _spark_class(main: str, args: Sequence[str]) -> list[str]:
    return ["bash", str(spark_home() / "bin" / "spark-class"), main, *args]


def _ensure(
    lab: LabPlan,
    name: str,
    argv: list[str],
    *,
    env: dict[str, str],
    cwd: Path,
    meta: dict[str, Any],
    say: Say,
) -> None:
    """Start ``name`` unless it already runs as asked; restart it when asked differently
    (another port, address or certificate)."""
    current = processes.running(lab.home, name)
    if current is not None:
        if current.meta == meta:
            return
        say(f"huntlab: restarting {name} with the new settings")
        processes.stop(lab.home, name)
    processes.start(lab.home, name, argv, env=env, cwd=cwd, meta=meta)


def _start_spark(lab: LabPlan, java: Path, say: Say) -> None:
    env = _spark_env(lab, java)
    s = lab.settings
    master = _spark_class(
        "org.apache.spark.deploy.master.Master",
        ["--host", "127.0.0.1", "--port", str(s.spark_master_port),
         "--webui-port", str(s.spark_master_ui_port)],
    )  # fmt: skip
    _ensure(
        lab, SPARK_MASTER, master, env=env, cwd=lab.home / "spark", meta={"argv": master}, say=say
    )
    cores = max(1, min(2, os.cpu_count() or 1))
    worker = _spark_class(
        "org.apache.spark.deploy.worker.Worker",
        ["--host", "127.0.0.1", "--cores", str(cores), "--memory", SPARK_WORKER_MEMORY,
         "--webui-port", str(s.spark_worker_ui_port),
         "--work-dir", str(lab.home / "spark" / "work"), lab.spark_master_url],
    )  # fmt: skip
    _ensure(
        lab, SPARK_WORKER, worker, env=env, cwd=lab.home / "spark", meta={"argv": worker}, say=say
    )


def jupyter_config_file() -> Path:
    from huntlab.resources import resource_dir

    return resource_dir("jupyter") / "jupyter_server_config.py"


def notebooks_source() -> Path | None:
    from huntlab.resources import resource_dir

    try:
        return resource_dir("notebooks")
    except FileNotFoundError:
        return None


def _jupyter_env(lab: LabPlan, token: str, workspace: Path) -> dict[str, str]:
    jupyter_dir = lab.home / "jupyter"
    env = dict(os.environ)
    env.update(
        {
            "JUPYTER_TOKEN": token,
            "JUPYTER_IP": lab.settings.listen,
            "JUPYTER_PORT": str(lab.settings.jupyter_port),
            "JUPYTER_ROOT_DIR": str(workspace),
            # The lab's own Jupyter config and runtime folders: a personal ~/.jupyter config
            # cannot turn the token off, and two homes never share connection files.
            "JUPYTER_CONFIG_DIR": str(jupyter_dir / "config"),
            "JUPYTER_RUNTIME_DIR": str(jupyter_dir / "runtime"),
            "JUPYTER_PLATFORM_DIRS": "1",
            # What notebooks read through huntlab.load_settings(): no edits needed.
            "HUNTLAB_HOME": str(lab.home),
            "HUNTLAB_ES_URL": lab.es_url,
            "HUNTLAB_SPARK_MASTER": lab.spark_master_url,
            "HUNTLAB_RUNTIME": "native",
            "PYSPARK_PYTHON": sys.executable,
            "PYSPARK_DRIVER_PYTHON": sys.executable,
            # A notebook's Spark driver (and its web UI on 4040) stays on loopback too, even
            # when JupyterLab serves a team.
            "SPARK_LOCAL_IP": "127.0.0.1",
        }
    )
    # Credentials of a bring-your-own cluster are not the native node's business.
    for name in ("HUNTLAB_ES_USER", "HUNTLAB_ES_PASSWORD", "HUNTLAB_ES_API_KEY", "HUNTLAB_ES_CA"):
        env.pop(name, None)
    env.pop("JUPYTER_CERTFILE", None)
    env.pop("JUPYTER_KEYFILE", None)
    if lab.tls:
        env["JUPYTER_CERTFILE"] = str(lab.tls.cert)
        env["JUPYTER_KEYFILE"] = str(lab.tls.key)
    return env


def _jupyter_launch(lab: LabPlan) -> dict[str, Any]:
    return {
        "listen": lab.settings.listen,
        "port": lab.settings.jupyter_port,
        "tls_cert": str(lab.tls.cert) if lab.tls else None,
    }


def _disable_announcements(config_dir: Path) -> None:
    """No "get Jupyter news?" prompt: the lab is often offline, and it hides the notebook."""
    page_config = config_dir / "labconfig" / "page_config.json"
    if page_config.exists():
        return  # the user's own choices (jupyter labextension enable/disable) stay
    page_config.parent.mkdir(parents=True, exist_ok=True)
    plugin = "@jupyterlab/apputils-extension:announcements"
    page_config.write_text(json.dumps({"disabledExtensions": {plugin: True}}, indent=2) + "\n")


def _start_jupyter(lab: LabPlan, token: str, say: Say) -> None:
    workspace, kept = sync_notebooks(notebooks_source(), lab.home)
    for name in kept:
        say(f"huntlab: kept your edited notebook {workspace / name} (not replaced)")
    for sub in ("config", "runtime"):
        (lab.home / "jupyter" / sub).mkdir(parents=True, exist_ok=True)
    _disable_announcements(lab.home / "jupyter" / "config")
    _ensure(
        lab,
        JUPYTER,
        [sys.executable, "-m", "jupyterlab", f"--config={jupyter_config_file()}"],
        env=_jupyter_env(lab, token, workspace),
        cwd=workspace,
        meta=_jupyter_launch(lab),
        say=say,
    )


def _jupyter_ready(lab: LabPlan, token: str) -> bool:
    answer = processes.http_get(
        f"{lab.jupyter_probe}/api/status", headers={"Authorization": f"token {token}"}
    )
    return answer is not None and answer[0] == 200


def _spark_master_alive(lab: LabPlan, *, workers: int = 0) -> bool:
    state = processes.http_json(f"{lab.spark_master_ui}/json/")
    if not isinstance(state, dict) or state.get("status") != "ALIVE":
        return False
    alive = [w for w in state.get("workers", []) if w.get("state") == "ALIVE"]
    return len(alive) >= workers


def _alive(lab: LabPlan, name: str) -> Callable[[], bool]:
    return lambda: processes.running(lab.home, name) is not None


def _wait_started(lab: LabPlan, token: str, timeout: float, say: Say, t0: float) -> None:
    checks: list[tuple[str, str, Callable[[], bool]]] = [
        (SPARK_MASTER, f"Spark master on {lab.spark_master_ui}", lambda: _spark_master_alive(lab)),
        (
            SPARK_WORKER,
            f"Spark worker registering with {lab.spark_master_url}",
            lambda: _spark_master_alive(lab, workers=1),
        ),
        (JUPYTER, f"JupyterLab on {lab.jupyter_probe}", lambda: _jupyter_ready(lab, token)),
    ]
    for name, what, check in checks:
        processes.wait_until(
            check,
            what=what,
            log=processes.log_path(lab.home, name),
            timeout=max(1.0, timeout - (time.monotonic() - t0)),
            alive=_alive(lab, name),
        )
        say(f"huntlab: {name} ready ({time.monotonic() - t0:.0f} s)")


def _es_settings(lab: LabPlan) -> Settings:
    # The native node always listens on loopback, whatever address Jupyter serves on.
    return replace(lab.settings, listen=DEFAULT_BIND, es_url=lab.es_url)


# ---------------------------------------------------------------- life cycle


def up(
    settings: Settings,
    *,
    datasets: Iterable[str] | None = None,
    load_data: bool = True,
    tls_self_signed: bool = False,
    tls_cert: str | None = None,
    tls_key: str | None = None,
    timeout: float = START_TIMEOUT,
    say: Say = _stderr,
) -> LabPlan:
    """Bring the native lab up (idempotent: running services are left as they are)."""
    lab = plan(settings, tls_self_signed=tls_self_signed, tls_cert=tls_cert, tls_key=tls_key)
    lab.home.mkdir(parents=True, exist_ok=True)
    java = java_home()
    token = ensure_token(lab.home)
    from huntlab.es import engine

    es_settings = _es_settings(lab)
    # The engine picks its JDK from ES_JAVA_HOME: give it the one Spark runs on too.
    os.environ.setdefault("ES_JAVA_HOME", str(java))
    es_error: list[BaseException] = []

    def start_es() -> None:
        try:
            engine.start(es_settings, timeout=timeout)
        except BaseException as exc:  # handed to the main thread
            es_error.append(exc)

    say(f"huntlab: starting the native lab in {lab.home}")
    already = {name for name in SUPERVISED if processes.running(lab.home, name) is not None}
    es_already = engine.read_pid(es_settings) is not None
    t0 = time.monotonic()
    es_thread = threading.Thread(target=start_es, name="elasticsearch-start", daemon=True)
    es_thread.start()
    try:
        _start_spark(lab, java, say)
        _start_jupyter(lab, token, say)
        _wait_started(lab, token, timeout, say, t0)
        es_thread.join(max(1.0, timeout + 30 - (time.monotonic() - t0)))
        if es_thread.is_alive():
            raise ServiceError(
                f"Elasticsearch did not start within {timeout:.0f} s; read "
                f"{engine.node_paths(es_settings).server_log}"
            )
        if es_error:
            raise es_error[0]
        say(f"huntlab: {ELASTICSEARCH} ready ({time.monotonic() - t0:.0f} s)")
    except BaseException:
        # Leave the machine as we found it: stop what this call started, keep what ran before.
        es_thread.join(timeout + 30)
        for name in reversed(SUPERVISED):
            if name not in already:
                processes.stop(lab.home, name)
        if not es_already:
            engine.stop(es_settings)
        raise

    _record(lab)
    _setup_es(es_settings, say)
    if load_data:
        _load_datasets(lab, es_settings, datasets, say)
    else:
        say("huntlab: no data loaded (--no-data); load some with `huntlab load NAME`")
    return lab


def _record(lab: LabPlan) -> None:
    s = lab.settings
    update_config(
        lab.home,
        runtime="native",
        es_url=lab.es_url,
        es_port=s.es_port,
        spark_master=lab.spark_master_url,
        spark_master_port=s.spark_master_port,
        spark_master_ui_port=s.spark_master_ui_port,
        spark_worker_ui_port=s.spark_worker_ui_port,
        jupyter_port=s.jupyter_port,
        listen=s.listen,
        jupyter_url=f"{lab.jupyter_url}/lab",
        tls_cert=str(lab.tls.cert) if lab.tls else None,
        tls_key=str(lab.tls.key) if lab.tls else None,
    )


def _setup_es(settings: Settings, say: Say) -> None:
    from huntlab.es.setup import setup

    say("huntlab: setting up Elasticsearch (index templates, ingest pipeline)")
    setup(settings)


def _dataset_count(settings: Settings, name: str) -> int | None:
    from huntlab.es.client import client
    from huntlab.es.indices import PATTERN

    try:
        answer = client(settings).count(
            index=PATTERN, query={"term": {"Dataset": name}}, ignore_unavailable=True
        )
    except Exception:  # no index yet, or a node that went away: treat as not loaded
        return None
    return int(answer["count"])


def _load_datasets(lab: LabPlan, settings: Settings, names: Iterable[str] | None, say: Say) -> None:
    from huntlab import datasets as catalog
    from huntlab.es.loader import load
    from huntlab.lab.config import read_config

    wanted = list(names) if names is not None else list(catalog.DEFAULT_DATASETS)
    loaded: dict[str, int] = dict(read_config(lab.home).get("datasets_loaded") or {})
    for name in wanted:
        recorded = loaded.get(name)
        if recorded is not None and _dataset_count(settings, name) == recorded:
            say(f"huntlab: {name}: already loaded ({recorded} events)")
            continue
        try:
            catalog.resolve(name)
        except HuntlabError as exc:
            say(
                f"huntlab: {name}: not loaded ({exc}).\n"
                f"  The lab runs without it. To load it later: set HUNTLAB_DATASETS_MIRROR to a "
                f"folder of Security-Datasets archives (or go online) and run `huntlab load {name}`"
            )
            continue
        say(f"huntlab: loading {name} into Elasticsearch")
        report = load(name, settings=settings)
        count = _dataset_count(settings, name)
        loaded[name] = count if count is not None else int(getattr(report, "indexed", 0))
        update_config(lab.home, datasets_loaded=loaded)


def down(settings: Settings, *, purge: bool = False, say: Say = _stderr) -> list[str]:
    """Stop every service the native lab started; return the names that were running."""
    from huntlab.es import engine

    home = settings.home
    stopped = [name for name in (JUPYTER, SPARK_WORKER, SPARK_MASTER) if processes.stop(home, name)]
    if engine.stop(replace(settings, listen=DEFAULT_BIND)):
        stopped.append(ELASTICSEARCH)
    for name in stopped:
        say(f"huntlab: stopped {name}")
    if purge:
        for folder in (
            engine.node_paths(settings).root,
            home / "spark",
            home / "jupyter" / "runtime",
            processes.logs_dir(home),
            processes.run_dir(home),
        ):
            shutil.rmtree(folder, ignore_errors=True)
        update_config(home, datasets_loaded=None)
        say(
            f"huntlab: purged the lab's data in {home} (indexes, Spark work, logs); kept your "
            f"notebooks in {home / 'workspace'} and the token"
        )
    return stopped


def lab_pids(settings: Settings) -> list[int]:
    """Every pid of the running lab (services and what they started): for checks and RSS."""
    from huntlab.es import engine

    pids: list[int] = []
    for name in (SPARK_MASTER, SPARK_WORKER, JUPYTER):
        current = processes.running(settings.home, name)
        if current is not None:
            pids += processes.family(current.pid)
    es_pid = engine.read_pid(settings)
    if es_pid is not None:
        pids += processes.family(es_pid)
    return pids


def _lab_from_config(settings: Settings) -> LabPlan:
    pair = None
    from huntlab.lab.config import read_config

    stored = read_config(settings.home)
    if stored.get("tls_cert") and stored.get("tls_key"):
        pair = tls.TlsPair(Path(stored["tls_cert"]), Path(stored["tls_key"]))
    return LabPlan(settings, pair)


def status(settings: Settings) -> list[ServiceStatus]:
    from huntlab.es import engine

    lab = _lab_from_config(settings)
    rows: list[ServiceStatus] = []
    node = engine.status(_es_settings(lab))
    rows.append(
        ServiceStatus(
            ELASTICSEARCH,
            node.running and node.health in ("green", "yellow"),
            node.url,
            node.version,
            f"health {node.health}" if node.health else f"not answering; log {node.log}",
        )
    )
    spark_version = versions.spark_version()
    master = processes.http_json(f"{lab.spark_master_ui}/json/")
    master_up = isinstance(master, dict) and master.get("status") == "ALIVE"
    workers = [w for w in (master or {}).get("workers", []) if w.get("state") == "ALIVE"]
    rows.append(
        ServiceStatus(
            SPARK_MASTER,
            master_up and processes.running(lab.home, SPARK_MASTER) is not None,
            lab.spark_master_url,
            spark_version,
            f"web UI {lab.spark_master_ui}"
            if master_up
            else f"log {processes.log_path(lab.home, SPARK_MASTER)}",
        )
    )
    worker_state = processes.http_json(f"{lab.spark_worker_ui}/json/")
    worker_up = (
        isinstance(worker_state, dict)
        and bool(workers)
        and processes.running(lab.home, SPARK_WORKER) is not None
    )
    rows.append(
        ServiceStatus(
            SPARK_WORKER,
            worker_up,
            lab.spark_worker_ui,
            spark_version,
            f"{worker_state.get('cores')} cores, {worker_state.get('memory')} MB"
            if worker_up and isinstance(worker_state, dict)
            else f"log {processes.log_path(lab.home, SPARK_WORKER)}",
        )
    )
    token = read_token(lab.home)
    jupyter_up = token is not None and _jupyter_ready(lab, token)
    info = processes.http_json(f"{lab.jupyter_probe}/api") if jupyter_up else None
    rows.append(
        ServiceStatus(
            JUPYTER,
            jupyter_up,
            f"{lab.jupyter_url}/lab",
            f"jupyter_server {info.get('version')}" if isinstance(info, dict) else None,
            "" if jupyter_up else f"log {processes.log_path(lab.home, JUPYTER)}",
        )
    )
    return rows


def log_file(settings: Settings, service: str) -> Path:
    from huntlab.es import engine

    if service == ELASTICSEARCH:
        return engine.node_paths(settings).server_log
    if service in SERVICES:
        return processes.log_path(settings.home, service)
    raise HuntlabError(f"no service {service!r}; choose one of {', '.join(SERVICES)}")


def restart_jupyter(settings: Settings, say: Say = _stderr) -> bool:
    """Restart a running JupyterLab (after a token rotation); False when it was not running."""
    if processes.running(settings.home, JUPYTER) is None:
        return False
    lab = _lab_from_config(settings)
    processes.stop(settings.home, JUPYTER)
    token = ensure_token(settings.home)
    _start_jupyter(lab, token, say)
    processes.wait_until(
        lambda: _jupyter_ready(lab, token),
        what=f"JupyterLab on {lab.jupyter_probe}",
        log=processes.log_path(settings.home, JUPYTER),
        timeout=START_TIMEOUT,
        alive=_alive(lab, JUPYTER),
    )
    return True


def new_token(settings: Settings, say: Say = _stderr) -> str:
    value = rotate_token(settings.home)
    if restart_jupyter(settings, say):
        say("huntlab: JupyterLab restarted; only the new token is accepted")
    return value


def summary(lab: LabPlan, token: str) -> list[str]:
    lines = [
        f"JupyterLab     {lab.jupyter_url}/lab?token={token}",
        f"  token        {token}  (huntlab token; stored in {lab.home / 'jupyter_token'})",
        f"Elasticsearch  {lab.es_url}",
        f"Spark master   {lab.spark_master_url}  (web UI {lab.spark_master_ui})",
        f"Spark worker   {lab.spark_worker_ui}",
        f"Notebooks      {lab.home / 'workspace'}",
        f"Logs           {processes.logs_dir(lab.home)}  (huntlab logs SERVICE)",
    ]
    if lab.tls:
        lines.append(f"TLS cert       {lab.tls.cert}")
        lines.append(f"  SHA-256      {tls.fingerprint(lab.tls.cert)}")
    return lines


def connector_jar(settings: Settings) -> Path:
    """Where Spark's Ivy puts the Elasticsearch connector (``huntlab.spark.session``)."""
    group, artifact, version = versions.es_spark_connector().split(":")
    return settings.cache / "ivy2" / "jars" / f"{group}_{artifact}-{version}.jar"


def fetch(settings: Settings | None = None, say: Say = _stderr) -> None:
    """Download what the native engines need into the cache, once: the Elasticsearch
    distribution and the Elasticsearch connector for Spark (so the first notebook that opens
    a Spark session does not wait for Maven Central, and the lab works offline after)."""
    from huntlab.es import engine
    from huntlab.settings import load_settings

    settings = settings or load_settings()
    engine.install(settings)
    if connector_jar(settings).is_file():
        return
    say(f"huntlab: fetching {versions.es_spark_connector()} into {settings.cache / 'ivy2'}")
    java = java_home()
    os.environ.setdefault("JAVA_HOME", str(java))
    import huntlab.spark

    spark = huntlab.spark.session(
        app_name="huntlab-fetch",
        master="local[1]",
        settings=settings,
        config={"spark.ui.enabled": "false"},
    )
    spark.stop()
    if not connector_jar(settings).is_file():
        raise ServiceError(
            f"the Spark connector was not fetched into {connector_jar(settings)}; check that "
            "Maven Central (repo1.maven.org) is reachable"
        )
