"""The Spark standalone master and worker of the native lab, from the pyspark package."""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from huntlab import versions
from huntlab.errors import HuntlabError, ServiceError
from huntlab.files import atomic_write, private_dirs
from huntlab.java import Java
from huntlab.lab import processes
from huntlab.lab.config import update_config
from huntlab.lab.native.plan import EXTERNAL_MASTER_KEY, LabPlan, external_master
from huntlab.lab.status import ServiceStatus
from huntlab.spark.auth import SECRET_ENV, ensure_secret, secret_path
from huntlab.spark.master import parse_master, reachable

__all__ = ["ALL_WORKERS", "SPARK_MASTER", "SPARK_WORKER", "master_alive", "secret_path",
           "spark_status", "start_spark", "worker_count"]  # fmt: skip

SPARK_MASTER = "spark-master"
SPARK_WORKER = "spark-worker"
MAX_WORKERS = 16


def worker_name(number: int) -> str:
    """The supervised name of worker ``number`` (1-based): spark-worker, spark-worker-2, ..."""
    return SPARK_WORKER if number == 1 else f"{SPARK_WORKER}-{number}"


def worker_names(count: int) -> list[str]:
    return [worker_name(n) for n in range(1, count + 1)]


ALL_WORKERS = tuple(worker_names(MAX_WORKERS))
# Spark's daemons need little heap; the executors get the worker's memory.
SPARK_DAEMON_MEMORY = "256m"
SPARK_WORKER_MEMORY = "1g"


def spark_home() -> Path:
    try:
        import pyspark
    except ImportError as exc:
        raise HuntlabError("pyspark is not installed: pip install huntlab") from exc
    home = Path(pyspark.__file__).resolve().parent
    if not (home / "bin" / "spark-class").is_file():
        raise HuntlabError(f"{home}/bin/spark-class not found: reinstall pyspark")
    return home


# The daemons' spark-defaults.conf: every connection authenticated with the home's secret
# (given by environment, never here nor on a command line), and a taken port is an error
# instead of a silent move to the next one.
DAEMON_DEFAULTS = {
    "spark.authenticate": "true",
    "spark.port.maxRetries": "0",
}


def _write_daemon_conf(conf_dir: Path) -> None:
    lines = ["# Written by huntlab on every start of the native lab's Spark master and worker."]
    lines += [f"{key} {value}" for key, value in DAEMON_DEFAULTS.items()]
    atomic_write(conf_dir / "spark-defaults.conf", "\n".join(lines) + "\n")


def _spark_env(lab: LabPlan, java: Java, secret: str) -> dict[str, str]:
    spark_dir = lab.home / "spark"
    for sub in ("", "work", "tmp", "conf"):
        private_dirs(spark_dir / sub)
    _write_daemon_conf(spark_dir / "conf")
    env = dict(os.environ)
    env.update(
        {
            "JAVA_HOME": str(java.home),
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
            SECRET_ENV: secret,
        }
    )
    return env


def _spark_class(main: str, args: Sequence[str]) -> list[str]:
    return ["bash", str(spark_home() / "bin" / "spark-class"), main, *args]


def choose_master(
    home: Path, url: str | None, secret_file: str | None, say: Callable[[str], None]
) -> None:
    """Apply ``huntlab up --spark-master``: ``URL`` points the lab at an existing cluster
    (whose secret ``secret_file`` holds: the lab only talks to authenticated clusters), and
    ``local`` returns it to its own master and workers. None leaves the choice as it was."""
    if url is None:
        if secret_file:
            raise HuntlabError("--spark-secret-file goes with --spark-master spark://HOST:PORT")
        return
    if url == "local":
        if secret_file:
            raise HuntlabError("--spark-secret-file is for an existing cluster, not `local`")
        if external_master(home):
            # The secret was that cluster's: the lab's own master gets a new one of its own.
            secret_path(home).unlink(missing_ok=True)
            update_config(home, **{EXTERNAL_MASTER_KEY: None, "spark_network_crypto": None})
            say("huntlab: back to the lab's own Spark master and workers")
        return
    parse_master(url)
    if not secret_file:
        raise HuntlabError(
            f"--spark-master {url} needs --spark-secret-file FILE: the cluster's "
            "spark.authenticate secret on the file's first line (huntlab's drivers only join "
            "a cluster that authenticates them, with spark.network.crypto.enabled on)"
        )
    path = Path(secret_file).expanduser()
    try:
        secret = path.read_text(encoding="utf-8").splitlines()[0].strip() if path.is_file() else ""
    except (OSError, UnicodeError, IndexError) as exc:
        raise HuntlabError(f"{path}: cannot read the Spark cluster's secret ({exc})") from exc
    if not secret:
        raise HuntlabError(
            f"{path}: no secret on its first line (a missing or empty file); write the "
            "cluster's spark.authenticate.secret there"
        )
    # Nothing is changed until the cluster answers: a mistyped URL leaves the lab as it was.
    problem = reachable(url)
    if problem:
        raise HuntlabError(
            f"the Spark master {url} does not answer ({problem}); nothing changed: check the "
            "URL and that its port is reachable from this host"
        )
    atomic_write(secret_path(home), secret + "\n")
    update_config(home, **{EXTERNAL_MASTER_KEY: url, "spark_network_crypto": True})


def stop_own_spark(home: Path, say: Callable[[str], None]) -> None:
    for name in (*reversed(ALL_WORKERS), SPARK_MASTER):
        if processes.stop(home, name):
            say(f"huntlab: stopped {name} (the lab uses an existing cluster now)")


