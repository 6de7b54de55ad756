"""The containerised lab, for real: a Docker engine, images built here, the stack brought up by
``huntlab up --docker`` (as ``huntlab logstash check`` in a home with no lab says; ./install.sh
--docker runs the same command and is run by test_team_docker.py) with the test substitutions
(docker/compose.test.yaml: local base and Elasticsearch images, Logstash left out; security on,
as in production), then checked from outside and from inside the containers. Where a command
fails with a hint, the test runs the hinted command in that situation.

Runs as root on a machine where tests/support/docker-engine.sh can start dockerd. Containers and
volumes are removed at the end; images stay as the build cache for the next run.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml

from huntlab.lab.processes import free_ports
from tests.support.docker_stack import hinted_command
from tests.support.docker_stack import run as _run
from tests.support.docker_stack import venv_env as _venv_env
from tests.support.paths import REPO

DOCKER = REPO / "docker"


# Scripts and Dockerfiles of the containerised lab, linted here as well as by test.sh.
SHELL_SCRIPTS = [
    "tests/support/docker-engine.sh",
    "docker/local-images/base-image.sh",
    "docker/local-images/elasticsearch-image.sh",
    "docker/local-images/elasticsearch/entrypoint.sh",
    "docker/setup/setup.sh",
    "jupyter/start.sh",
    "jupyter/hunter-start.sh",
]
DOCKERFILES = [
    "spark/Dockerfile",
    "jupyter/Dockerfile",
    "jupyter/hub.Dockerfile",
    "docker/local-images/elasticsearch/Dockerfile",
]


# --------------------------------------------------------------------------- static checks


def test_scripts_pass_shellcheck() -> None:
    _run(["shellcheck", *SHELL_SCRIPTS], env=_venv_env(), timeout=120)


def test_dockerfiles_pass_hadolint() -> None:
    _run(["hadolint", *DOCKERFILES], env=_venv_env(), timeout=120)


def test_logstash_pipeline_targets_the_lab_pipeline_and_indexes() -> None:
    """What can be checked without Logstash: its output names the ingest pipeline that
    setup installs, a fallback index that the templates cover and the setup creates, and the
    user whose role may write there; its inputs are the ports compose publishes."""
    from huntlab.es import indices
    from huntlab.es import setup as es_setup

    conf = (REPO / "logstash/pipeline/huntlab.conf").read_text(encoding="utf-8")
    code = "\n".join(line.split("#", 1)[0] for line in conf.splitlines())
    assert code.count("{") == code.count("}"), "unbalanced braces in the pipeline"
    settings = dict(re.findall(r'^\s*(\w+)\s*=>\s*"?([^"\n]+?)"?\s*$', code, re.M))
    assert settings["pipeline"] == es_setup.PIPELINE
    pipeline = json.loads(
        (REPO / "elasticsearch/ingest-pipelines" / f"{es_setup.PIPELINE}.json").read_text()
    )
    # The pipeline appends the family to an index named by the prefix: Logstash sends to it.
    assert settings["index"] == indices.PREFIX
    params = next(
        proc["script"]["params"]
        for proc in pipeline["processors"]
        if "family_names" in proc.get("script", {}).get("params", {})
    )
    assert params["family_names"] == list(indices.FAMILIES)
    routed = [f"{settings['index']}-{family}" for family in params["family_names"]]
    assert sorted(routed) == sorted(indices.ALL_INDEXES)
    template = json.loads((REPO / "elasticsearch/index-templates/huntlab.json").read_text())
    patterns = template["index_patterns"]
    for index in routed:
        assert any(re.fullmatch(p.replace("*", ".*"), index) for p in patterns), index

    users = json.loads((DOCKER / "setup/users.json").read_text())
    role_name = users[settings["user"]]["roles"][0]
    role = json.loads((DOCKER / "setup/roles" / f"{role_name}.json").read_text())
    writable = [
        name
        for entry in role["indices"]
        if {"write", "create_index"} <= set(entry["privileges"])
        for name in entry["names"]
    ]
    for index in [settings["index"], *routed]:
        assert any(re.fullmatch(n.replace("*", ".*"), index) for n in writable), index

    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    published = {p.rsplit(":", 1)[1] for p in compose["services"]["logstash"]["ports"]}
    inputs = set(re.findall(r"port\s*=>\s*(\d+)", code))
    assert inputs == published == {"5044", "5000", "8090"}
    ls_yaml = yaml.safe_load((REPO / "logstash/config/logstash.yml").read_text())
    health = " ".join(compose["services"]["logstash"]["healthcheck"]["test"])
    assert f":{ls_yaml['api.http.port']}/_node/pipelines/{ls_yaml['pipeline.id']}" in health


def _input_blocks(conf: str) -> dict[str, str]:
    """The body of each input plugin block of a Logstash pipeline (comments dropped)."""
    code = "\n".join(line.split("#", 1)[0] for line in conf.splitlines())
    section = code[code.index("input {") :]
    blocks: dict[str, str] = {}
    for match in re.finditer(r"^\s{2}(\w+)\s*\{", section, re.M):
        depth, start = 1, match.end()
        end = start
        while depth:
            depth += {"{": 1, "}": -1}.get(section[end], 0)
            end += 1
        blocks[match.group(1)] = section[start : end - 1]
        if match.group(1) == "http":
            break
    return blocks


def test_logstash_inputs_take_only_tls_with_a_client_certificate_or_a_password(
    tmp_path: Path,
) -> None:
    """What the pipeline asks of each input (Logstash itself cannot be had here), then the
    lab's PKI for it, for real: a TLS server with Logstash's certificate and the shippers' CA
    lets in the shipper's certificate and refuses a client without one."""
    import socket
    import ssl
    import threading

    from huntlab.lab import docker as lab_docker
    from huntlab.lab import tls

    conf = (REPO / "logstash/pipeline/huntlab.conf").read_text(encoding="utf-8")
    blocks = _input_blocks(conf)
    assert set(blocks) == {"beats", "tcp", "http"}
    mount = "/usr/share/logstash/config/tls"
    for name, body in blocks.items():
        options = dict(re.findall(r'^\s*(\w+)\s*=>\s*"?([^"\n]+?)"?\s*$', body, re.M))
        assert options["ssl_enabled"] == "true", name
        assert options["ssl_certificate"] == f"{mount}/logstash.crt", name
        assert options["ssl_key"] == f"{mount}/logstash.key", name
        if name == "http":
            assert options["user"] == "${LOGSTASH_HTTP_USER}"
            assert options["password"] == "${LOGSTASH_HTTP_PASSWORD}"
        else:
            assert options["ssl_client_authentication"] == "required", name
            assert f"{mount}/ca.crt" in body, name
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    service = compose["services"]["logstash"]
    assert any(v.endswith(f":{mount}:ro") and "LOGSTASH_TLS_DIR" in v for v in service["volumes"])
    assert all(p.startswith("${HUNTLAB_LOGSTASH_LISTEN:-127.0.0.1}:") for p in service["ports"])
    env = service["environment"]
    assert "LOGSTASH_HTTP_PASSWORD" in env and "LOGSTASH_HTTP_USER" in env
    assert "LOGSTASH_HTTP_PASSWORD" in lab_docker.SECRET_KEYS

    folder = lab_docker._logstash_tls(tmp_path, "127.0.0.1")
    assert {p.name for p in folder.iterdir()} == {"ca.crt", "logstash.crt", "logstash.key"}
    pki = tls.logstash_pki(tmp_path)
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(folder / "ca.crt"))
    server.load_cert_chain(str(folder / "logstash.crt"), str(folder / "logstash.key"))
    server.verify_mode = ssl.CERT_REQUIRED
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    outcomes: list[str] = []

    def serve(count: int) -> None:
        for _ in range(count):
            conn, _addr = listener.accept()
            try:
                with server.wrap_socket(conn, server_side=True) as tls_conn:
                    outcomes.append(tls_conn.recv(16).decode())
            except (ssl.SSLError, OSError) as exc:
                outcomes.append(f"refused: {type(exc).__name__}")

    thread = threading.Thread(target=serve, args=(2,))
    thread.start()
    shipper = ssl.create_default_context(cafile=str(pki.ca))
    shipper.load_cert_chain(str(pki.client_cert), str(pki.client_key))
    with (
        socket.create_connection(("127.0.0.1", port)) as raw,
        shipper.wrap_socket(raw, server_hostname="localhost") as conn,
    ):
        conn.sendall(b"event")
    stranger = ssl.create_default_context(cafile=str(pki.ca))
    with socket.create_connection(("127.0.0.1", port)) as raw:
        try:
            with stranger.wrap_socket(raw, server_hostname="localhost") as conn:
                conn.sendall(b"event")
                conn.recv(1)
        except (ssl.SSLError, OSError):
            pass
    thread.join(timeout=30)
    listener.close()
    assert outcomes[0] == "event"
    assert outcomes[1].startswith("refused"), outcomes


