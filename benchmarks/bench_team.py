"""Team server under load: N hunters log in at once, each runs notebook 04 in their own kernel.

The native team server (``./install.sh --native --team``) has no baseline tool to race, so the
figures are printed beside the goals of the team-server issue:

- failures: 0;
- time from the login form to a ready kernel, per hunter (min / median / max): <= 10 s at N=8;
- resident memory per idle hunter (RSS summed over every process of the hunter's unix account,
  that is their JupyterLab server and its kernels): <= 250 MB;
- spread of the hunters' notebook run times (slowest / fastest): <= 1.5x.

What each hunter does, all at once (one thread each), like a browser would:

1. ``GET /hub/login``, then ``POST`` the form with their password and the ``_xsrf`` token (HTTPS,
   the lab's self-signed certificate trusted, nothing else);
2. start their server through the hub's API with their own login cookie, wait until it is ready;
3. open ``/user/NAME/lab`` (the hub's OAuth hands their server a cookie of its own), create a
   kernel there and wait for its ``kernel_info_reply`` on the kernel's websocket: the kernel is
   ready, the first timed figure stops;
4. run the code cells of ``jupyter/notebooks/04-*.ipynb`` one after another in that kernel
   (the pandas analysis of empire_invoke_wmi, read from the team's shared datasets folder); any
   error in a cell is a failure.

Once every hunter is done, after ``--idle`` seconds, the memory of each hunter is measured three
times: with their kernel idle (it still holds the notebook's tables), after that kernel is shut
down (their server alone), and with a new kernel open and idle (a hunter who just opened a
notebook). RSS counts pages shared between processes (the Python libraries) once per process;
PSS, which splits them, is printed beside it for information. The CPU time each hunter's server
and kernel used is printed too: on a small machine it is what bounds the start-up times.

By default the script brings up its own team lab in a temporary home under /tmp (hunters' servers
must pass through it) on free ports (``install.sh --native --team --datasets empire_invoke_wmi``,
datasets from ../shared/datasets) and brings it down at the end; ``--home DIR`` uses a running
team lab instead. Either way its hunters (bench01 ...) are added with passwords and removed
afterwards. Root only (native hunters are unix accounts).

``--runtime docker`` measures the docker runtime's team server instead (``install.sh --docker
--team``, each hunter a container; goal for the ready kernel: 20 s): on a machine without an
image registry it uses the test suite's substitutions (docker/compose.test.yaml and
compose.team-test.yaml, the local base and Elasticsearch images of docker/local-images/, which
it builds if missing, and no Logstash). A hunter's memory and CPU are those of the processes
in their container (``docker top``), read on the host like the native ones.

Usage: python benchmarks/bench_team.py [--runtime native|docker] [--hunters 8] [--home DIR] [--idle 10]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

import needs
from huntlab.lab.processes import free_ports

REPO = Path(__file__).resolve().parent.parent
NOTEBOOK = next((REPO / "jupyter" / "notebooks").glob("04-*.ipynb"))
DATASET = "empire_invoke_wmi"
GOAL_READY_S = {"native": 10.0, "docker": 20.0}
GOAL_MB = 250.0
GOAL_SPREAD = 1.5
TIMEOUT = 600.0


@dataclass
class Lab:
    home: Path
    env: dict[str, str]
    url: str
    cert: str
    started_here: bool
    runtime: str = "native"

    def huntlab(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "huntlab", *args],
            env=self.env, input=stdin, capture_output=True, text=True, timeout=900, check=False,
        )  # fmt: skip


@dataclass
class Hunter:
    name: str
    password: str
    session: requests.Session = field(default_factory=requests.Session)
    kernel_id: str | None = None
    ready_s: float | None = None
    server_s: float | None = None
    notebook_s: float | None = None
    error: str | None = None
    phases: dict[str, float] = field(default_factory=dict)


# --- the lab ---------------------------------------------------------------------------------


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUNTLAB_", "JUPYTER_"))}
    if os.environ.get("HUNTLAB_CACHE"):
        env["HUNTLAB_CACHE"] = os.environ["HUNTLAB_CACHE"]
    return env


def lab_urls(home: Path) -> tuple[str, str]:
    from huntlab.lab.config import read_config

    stored = read_config(home)
    door = str(stored.get("jupyter_url") or "").removesuffix("/").removesuffix("/hub")
    if not door.startswith("https://") or not stored.get("tls_cert"):
        sys.exit(f"{home} is not a running team lab (no HTTPS door in its config)")
    return door.replace("://0.0.0.0:", "://127.0.0.1:"), str(stored["tls_cert"])


def bring_up(mirror: str) -> Lab:
    # Under /tmp, not a private temporary folder: hunters' servers pass through the home.
    home = Path(tempfile.mkdtemp(prefix="huntlab-bench-team-", dir="/tmp"))
    ports = free_ports(7)
    env = clean_env()
    env.update(
        dict(
            zip(
                ("HUNTLAB_ES_PORT", "HUNTLAB_SPARK_MASTER_PORT", "HUNTLAB_SPARK_MASTER_UI_PORT",
                 "HUNTLAB_SPARK_WORKER_UI_PORT", "HUNTLAB_JUPYTER_PORT", "HUNTLAB_HUB_PORT",
                 "HUNTLAB_HUB_PROXY_API_PORT"),
                (str(p) for p in ports), strict=True,
            )
        )
    )  # fmt: skip
    env.update({"HUNTLAB_HOME": str(home), "HUNTLAB_DATASETS_MIRROR": mirror})
    lab = install_team(Lab(home, env, "", "", started_here=True))
    lab.url, lab.cert = lab_urls(home)
    return lab


def install_team(lab: Lab) -> Lab:
    """``install.sh --RUNTIME --team`` for the lab's environment; exits when it fails."""
    print(f"bringing up a team lab in {lab.home} (install.sh --{lab.runtime} --team) ...",
          flush=True)  # fmt: skip
    started = time.monotonic()
    done = subprocess.run(
        [str(REPO / "install.sh"), f"--{lab.runtime}", "--team", "--datasets", DATASET],
        env=lab.env, capture_output=True, text=True, timeout=2400, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        tear_down(lab, [])
        sys.exit(f"install.sh --{lab.runtime} --team failed:\n{done.stderr[-4000:]}")
    print(f"  up in {time.monotonic() - started:.0f} s", flush=True)
    return lab


def bring_up_docker(mirror: str) -> Lab:
    from huntlab.lab.docker import read_env_file

    venv_path = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    for script in ("base-image.sh", "elasticsearch-image.sh"):
        built = subprocess.run(["bash", str(REPO / "docker" / "local-images" / script)],
                               env=venv_path, capture_output=True, text=True, timeout=1800,
                               check=False)  # fmt: skip
        if built.returncode != 0:
            sys.exit(f"docker/local-images/{script} failed:\n{built.stderr[-3000:]}")
    home = Path(tempfile.mkdtemp(prefix="huntlab-bench-team-docker-", dir="/tmp"))
    names = ("ES_PORT", "SPARK_MASTER_PORT", "SPARK_MASTER_UI_PORT", "SPARK_WORKER_UI_PORT",
             "JUPYTER_PORT")  # fmt: skip
    ports = dict(zip(names, free_ports(len(names)), strict=True))
    env = clean_env()
    for key in ("COMPOSE_PROFILES", "COMPOSE_FILE", "COMPOSE_PROJECT_NAME"):
        env.pop(key, None)
    docker = REPO / "docker"
    env.update({f"HUNTLAB_{key}": str(port) for key, port in ports.items()})
    env.update({
        "HUNTLAB_HOME": str(home / "home"),
        "HUNTLAB_DOCKER_ENV_FILE": str(home / "lab.env"),
        "HUNTLAB_COMPOSE_PROJECT": f"huntlab-bench-{secrets.token_hex(3)}",
        "HUNTLAB_COMPOSE_FILES": f"{docker / 'compose.test.yaml'}:{docker / 'compose.team-test.yaml'}",
        "HUNTLAB_DATASETS_MIRROR": mirror,
        "HUNTLAB_LOGSTASH": "false",
        "BASE_IMAGE": "huntlab-local/debian:bookworm",
        "ELASTICSEARCH_IMAGE": "huntlab-local/elasticsearch",
        "PATH": f"{Path(sys.executable).parent}:{env.get('PATH', '')}",
    })  # fmt: skip
    lab = install_team(Lab(home, env, "", "", started_here=True, runtime="docker"))
    lab.url = f"https://127.0.0.1:{ports['JUPYTER_PORT']}"
    lab.cert = read_env_file(home / "lab.env")["JUPYTER_TLS_CERT"]
    return lab


def use_existing(home: Path) -> Lab:
    env = clean_env()
    env["HUNTLAB_HOME"] = str(home)
    url, cert = lab_urls(home)
    return Lab(home, env, url, cert, started_here=False)


def keep_hub_log(lab: Lab) -> None:
    """Copy the hub's log out of the lab's home (deleted at the end) to read the failures."""
    if lab.runtime == "docker":
        kept = Path(tempfile.gettempdir()) / f"bench-team-{lab.home.name}-hub.log"
        kept.write_text(lab.huntlab("logs", "hub").stdout, encoding="utf-8")
        print(f"the hub's log is kept in {kept}", file=sys.stderr)
        return
    log = lab.home / "logs" / "jupyterhub.log"
    if log.is_file():
        kept = Path(tempfile.gettempdir()) / f"bench-team-{lab.home.name}-jupyterhub.log"
        shutil.copyfile(log, kept)
        print(f"the hub's log is kept in {kept}", file=sys.stderr)


def tear_down(lab: Lab, hunters: list[Hunter]) -> None:
    for hunter in hunters:
        removed = lab.huntlab("users", "remove", hunter.name)
        if removed.returncode != 0:
            print(f"huntlab users remove {hunter.name}: {removed.stderr.strip()}", file=sys.stderr)
    if lab.started_here:
        if lab.runtime == "docker":
            lab.huntlab("down", "--purge", "--purge-notebooks")
        else:
            lab.huntlab("down")
        shutil.rmtree(lab.home, ignore_errors=True)


# --- one hunter ------------------------------------------------------------------------------


def cookie(session: requests.Session, name: str, path: str) -> str:
    for item in session.cookies:
        if item.name == name and (item.path or "/").rstrip("/") == path.rstrip("/"):
            return str(item.value)
    raise RuntimeError(f"no {name} cookie for {path}")


class Kernel:
    """A kernel of the hunter's server over its websocket, authenticated by their cookies."""

    def __init__(self, lab: Lab, hunter: Hunter) -> None:
        import websocket

        self.session_id = uuid.uuid4().hex
        base = f"{lab.url}/user/{hunter.name}"
        ws_url = base.replace("https://", "wss://", 1)
        jar = "; ".join(f"{c.name}={c.value}" for c in hunter.session.cookies
                        if (c.path or "/") in ("/", f"/user/{hunter.name}/",
                                                f"/user/{hunter.name}"))  # fmt: skip
        self.ws = websocket.create_connection(
            f"{ws_url}/api/kernels/{hunter.kernel_id}/channels?session_id={self.session_id}",
            header=[f"Cookie: {jar}"], origin=lab.url, timeout=TIMEOUT,
            sslopt={"ca_certs": lab.cert},
        )  # fmt: skip

    def request(self, channel: str, kind: str, content: dict[str, Any]) -> str:
        msg_id = uuid.uuid4().hex
        header = {"msg_id": msg_id, "username": "bench", "session": self.session_id,
                  "msg_type": kind, "version": "5.3"}  # fmt: skip
        self.ws.send(json.dumps({"header": header, "parent_header": {}, "metadata": {},
                                 "channel": channel, "buffers": [], "content": content}))  # fmt: skip
        return msg_id

    def wait(self, msg_id: str, until: str, deadline: float) -> None:
        """Read messages until ``until`` (a msg_type, or "idle") answers ``msg_id``; a Python
        error in the kernel raises."""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RuntimeError(f"the kernel did not answer {msg_id} in time")
            self.ws.settimeout(remaining)
            message = json.loads(self.ws.recv())
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = message["msg_type"]
            if kind == "error":
                raise RuntimeError("\n".join(message["content"].get("traceback", []))[-2000:])
            if kind == until or (
                until == "idle" and kind == "status"
                and message["content"]["execution_state"] == "idle"
            ):  # fmt: skip
                return

    def close(self) -> None:
        self.ws.close()


def code_cells() -> list[str]:
    notebook = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    return ["".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code"]


def open_kernel(lab: Lab, hunter: Hunter) -> Kernel:
    """A new kernel on the hunter's server, once it answers ``kernel_info_request``."""
    answer = hunter.session.post(
        f"{lab.url}/user/{hunter.name}/api/kernels", json={"name": "python3"},
        headers={"X-XSRFToken": cookie(hunter.session, "_xsrf", f"/user/{hunter.name}/")},
        verify=lab.cert, timeout=TIMEOUT,
    )  # fmt: skip
    if answer.status_code != 201:
        raise RuntimeError(f"creating a kernel answered {answer.status_code}: {answer.text}")
    hunter.kernel_id = answer.json()["id"]
    kernel = Kernel(lab, hunter)
    try:
        info = kernel.request("shell", "kernel_info_request", {})
        kernel.wait(info, "kernel_info_reply", time.monotonic() + TIMEOUT)
    except BaseException:
        kernel.close()
        raise
    return kernel


def run_hunter(lab: Lab, hunter: Hunter, cells: list[str], go: threading.Barrier) -> None:
    s = hunter.session
    s.verify = lab.cert  # (REQUESTS_CA_BUNDLE would override it: verify= on every call too)
    hub = f"{lab.url}/hub"
    user = f"{lab.url}/user/{hunter.name}"
    try:
        go.wait()
        started = time.monotonic()
        s.get(f"{hub}/login", verify=lab.cert, timeout=TIMEOUT)
        answer = s.post(
            f"{hub}/login",
            data={"username": hunter.name, "password": hunter.password,
                  "_xsrf": cookie(s, "_xsrf", "/hub/")},
            verify=lab.cert, timeout=TIMEOUT, allow_redirects=False,
        )  # fmt: skip
        if answer.status_code != 302:
            raise RuntimeError(f"login answered {answer.status_code}")
        hunter.phases["login"] = time.monotonic() - started
        # Their server, started with their own login (the hub's API checks the xsrf header).
        api = {"X-XSRFToken": cookie(s, "_xsrf", "/hub/")}
        answer = s.post(f"{hub}/api/users/{hunter.name}/server", headers=api,
                        verify=lab.cert, timeout=TIMEOUT)  # fmt: skip
        if answer.status_code not in (201, 202, 400):
            raise RuntimeError(f"starting the server answered {answer.status_code}: {answer.text}")
        # Until it is ready: the progress event stream the hub's spawn page follows.
        with s.get(f"{hub}/api/users/{hunter.name}/server/progress", headers=api,
                   verify=lab.cert, timeout=TIMEOUT, stream=True) as events:  # fmt: skip
            ready = False
            for line in events.iter_lines(decode_unicode=True):
                if line and line.startswith("data:"):
                    event = json.loads(line.removeprefix("data:"))
                    if event.get("failed"):
                        raise RuntimeError(f"the server failed to start: {event.get('message')}")
                    if event.get("ready"):
                        ready = True
                        break
        if not ready:
            raise RuntimeError("the hub's progress stream ended before the server was ready")
        hunter.server_s = time.monotonic() - started
        # The lab page, as a browser opens it: the hub's OAuth gives the server its cookie.
        page = s.get(f"{user}/lab", verify=lab.cert, timeout=TIMEOUT)
        if page.status_code != 200 or not page.url.startswith(f"{user}/lab"):
            raise RuntimeError(f"{user}/lab answered {page.status_code} at {page.url}")
        hunter.phases["lab page"] = time.monotonic() - started
        kernel = open_kernel(lab, hunter)
        try:
            hunter.ready_s = time.monotonic() - started
            begun = time.monotonic()
            for cell in cells:
                msg_id = kernel.request(
                    "shell", "execute_request",
                    {"code": cell, "silent": False, "store_history": True,
                     "user_expressions": {}, "allow_stdin": False, "stop_on_error": True},
                )  # fmt: skip
                kernel.wait(msg_id, "idle", begun + TIMEOUT)
            hunter.notebook_s = time.monotonic() - begun
        finally:
            kernel.close()
    except Exception as exc:  # a failure of this hunter, counted and printed
        hunter.error = f"{type(exc).__name__}: {exc}"


def shut_kernel(lab: Lab, hunter: Hunter) -> None:
    if hunter.kernel_id is None:
        return
    user = f"{lab.url}/user/{hunter.name}"
    try:
        hunter.session.delete(
            f"{user}/api/kernels/{hunter.kernel_id}",
            headers={"X-XSRFToken": cookie(hunter.session, "_xsrf", f"/user/{hunter.name}/")},
            verify=lab.cert, timeout=120,
        )  # fmt: skip
    except (requests.RequestException, RuntimeError) as exc:
        print(f"{hunter.name}: shutting the kernel down failed: {exc}", file=sys.stderr)


@dataclass
class Usage:
    """What runs as a hunter's account at one moment."""

    rss_mb: float = 0.0
    pss_mb: float = 0.0
    processes: int = 0
    server_cpu_s: float = 0.0  # CPU time used so far by their JupyterLab server
    kernel_cpu_s: float = 0.0  # ... and by their kernels


def hunter_pids(lab: Lab, name: str) -> set[int]:
    """The processes of a hunter: their unix account's (native), their container's (docker)."""
    import psutil

    if lab.runtime == "docker":
        project = lab.env["HUNTLAB_COMPOSE_PROJECT"]
        top = subprocess.run(["docker", "top", f"{project}-hunter-{name}", "-eo", "pid"],
                             capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
        return {int(line) for line in top.stdout.split()[1:] if line.isdigit()}
    from huntlab.lab.team import accounts

    entry = accounts.account(name)
    if entry is None:
        return set()
    return {p.pid for p in psutil.process_iter(["uids"])
            if p.info.get("uids") is not None and p.info["uids"].real == entry.pw_uid}  # fmt: skip


def hunter_usage(lab: Lab, name: str) -> Usage:
    import psutil

    usage = Usage()
    for pid in hunter_pids(lab, name):
        try:
            proc = psutil.Process(pid)
            cmdline = " ".join(proc.cmdline())
            full = proc.memory_full_info()
            cpu = proc.cpu_times()
        except psutil.Error:
            continue
        usage.rss_mb += full.rss / 1e6
        usage.pss_mb += getattr(full, "pss", full.rss) / 1e6
        usage.processes += 1
        # native: python -m jupyterhub.singleuser; docker: the jupyterhub-singleuser script
        if "jupyterhub.singleuser" in cmdline or "jupyterhub-singleuser" in cmdline:
            usage.server_cpu_s += cpu.user + cpu.system
        else:
            usage.kernel_cpu_s += cpu.user + cpu.system
    return usage


# --- the run ---------------------------------------------------------------------------------


def s(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def spread(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{min(values):.1f} / {statistics.median(values):.1f} / {max(values):.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runtime", choices=("native", "docker"), default="native",
                        help="which runtime's team server (default native)")  # fmt: skip
    parser.add_argument("--hunters", type=int, default=8, help="simulated hunters (default 8)")
    parser.add_argument("--home", type=Path, help="a running team lab's home (else a new one)")
    parser.add_argument(
        "--datasets-mirror",
        default=os.environ.get("HUNTLAB_DATASETS_MIRROR", str(REPO.parent / "shared" / "datasets")),
        help="folder of dataset archives for a new lab (default: ../shared/datasets)",
    )
    parser.add_argument("--idle", type=float, default=10.0,
                        help="seconds idle before measuring memory")  # fmt: skip
    args = parser.parse_args()
    if not args.home:
        needs.datasets(args.datasets_mirror, "windows/empire_invoke_wmi/empire_invoke_wmi.tar.gz")
    if os.geteuid() != 0:
        sys.exit("bench_team.py needs root: hunters are unix accounts")
    cells = code_cells()
    if args.home:
        lab = use_existing(args.home)
    elif args.runtime == "docker":
        lab = bring_up_docker(args.datasets_mirror)
    else:
        lab = bring_up(args.datasets_mirror)
    hunters = [Hunter(f"bench{i:02d}", secrets.token_urlsafe(12))
               for i in range(1, args.hunters + 1)]  # fmt: skip
    added: list[Hunter] = []
    try:
        for hunter in hunters:
            done = lab.huntlab("users", "add", hunter.name, "--password-stdin",
                               stdin=hunter.password + "\n")  # fmt: skip
            if done.returncode != 0:
                sys.exit(f"huntlab users add {hunter.name} failed: {done.stderr.strip()}")
            added.append(hunter)
        load_before = os.getloadavg()[0]
        go = threading.Barrier(len(hunters))
        threads = [threading.Thread(target=run_hunter, args=(lab, h, cells, go)) for h in hunters]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.monotonic() - started
        load_after = os.getloadavg()[0]
        time.sleep(args.idle)
        idle_kernel = {h.name: hunter_usage(lab, h.name) for h in hunters}
        for hunter in hunters:
            shut_kernel(lab, hunter)
        time.sleep(args.idle)
        no_kernel = {h.name: hunter_usage(lab, h.name) for h in hunters}
        # A hunter who just opened a notebook: their server and a fresh kernel, idle.
        for hunter in hunters:
            if not hunter.error:
                try:
                    open_kernel(lab, hunter).close()
                except Exception as exc:
                    hunter.error = f"a second kernel failed: {type(exc).__name__}: {exc}"
        time.sleep(args.idle)
        fresh_kernel = {h.name: hunter_usage(lab, h.name) for h in hunters}
        for hunter in hunters:
            shut_kernel(lab, hunter)
        for h in hunters:
            usages = (idle_kernel[h.name], no_kernel[h.name], fresh_kernel[h.name])
            if not h.error and not all(u.processes for u in usages):
                h.error = "their server was gone when memory was measured (killed from outside?)"
        if any(h.error for h in hunters):
            keep_hub_log(lab)
    finally:
        tear_down(lab, added)
    report(hunters, cells, wall, (load_before, load_after), idle_kernel, no_kernel, fresh_kernel,
           GOAL_READY_S[lab.runtime], lab.runtime)  # fmt: skip


def report(
    hunters: list[Hunter],
    cells: list[str],
    wall: float,
    load: tuple[float, float],
    idle_kernel: dict[str, Usage],
    no_kernel: dict[str, Usage],
    fresh_kernel: dict[str, Usage],
    goal_ready: float,
    runtime: str,
) -> None:
    print(f"\n{runtime} team server: {len(hunters)} hunters at once, {NOTEBOOK.name} ({len(cells)} code cells), "
          f"{os.cpu_count()} cores, load average {load[0]:.1f} before / {load[1]:.1f} after, "
          f"{wall:.1f} s in all\n")  # fmt: skip
    print(f"{'hunter':10}{'login':>7}{'server':>8}{'lab':>6}{'kernel':>8}{'notebook':>10}"
          f"{'server CPU':>12}{'kernel CPU':>12}{'RSS idle k.':>13}{'RSS no k.':>11}"
          f"{'PSS no k.':>11}{'RSS new k.':>12}")  # fmt: skip
    for h in hunters:
        k, n = idle_kernel[h.name], no_kernel[h.name]
        print(f"{h.name:10}{s(h.phases.get('login')):>7}{s(h.server_s):>8}"
              f"{s(h.phases.get('lab page')):>6}{s(h.ready_s):>8}{s(h.notebook_s):>10}"
              f"{k.server_cpu_s:>12.1f}{k.kernel_cpu_s:>12.1f}{k.rss_mb:>13.0f}{n.rss_mb:>11.0f}"
              f"{n.pss_mb:>11.0f}{fresh_kernel[h.name].rss_mb:>12.0f}")  # fmt: skip
    print(
        "(seconds since the login form's POST: logged in, server ready, lab page loaded, kernel\n"
        " ready; the notebook's own run time; CPU seconds used by the hunter's server and kernel\n"
        " by the end; memory in MB with the kernel idle after the notebook, with it shut down,\n"
        " and with a new kernel idle)\n"
    )
    failures = [h for h in hunters if h.error]
    for h in failures:
        print(f"FAILED {h.name}: {h.error}")
    ready = [h.ready_s for h in hunters if h.ready_s is not None]
    runs = [h.notebook_s for h in hunters if h.notebook_s is not None]
    measured = [h.name for h in hunters if not h.error]
    rss_k = [idle_kernel[n].rss_mb for n in measured] or [float("nan")]
    rss_0 = [no_kernel[n].rss_mb for n in measured] or [float("nan")]
    pss_k = [idle_kernel[n].pss_mb for n in measured] or [float("nan")]
    pss_0 = [no_kernel[n].pss_mb for n in measured] or [float("nan")]
    rss_n = [fresh_kernel[n].rss_mb for n in measured] or [float("nan")]
    ratio = max(runs) / min(runs) if runs else float("inf")
    cpu = sum(u.server_cpu_s + u.kernel_cpu_s for u in idle_kernel.values())
    rows = [
        ("failures", f"{len(failures)} of {len(hunters)}", "0", not failures),
        ("login to ready kernel (s) min/med/max", spread(ready), f"<= {goal_ready:.0f}",
         bool(ready) and max(ready) <= goal_ready),
        ("RSS per hunter, kernel idle (MB)", spread(rss_k), f"<= {GOAL_MB:.0f}",
         max(rss_k) <= GOAL_MB),
        ("RSS per hunter, kernel shut (MB)", spread(rss_0), f"<= {GOAL_MB:.0f}",
         max(rss_0) <= GOAL_MB),
        ("RSS per hunter, new kernel idle (MB)", spread(rss_n), f"<= {GOAL_MB:.0f}",
         max(rss_n) <= GOAL_MB),
        ("  PSS, kernel idle / shut (MB, max)", f"{max(pss_k):.0f} / {max(pss_0):.0f}", "", None),
        ("notebook run (s) min/med/max", spread(runs), "", None),
        ("notebook spread slowest/fastest", f"{ratio:.2f}x", f"<= {GOAL_SPREAD}x",
         ratio <= GOAL_SPREAD),
        ("hunters' CPU time, all (s)", f"{cpu:.0f}", "", None),
    ]  # fmt: skip
    print(f"{'':40}{'measured':>22}{'goal':>10}")
    for label, value, goal, met in rows:
        verdict = "" if met is None else ("  met" if met else "  MISSED")
        print(f"{label:40}{value:>22}{goal:>10}{verdict}")


if __name__ == "__main__":
    main()
