"""The native lab: Elasticsearch, a Spark standalone master and worker, and JupyterLab run as
local processes supervised by huntlab (:mod:`huntlab.lab.processes`), all state under
``$HUNTLAB_HOME``.

Elasticsearch and Spark listen on 127.0.0.1 only; JupyterLab listens on ``settings.listen``
(beyond loopback only with TLS). The four services start at the same time and each wait is
bounded, failing with the log to read. Java is found once (:func:`huntlab.java.find_java`) and
handed to whatever needs it.

Modules: ``plan`` (where each service listens), ``elasticsearch`` (the node), ``distribution``
and ``plugins`` (its Maven zip and the plugin built for it), ``spark`` (master and worker),
``jupyter``, ``data`` (templates and default datasets), ``fetch`` (downloads ahead of time).
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from huntlab.errors import HuntlabError, ServiceError
from huntlab.java import Java, find_java
from huntlab.lab import processes, tls
from huntlab.lab.config import read_config, update_config
from huntlab.lab.home import ensure_home, require_home
from huntlab.lab.native import elasticsearch, external_es, team
from huntlab.lab.native.data import load_datasets, setup_es
from huntlab.lab.native.jupyter import (
    JUPYTER,
    jupyter_status,
    start_jupyter,
    wait_jupyter,
)
from huntlab.lab.native.plan import LabPlan, plan, recorded_plan
from huntlab.lab.native.spark import (
    ALL_WORKERS,
    SPARK_MASTER,
    SPARK_WORKER,
    choose_master,
    master_alive,
    spark_status,
    start_spark,
    worker_count,
)
from huntlab.lab.runtime import LabSummary, Say, UpOptions, say_stderr
from huntlab.lab.status import ServiceStatus
from huntlab.lab.team import accounts, hub
from huntlab.lab.token import ensure_token, read_token, rotate_token, token_path
from huntlab.settings import Settings

ELASTICSEARCH = elasticsearch.NAME
SERVICES = (ELASTICSEARCH, SPARK_MASTER, SPARK_WORKER, JUPYTER)
# A team lab has JupyterHub where the single JupyterLab would be.
TEAM_SERVICES = (ELASTICSEARCH, SPARK_MASTER, SPARK_WORKER, hub.HUB)
# Started in this order, stopped in the reverse one (Elasticsearch starts beside them).
SPARK_AND_JUPYTER = (SPARK_MASTER, *ALL_WORKERS, JUPYTER)

START_TIMEOUT = 180.0

__all__ = ["SERVICES", "LabPlan", "NativeRuntime", "plan"]


def _limits_line(home: Path) -> str:
    from huntlab.lab.team import limits

    why = limits.why_unavailable()
    if why is not None:
        return f"huntlab: note: hunters' servers run without memory and CPU limits: {why}"
    wanted = limits.Limits.from_config(read_config(home))
    return (
        f"huntlab: each hunter's server is limited to {wanted.memory / 1024**3:.1f} GB of "
        f"memory and {wanted.cpus:g} CPU (cgroup huntlab/hunter-NAME; HUNTLAB_HUNTER_MEM_LIMIT, "
        "HUNTLAB_HUNTER_CPU_LIMIT)"
    )


def team_limits_config() -> dict[str, str]:
    """HUNTLAB_HUNTER_MEM_LIMIT and HUNTLAB_HUNTER_CPU_LIMIT given to `up`, checked and kept
    (as in docker/.env for the docker runtime): each hunter's server's cgroup limits."""
    from huntlab.lab.team import limits

    out = {}
    memory = os.environ.get("HUNTLAB_HUNTER_MEM_LIMIT")
    if memory:
        limits.memory_bytes(memory, "HUNTLAB_HUNTER_MEM_LIMIT")
        out["team_hunter_mem_limit"] = memory
    cpus = os.environ.get("HUNTLAB_HUNTER_CPU_LIMIT")
    if cpus:
        limits.Limits.from_config({"team_hunter_cpu_limit": cpus})
        out["team_hunter_cpu_limit"] = cpus
    return out


def _spark_lines(lab: LabPlan) -> list[str]:
    if lab.spark_external:
        return [f"Spark master   {lab.spark_master_url}  (an existing cluster)"]
    return [
        f"Spark master   {lab.spark_master_url}  (web UI {lab.spark_master_ui})",
        f"Spark worker   {lab.spark_worker_ui}",
    ]


def _es_line(lab: LabPlan) -> str:
    if lab.es_external:
        return f"Elasticsearch  {lab.es_url}  (an existing cluster, as {_admin_user(lab)!r})"
    return f"Elasticsearch  {lab.es_url}"


def _admin_user(lab: LabPlan) -> str:
    if lab.es_external:
        return str(read_config(lab.home).get("es_user") or "")
    return team.es_realm.ADMIN_USER


def summary(lab: LabPlan, token: str) -> list[str]:
    lines = [
        f"JupyterLab     {lab.jupyter_url}/lab?token={token}",
        f"  token        {token}  (huntlab token; stored in {lab.home / 'jupyter_token'})",
        _es_line(lab),
        *_spark_lines(lab),
        f"Notebooks      {lab.home / 'workspace'}",
        f"Logs           {processes.logs_dir(lab.home)}  (huntlab logs SERVICE)",
    ]
    if lab.tls:
        lines.append(f"TLS cert       {lab.tls.cert}")
        lines.append(f"  SHA-256      {tls.fingerprint(lab.tls.cert)}")
    return lines


def team_summary(lab: LabPlan) -> list[str]:
    assert lab.tls is not None
    return [
        f"Team server    {lab.jupyter_url}/hub/  (JupyterHub: hunters log in with their own "
        "password)",
        "  hunters      huntlab users add NAME [--admin]   (prints their one-time invite link)",
        f"Elasticsearch  {lab.es_url}  (security on: each hunter their own user; the lab's "
        f"admin is {_admin_user(lab)})" + ("; an existing cluster" if lab.es_external else ""),
        *_spark_lines(lab)[:1],
        f"Hunters' files {team.accounts.hunters_dir(lab.home)}",
        f"Shared         {team.accounts.datasets_dir(lab.home)} (read-only), "
        f"{team.accounts.hunts_dir(lab.home)} (the team's hunts)",
        f"Logs           {processes.logs_dir(lab.home)}  (huntlab logs SERVICE)",
        f"TLS cert       {lab.tls.cert}",
        f"  SHA-256      {tls.fingerprint(lab.tls.cert)}",
    ]


def _record(lab: LabPlan, *, is_team: bool = False) -> None:
    s = lab.settings
    if is_team:
        from huntlab.java import find_java as _find

        update_config(
            lab.home,
            team=True,
            jupyter_url=f"{lab.jupyter_url}/hub/",
            # The lab's admin on its own node; on an existing cluster, the user it was given.
            **({} if lab.es_external else team.es_realm.admin_config(lab.home)),
            java_home=str(_find().home),
            cache=str(s.cache),
            hub_port=s.hub_port,
            hub_proxy_api_port=s.hub_proxy_api_port,
        )
    update_config(
        lab.home,
        runtime="native",
        es_url=lab.es_url,
        es_port=s.es_port,
        spark_master=lab.spark_master_url,
        spark_master_port=s.spark_master_port,
        spark_master_ui_port=s.spark_master_ui_port,
        spark_worker_ui_port=s.spark_worker_ui_port,
        spark_workers=s.spark_workers,
        jupyter_port=s.jupyter_port,
        listen=s.listen,
        **({} if is_team else {"jupyter_url": f"{lab.jupyter_url}/lab"}),
        tls_cert=str(lab.tls.cert) if lab.tls else None,
        tls_key=str(lab.tls.key) if lab.tls else None,
    )


def _alive(lab: LabPlan, name: str) -> Callable[[], bool]:
    return lambda: processes.running(lab.home, name) is not None


def _wait_started(lab: LabPlan, door: _Door, timeout: float, say: Say, t0: float) -> None:
    def left() -> float:
        return max(1.0, timeout - (time.monotonic() - t0))

    checks: list[tuple[str, str, Callable[[], bool]]] = [
        (SPARK_MASTER, f"Spark master on {lab.spark_master_ui}", lambda: master_alive(lab)),
        (
            SPARK_WORKER,
            f"{worker_count(lab)} Spark worker(s) registering with {lab.spark_master_url}",
            lambda: master_alive(lab, workers=worker_count(lab)),
        ),
    ]
    if lab.spark_external:
        checks = []  # an existing cluster: start_spark checked that its master answers
    for name, what, check in checks:
        processes.wait_until(
            check,
            what=what,
            log=processes.log_path(lab.home, name),
            timeout=left(),
            alive=_alive(lab, name),
        )
        say(f"huntlab: {name} ready ({time.monotonic() - t0:.0f} s)")
    door.wait(left())
    say(f"huntlab: {door.name} ready ({time.monotonic() - t0:.0f} s)")


@dataclass(frozen=True)
class _Door:
    """The lab's front door: JupyterLab (one analyst) or JupyterHub (a team)."""

    name: str
    start: Callable[[], None]
    wait: Callable[[float], None]


