"""What a hunter's server starts with: their workspace, their settings, their credentials.

:func:`prepare` runs as root just before the hub starts a hunter's server (and when the hunter
is added): it copies the tutorial notebooks into their workspace (a notebook they edited is
never replaced), links the team's shared folders, and writes their huntlab settings: the lab's
Elasticsearch and Spark, their own Elasticsearch user, the Spark secret and their Spark caps.
:func:`server_env` is the environment the server (and so every kernel) gets.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from huntlab.files import atomic_write, private_dirs
from huntlab.lab.config import read_config
from huntlab.lab.team import accounts, es_realm
from huntlab.lab.workspace import (
    disable_announcements,
    first_screen,
    notebooks_source,
    sync_notebooks,
)
from huntlab.spark.auth import read_secret, secret_path

# Each hunter's Spark application is capped so that one hunter cannot starve the others
# (spark-defaults.conf of their server; the master's UI and API show the caps per application).
DEFAULT_CORES = 1
DEFAULT_EXECUTOR_MEMORY = "512m"


def _jupyter_resources() -> Path:
    from huntlab.resources import resource_dir

    return resource_dir("jupyter")


def spark_caps_for(cores: object = None, executor_memory: object = None) -> dict[str, str]:
    """A hunter's Spark caps (spark-defaults.conf lines), the defaults where not given."""
    cores = cores or DEFAULT_CORES
    return {
        "spark.cores.max": str(cores),
        "spark.executor.cores": str(cores),
        "spark.executor.memory": str(executor_memory or DEFAULT_EXECUTOR_MEMORY),
    }


def spark_caps(home: Path) -> dict[str, str]:
    stored = read_config(home)
    return spark_caps_for(stored.get("team_spark_cores"), stored.get("team_executor_memory"))


def _link(link: Path, target: Path) -> None:
    if link.is_symlink() and Path(os.readlink(link)) == target:
        return
    if link.is_symlink():
        link.unlink()
    if not link.exists():
        link.symlink_to(target, target_is_directory=True)


def _copy_es_ca(stored: Mapping[str, Any], settings_home: Path) -> str | None:
    """The hunter's copy of the CA of an existing cluster the lab uses (None: no CA given)."""
    ca = stored.get("es_ca")
    if not ca:
        return None
    copy = settings_home / "es-ca.crt"
    atomic_write(copy, Path(str(ca)).read_bytes(), mode=0o644)
    return str(copy)


def prepare(home: Path, name: str) -> None:
    """The hunter's account, workspace and settings, owned by them (idempotent; root)."""
    entry = accounts.ensure_account(home, name)
    uid, gid = entry.pw_uid, entry.pw_gid
    folder = accounts.hunter_dir(home, name)
    settings_home = accounts.hunter_settings_home(home, name)
    space, _kept = sync_notebooks(notebooks_source(), folder)
    _link(space / "datasets", accounts.datasets_dir(home))
    _link(space / "hunts", accounts.hunts_dir(home))
    stored = read_config(home)
    atomic_write(
        settings_home / "config.json",
        json.dumps(
            {
                "runtime": "native",
                "team": True,
                "es_url": stored.get("es_url"),
                "es_user": name,
                "es_ca": _copy_es_ca(stored, settings_home),
                "spark_master": stored.get("spark_master"),
                "spark_network_crypto": bool(stored.get("spark_network_crypto")),
            },
            indent=2,
        )
        + "\n",
    )
    secret = read_secret(home)
    if secret is not None:
        atomic_write(secret_path(settings_home), secret + "\n")
    caps = "".join(f"{k} {v}\n" for k, v in spark_caps(home).items())
    atomic_write(settings_home / "spark-conf" / "spark-defaults.conf", caps)
    cache = folder / ".cache" / "huntlab"
    private_dirs(cache)
    # Spark's Elasticsearch connector, resolved once by the lab: each hunter's Ivy cache starts
    # with it, so no kernel downloads it again.
    ivy = Path(stored.get("cache", "")) / "ivy2" if stored.get("cache") else None
    if ivy is not None and ivy.is_dir() and not (cache / "ivy2").exists():
        shutil.copytree(ivy, cache / "ivy2", symlinks=True)
    disable_announcements(folder / ".jupyter")
    first_screen(folder / ".jupyter" / "lab" / "workspaces", space)
    accounts.chown_tree(folder, uid, gid)


def server_env(home: Path, name: str) -> dict[str, str]:
    stored = read_config(home)
    folder = accounts.hunter_dir(home, name)
    settings_home = accounts.hunter_settings_home(home, name)
    env = {
        "HUNTLAB_HOME": str(settings_home),
        "HUNTLAB_CACHE": str(folder / ".cache" / "huntlab"),
        "HUNTLAB_RUNTIME": "native",
        # The team's read-only datasets folder, laid out as a mirror: found by name, offline.
        "HUNTLAB_DATASETS_MIRROR": str(accounts.datasets_dir(home)),
        "HUNTLAB_ES_URL": str(stored.get("es_url", "")),
        "HUNTLAB_ES_USER": name,
        "HUNTLAB_SPARK_MASTER": str(stored.get("spark_master", "")),
        "SPARK_CONF_DIR": str(settings_home / "spark-conf"),
        # The lab's kernels (PySpark (huntlab)) under kernels/ of this data folder.
        "JUPYTER_PATH": str(_jupyter_resources()),
        # The driver's web UI stays on loopback; with an existing cluster only its RPC faces
        # the network (huntlab.spark.session: spark.driver.bindAddress).
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
    }
    if stored.get("java_home"):
        env["JAVA_HOME"] = str(stored["java_home"])
    password = es_realm.hunter_password(home, name)
    if password:
        env["HUNTLAB_ES_PASSWORD"] = password
    return env