# --------------------------------------------------------------------------- the stack


class Stack:
    def __init__(self, env: dict[str, str], ports: dict[str, int]) -> None:
        self.env = env
        self.ports = ports

    def huntlab(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 900
    ) -> subprocess.CompletedProcess[str]:
        """The huntlab command, as a user runs it (``env``: instead of the stack's)."""
        return subprocess.run(
            [str(Path(sys.executable).parent / "huntlab"), *args],
            env=env or self.env, capture_output=True, text=True, timeout=timeout,
            check=False, cwd=REPO,
        )  # fmt: skip

    def huntlab_ok(self, *args: str, timeout: float = 900) -> str:
        result = self.huntlab(*args, timeout=timeout)
        if result.returncode != 0:
            pytest.fail(f"huntlab {' '.join(args)} exited {result.returncode}\n--- stdout\n"
                        f"{result.stdout[-4000:]}\n--- stderr\n{result.stderr[-6000:]}")  # fmt: skip
        return result.stdout + result.stderr

    def compose(self, *args: str, timeout: float = 300) -> str:
        code = (
            "import sys; from huntlab.lab import docker; "
            "r = docker.compose(*sys.argv[1:], capture=True); print(r.stdout)"
        )
        return _run([sys.executable, "-c", code, *args], env=self.env, timeout=timeout)

    def python_in(self, service: str, code: str, timeout: float = 600) -> str:
        return self.compose(
            "exec", "-T", service, "python", "-c", textwrap.dedent(code), timeout=timeout
        )

    @property
    def es(self) -> str:
        return f"http://127.0.0.1:{self.ports['ES_PORT']}"

    def secret(self, name: str) -> str:
        from huntlab.lab.docker import read_env_file

        return read_env_file(Path(self.env["HUNTLAB_DOCKER_ENV_FILE"]))[name]

    @property
    def admin(self) -> tuple[str, str]:
        """The `elastic` superuser, whose password `huntlab up` wrote to the env file."""
        return ("elastic", self.secret("ELASTIC_PASSWORD"))


