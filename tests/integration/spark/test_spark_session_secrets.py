"""Secrets given to the lab's SparkSession stay off every command line.

pyspark passes the settings it has before the driver JVM starts to spark-submit as
``--conf key=value``, which any local account reads in the process list. The session must set
the Elasticsearch password, API keys and the Spark secret over the gateway instead.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = r"""
import json, sys, psutil
from huntlab.settings import load_settings
from huntlab.spark import session
home, password, secret = sys.argv[1:4]
settings = load_settings(home=home, es_user="hunter", es_password=password)
spark = session(
    "secrets-test", master="local[1]", settings=settings,
    config={"spark.ui.enabled": "false", "spark.authenticate.secret": secret},
)
conf = spark.sparkContext.getConf()
lines = []
for child in psutil.Process().children(recursive=True):
    try:
        lines.append(" ".join(child.cmdline()))
    except psutil.Error:  # a launcher already gone (zombie): nothing left to read
        pass
print(json.dumps({
    "password_set": conf.get("spark.es.net.http.auth.pass") == password,
    "secret_set": conf.get("spark.authenticate.secret") == secret,
    # The connector: its jar once resolved into the cache, else the package for Ivy.
    "packages_set": bool(conf.get("spark.jars.packages"))
    or "elasticsearch-spark" in conf.get("spark.jars", ""),
    "cmdlines": lines,
}))
spark.stop()
"""


def test_session_secrets_are_set_but_never_on_a_command_line(tmp_path: Path) -> None:
    password, secret = "pw-" + "7f3a9c" * 4, "sec-" + "b41d2e" * 4
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "home"), password, secret],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["password_set"] and seen["secret_set"] and seen["packages_set"]
    assert seen["cmdlines"], "the driver JVM should be a child of the Python process"
    for line in seen["cmdlines"]:
        assert password not in line and secret not in line, line
