"""The docker runtime's team server end to end: ``./install.sh --docker --team`` with the test
substitutions (docker/compose.test.yaml, compose.team-test.yaml), two hunters added from the
shell; they log in through the hub (one in a real browser), each gets their own container,
their kernels reach Elasticsearch as themselves and Spark within their caps, they share the
team's folders, a removed hunter is refused everywhere, a restart keeps everything and ``down``
leaves no hunter's container. Where a command fails with a hint, the test runs the hinted
command in that situation.

One stack for the module; the tests run in file order, the last one restarts and brings it down.
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from huntlab.lab.processes import free_ports
from tests.support.docker_stack import hinted_command, run, venv_env
from tests.support.fixtures.lab import run_in_kernel
from tests.support.hub_checks import (
    KERNEL_ES,
    KERNEL_SPARK,
    WAIT,
    login,
    pinned_chromium,
    try_login,
)
from tests.support.paths import REPO

DOCKER = REPO / "docker"
ALICE, BOB, CAROL, DAVE, ERIN = "alice", "bob", "carol", "dave", "erin"


class DockerTeam:
    def __init__(self, env: dict[str, str], ports: dict[str, int]) -> None:
        self.env = env
        self.ports = ports
        self.passwords: dict[str, str] = {}
        self.install_output = ""

    @property
    def project(self) -> str:
        return self.env["HUNTLAB_COMPOSE_PROJECT"]

    def huntlab(
        self, *args: str, stdin: str | None = None, timeout: float = 900
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(Path(sys.executable).parent / "huntlab"), *args],
            env=self.env, input=stdin, capture_output=True, text=True, timeout=timeout,
            check=False, cwd=REPO,
        )  # fmt: skip

    def env_value(self, key: str) -> str:
        from huntlab.lab.docker import read_env_file

        return read_env_file(Path(self.env["HUNTLAB_DOCKER_ENV_FILE"]))[key]

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.ports['JUPYTER_PORT']}"

    @property
    def cert(self) -> str:
        return self.env_value("JUPYTER_TLS_CERT")

    @property
    def es_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['ES_PORT']}"

    @property
    def spark_master_ui(self) -> str:
        return f"http://127.0.0.1:{self.ports['SPARK_MASTER_UI_PORT']}"

    def hub_file(self, path: str) -> str:
        """A file of the hub's state volume (root's, in the hub's container)."""
        code = "import sys; from huntlab.lab import docker; " \
               "print(docker.compose(*sys.argv[1:], capture=True).stdout, end='')"  # fmt: skip
        return run([sys.executable, "-c", code, "exec", "-T", "hub", "cat", f"/srv/huntlab/{path}"],
                   env=self.env, timeout=120)  # fmt: skip

    def hub_sh(self, script: str) -> str:
        """A shell script run as root in the hub's container."""
        code = "import sys; from huntlab.lab import docker; " \
               "print(docker.compose(*sys.argv[1:], capture=True).stdout, end='')"  # fmt: skip
        return run([sys.executable, "-c", code, "exec", "-T", "hub", "sh", "-c", script],
                   env=self.env, timeout=120)  # fmt: skip

    def hub_api(self, method: str, path: str, **kwargs: Any) -> Any:
        token = self.hub_file("team/hub-api-token").strip()
        return requests.request(
            method, f"{self.url}/hub/api{path}", verify=self.cert, timeout=120,
            headers={"Authorization": f"token {token}"}, **kwargs,
        )  # fmt: skip

    def user_token(self, name: str) -> str:
        answer = self.hub_api("POST", f"/users/{name}/tokens", json={"expires_in": 3600})
        assert answer.status_code in (200, 201), answer.text
        return str(answer.json()["token"])

    def start_server(self, name: str, timeout: float = 240) -> str:
        answer = self.hub_api("POST", f"/users/{name}/server")
        assert answer.status_code in (201, 202, 400), answer.text  # 400: already running
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            server = (self.hub_api("GET", f"/users/{name}").json().get("servers") or {}).get("")
            if server and server.get("ready"):
                return f"{self.url}/user/{name}"
            time.sleep(1)
        logs = self.huntlab("logs", "hub")
        raise AssertionError(f"{name}'s server did not become ready:\n{logs.stdout[-4000:]}")

    def kernel(self, name: str, code: str) -> str:
        url = self.start_server(name)
        return run_in_kernel(url, self.user_token(name), code, ca=self.cert, timeout=600)

    def containers(self, *filters: str) -> list[str]:
        out = run(["docker", "ps", "--all", "--format", "{{.Names}}",
                   "--filter", f"name={self.project}", *filters], timeout=60)  # fmt: skip
        return out.split()