@pytest.fixture(scope="module")
def stack(
    local_images: dict[str, str], tmp_path_factory: pytest.TempPathFactory, datasets_dir: Path
) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("docker-lab")
    names = [
        "ES_PORT",
        "SPARK_MASTER_PORT",
        "SPARK_MASTER_UI_PORT",
        "JUPYTER_PORT",
    ]
    ports = dict(zip(names, free_ports(len(names)), strict=True))
    env = _venv_env()
    env.update(
        {
            "HUNTLAB_HOME": str(tmp / "home"),
            "HUNTLAB_DOCKER_ENV_FILE": str(tmp / "lab.env"),
            "HUNTLAB_COMPOSE_PROJECT": f"huntlab-test-{secrets.token_hex(3)}",
            "HUNTLAB_COMPOSE_FILES": str(DOCKER / "compose.test.yaml"),
            # No Logstash image can be had here (its configuration is checked statically).
            "HUNTLAB_LOGSTASH": "false",
            "HUNTLAB_DATASETS_MIRROR": str(datasets_dir),
            "BASE_IMAGE": local_images["BASE_IMAGE"],
            "ELASTICSEARCH_IMAGE": local_images["ELASTICSEARCH_IMAGE"],
            # Small heaps: the machine is shared; each stays below its container's limit.
            "ES_HEAP": "512m",
            "ES_MEM_LIMIT": "1536m",
            "SPARK_WORKER_MEMORY": "1g",
            "SPARK_WORKER_MEM_LIMIT": "2g",
            "JUPYTER_MEM_LIMIT": "3g",
            "HUNTLAB_ES_PORT": str(ports["ES_PORT"]),
            "HUNTLAB_SPARK_MASTER_PORT": str(ports["SPARK_MASTER_PORT"]),
            "HUNTLAB_SPARK_MASTER_UI_PORT": str(ports["SPARK_MASTER_UI_PORT"]),
            "HUNTLAB_JUPYTER_PORT": str(ports["JUPYTER_PORT"]),
        }
    )
    # The engine-wide settings a developer may have exported must not leak in.
    for key in ("COMPOSE_PROFILES", "COMPOSE_FILE", "COMPOSE_PROJECT_NAME", "HUNTLAB_ES_URL"):
        env.pop(key, None)
    lab = Stack(env, ports)
    try:
        # A home with no lab: the live-data check says how to get one, and that is how this
        # one is brought up.
        check = lab.huntlab("logstash", "check")
        up = hinted_command(
            check,
            f"{re.escape(env['HUNTLAB_DOCKER_ENV_FILE'])} not found: bring the lab up with "
            "`huntlab up --docker` first",
            r"huntlab up --docker",
        )
        lab.huntlab_ok(*up, timeout=1500)
        yield lab
    finally:
        subprocess.run(
            [
                sys.executable,
                "-c",
                "from huntlab.lab import docker; docker.down(purge=True, purge_notebooks=True)",
            ],
            cwd=REPO,
            env=env,
            capture_output=True,
            timeout=300,
            check=False,
        )
        # Keep the tagged images as the next run's cache; drop the ones rebuilds left untagged.
        for title in ("huntlab-spark", "huntlab-jupyter"):
            subprocess.run(
                [
                    "docker",
                    "image",
                    "prune",
                    "--force",
                    "--filter",
                    f"label=org.opencontainers.image.title={title}",
                ],
                capture_output=True,
                timeout=300,
                check=False,
            )


def _service_rows(lab: Stack) -> dict[str, dict[str, object]]:
    out = lab.compose("ps", "--all", "--format", "json")
    rows = [json.loads(line) for line in out.splitlines() if line.strip().startswith("{")]
    return {str(r["Service"]): r for r in rows}


