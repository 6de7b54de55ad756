"""The native lab's Spark standalone master and worker, started by huntlab's supervisor in a
fresh home, refuse any application that does not hold the home's secret; the lab's own driver
(huntlab.spark.session) holds it without the secret ever reaching a command line."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import requests

from huntlab.errors import ServiceError
from huntlab.java import find_java
from huntlab.lab import processes
from huntlab.lab.home import ensure_home
from huntlab.lab.native.plan import LabPlan, plan
from huntlab.lab.native.spark import (
    SPARK_MASTER,
    SPARK_WORKER,
    master_alive,
    secret_path,
    start_spark,
)
from huntlab.settings import load_settings

INTRUDER = """
import sys
from pyspark.sql import SparkSession
builder = SparkSession.builder.master(sys.argv[1]).appName(sys.argv[2])
for pair in sys.argv[3:]:
    key, _, value = pair.partition("=")
    builder = builder.config(key, value)
spark = builder.config("spark.ui.enabled", "false").getOrCreate()
print("COUNT", spark.range(3).count(), flush=True)
"""

OWN_DRIVER = """
import huntlab.spark
from huntlab.spark.auth import read_secret
from huntlab.settings import load_settings
spark = huntlab.spark.session(app_name="huntlab-own-driver", config={"spark.ui.enabled": "false"})
print("COUNT", spark.range(3).count(), flush=True)
# The driver's JVM (PySpark's gateway) got the secret through py4j, not on its command line.
jvm = spark.sparkContext._gateway.proc.pid
with open(f"/proc/{jvm}/cmdline", "rb") as fh:
    argv = fh.read().decode()
secret = read_secret(load_settings().home)
print("ARGV_HAS_SECRET", secret in argv, "ARGV_HAS_SPARK_SUBMIT", "pyspark-shell" in argv, flush=True)
spark.stop()
"""


def _lab(home: Path) -> LabPlan:
    master, master_ui, worker_ui, jupyter, es = processes.free_ports(5)
    settings = load_settings(
        home=home,
        spark_master_port=master,
        spark_master_ui_port=master_ui,
        spark_worker_ui_port=worker_ui,
        jupyter_port=jupyter,
        es_port=es,
    )
    ensure_home(home)
    return plan(settings)


def _stop(lab: LabPlan) -> None:
    for name in (SPARK_WORKER, SPARK_MASTER):
        processes.stop(lab.home, name)


def _driver_env(lab: LabPlan) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUNTLAB_", "_SPARK"))}
    env.update(
        {
            "HUNTLAB_HOME": str(lab.home),
            "HUNTLAB_SPARK_MASTER": lab.spark_master_url,
            "PYSPARK_PYTHON": sys.executable,
            "SPARK_LOCAL_IP": "127.0.0.1",
        }
    )
    return env


@pytest.fixture(scope="module")
def spark_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabPlan]:
    lab = _lab(tmp_path_factory.mktemp("spark-auth") / "home")
    start_spark(lab, find_java(), print)
    try:
        processes.wait_until(
            lambda: master_alive(lab, workers=1),
            what="Spark master with one worker",
            log=processes.log_path(lab.home, SPARK_WORKER),
            timeout=180,
            alive=lambda: processes.running(lab.home, SPARK_MASTER) is not None,
        )
        yield lab
    finally:
        _stop(lab)


def test_the_secret_is_private_and_on_no_command_line(spark_lab: LabPlan) -> None:
    path = secret_path(spark_lab.home)
    assert path.stat().st_mode & 0o777 == 0o600
    secret = path.read_text(encoding="ascii").strip()
    assert len(secret) >= 32
    for name in (SPARK_MASTER, SPARK_WORKER):
        current = processes.running(spark_lab.home, name)
        assert current is not None
        for pid in processes.family(current.pid):
            try:
                argv = " ".join(psutil.Process(pid).cmdline())
            except psutil.Error:  # gone meanwhile (spark-class's short-lived helpers)
                continue
            assert secret not in argv, name


def test_applications_without_the_secret_are_refused(spark_lab: LabPlan) -> None:
    url = spark_lab.spark_master_url
    attempts = {
        "intruder-plain": [],
        "intruder-wrong-secret": ["spark.authenticate=true", "spark.authenticate.secret=guess"],
    }
    running = {
        name: subprocess.Popen(
            [sys.executable, "-c", INTRUDER, url, name, *conf],
            env=_driver_env(spark_lab) | {"HUNTLAB_HOME": "/nonexistent"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, conf in attempts.items()
    }
    for name, proc in running.items():
        out, _ = proc.communicate(timeout=300)
        assert "COUNT 3" not in out, f"{name} ran a job on the lab's master"
        assert proc.returncode != 0, name
    state = requests.get(f"{spark_lab.spark_master_ui}/json/", timeout=30).json()
    names = {app["name"] for app in state["activeapps"] + state["completedapps"]}
    assert not names & set(attempts), names


def test_the_labs_own_driver_holds_the_secret(spark_lab: LabPlan) -> None:
    done = subprocess.run(
        [sys.executable, "-c", OWN_DRIVER],
        env=_driver_env(spark_lab),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert "COUNT 3" in done.stdout, done.stderr[-4000:]
    assert "ARGV_HAS_SECRET False ARGV_HAS_SPARK_SUBMIT True" in done.stdout
    state = requests.get(f"{spark_lab.spark_master_ui}/json/", timeout=30).json()
    names = {app["name"] for app in state["activeapps"] + state["completedapps"]}
    assert "huntlab-own-driver" in names


def test_a_taken_port_fails_loudly(tmp_path: Path) -> None:
    lab = _lab(tmp_path / "home")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", lab.settings.spark_master_ui_port))
        taken.listen()
        start_spark(lab, find_java(), print)
        try:
            with pytest.raises(ServiceError, match="exited"):
                processes.wait_until(
                    lambda: master_alive(lab),
                    what="Spark master",
                    log=processes.log_path(lab.home, SPARK_MASTER),
                    timeout=120,
                    alive=lambda: processes.running(lab.home, SPARK_MASTER) is not None,
                )
        finally:
            _stop(lab)
    log = processes.log_path(lab.home, SPARK_MASTER).read_text(errors="replace")
    assert str(lab.settings.spark_master_ui_port) in log