@pytest.fixture(scope="module")
def docker_team(
    local_images: dict[str, str], tmp_path_factory: pytest.TempPathFactory, datasets_dir: Path
) -> Iterator[DockerTeam]:
    tmp = tmp_path_factory.mktemp("docker-team")
    names = ["ES_PORT", "SPARK_MASTER_PORT", "SPARK_MASTER_UI_PORT", "JUPYTER_PORT"]
    ports = dict(zip(names, free_ports(len(names)), strict=True))
    env = venv_env()
    for key in ("COMPOSE_PROFILES", "COMPOSE_FILE", "COMPOSE_PROJECT_NAME", "HUNTLAB_ES_URL"):
        env.pop(key, None)
    env.update(
        {
            "HUNTLAB_HOME": str(tmp / "home"),
            "HUNTLAB_DOCKER_ENV_FILE": str(tmp / "lab.env"),
            "HUNTLAB_COMPOSE_PROJECT": f"huntlab-team-{secrets.token_hex(3)}",
            "HUNTLAB_COMPOSE_FILES": f"{DOCKER / 'compose.test.yaml'}:"
                                     f"{DOCKER / 'compose.team-test.yaml'}",
            "HUNTLAB_DATASETS_MIRROR": str(datasets_dir),
            "HUNTLAB_LOGSTASH": "false",  # no Logstash image here (test_docker.py checks it)
            "BASE_IMAGE": local_images["BASE_IMAGE"],
            "ELASTICSEARCH_IMAGE": local_images["ELASTICSEARCH_IMAGE"],
            "ES_HEAP": "512m",
            "ES_MEM_LIMIT": "1536m",
            "SPARK_WORKER_MEMORY": "1g",
            "SPARK_WORKER_MEM_LIMIT": "2g",
            "HUNTLAB_HUNTER_MEM_LIMIT": "1536m",
            **{f"HUNTLAB_{key}": str(port) for key, port in ports.items()},
        }
    )
    lab = DockerTeam(env, ports)
    try:
        lab.install_output = run(
            ["bash", "install.sh", "--docker", "--team", "--datasets", "empire_invoke_wmi",
             "--spark-workers", "2"],
            env=env, timeout=1800,
        )  # fmt: skip
        for name in (ALICE, BOB):
            lab.passwords[name] = secrets.token_urlsafe(12)
            added = lab.huntlab("users", "add", name, "--password-stdin",
                                stdin=lab.passwords[name] + "\n")  # fmt: skip
            assert added.returncode == 0, added.stderr
        yield lab
    finally:
        subprocess.run(
            [sys.executable, "-c",
             "from huntlab.lab import docker; docker.down(purge=True, purge_notebooks=True)"],
            cwd=REPO, env=env, capture_output=True, timeout=600, check=False,
        )  # fmt: skip
        subprocess.run(
            ["docker", "image", "prune", "--force", "--filter",
             "label=org.opencontainers.image.title=huntlab-hub"],
            capture_output=True, timeout=300, check=False,
        )  # fmt: skip


def test_install_puts_the_hub_alone_at_the_https_door(docker_team: DockerTeam) -> None:
    out = docker_team.install_output
    assert f"https://127.0.0.1:{docker_team.ports['JUPYTER_PORT']}/hub/" in out, out[-3000:]
    assert "SHA-256" in out
    status = docker_team.huntlab("status")
    assert status.returncode == 0, status.stderr
    assert any(line.split()[:2] == ["hub", "up"] for line in status.stdout.splitlines()), status.stdout
    listed = docker_team.huntlab("users", "list")
    assert listed.returncode == 0, listed.stderr
    assert {line.split()[0] for line in listed.stdout.splitlines()[1:]} == {ALICE, BOB}
    # The single analyst's JupyterLab is not running; the hub's door is published on
    # loopback (the listen address) and nothing else of the hub is.
    running = docker_team.containers("--filter", "status=running")
    assert not [name for name in running if "-jupyter-" in name], running
    hub = json.loads(run(["docker", "inspect", f"{docker_team.project}-hub-1"], timeout=60))[0]
    bindings = hub["HostConfig"]["PortBindings"]
    assert list(bindings) == ["8443/tcp"], bindings
    assert bindings["8443/tcp"][0]["HostIp"] == "127.0.0.1"


