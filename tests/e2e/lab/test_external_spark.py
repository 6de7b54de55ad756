"""`huntlab up --spark-master URL --spark-secret-file FILE`: the native lab uses a team's
existing Spark cluster instead of running its own, its drivers join that cluster with its
secret and encrypted RPC, and `--spark-master local` returns to the lab's own master.

The "existing cluster" is a standalone master and worker started here, outside huntlab, with
spark.authenticate and spark.network.crypto.enabled on, as a cluster shared beyond one host
should run.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from huntlab.java import find_java
from huntlab.lab.native.plan import EXTERNAL_MASTER_KEY
from huntlab.lab.native.spark import spark_home
from huntlab.lab.processes import free_ports
from tests.support.fixtures.lab import LabHome, lab_home
from tests.support.hints import suggested

DRIVER = """
import huntlab.spark
spark = huntlab.spark.session(app_name="huntlab-on-existing", config={"spark.ui.enabled": "false"})
print("MASTER", spark.sparkContext.master, flush=True)
print("COUNT", spark.range(1000).selectExpr("sum(id)").first()[0], flush=True)
spark.stop()
"""


@dataclass
class Cluster:
    url: str
    ui: str
    secret_file: Path

    def app_names(self) -> set[str]:
        state = requests.get(f"{self.ui}/json/", timeout=30).json()
        return {app["name"] for app in state["activeapps"] + state["completedapps"]}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A standalone master and one worker that huntlab did not start."""
    root = tmp_path_factory.mktemp("existing-spark")
    secret = secrets.token_hex(24)
    secret_file = root / "cluster-secret"
    secret_file.write_text(secret + "\n", encoding="ascii")
    secret_file.chmod(0o600)
    (root / "conf").mkdir()
    (root / "conf" / "spark-defaults.conf").write_text(
        # Encrypted RPC required: no fallback to plain SASL for a driver without it.
        "spark.authenticate true\nspark.network.crypto.enabled true\n"
        "spark.network.crypto.saslFallback false\n",
        encoding="ascii",
    )
    port, ui_port, worker_ui = free_ports(3)
    env = {
        **os.environ,
        "JAVA_HOME": str(find_java().home),
        "SPARK_HOME": str(spark_home()),
        "SPARK_CONF_DIR": str(root / "conf"),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_NO_DAEMONIZE": "1",
        "SPARK_WORKER_DIR": str(root / "work"),
        "PYSPARK_PYTHON": sys.executable,
        "_SPARK_AUTH_SECRET": secret,
    }
    spark_class = str(spark_home() / "bin" / "spark-class")
    url = f"spark://127.0.0.1:{port}"
    daemons = []
    with contextlib.ExitStack() as stack:
        for args, log in (
            (["org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port",
              str(port), "--webui-port", str(ui_port)], "master.log"),
            (["org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1", "--cores", "1",
              "--memory", "1g", "--webui-port", str(worker_ui), url], "worker.log"),
        ):  # fmt: skip
            out = stack.enter_context((root / log).open("wb"))
            daemons.append(
                subprocess.Popen(["bash", spark_class, *args], env=env, stdout=out,
                                 stderr=subprocess.STDOUT, start_new_session=True)
            )  # fmt: skip
        ui = f"http://127.0.0.1:{ui_port}"
        try:
            deadline = time.monotonic() + 180
            while True:
                with contextlib.suppress(requests.RequestException, ValueError):
                    state = requests.get(f"{ui}/json/", timeout=5).json()
                    if [w for w in state.get("workers", []) if w["state"] == "ALIVE"]:
                        break
                assert time.monotonic() < deadline, (root / "worker.log").read_text()[-3000:]
                time.sleep(1)
            yield Cluster(url, ui, secret_file)
        finally:
            for daemon in daemons:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(daemon.pid, 9)
                daemon.wait(timeout=60)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabHome]:
    lab = lab_home(tmp_path_factory.mktemp("external-spark-home"))
    try:
        yield lab
    finally:
        lab.huntlab("down", timeout=300)


def test_an_existing_cluster_needs_its_secret(home: LabHome, cluster: Cluster) -> None:
    done = home.huntlab("up", "--native", "--no-data", "--spark-master", cluster.url)
    assert done.returncode != 0
    assert "--spark-secret-file" in done.stderr, done.stderr
    done = home.huntlab("up", "--native", "--no-data", "--spark-master", "spark://nohost",
                        "--spark-secret-file", str(cluster.secret_file))  # fmt: skip
    assert done.returncode != 0 and "HOST:PORT" in done.stderr, done.stderr