def test_compose_config_validates(stack: Stack) -> None:
    config = yaml.safe_load(stack.compose("config"))
    services = config["services"]
    assert "logstash" not in services  # left out: its profile is not enabled
    assert set(services) == {"elasticsearch", "setup", "spark-master", "spark-worker", "jupyter"}
    for name in ("elasticsearch", "spark-master", "spark-worker", "jupyter"):
        assert services[name]["mem_limit"], name
    # The file users get, alone and with Logstash's profile, validates too: official images,
    # security on, no test secrets.
    plain = Stack({**stack.env, "HUNTLAB_COMPOSE_FILES": ""}, stack.ports)
    full = yaml.safe_load(plain.compose("--profile", "logstash", "config"))
    assert "logstash" in full["services"]
    es = full["services"]["elasticsearch"]
    assert es["environment"]["xpack.security.enabled"] == "true"
    assert "secrets" not in full
    assert (
        full["services"]["spark-master"]["build"]["args"]["SPARK_VERSION"]
        == (full["services"]["jupyter"]["build"]["args"]["BASE_IMAGE"].rsplit(":", 1)[1])
    )


def test_every_service_is_healthy(stack: Stack) -> None:
    rows = _service_rows(stack)
    for name in ("elasticsearch", "spark-master", "spark-worker", "jupyter"):
        assert rows[name]["State"] == "running", rows[name]
        assert rows[name]["Health"] == "healthy", rows[name]
    assert rows["setup"]["State"] == "exited" and rows["setup"]["ExitCode"] == 0
    # huntlab status says the same.
    out = _run([sys.executable, "-m", "huntlab", "status"], env=stack.env, timeout=120)
    for name in ("elasticsearch", "spark-master", "spark-worker", "jupyter"):
        assert re.search(rf"^{name}\s+up\b", out, re.M), out


def test_logstash_check_finds_the_lab_and_says_what_logstash_lacks(stack: Stack) -> None:
    """The check in the home the fixture brought up: the lab is found; Logstash is off (this
    machine cannot have its image, so `huntlab up --logstash` is not run here). With the env
    file's own setting (Logstash on) but no Logstash running, the check cannot reach its input
    and the command it names, `huntlab status`, says that Logstash is down."""
    off = stack.huntlab("logstash", "check")
    hinted_command(
        off,
        re.escape("Logstash is off in this lab (`huntlab up --logstash` turns it on)"),
        r"huntlab up --logstash",
    )
    as_written = {k: v for k, v in stack.env.items() if k != "HUNTLAB_LOGSTASH"}
    failed = stack.huntlab("logstash", "check", "--wait", "5", env=as_written)
    port = stack.secret("LOGSTASH_HTTP_PORT")
    command = hinted_command(
        failed,
        rf"Logstash's HTTP input at https://localhost:{port}/ does not answer over TLS "
        r"\(.+\); is it running \(`huntlab status`\)\?",
        r"huntlab status",
    )
    status = stack.huntlab(*command, env=as_written)
    assert status.returncode == 3, (status.stdout, status.stderr[-3000:])
    assert re.search(r"^logstash\s+down\b.*no container", status.stdout, re.M), status.stdout
    for name in ("elasticsearch", "spark-master", "spark-worker", "jupyter"):
        assert re.search(rf"^{name}\s+up\b", status.stdout, re.M), status.stdout


def test_users_on_a_single_analysts_lab_says_how_to_get_a_team(stack: Stack) -> None:
    # Not followed here (it would make this lab a team server): test_team_docker.py's lab is
    # brought up with that command (./install.sh --docker --team runs it).
    listed = stack.huntlab("users", "list")
    hinted_command(
        listed,
        f"{re.escape(stack.env['HUNTLAB_DOCKER_ENV_FILE'])} is not a team lab: bring one up "
        "with `huntlab up --docker --team`",
        r"huntlab up --docker --team",
    )


def test_env_file_is_private_and_has_secrets(stack: Stack) -> None:
    path = Path(stack.env["HUNTLAB_DOCKER_ENV_FILE"])
    assert path.stat().st_mode & 0o777 == 0o600
    from huntlab.lab.docker import SECRET_KEYS, read_env_file

    values = read_env_file(path)
    for key in SECRET_KEYS:
        assert len(values[key]) >= 32, key
    assert len({values[k] for k in SECRET_KEYS}) == len(SECRET_KEYS)