def test_no_page_and_no_api_answers_without_a_login(docker_team: DockerTeam) -> None:
    for path in ("/hub/home", f"/user/{ALICE}/lab", f"/user/{ALICE}/api/contents"):
        answer = requests.get(f"{docker_team.url}{path}", verify=docker_team.cert, timeout=30)
        assert answer.url.startswith(f"{docker_team.url}/hub/login"), (path, answer.url)
        assert 'name="password"' in answer.text, path
    api = requests.get(f"{docker_team.url}/hub/api/users", verify=docker_team.cert, timeout=30)
    assert api.status_code == 403


@pytest.fixture
def browser(tmp_path: Path, docker_team: DockerTeam) -> Iterator[Any]:
    driver = pinned_chromium(tmp_path, docker_team.cert)
    try:
        yield driver
    finally:
        driver.quit()


def test_a_hunter_logs_in_in_a_browser_and_lands_in_her_own_container(
    docker_team: DockerTeam, browser: Any, artifacts_dir: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, WAIT)
    browser.get(f"{docker_team.url}/hub/login")
    wait.until(ec.presence_of_element_located((By.ID, "username_input")))
    browser.find_element(By.ID, "username_input").send_keys(ALICE)
    browser.find_element(By.ID, "password_input").send_keys(docker_team.passwords[ALICE])
    browser.find_element(By.ID, "login_submit").click()
    wait.until(lambda d: f"/user/{ALICE}/lab" in d.current_url)
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".jp-LabShell")))
    for item in ("hunts", "datasets", "04-event-log-analysis-pandas.ipynb"):
        wait.until(
            ec.visibility_of_element_located(
                (By.XPATH, f"//li[contains(@class,'jp-DirListing-item')][@title and "
                           f"contains(@title, 'Name: {item}')]")
            )
        )  # fmt: skip
    browser.save_screenshot(str(artifacts_dir / "team-docker-alice-lab.png"))
    assert f"{docker_team.project}-hunter-{ALICE}" in docker_team.containers()

    # Her cookie does not open Bob's (running) server.
    docker_team.start_server(BOB)
    session = login(docker_team, ALICE, docker_team.passwords[ALICE])
    answer = session.get(
        f"{docker_team.url}/user/{BOB}/api/contents", verify=docker_team.cert, timeout=60
    )
    assert answer.status_code == 403, (answer.status_code, answer.url)


def test_each_hunter_kernel_reads_elasticsearch_as_themselves(docker_team: DockerTeam) -> None:
    answer = requests.get(f"{docker_team.es_url}/_cat/indices/huntlab-*?format=json",
                          auth=("elastic", docker_team.env_value("ELASTIC_PASSWORD")), timeout=30)  # fmt: skip
    shared = sorted(i["index"] for i in answer.json() if not i["index"].startswith("huntlab-user-"))
    assert shared, answer.text
    for name, other in ((ALICE, BOB), (BOB, ALICE)):
        code = KERNEL_ES.replace("SHARED", shared[0]).replace("OTHER", other).replace("NAME", name)
        out = json.loads(docker_team.kernel(name, code).strip().splitlines()[-1])
        assert out["who"] == name
        assert out["count"] > 0
        assert out["index_shared"] == 403
        assert out["delete_shared"] == 403
        assert out["index_other"] == 403
        assert out["own"] >= 1


def test_shared_folders_datasets_read_only_and_hunts_shared_with_their_author(
    docker_team: DockerTeam,
) -> None:
    wrote = docker_team.kernel(
        ALICE,
        "import os, json\n"
        "out = {'datasets': sorted(os.listdir('datasets'))}\n"
        "try:\n"
        "    open('datasets/mine.txt', 'w').write('x')\n"
        "    out['write_datasets'] = 'written'\n"
        "except OSError as exc:\n"
        "    out['write_datasets'] = type(exc).__name__\n"
        "open('hunts/alice-hunt.md', 'w').write('# WMI lateral movement, by alice\\n')\n"
        "print(json.dumps(out))\n",
    )
    out = json.loads(wrote.strip().splitlines()[-1])
    assert "empire_invoke_wmi" in out["datasets"]
    assert out["write_datasets"] != "written"
    read = docker_team.kernel(
        BOB,
        "import json, os, pwd\n"
        "path = 'hunts/alice-hunt.md'\n"
        "print(json.dumps({'text': open(path).read(),\n"
        "                  'author': pwd.getpwuid(os.stat(path).st_uid).pw_name,\n"
        "                  'me': pwd.getpwuid(os.getuid()).pw_name}))\n"
        "try:\n"
        "    os.remove(path)\n"
        "    print('removed')\n"
        "except PermissionError:\n"
        "    print('refused')\n",
    )
    lines = read.strip().splitlines()
    seen = json.loads(lines[-2])
    assert "by alice" in seen["text"]
    assert seen["author"] == f"huntlab-{ALICE}" and seen["me"] == f"huntlab-{BOB}"
    assert lines[-1] == "refused"  # the sticky hunts folder: only its author removes a file


