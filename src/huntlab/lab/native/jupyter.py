"""JupyterLab in the native lab: its environment, its launch, its readiness."""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from huntlab.files import private_dirs
from huntlab.lab import processes
from huntlab.lab.native.plan import LabPlan
from huntlab.lab.status import ServiceStatus
from huntlab.lab.token import read_token
from huntlab.lab.workspace import (
    DATASETS_LINK,
    disable_announcements,
    first_screen,
    link_datasets,
    notebooks_source,
    sync_notebooks,
)

JUPYTER = "jupyter"


def jupyter_config_file() -> Path:
    from huntlab.resources import resource_dir

    return resource_dir("jupyter") / "jupyter_server_config.py"


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
            # The lab's kernels (PySpark (huntlab)) under kernels/ of this data folder.
            "JUPYTER_PATH": str(jupyter_config_file().parent),
            # What notebooks read through huntlab.load_settings(): no edits needed.
            "HUNTLAB_HOME": str(lab.home),
            "HUNTLAB_ES_URL": lab.es_url,
            "HUNTLAB_SPARK_MASTER": lab.spark_master_url,
            "HUNTLAB_RUNTIME": "native",
            "PYSPARK_PYTHON": sys.executable,
            "PYSPARK_DRIVER_PYTHON": sys.executable,
            # A notebook's Spark driver web UI (4040...) stays on loopback, even when JupyterLab
            # serves a team; with an existing cluster only the driver's RPC faces the network
            # (huntlab.spark.session: spark.driver.bindAddress, authenticated and encrypted).
            "SPARK_LOCAL_IP": "127.0.0.1",
        }
    )
    # Credentials given to this process are not the kernels' business: they read the lab's
    # (an existing cluster's user, `huntlab up --es-url`) from config.json by HUNTLAB_HOME.
    for name in ("HUNTLAB_ES_USER", "HUNTLAB_ES_PASSWORD", "HUNTLAB_ES_API_KEY", "HUNTLAB_ES_CA"):
        env.pop(name, None)
    env.pop("JUPYTER_CERTFILE", None)
    env.pop("JUPYTER_KEYFILE", None)
    if lab.tls:
        env["JUPYTER_CERTFILE"] = str(lab.tls.cert)
        env["JUPYTER_KEYFILE"] = str(lab.tls.key)
    return env


def _jupyter_launch(lab: LabPlan, token: str) -> dict[str, Any]:
    return {
        # A new token in the home (deleted and made again by `huntlab up`) restarts JupyterLab,
        # which would accept only the old one; the record keeps a digest, never the token.
        "token_sha256": hashlib.sha256(token.encode("ascii")).hexdigest(),
        "listen": lab.settings.listen,
        "port": lab.settings.jupyter_port,
        "tls_cert": str(lab.tls.cert) if lab.tls else None,
        # Another Spark master or Elasticsearch (huntlab up --spark-master, --es-url)
        # restarts JupyterLab: its kernels read them from the environment it was started with.
        "spark_master": lab.spark_master_url,
        "es_url": lab.es_url,
    }


def start_jupyter(lab: LabPlan, token: str, say: Callable[[str], None]) -> None:
    """Copy the notebooks into the workspace (edits kept) and start JupyterLab unless it
    already runs as asked."""
    workspace, kept = sync_notebooks(notebooks_source(), lab.home)
    for name in kept:
        say(f"huntlab: kept your edited notebook {workspace / name} (not replaced)")
    if link_datasets(workspace, lab.settings.cache / "datasets") is None:
        say(f"huntlab: {workspace / DATASETS_LINK} is yours (not a link to the lab's datasets); "
            "left as it is")  # fmt: skip
    for sub in ("", "config", "runtime"):
        private_dirs(lab.home / "jupyter" / sub)
    disable_announcements(lab.home / "jupyter" / "config")
    first_screen(lab.home / "jupyter" / "config" / "lab" / "workspaces", workspace)
    processes.ensure(
        lab.home,
        JUPYTER,
        [sys.executable, "-m", "jupyterlab", f"--config={jupyter_config_file()}"],
        env=_jupyter_env(lab, token, workspace),
        cwd=workspace,
        meta=_jupyter_launch(lab, token),
        say=say,
    )


def jupyter_ready(lab: LabPlan, token: str) -> bool:
    """The lab's JupyterLab answers and accepts ``token``. The token is sent only to the
    process the lab started: whatever else listens on the port never sees it."""
    if not processes.listens(lab.home, JUPYTER, lab.settings.jupyter_port):
        return False
    answer = processes.http_get(
        f"{lab.jupyter_probe}/api/status", headers={"Authorization": f"token {token}"}
    )
    return answer is not None and answer[0] == 200


def wait_jupyter(lab: LabPlan, token: str, timeout: float) -> None:
    processes.wait_until(
        lambda: jupyter_ready(lab, token),
        what=f"JupyterLab on {lab.jupyter_probe}",
        log=processes.log_path(lab.home, JUPYTER),
        timeout=timeout,
        alive=lambda: processes.running(lab.home, JUPYTER) is not None,
    )


def jupyter_status(lab: LabPlan) -> ServiceStatus:
    token = read_token(lab.home)
    up = token is not None and jupyter_ready(lab, token)
    info = processes.http_json(f"{lab.jupyter_probe}/api") if up else None
    return ServiceStatus(
        JUPYTER,
        up,
        f"{lab.jupyter_url}/lab",
        f"jupyter_server {info.get('version')}" if isinstance(info, dict) else None,
        "" if up else f"log {processes.log_path(lab.home, JUPYTER)}",
    )