def test_jupyter_requires_the_token(stack: Stack) -> None:
    from huntlab.lab.docker import read_env_file

    token = read_env_file(Path(stack.env["HUNTLAB_DOCKER_ENV_FILE"]))["JUPYTER_TOKEN"]
    base = f"http://127.0.0.1:{stack.ports['JUPYTER_PORT']}"
    ok = requests.get(
        f"{base}/api/contents", headers={"Authorization": f"token {token}"}, timeout=30
    )
    assert ok.status_code == 200
    names = {item["name"] for item in ok.json()["content"]}
    assert any(name.startswith("04-") for name in names), names  # the notebooks volume
    assert requests.get(f"{base}/api/contents", timeout=30).status_code == 403
    wrong = requests.get(
        f"{base}/api/contents", headers={"Authorization": "token nope"}, timeout=30
    )
    assert wrong.status_code == 403
    printed = _run([sys.executable, "-m", "huntlab", "token"], env=stack.env, timeout=60)
    assert token in printed
    # The PySpark (huntlab) kernel is offered beside Python 3.
    specs = requests.get(
        f"{base}/api/kernelspecs", headers={"Authorization": f"token {token}"}, timeout=30
    ).json()["kernelspecs"]
    assert specs["pyspark-huntlab"]["spec"]["display_name"] == "PySpark (huntlab)", specs.keys()
    # Without the token: huntlab's login page, which says how to get it.
    login = requests.get(f"{base}/lab", timeout=30)
    assert login.url.startswith(f"{base}/login"), login.url
    assert "huntlab token" in login.text and "jupyter server list" not in login.text


def _dataset_counts(stack: Stack) -> dict[str, int]:
    requests.post(f"{stack.es}/huntlab/_refresh", auth=stack.admin, timeout=60)
    body = {"size": 0, "aggs": {"d": {"terms": {"field": "Dataset", "size": 100}}}}
    answer = requests.post(f"{stack.es}/huntlab/_search", json=body, auth=stack.admin, timeout=60)
    answer.raise_for_status()
    return {b["key"]: b["doc_count"] for b in answer.json()["aggregations"]["d"]["buckets"]}


def test_default_datasets_loaded_with_exact_counts(stack: Stack, datasets_dir: Path) -> None:
    import huntlab
    from huntlab.datasets import DEFAULT_DATASETS

    counts = _dataset_counts(stack)
    os.environ["HUNTLAB_DATASETS_MIRROR"] = str(datasets_dir)
    for name in DEFAULT_DATASETS:
        expected = len(huntlab.read_events(name))
        assert counts.get(name) == expected, (name, counts)


def test_security_is_on_with_the_labs_users_and_roles(stack: Stack) -> None:
    """setup created the roles and users of docker/setup/; nobody gets in anonymously, and
    each user can do what its role says and no more."""
    url = f"{stack.es}/huntlab/_count"
    assert requests.get(url, timeout=30).status_code == 401
    users = {
        "huntlab_jupyter": ("JUPYTER_ES_PASSWORD", "huntlab_analyst"),
        "logstash_internal": ("LOGSTASH_INTERNAL_PASSWORD", "huntlab_logstash_writer"),
    }
    for user, (password_env, role) in users.items():
        auth = (user, stack.secret(password_env))
        me = requests.get(f"{stack.es}/_security/_authenticate", auth=auth, timeout=30)
        assert me.status_code == 200, (user, me.text)
        assert me.json()["roles"] == [role]
    analyst = ("huntlab_jupyter", stack.secret("JUPYTER_ES_PASSWORD"))
    assert requests.get(url, auth=analyst, timeout=30).json()["count"] > 0
    assert requests.get(f"{stack.es}/_security/user", auth=analyst, timeout=30).status_code == 403
    # Logstash writes, but cannot read the hunt data.
    shipper = ("logstash_internal", stack.secret("LOGSTASH_INTERNAL_PASSWORD"))
    assert requests.get(url, auth=shipper, timeout=30).status_code == 403


def test_the_workspace_has_the_labs_recordings_in_datasets(stack: Stack) -> None:
    """datasets/ beside the notebooks links to the dataset store (the huntlab-cache volume),
    read by a relative path as in the tutorial series."""
    out = stack.python_in(
        "jupyter",
        """
        import os
        import pandas as pd
        os.chdir("/home/huntlab/work")
        print("LINK", os.path.islink("datasets"), sorted(os.listdir("datasets")))
        df = pd.read_json("datasets/empire_invoke_wmi/empire_invoke_wmi.tar.gz", lines=True)
        print("ROWS", len(df))
        """,
    )
    line = next(line for line in out.splitlines() if line.startswith("LINK"))
    assert line.startswith("LINK True") and "empire_invoke_wmi" in line, out
    rows = int(next(line for line in out.splitlines() if line.startswith("ROWS")).split()[1])
    assert rows == _dataset_counts(stack)["empire_invoke_wmi"]