# /proc/PID/status of the hunter's JupyterLab server (the Python running jupyterhub-singleuser).
SERVER_STATUS = """
import os
for pid in filter(str.isdigit, os.listdir("/proc")):
    argv = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\\0")
    if len(argv) > 1 and b"python" in argv[0] and argv[1].endswith(b"jupyterhub-singleuser"):
        print(open(f"/proc/{pid}/status").read())
"""


def test_two_hunters_run_spark_jobs_at_once_each_within_its_caps(docker_team: DockerTeam) -> None:
    results: dict[str, str] = {}
    errors: list[BaseException] = []
    apps: dict[str, dict[str, Any]] = {}

    def work(name: str) -> None:
        try:
            results[name] = docker_team.kernel(name, KERNEL_SPARK.replace("NAME", name))
        except BaseException as exc:
            errors.append(exc)

    def watch() -> None:
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline and len(results) + len(errors) < 2:
            state = requests.get(f"{docker_team.spark_master_ui}/json/", timeout=10).json()
            for app in state.get("activeapps", []):
                if app["name"].startswith("hunt-"):
                    apps[app["name"]] = app
            time.sleep(0.5)

    threads = [threading.Thread(target=work, args=(n,)) for n in (ALICE, BOB)]
    threads.append(threading.Thread(target=watch))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    for name in (ALICE, BOB):
        assert results[name].strip().splitlines()[-1] == str(sum(range(3_000_000))), results[name]
    assert {f"hunt-{ALICE}", f"hunt-{BOB}"} <= set(apps), apps
    # --spark-workers 2: two replicas of the worker service, each registered under its own
    # address, each UI reached through the master's reverse proxy (no worker port published).
    master = requests.get(f"{docker_team.spark_master_ui}/json/", timeout=10).json()
    alive = [w for w in master["workers"] if w["state"] == "ALIVE"]
    assert len(alive) == 2 and len({w["host"] for w in alive}) == 2, master["workers"]
    for worker in alive:
        page = requests.get(f"{docker_team.spark_master_ui}/proxy/{worker['id']}/json/", timeout=10)
        assert page.status_code == 200 and page.json()["id"] == worker["id"], page.text[:300]
    for app in apps.values():
        assert app["cores"] <= 1, app
        assert app["memoryperexecutor"] <= 512, app
    # Each hunter's container is limited (memory, CPU) and runs as their own uid, no capability.
    for name in (ALICE, BOB):
        info = json.loads(run(["docker", "inspect", f"{docker_team.project}-hunter-{name}"],
                              timeout=60))[0]  # fmt: skip
        assert info["HostConfig"]["Memory"] == 1536 * 1024**2
        host = info["HostConfig"]
        cpus = host["NanoCpus"] / 1e9 or host["CpuQuota"] / max(host["CpuPeriod"], 1)
        assert cpus == 1.0, {k: host[k] for k in ("NanoCpus", "CpuQuota", "CpuPeriod")}
        assert info["HostConfig"]["CapDrop"] == ["ALL"]
        status = run(["docker", "exec", f"{docker_team.project}-hunter-{name}", "python3", "-c",
                      SERVER_STATUS], timeout=60)  # fmt: skip
        uid = status.split("Uid:")[1].split()[0]
        assert int(uid) >= 10000, status
        assert status.split("CapEff:")[1].split()[0] == "0000000000000000", status