def _start_services(
    lab: LabPlan, java: Java, door: _Door, timeout: float, say: Say,
    es_settings: Settings, security: bool = False,
) -> None:  # fmt: skip
    """Start Elasticsearch (in a thread: it is the slowest), Spark and the door together;
    on failure stop what this call started and keep what ran before."""
    es_error: list[BaseException] = []
    services = (SPARK_MASTER, *ALL_WORKERS, door.name)

    def start_es() -> None:
        try:
            if lab.es_external:  # an existing cluster: checked (again) that it answers
                external_es.verify(es_settings, team=security)
            else:
                elasticsearch.start(es_settings, java, timeout=timeout, security=security)
        except BaseException as exc:  # handed to the main thread
            es_error.append(exc)

    own = None if lab.es_external else elasticsearch.running(es_settings)
    if own is not None and bool(own.meta.get("security", False)) != security:
        # A single analyst's lab becoming a team's (or back): the same node and data, with
        # the security the lab now needs.
        say(f"huntlab: restarting Elasticsearch with security {'on' if security else 'off'} "
            f"(it ran with security {'off' if security else 'on'})")  # fmt: skip
        elasticsearch.stop(es_settings, say=say)
    already = {n for n in services if processes.running(lab.home, n) is not None}
    es_already = bool(lab.es_external) or elasticsearch.running(es_settings) is not None
    if es_already and door.name in already:
        say(f"huntlab: the native lab in {lab.home} runs; checking each service")
    else:
        say(f"huntlab: starting the native lab in {lab.home}")
    t0 = time.monotonic()
    es_thread = threading.Thread(target=start_es, name="elasticsearch-start", daemon=True)
    es_thread.start()
    try:
        start_spark(lab, java, say)
        door.start()
        _wait_started(lab, door, timeout, say, t0)
        es_thread.join(max(1.0, timeout + 30 - (time.monotonic() - t0)))
        if es_thread.is_alive():
            raise ServiceError(
                f"Elasticsearch did not start within {timeout:.0f} s; read "
                f"{elasticsearch.node_paths(es_settings).server_log}"
            )
        if es_error:
            raise es_error[0]
        where = f" (the existing cluster at {lab.es_external})" if lab.es_external else ""
        say(f"huntlab: {ELASTICSEARCH} ready{where} ({time.monotonic() - t0:.0f} s)")
    except BaseException:
        # Leave the machine as we found it: stop what this call started, keep what ran before.
        es_thread.join(timeout + 30)
        for name in reversed(services):
            if name not in already:
                processes.stop(lab.home, name)
        if not es_already:
            elasticsearch.stop(es_settings)
        raise