def test_code_in_jupyter_reads_es_and_runs_spark_on_the_worker(stack: Stack) -> None:
    """A kernel's code in the jupyter container: ES through huntlab.es.search, then a Spark
    job on the master, whose executor runs in the spark-worker container."""
    out = stack.python_in(
        "jupyter",
        """
        import json, urllib.request
        import huntlab.es, huntlab.spark
        hits = huntlab.es.search("EventID:1 AND ParentImage:*WmiPrvSE.exe", index="huntlab-sysmon")
        spark = huntlab.spark.session(app_name="huntlab-docker-test")
        sc = spark.sparkContext
        n = huntlab.spark.read_es(spark, "huntlab-sysmon").count()
        ui = sc.uiWebUrl
        ex = json.load(urllib.request.urlopen(f"{ui}/api/v1/applications/{sc.applicationId}/executors"))
        env = json.load(urllib.request.urlopen(f"{ui}/api/v1/applications/{sc.applicationId}/environment"))
        shown = dict(env["sparkProperties"])
        print("RESULT " + json.dumps({
            "shown_password": shown.get("spark.es.net.http.auth.pass"),
            "shown_secret": shown.get("spark.authenticate.secret"),
            "authenticate": sc.getConf().get("spark.authenticate"),
            "hits": len(hits), "count": n, "app": sc.applicationId, "master": sc.master,
            "executors": [
                {"id": e["id"], "host": e["hostPort"].split(":")[0], "tasks": e["totalTasks"]}
                for e in ex if e["id"] != "driver"
            ],
        }))
        spark.stop()
        """,
    )
    line = next(ln for ln in out.splitlines() if ln.startswith("RESULT "))
    result = json.loads(line[len("RESULT ") :])
    assert result["master"] == "spark://spark-master:7077"
    # Spark authenticates, and its UI hides the connector's password and the shared secret.
    assert result["authenticate"] == "true"
    assert result["shown_password"] == result["shown_secret"] == "*********(redacted)", result
    assert result["hits"] == 2  # one WmiPrvSE child per default dataset
    sysmon = requests.get(f"{stack.es}/huntlab-sysmon/_count", auth=stack.admin, timeout=30)
    sysmon = sysmon.json()["count"]
    assert result["count"] == sysmon > 0
    worker_ip = stack.compose("exec", "-T", "spark-worker", "hostname", "-i").split()[0]
    assert result["executors"], result
    assert all(e["host"] in (worker_ip, "spark-worker") for e in result["executors"]), (
        result,
        worker_ip,
    )
    assert sum(e["tasks"] for e in result["executors"]) > 0
    # The master's JSON API knows the application and its worker.
    master = requests.get(
        f"http://127.0.0.1:{stack.ports['SPARK_MASTER_UI_PORT']}/json/", timeout=30
    ).json()
    apps = {a["id"]: a for a in master["activeapps"] + master["completedapps"]}
    assert apps[result["app"]]["name"] == "huntlab-docker-test"
    assert [w["state"] for w in master["workers"]] == ["ALIVE"]


# --------------------------------------------------------------------------- hardening


def _master_apps(stack: Stack) -> dict[str, dict[str, object]]:
    master = requests.get(
        f"http://127.0.0.1:{stack.ports['SPARK_MASTER_UI_PORT']}/json/", timeout=30
    ).json()
    return {str(a["name"]): a for a in master["activeapps"] + master["completedapps"]}


# A Spark application from this host, as any local account could submit one to the published
# master port: with Spark's defaults (no authentication), or with a wrong secret.
_INTRUDER = """
import sys
from pyspark.sql import SparkSession
builder = SparkSession.builder.master(sys.argv[1]).appName(sys.argv[2])
builder = builder.config("spark.ui.enabled", "false")
if sys.argv[3]:
    builder = builder.config("spark.authenticate", "true")
    builder = builder.config("spark.authenticate.secret", sys.argv[3])
try:
    spark = builder.getOrCreate()
    print("COUNTED", spark.range(10).count(), flush=True)
except Exception as exc:  # refused: registration fails, the context stops
    print("REFUSED", type(exc).__name__, flush=True)
"""


def test_spark_master_refuses_applications_without_the_secret(stack: Stack) -> None:
    from huntlab.java import find_java

    master = f"spark://127.0.0.1:{stack.ports['SPARK_MASTER_PORT']}"
    env = {**stack.env, "JAVA_HOME": str(find_java().home)}
    env.pop("SPARK_CONF_DIR", None)
    runs = {
        "huntlab-intruder-noauth": "",
        "huntlab-intruder-wrong": secrets.token_urlsafe(32),
    }
    procs = {
        name: subprocess.Popen(
            [sys.executable, "-c", _INTRUDER, master, name, secret],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, secret in runs.items()
    }
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=600)
        assert "COUNTED" not in out, (name, out, err[-3000:])
    apps = _master_apps(stack)
    assert not set(runs) & set(apps), apps


# Runs in the jupyter container until the test drops the stop file: a notebook's driver with
# an executor on the worker, so their command lines can be read while they live.
_PROBE_DRIVER = """
import os, time
from pyspark.sql import SparkSession
spark = SparkSession.builder.master(os.environ["HUNTLAB_SPARK_MASTER"]).appName(
    "huntlab-argv-probe").getOrCreate()
spark.sparkContext.parallelize(range(8), 2).map(lambda x: x * 2).count()
deadline = time.monotonic() + 600
while not os.path.exists("/tmp/huntlab-argv-probe.stop") and time.monotonic() < deadline:
    time.sleep(1)
spark.stop()
"""