def hub_log_note(docker_team: DockerTeam, pattern: str, timeout: float = 120) -> re.Match[str]:
    """The first match of ``pattern`` in `huntlab logs hub`, waited for."""
    deadline = time.monotonic() + timeout
    while True:
        log = docker_team.huntlab("logs", "hub")
        assert log.returncode == 0, log.stderr[-3000:]
        found = re.search(pattern, log.stdout)
        if found is not None:
            return found
        assert time.monotonic() < deadline, log.stdout[-4000:]
        time.sleep(2)


def test_a_removed_hunter_is_refused_everywhere(docker_team: DockerTeam) -> None:
    # Carol made in the hub (its admin page; its API here), not by `huntlab users add`: her
    # server cannot start, and the hub's log says how to make her a hunter. Then it starts.
    made = docker_team.hub_api("POST", f"/users/{CAROL}")
    assert made.status_code == 201, made.text
    docker_team.hub_api("POST", f"/users/{CAROL}/server")
    note = hub_log_note(
        docker_team, rf"{CAROL} has no number in the team's logins: `(huntlab users add {CAROL})`"
    )
    added = docker_team.huntlab(*note.group(1).split()[1:], "--password-stdin",
                                stdin="carol-password-1\n")  # fmt: skip
    assert added.returncode == 0, added.stderr
    store = json.loads(docker_team.hub_file("team/es-credentials.json"))
    es_password = store["hunters"][CAROL]
    who = requests.get(f"{docker_team.es_url}/_security/_authenticate",
                       auth=(CAROL, es_password), timeout=30)  # fmt: skip
    assert who.status_code == 200 and who.json()["username"] == CAROL
    login(docker_team, CAROL, "carol-password-1")
    docker_team.start_server(CAROL)
    assert f"{docker_team.project}-hunter-{CAROL}" in docker_team.containers()

    removed = docker_team.huntlab("users", "remove", CAROL)
    assert removed.returncode == 0, removed.stderr
    who = requests.get(f"{docker_team.es_url}/_security/_authenticate",
                       auth=(CAROL, es_password), timeout=30)  # fmt: skip
    assert who.status_code == 401
    assert docker_team.hub_api("GET", f"/users/{CAROL}").status_code == 404
    _, refused = try_login(docker_team, CAROL, "carol-password-1")
    assert refused.status_code == 403
    assert f"{docker_team.project}-hunter-{CAROL}" not in docker_team.containers()
    volumes = run(["docker", "volume", "ls", "--format", "{{.Name}}"], timeout=60).split()
    assert f"{docker_team.project}_hunter-{CAROL}" not in volumes
    # Removing her again: no such hunter, and the command that shows who there is.
    again = docker_team.huntlab("users", "remove", CAROL)
    listing = hinted_command(
        again, f"no hunter {CAROL}: `huntlab users list` shows who there is", r"huntlab users list"
    )
    listed = docker_team.huntlab(*listing)
    assert listed.returncode == 0, listed.stderr
    assert {line.split()[0] for line in listed.stdout.splitlines()[1:]} == {ALICE, BOB}


def test_a_hub_refusing_huntlab_users_names_its_log(docker_team: DockerTeam) -> None:
    """The hub refuses `huntlab users` (here: the CLI's API token no longer the hub's): the
    error names the hub's log, which shows the refused call."""
    team = "/srv/huntlab/team"
    docker_team.hub_sh(f"cp -p {team}/hub-api-token {team}/hub-api-token.kept && "
                       f"echo not-the-hubs-token >{team}/hub-api-token")  # fmt: skip
    try:
        added = docker_team.huntlab("users", "add", ERIN)
        command = hinted_command(
            added, rf"the hub answered (\d+) adding {ERIN}: `huntlab logs hub`", r"huntlab logs hub"
        )
        status = re.search(r"the hub answered (\d+)", added.stderr)
        assert status is not None and status.group(1).startswith("4"), added.stderr
        logs = docker_team.huntlab(*command)
        assert logs.returncode == 0, logs.stderr[-3000:]
        assert f"{status.group(1)} POST /hub/api/users/{ERIN}" in logs.stdout, logs.stdout[-4000:]
    finally:
        docker_team.hub_sh(f"mv -f {team}/hub-api-token.kept {team}/hub-api-token")
        # Her login and Elasticsearch user were made before the hub refused.
        docker_team.huntlab("users", "remove", ERIN)
    listed = docker_team.huntlab("users", "list")
    assert {line.split()[0] for line in listed.stdout.splitlines()[1:]} == {ALICE, BOB}