class NativeRuntime:
    """The lab as local processes in one huntlab home."""

    name = "native"

    def __init__(self, settings: Settings, *, say: Say = say_stderr) -> None:
        self.settings = settings
        self.say = say

    @property
    def home(self) -> Path:
        return self.settings.home

    def up(self, options: UpOptions, *, timeout: float = START_TIMEOUT) -> LabSummary:
        """Bring the native lab up (idempotent: services running as asked are left alone)."""
        started = time.monotonic()
        if options.logstash:
            self.say("huntlab: Logstash runs in the docker runtime only; the native lab's "
                     "ingest path is `huntlab load` (docs/team.md, \"Live data\")")  # fmt: skip
        ensure_home(self.home)  # before plan(): a self-signed certificate goes in it
        choose_master(self.home, options.spark_master, options.spark_secret_file, self.say)
        is_team = options.team or team.is_team(self.home)
        self.settings = external_es.choose(
            self.settings, options.es_url, options.es_user, options.es_password_file,
            options.es_ca, team=is_team, say=self.say,
        )  # fmt: skip
        if external_es.external_url(self.home) and elasticsearch.stop(self.settings):
            self.say("huntlab: stopped elasticsearch (the lab uses an existing cluster now)")
        lab = plan(
            self.settings,
            # A team server has one door, always HTTPS: self-signed unless a pair is given.
            tls_self_signed=options.tls_self_signed or (is_team and not options.tls_cert),
            tls_cert=options.tls_cert,
            tls_key=options.tls_key,
        )
        java = find_java()
        token = ""
        if is_team:
            es_settings = team.prepare_team(lab.es_settings, external=bool(lab.es_external))
            idle = options.idle_timeout or int(
                read_config(self.home).get("team_idle_timeout") or hub.DEFAULT_IDLE_TIMEOUT
            )
            update_config(self.home, team_idle_timeout=idle, **team_limits_config())
            self.say(_limits_line(self.home))
            processes.stop(self.home, JUPYTER, say=self.say)  # the hub is the door now
            proxy = hub.install_proxy(self.settings, self.say)
            assert lab.tls is not None
            pair = lab.tls
            door = _Door(
                hub.HUB,
                lambda: hub.start_hub(lab.settings, pair, proxy, idle, self.say),
                lambda left: hub.wait_hub(lab.settings, left),
            )
        else:
            es_settings = lab.es_settings
            token = ensure_token(lab.home)
            door = _Door(
                JUPYTER,
                lambda: start_jupyter(lab, token, self.say),
                lambda left: wait_jupyter(lab, token, left),
            )
        _start_services(lab, java, door, timeout, self.say, es_settings, security=is_team)
        _record(lab, is_team=is_team)
        setup_es(es_settings, self.say)
        if options.load_data:
            load_datasets(lab.home, es_settings, options.datasets, self.say)
        else:
            self.say("huntlab: no data loaded (--no-data); load some with `huntlab load NAME`")
        if is_team:
            loaded = read_config(self.home).get("datasets_loaded") or {}
            accounts.share_datasets(self.home, sorted(loaded), self.say)
        self.say(f"huntlab: the lab is up ({time.monotonic() - started:.0f} s)")
        lines = team_summary(lab) if is_team else summary(lab, token)
        return LabSummary(self.name, tuple(lines), token)

    def down(self, purge: bool = False, purge_notebooks: bool = False) -> list[str]:
        """Stop every service the native lab started; return the names that were running."""
        home = self.home
        if purge_notebooks:
            raise HuntlabError(
                "--purge-notebooks is for the docker lab; the native lab's notebooks are files "
                f"in {home / 'workspace'}: delete them yourself if you mean to"
            )
        if purge:
            require_home(home, "purge")
        stopped = [hub.HUB] if hub.stop_hub(home, say=self.say) else []
        stopped += [n for n in reversed(SPARK_AND_JUPYTER) if processes.stop(home, n, say=self.say)]
        if elasticsearch.stop(self.settings, say=self.say):
            stopped.append(ELASTICSEARCH)
        for name in stopped:
            self.say(f"huntlab: stopped {name}")
        if purge:
            for folder in (
                elasticsearch.node_paths(self.settings).root,
                home / "spark",
                home / "jupyter" / "runtime",
                processes.logs_dir(home),
                processes.run_dir(home),
            ):
                shutil.rmtree(folder, ignore_errors=True)
            update_config(home, datasets_loaded=None)
            external = external_es.external_url(home)
            self.say(
                f"huntlab: purged the lab's data in {home} (indexes, Spark work, logs); kept "
                f"your notebooks in {home / 'workspace'} and the token"
                + (
                    f"; the indexes huntlab-* on the existing cluster {external} stay (huntlab "
                    "does not delete data on a cluster it does not run)"
                    if external
                    else ""
                )
            )
        return stopped

    def status(self) -> list[ServiceStatus]:
        lab = recorded_plan(self.settings)
        if lab.es_external:
            rows = [external_es.status(self.settings)]
            rows += spark_status(lab)
            rows.append(self._door_status(lab))
            return rows
        node = elasticsearch.status(lab.es_settings)
        rows = [
            ServiceStatus(
                ELASTICSEARCH,
                node.running and node.health in ("green", "yellow"),
                node.url,
                node.version,
                f"health {node.health}" if node.health else f"not answering; log {node.log}",
            )
        ]
        rows += spark_status(lab)
        rows.append(self._door_status(lab))
        return rows

    def _door_status(self, lab: LabPlan) -> ServiceStatus:
        if team.is_team(self.home):
            return hub.hub_status(self.settings, team.door_url(self.home) + "/hub/")
        return jupyter_status(lab)

    def token(self) -> str:
        if team.is_team(self.home):
            raise HuntlabError(
                "a team lab has no shared token: each hunter logs in with their own password "
                "(`huntlab users add NAME` prints their invite link)"
            )
        value = read_token(self.home)
        if value is None:
            raise HuntlabError(f"no token in {self.home} yet: run `huntlab up` first")
        return value

    def rotate_token(self) -> str:
        if team.is_team(self.home) or not token_path(self.home).exists():
            self.token()  # says a team lab has no shared token, or that no lab ran yet
        value = rotate_token(self.home)  # whatever the old file holds: it may be the fault
        if self._restart_jupyter():
            self.say("huntlab: JupyterLab restarted; only the new token is accepted")
        return value

    def _restart_jupyter(self) -> bool:
        """Restart a running JupyterLab (after a token rotation); False when it was not
        running."""
        if processes.running(self.home, JUPYTER) is None:
            return False
        lab = recorded_plan(self.settings)
        processes.stop(self.home, JUPYTER)
        token = ensure_token(self.home)
        start_jupyter(lab, token, self.say)
        wait_jupyter(lab, token, START_TIMEOUT)
        return True

    def _services(self) -> tuple[str, ...]:
        return TEAM_SERVICES if team.is_team(self.home) else SERVICES

    def log_file(self, service: str) -> Path:
        if service == ELASTICSEARCH:
            return elasticsearch.node_paths(self.settings).server_log
        if service in self._services():
            return processes.log_path(self.home, service)
        raise HuntlabError(f"no service {service!r}; choose one of {', '.join(self._services())}")

    def logs(self, service: str | None, follow: bool = False, lines: int = 100) -> None:
        if service is None:
            if follow:
                raise HuntlabError(f"-f needs a SERVICE: one of {', '.join(self._services())}")
            for name in self._services():
                print(f"{name:<14} {self.log_file(name)}", flush=True)
            return
        path = self.log_file(service)
        if not path.is_file():
            raise HuntlabError(f"{path}: no log yet ({service} never ran in {self.home})")
        if follow:
            processes.follow(path, lines)
        else:
            print(processes.log_tail(path, lines), flush=True)