def _project_command_lines(stack: Stack) -> dict[str, list[str]]:
    """Every process of every container of the project: container -> command lines, read
    from /proc on this host (docker top gives the host's pids)."""
    project = stack.env["HUNTLAB_COMPOSE_PROJECT"]
    ids = _run(
        ["docker", "ps", "-q", "--filter", f"label=com.docker.compose.project={project}"]
    ).split()
    assert ids
    lines: dict[str, list[str]] = {}
    for container in ids:
        top = _run(["docker", "top", container, "-eo", "pid"]).split()[1:]
        found = []
        for pid in top:
            try:
                raw = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue  # exited meanwhile
            found.append(raw.replace(b"\0", b" ").decode("utf-8", "replace"))
        lines[container] = found
    return lines


def test_no_secret_on_any_command_line(stack: Stack, tmp_path: Path) -> None:
    """Secrets travel by environment, stdin or private files: no process of the stack (the
    Elasticsearch healthcheck included, a live notebook driver and its executor included)
    and none that setup starts has one in its argv, which every account can read."""
    from huntlab.lab.docker import SECRET_KEYS

    values = {key: stack.secret(key) for key in SECRET_KEYS}
    stack.compose("exec", "-T", "jupyter", "rm", "-f", "/tmp/huntlab-argv-probe.stop")
    stack.compose("exec", "-d", "-T", "jupyter", "python", "-c", _PROBE_DRIVER)
    try:
        for _ in range(300):
            running = str(_project_command_lines(stack))
            if "CoarseGrainedExecutorBackend" in running and "huntlab-argv-probe" in running:
                break
            subprocess.run(["sleep", "1"], check=True)
        else:
            pytest.fail(f"the probe driver never ran: {_master_apps(stack)}")
        seen: list[str] = []
        for _ in range(3):
            for found in _project_command_lines(stack).values():
                seen.extend(found)
            subprocess.run(["sleep", "1"], check=True)
    finally:
        stack.compose("exec", "-T", "jupyter", "touch", "/tmp/huntlab-argv-probe.stop")
    assert any("CoarseGrainedExecutorBackend" in line for line in seen), "no executor seen"
    assert any("SparkSubmit" in line for line in seen), "no driver seen"
    for key, value in values.items():
        leaks = sorted({line for line in seen if value in line})
        assert not leaks, (key, leaks)
    # Healthchecks live for a moment every 10 s: their argv is `sh -c TEST`, read it whole.
    project = stack.env["HUNTLAB_COMPOSE_PROJECT"]
    ids = _run(["docker", "ps", "-q", "--filter", f"label=com.docker.compose.project={project}"])
    inspected = _run(
        ["docker", "inspect", "--format", "{{json .Config.Healthcheck}}", *ids.split()]
    )
    assert "$ELASTIC_PASSWORD" in inspected  # the variable's name, expanded by the shell
    for key, value in values.items():
        assert value not in inspected, key

    # setup's commands: a rerun of the setup service with every curl and python it starts
    # going through a shim that records its arguments, then runs the real program.
    trace = tmp_path / "trace"
    (trace / "bin").mkdir(parents=True)
    real = {"curl": "/usr/bin/curl", "python3": "/opt/huntlab/venv/bin/python3"}
    real["python"] = real["python3"]
    for name, target in real.items():
        shim = trace / "bin" / name
        shim.write_text(
            f'#!/bin/sh\nprintf \'%s\\n\' "{name} $*" >>/trace/argv\nexec {target} "$@"\n'
        )
        shim.chmod(0o755)
    trace.chmod(0o777)
    (trace / "argv").touch()
    (trace / "argv").chmod(0o666)  # setup runs as the image's user, not as this one
    path = "/trace/bin:/opt/huntlab/venv/bin:/opt/huntlab/spark/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    stack.compose(
        "run", "--rm", "--no-deps", "-T",
        "-v", f"{trace}:/trace",
        "-e", f"PATH={path}",
        "-e", "HUNTLAB_SETUP_DATASETS=none",
        "setup",
        timeout=600,
    )  # fmt: skip
    recorded = (trace / "argv").read_text().splitlines()
    assert any(line.startswith("curl ") and "_security/user" in line for line in recorded)
    assert any(line.startswith("python3 ") for line in recorded)
    for key, value in values.items():
        assert not [line for line in recorded if value in line], key