def test_the_lab_runs_on_the_existing_cluster_then_on_its_own_again(
    home: LabHome, cluster: Cluster
) -> None:
    up = home.huntlab("up", "--native", "--no-data", "--spark-master", cluster.url,
                      "--spark-secret-file", str(cluster.secret_file))  # fmt: skip
    assert up.returncode == 0, up.stderr[-4000:]
    assert f"Spark master   {cluster.url}  (an existing cluster)" in up.stdout, up.stdout
    status = home.huntlab("status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "spark-worker" not in status.stdout, status.stdout  # the lab runs no Spark of its own
    assert cluster.url in status.stdout, status.stdout
    # JupyterLab's kernels get the cluster (it was restarted for it); their web UIs stay local.
    assert home.jupyter_env()["HUNTLAB_SPARK_MASTER"] == cluster.url
    assert home.jupyter_env()["SPARK_LOCAL_IP"] == "127.0.0.1"
    # A driver with nothing but the home (the notebooks' way) joins the cluster, whose workers
    # run its job; the secret came from the file given, kept private in the home.
    assert (home.path / "spark" / "secret").stat().st_mode & 0o777 == 0o600
    driver_env = {k: v for k, v in home.env.items() if not k.startswith("HUNTLAB_SPARK")}
    driver_env.update({"PYSPARK_PYTHON": sys.executable, "SPARK_LOCAL_IP": "127.0.0.1"})
    done = subprocess.run([sys.executable, "-c", DRIVER], env=driver_env, capture_output=True,
                          text=True, timeout=600, check=False)  # fmt: skip
    assert f"MASTER {cluster.url}" in done.stdout, done.stderr[-4000:]
    assert "COUNT 499500" in done.stdout, done.stderr[-4000:]
    assert "huntlab-on-existing" in cluster.app_names()
    # The status names the way back to the lab's own Spark (run below, where `up` fails).
    assert "(`huntlab up --spark-master local` returns to the lab's own)" in status.stdout

    # The recorded master stops answering (the cluster moved): `up` names the two ways on; the
    # first, with the cluster's URL and secret file, puts the lab back on it.
    def record(url: str) -> None:
        config = home.path / "config.json"
        values = json.loads(config.read_text(encoding="utf-8"))
        values[EXTERNAL_MASTER_KEY] = values["spark_master"] = url  # what up and drivers read
        config.write_text(json.dumps(values), encoding="utf-8")

    record(f"spark://127.0.0.1:{free_ports(1)[0]}")
    moved = home.huntlab("up", "--native", "--no-data")
    assert moved.returncode == 1 and "Traceback" not in moved.stderr, moved.stderr
    given = {"URL": cluster.url, "FILE": str(cluster.secret_file)}
    fix = [given.get(w, w) for w in suggested(moved.stderr, "huntlab up --spark-master URL")]
    fixed = home.huntlab(*fix, "--native", "--no-data")
    assert fixed.returncode == 0, fixed.stderr[-4000:]
    assert home.jupyter_env()["HUNTLAB_SPARK_MASTER"] == cluster.url
    # A master this host cannot reach at all: a notebook's driver says so and names the way
    # back to the lab's own cluster, as `up` does; run as written, the lab has its own again.
    record("spark://nohost.invalid:7077")
    done = subprocess.run([sys.executable, "-c", DRIVER], env=driver_env, capture_output=True,
                          text=True, timeout=600, check=False)  # fmt: skip
    assert done.returncode != 0 and "no route from this host" in done.stderr, done.stderr[-3000:]
    assert suggested(done.stderr, "huntlab up --spark-master local") == ["up", "--spark-master", "local"]
    moved = home.huntlab("up", "--native", "--no-data")
    assert moved.returncode == 1 and "Traceback" not in moved.stderr, moved.stderr
    # Back to the lab's own master and worker, with a secret of the lab's own.
    back = home.huntlab(*suggested(moved.stderr, "huntlab up --spark-master local"), "--native",
                        "--no-data")  # fmt: skip
    assert back.returncode == 0, back.stderr[-4000:]
    assert "Spark worker" in back.stdout, back.stdout
    status = home.huntlab("status")
    assert "spark-master" in status.stdout and "spark-worker" in status.stdout, status.stdout
    assert status.returncode == 0, status.stdout + status.stderr
    assert home.jupyter_env()["HUNTLAB_SPARK_MASTER"].startswith("spark://127.0.0.1:")
    own = (home.path / "spark" / "secret").read_text(encoding="ascii").strip()
    assert own != cluster.secret_file.read_text(encoding="ascii").strip()