def test_an_invite_link_names_the_door_and_works_once(docker_team: DockerTeam) -> None:
    # A team lab has no token to print: `huntlab token` says how a hunter gets in instead.
    token = docker_team.huntlab("token")
    add = hinted_command(
        token,
        re.escape("a team lab has no shared token: each hunter logs in with their own password "
                  "(`huntlab users add NAME` prints their invite link)"),
        r"huntlab users add NAME",
    )  # fmt: skip
    added = docker_team.huntlab(*[DAVE if arg == "NAME" else arg for arg in add])
    assert added.returncode == 0, added.stderr
    invite = added.stdout.strip()
    try:
        assert invite.startswith(f"{docker_team.url}/hub/invite/"), invite
        chosen = "dave-chose-this-1"
        accept_invite(docker_team, invite, DAVE, chosen)
        assert requests.get(invite, verify=docker_team.cert, timeout=30).status_code == 404
        login(docker_team, DAVE, chosen)
        # Adding him again: he exists, and a reset gives him a new invite, which works.
        again = docker_team.huntlab("users", "add", DAVE)
        reset = hinted_command(
            again,
            f"hunter {DAVE} exists already: `huntlab users reset {DAVE}` gives them a new invite",
            rf"huntlab users reset {DAVE}",
        )
        renewed = docker_team.huntlab(*reset)
        assert renewed.returncode == 0, renewed.stderr
        second = renewed.stdout.strip()
        assert second.startswith(f"{docker_team.url}/hub/invite/") and second != invite, second
        accept_invite(docker_team, second, DAVE, "dave-chose-this-2")
        login(docker_team, DAVE, "dave-chose-this-2")
        assert try_login(docker_team, DAVE, chosen)[1].status_code == 403
    finally:
        docker_team.huntlab("users", "remove", DAVE)


def accept_invite(docker_team: DockerTeam, invite: str, name: str, password: str) -> None:
    """Open the invite link and set the password, as the hunter does in the browser."""
    session = requests.Session()
    page = session.get(invite, verify=docker_team.cert, timeout=30)
    assert page.status_code == 200 and name in page.text
    done = session.post(invite, data={"password": password, "password2": password,
                                      "_xsrf": session.cookies.get("_xsrf")},
                        verify=docker_team.cert, timeout=30, allow_redirects=False)  # fmt: skip
    assert done.status_code == 302, done.text[-1000:]


def test_two_hunters_edit_one_notebook_at_once_through_a_share(docker_team: DockerTeam) -> None:
    from tests.support.collaboration import two_hunters_edit_one_notebook

    token = docker_team.user_token(ALICE)

    def saved(path: str) -> str:
        # As the owner reads it from her server (the file in the team-hunts volume).
        answer = requests.get(
            f"{docker_team.url}/user/{ALICE}/api/contents/{path}?content=1&type=file&format=text",
            headers={"Authorization": f"token {token}"},
            verify=docker_team.cert, timeout=60,
        )  # fmt: skip
        assert answer.status_code == 200, answer.text
        return str(answer.json()["content"])

    two_hunters_edit_one_notebook(docker_team, ALICE, BOB, saved)


def test_restart_keeps_users_and_files_and_down_leaves_nothing(docker_team: DockerTeam) -> None:
    # The hub stopped: `huntlab users` says to bring the lab up, and that brings it back
    # (--no-data: the datasets the fixture loaded stay the team's).
    run(["docker", "stop", f"{docker_team.project}-hub-1"], timeout=120)
    stopped = docker_team.huntlab("users", "list")
    up = hinted_command(
        stopped, "the team server's hub is not running: `huntlab up` first", r"huntlab up"
    )
    again = docker_team.huntlab(*up, "--no-data", timeout=1200)
    assert again.returncode == 0, again.stderr[-4000:]
    login(docker_team, ALICE, docker_team.passwords[ALICE])
    listed = docker_team.huntlab("users", "list")
    assert {line.split()[0] for line in listed.stdout.splitlines()[1:]} == {ALICE, BOB}
    kept = docker_team.kernel(ALICE, "print(open('hunts/alice-hunt.md').read())")
    assert "by alice" in kept

    down = docker_team.huntlab("down", timeout=600)
    assert down.returncode == 0, down.stderr
    assert docker_team.containers() == []
    # Her files stay in her volume for the next `up`.
    volumes = run(["docker", "volume", "ls", "--format", "{{.Name}}"], timeout=60).split()
    assert f"{docker_team.project}_hunter-{ALICE}" in volumes