def test_a_failed_setup_names_its_log(stack: Stack) -> None:
    """A misspelt dataset: setup fails, `up` says which services are not healthy and to read
    their log, and `huntlab logs` of the failed one shows why (the next test's `up` repairs
    it). Compose returns 0 here (a dependency failed, nothing timed out) and `up` finds the
    failure itself; a Compose that exits non-zero gets the other message, with the same hint."""
    failed = stack.huntlab("up", "--docker", "--datasets", "no_such_dataset", timeout=1500)
    unhealthy = (
        r"the lab (?:is not healthy|did not become healthy within \d+s) \((.+)\); read "
        r"`huntlab logs SERVICE`( \(services: .+\))?"
    )
    command = hinted_command(failed, unhealthy, r"huntlab logs SERVICE")
    named = re.search(rf"^huntlab: error: {unhealthy}$", failed.stderr, re.M)
    assert named is not None and "setup: exited (exit 1)" in named.group(1), failed.stderr
    logs = stack.huntlab(*["setup" if arg == "SERVICE" else arg for arg in command])
    assert logs.returncode == 0, logs.stderr[-3000:]
    lines = [line for line in logs.stdout.splitlines() if re.match(r"setup-\d+\s+\|", line)]
    assert any("no_such_dataset" in line and "error" in line for line in lines), logs.stdout


def test_an_env_file_without_the_token_gets_one_from_up(stack: Stack) -> None:
    """The token's line gone from the env file (an older or hand-edited file): `huntlab token`
    says to bring the lab up, and that makes a new token, which JupyterLab then takes."""
    path = Path(stack.env["HUNTLAB_DOCKER_ENV_FILE"])
    old = stack.secret("JUPYTER_TOKEN")
    kept = [ln for ln in path.read_text().splitlines(True) if not ln.startswith("JUPYTER_TOKEN=")]
    path.write_text("".join(kept))
    failed = stack.huntlab("token")
    up = hinted_command(
        failed,
        f"no JUPYTER_TOKEN in {re.escape(str(path))}: bring the lab up with `huntlab up --docker`",
        r"huntlab up --docker",
    )
    stack.huntlab_ok(*up, timeout=1500)
    new = stack.huntlab_ok("token").strip()
    assert re.fullmatch(r"[0-9a-f]{64}", new) and new != old, new
    base = f"http://127.0.0.1:{stack.ports['JUPYTER_PORT']}/api/contents"
    assert requests.get(base, headers={"Authorization": f"token {new}"}, timeout=30).ok
    refused = requests.get(base, headers={"Authorization": f"token {old}"}, timeout=30)
    assert refused.status_code == 403
    # The setup the previous test left failed ran again, with the default datasets.
    stack.huntlab_ok("status")


def test_rerun_keeps_env_and_data(stack: Stack) -> None:
    """A hand-edited worker count: `huntlab status` says how to set one, and that rerun of
    `up` keeps the env file (the count written back) and the data."""
    path = Path(stack.env["HUNTLAB_DOCKER_ENV_FILE"])
    before_env = path.read_bytes()
    before_counts = _dataset_counts(stack)
    assert b"\nSPARK_WORKERS=1\n" in before_env
    path.write_bytes(before_env.replace(b"\nSPARK_WORKERS=1\n", b"\nSPARK_WORKERS=one\n"))
    try:
        failed = stack.huntlab("status")
        up = hinted_command(
            failed,
            f"SPARK_WORKERS='one' in {re.escape(str(path))}: give a whole number of workers, 1 "
            r"to 16 \(or run `huntlab up --docker --spark-workers N`\)",
            r"huntlab up --docker --spark-workers N",
        )
        stack.huntlab_ok(*["1" if a == "N" else a for a in up], timeout=1500)
        assert path.read_bytes() == before_env
    finally:
        # Compose cannot read the project with that value (even to take it down at the end).
        if b"SPARK_WORKERS=one" in path.read_bytes():
            path.write_bytes(before_env)
    assert _dataset_counts(stack) == before_counts
    rows = _service_rows(stack)
    assert all(rows[n]["Health"] == "healthy" for n in ("elasticsearch", "jupyter"))
    stack.huntlab_ok("status")


def test_down_stops_everything(stack: Stack) -> None:
    _run([sys.executable, "-m", "huntlab", "down"], env=stack.env, timeout=300)
    rows = _service_rows(stack)
    assert not [r for r in rows.values() if r.get("State") == "running"], rows


def _volume_keys(stack: Stack) -> set[str]:
    code = "from huntlab.lab import docker; print(*sorted(docker.volumes()))"
    return set(_run([sys.executable, "-c", code], env=stack.env, timeout=120).split())


def test_purge_keeps_the_notebooks_unless_asked(stack: Stack) -> None:
    assert {"notebooks", "elasticsearch-data"} <= _volume_keys(stack)
    _run([sys.executable, "-m", "huntlab", "down", "--purge"], env=stack.env, timeout=300)
    assert _volume_keys(stack) == {"notebooks"}
    _run(
        [sys.executable, "-m", "huntlab", "down", "--purge", "--purge-notebooks"],
        env=stack.env,
        timeout=300,
    )
    assert _volume_keys(stack) == set()