def start_spark(lab: LabPlan, java: Java, say: Callable[[str], None]) -> None:
    """Start the master and ``spark_workers`` workers (each left alone when it already runs
    as asked; workers beyond that number are stopped). With an existing cluster, stop the
    lab's own and check that cluster's master answers."""
    if lab.spark_external:
        problem = reachable(lab.spark_external)
        if problem:
            raise ServiceError(
                f"the Spark master {lab.spark_external} does not answer ({problem}); start it, "
                "fix the URL (`huntlab up --spark-master URL --spark-secret-file FILE`), or "
                "return to the lab's own with `huntlab up --spark-master local`"
            )
        stop_own_spark(lab.home, say)
        say(f"huntlab: Spark is the existing cluster at {lab.spark_external}")
        return
    secret = ensure_secret(lab.home)
    env = _spark_env(lab, java, secret)
    s = lab.settings
    # A master or worker started before with another secret (or none) is restarted.
    auth = {"authenticate": hashlib.sha256(secret.encode()).hexdigest()[:16]}
    cwd = lab.home / "spark"
    master = _spark_class(
        "org.apache.spark.deploy.master.Master",
        ["--host", "127.0.0.1", "--port", str(s.spark_master_port),
         "--webui-port", str(s.spark_master_ui_port)],
    )  # fmt: skip
    processes.ensure(
        lab.home, SPARK_MASTER, master, env=env, cwd=cwd, meta={"argv": master, **auth}, say=say
    )
    count = worker_count(lab)
    # The machine's cores shared among the local workers (at least one each).
    cores = max(1, min(2, os.cpu_count() or 1) // count)
    for number, name in enumerate(worker_names(count), start=1):
        # The first worker's UI on its set port; more workers take any free loopback port
        # (the master's UI lists them).
        ui_port = s.spark_worker_ui_port if number == 1 else 0
        worker = _spark_class(
            "org.apache.spark.deploy.worker.Worker",
            ["--host", "127.0.0.1", "--cores", str(cores), "--memory", SPARK_WORKER_MEMORY,
             "--webui-port", str(ui_port),
             "--work-dir", str(lab.home / "spark" / "work"), lab.spark_master_url],
        )  # fmt: skip
        processes.ensure(
            lab.home, name, worker, env=env, cwd=cwd, meta={"argv": worker, **auth}, say=say
        )
    for name in ALL_WORKERS[count:]:
        if processes.stop(lab.home, name):
            say(f"huntlab: stopped {name} (the lab now runs {count} workers)")


def worker_count(lab: LabPlan) -> int:
    count = lab.settings.spark_workers
    if not 1 <= count <= MAX_WORKERS:
        raise HuntlabError(f"spark_workers = {count}: choose 1 to {MAX_WORKERS}")
    return count


def _master_is_ours(lab: LabPlan) -> bool:
    """The lab's supervised master is what listens on the master's ports (not somebody
    else's master that took them)."""
    s = lab.settings
    return all(
        processes.listens(lab.home, SPARK_MASTER, port)
        for port in (s.spark_master_port, s.spark_master_ui_port)
    )


def master_alive(lab: LabPlan, *, workers: int = 0) -> bool:
    """The lab's master answers ALIVE with at least ``workers`` live workers registered."""
    if not _master_is_ours(lab):
        return False
    state = processes.http_json(f"{lab.spark_master_ui}/json/")
    if not isinstance(state, dict) or state.get("status") != "ALIVE":
        return False
    alive = [w for w in state.get("workers", []) if w.get("state") == "ALIVE"]
    return len(alive) >= workers


def spark_status(lab: LabPlan) -> list[ServiceStatus]:
    spark_version = versions.spark_version()
    if lab.spark_external:
        problem = reachable(lab.spark_external, timeout=3.0)
        return [
            ServiceStatus(
                SPARK_MASTER,
                problem is None,
                lab.spark_external,
                None,
                "an existing cluster (`huntlab up --spark-master local` returns to the lab's own)"
                if problem is None
                else f"not answering: {problem}",
            )
        ]
    ours = _master_is_ours(lab)
    master = processes.http_json(f"{lab.spark_master_ui}/json/") if ours else None
    master_up = isinstance(master, dict) and master.get("status") == "ALIVE"
    workers = [w for w in (master or {}).get("workers", []) if w.get("state") == "ALIVE"]
    rows = [
        ServiceStatus(
            SPARK_MASTER,
            master_up and processes.running(lab.home, SPARK_MASTER) is not None,
            lab.spark_master_url,
            spark_version,
            f"web UI {lab.spark_master_ui}"
            if master_up
            else f"log {processes.log_path(lab.home, SPARK_MASTER)}",
        )
    ]
    worker_ours = processes.listens(lab.home, SPARK_WORKER, lab.settings.spark_worker_ui_port)
    worker_state = processes.http_json(f"{lab.spark_worker_ui}/json/") if worker_ours else None
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
    for name in ALL_WORKERS[1:]:
        if processes.lookup(lab.home, name) is None:
            continue
        running = processes.running(lab.home, name) is not None
        rows.append(
            ServiceStatus(
                name,
                running and len(workers) >= worker_count(lab),
                lab.spark_master_url,
                spark_version,
                f"{len(workers)} workers alive on the master"
                if running
                else f"log {processes.log_path(lab.home, name)}",
            )
        )
    return rows
