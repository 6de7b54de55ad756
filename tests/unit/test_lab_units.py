"""The lab's building blocks without services: token, TLS, workspace, supervision, install.sh."""

from __future__ import annotations

import hashlib
import json
import os
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from huntlab.errors import HuntlabError
from huntlab.lab import processes, tls
from huntlab.lab.config import read_config, recorded_runtime, update_config
from huntlab.lab.native.plan import plan
from huntlab.lab.token import ensure_token, read_token, rotate_token
from huntlab.lab.workspace import sync_notebooks
from huntlab.settings import load_settings
from tests.support.paths import REPO


def test_token_is_made_once_private_and_stable(tmp_path: Path) -> None:
    assert read_token(tmp_path) is None
    first = ensure_token(tmp_path)
    assert len(bytes.fromhex(first)) >= 32
    assert (tmp_path / "jupyter_token").stat().st_mode & 0o777 == 0o600
    assert ensure_token(tmp_path) == first
    other_home = tmp_path / "other"
    assert ensure_token(other_home) != first  # drawn at random, not derived
    rotated = rotate_token(tmp_path)
    assert rotated != first
    assert ensure_token(tmp_path) == rotated == read_token(tmp_path)


def test_token_mode_is_repaired(tmp_path: Path) -> None:
    ensure_token(tmp_path)
    os.chmod(tmp_path / "jupyter_token", 0o644)
    ensure_token(tmp_path)
    assert (tmp_path / "jupyter_token").stat().st_mode & 0o777 == 0o600


def test_self_signed_certificate_covers_this_host(tmp_path: Path) -> None:
    from cryptography import x509

    pair = tls.self_signed(tmp_path)
    assert pair.key.stat().st_mode & 0o777 == 0o600
    cert = x509.load_pem_x509_certificate(pair.cert.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert "127.0.0.1" in {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
    # The fingerprint is the SHA-256 of the DER certificate, as browsers display it.
    from cryptography.hazmat.primitives import hashes

    digest = cert.fingerprint(hashes.SHA256()).hex().upper()
    assert tls.fingerprint(pair.cert).replace(":", "") == digest
    assert tls.self_signed(tmp_path) == pair  # reused, not regenerated
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pair.cert, pair.key)  # the two belong together


def test_user_pair_must_match(tmp_path: Path) -> None:
    a = tls.self_signed(tmp_path / "a")
    b = tls.self_signed(tmp_path / "b")
    assert tls.user_pair(a.cert, a.key).cert == a.cert.resolve()
    with pytest.raises(HuntlabError, match="not a PEM certificate and its private key"):
        tls.user_pair(a.cert, b.key)
    with pytest.raises(HuntlabError, match="no such file"):
        tls.user_pair(tmp_path / "missing.crt", a.key)


def test_listening_beyond_loopback_needs_tls(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path, listen="0.0.0.0")
    with pytest.raises(HuntlabError, match="without TLS"):
        plan(settings)
    with_tls = plan(settings, tls_self_signed=True)
    assert with_tls.tls is not None and with_tls.jupyter_scheme == "https"
    assert with_tls.jupyter_probe.startswith("https://127.0.0.1:")
    local = plan(load_settings(home=tmp_path, listen="127.0.0.1"))
    assert local.tls is None and local.jupyter_scheme == "http"
    with pytest.raises(HuntlabError, match="both --tls-cert and --tls-key"):
        plan(settings, tls_cert=str(with_tls.tls.cert))


def test_workspace_keeps_user_edits(tmp_path: Path) -> None:
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    (shipped / "a.ipynb").write_text("v1-a")
    (shipped / "b.ipynb").write_text("v1-b")
    home = tmp_path / "home"
    workspace, kept = sync_notebooks(shipped, home)
    assert kept == [] and (workspace / "a.ipynb").read_text() == "v1-a"
    (workspace / "a.ipynb").write_text("my analysis")  # the user edits a
    (shipped / "a.ipynb").write_text("v2-a")  # and a new release changes both
    (shipped / "b.ipynb").write_text("v2-b")
    workspace, kept = sync_notebooks(shipped, home)
    assert kept == ["a.ipynb"]
    assert (workspace / "a.ipynb").read_text() == "my analysis"
    assert (workspace / "b.ipynb").read_text() == "v2-b"  # untouched by the user: updated
    (workspace / "b.ipynb").unlink()
    sync_notebooks(shipped, home)
    assert not (workspace / "b.ipynb").exists()  # a deletion is respected too


def _notebook(*sources: str, **metadata: object) -> str:
    cells = [{"id": f"c{n}", "cell_type": "code", "source": src, "metadata": {},
              "outputs": [], "execution_count": None} for n, src in enumerate(sources)]  # fmt: skip
    return json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": metadata, "cells": cells})


def test_a_notebook_only_opened_and_run_is_still_refreshed(tmp_path: Path) -> None:
    """JupyterLab writes language_info and outputs into a notebook merely run: not an edit.
    A changed cell is one; an older manifest (raw digests) still counts an untouched file."""
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    (shipped / "01.ipynb").write_text(_notebook("print(1)"))
    (shipped / "02.ipynb").write_text(_notebook("x = 2"))
    (shipped / "03.ipynb").write_text(_notebook("y = 3"))
    home = tmp_path / "home"
    workspace, _ = sync_notebooks(shipped, home)
    (workspace / "01.ipynb").write_text(_notebook("print(1)", language_info={"name": "python"}))
    (workspace / "02.ipynb").write_text(_notebook("x = 2 + 2"))  # the user's own change
    # A manifest written by an older huntlab: the raw digest of what it shipped.
    manifest = workspace / ".huntlab-shipped.json"
    old = json.loads(manifest.read_text())
    old["03.ipynb"] = hashlib.sha256((shipped / "03.ipynb").read_bytes()).hexdigest()
    manifest.write_text(json.dumps(old))
    for name, source in (("01", "print(1)  # v2"), ("02", "x = 20"), ("03", "y = 30")):
        (shipped / f"{name}.ipynb").write_text(_notebook(source))
    workspace, kept = sync_notebooks(shipped, home)
    assert kept == ["02.ipynb"]
    assert "v2" in (workspace / "01.ipynb").read_text()
    assert "y = 30" in (workspace / "03.ipynb").read_text()
    assert "x = 2 + 2" in (workspace / "02.ipynb").read_text()


def test_config_records_runtime_and_feeds_settings(tmp_path: Path) -> None:
    assert recorded_runtime(tmp_path) is None
    update_config(tmp_path, runtime="native", es_port=29999, jupyter_port=28999)
    assert (tmp_path / "config.json").stat().st_mode & 0o777 == 0o600
    assert recorded_runtime(tmp_path) == "native"
    update_config(tmp_path, jupyter_port=None)
    assert "jupyter_port" not in read_config(tmp_path)
    env_free = {k: v for k, v in os.environ.items() if not k.startswith("HUNTLAB_")}
    code = "from huntlab.settings import load_settings; s = load_settings(); print(s.es_url)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**env_free, "HUNTLAB_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip() == "http://127.0.0.1:29999"


def test_supervised_process_stops_with_its_children(tmp_path: Path) -> None:
    script = "import subprocess, time; subprocess.Popen(['sleep', '300']); print('ready', flush=True); time.sleep(300)"
    started = processes.start(tmp_path, "sleeper", [sys.executable, "-c", script])
    processes.wait_until(
        lambda: "ready" in started.log.read_text().splitlines(),
        what="sleeper",
        log=started.log,
        timeout=30,
    )
    current = processes.running(tmp_path, "sleeper")
    assert current is not None and current.pid == started.pid
    family = processes.family(started.pid)
    assert len(family) == 2
    assert processes.stop(tmp_path, "sleeper", timeout=10)
    import psutil

    assert not [pid for pid in family if psutil.pid_exists(pid)]
    assert processes.running(tmp_path, "sleeper") is None
    assert not processes.stop(tmp_path, "sleeper")


def test_a_stale_pid_file_is_not_trusted(tmp_path: Path) -> None:
    path = processes.pid_path(tmp_path, "ghost")
    path.parent.mkdir(parents=True)
    # Our own pid with another start time: what a recycled pid looks like.
    path.write_text(json.dumps({"pid": os.getpid(), "started": 1.0}))
    assert processes.running(tmp_path, "ghost") is None
    assert not path.exists()


def test_bounded_wait_names_the_log(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_text("line one\nthe real cause\n")
    with pytest.raises(HuntlabError, match=r"not ready after 1 s; read .*x\.log") as info:
        processes.wait_until(lambda: False, what="x", log=log, timeout=1)
    assert "the real cause" in str(info.value)


def test_jupyter_config_refuses_an_empty_token(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER_")}
    env.update({"JUPYTER_TOKEN": "", "JUPYTER_CONFIG_DIR": str(tmp_path)})
    config = REPO / "jupyter" / "jupyter_server_config.py"
    done = subprocess.run(
        [sys.executable, "-m", "jupyterlab", f"--config={config}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert "JUPYTER_TOKEN is empty" in done.stderr


def test_install_sh_help_and_bad_flags() -> None:
    install = str(REPO / "install.sh")
    shown = subprocess.run([install, "--help"], capture_output=True, text=True, check=False)
    assert shown.returncode == 0
    for flag in (
        "--docker",
        "--native",
        "--venv",
        "--listen",
        "--tls-cert",
        "--tls-key",
        "--home",
        "--no-data",
        "--datasets",
    ):
        assert flag in shown.stdout
    bad = subprocess.run([install, "--nope"], capture_output=True, text=True, check=False)
    assert bad.returncode != 0 and "unknown option --nope" in bad.stderr
    both = subprocess.run(
        [install, "--docker", "--native"], capture_output=True, text=True, check=False
    )
    assert both.returncode != 0 and "one of --docker and --native" in both.stderr


def test_cli_refuses_listening_beyond_loopback_without_tls(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUNTLAB_")}
    env["HUNTLAB_HOME"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "huntlab", "up", "--native", "--listen", "0.0.0.0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert "huntlab: error:" in done.stderr and "--tls" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "run").exists()  # nothing was started


def test_the_first_screen_is_laid_out_once_and_only_where_notebook_01_is(tmp_path: Path) -> None:
    from jupyterlab_server.workspaces_handler import WorkspacesManager

    from huntlab.lab.workspace import FIRST_NOTEBOOK, first_screen

    workspaces = tmp_path / "workspaces"
    assert first_screen(workspaces, tmp_path) is False  # no notebook 01 here: nothing written
    (tmp_path / FIRST_NOTEBOOK).write_text("{}", encoding="utf-8")
    assert first_screen(workspaces, tmp_path) is True
    layout = WorkspacesManager(str(workspaces)).load("default")
    main = layout["data"]["layout-restorer:data"]["main"]
    assert main["current"] == f"notebook:{FIRST_NOTEBOOK}"
    assert layout["data"][main["current"]]["data"]["path"] == FIRST_NOTEBOOK
    # The user's own layout, once there is one, is never replaced.
    assert first_screen(workspaces, tmp_path) is False


def test_the_first_screens_layout_is_private(tmp_path: Path) -> None:
    from huntlab.lab.workspace import FIRST_NOTEBOOK, first_screen
    from tests.support.private_files import open_to_others

    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    (home / FIRST_NOTEBOOK).write_text("{}", encoding="utf-8")
    (home / FIRST_NOTEBOOK).chmod(0o600)
    old = os.umask(0o022)
    try:
        assert first_screen(home / "jupyter" / "config" / "lab" / "workspaces", home)
    finally:
        os.umask(old)
    assert open_to_others(home) == []


def test_the_native_url_given_to_people_names_this_host_as_its_certificate_does(
    tmp_path: Path,
) -> None:
    from cryptography import x509

    from huntlab.lab import tls
    from huntlab.lab.home import ensure_home
    from huntlab.lab.native.plan import plan
    from huntlab.settings import load_settings

    home = tmp_path / "home"
    ensure_home(home)
    lab = plan(load_settings(home=home, listen="0.0.0.0", jupyter_port=8888), tls_self_signed=True)
    assert lab.jupyter_url == f"https://{tls.public_host()}:8888"
    assert tls.public_host() != "localhost"
    assert lab.tls is not None
    cert = x509.load_pem_x509_certificate(lab.tls.cert.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert tls.public_host() in names.get_values_for_type(x509.DNSName)
    assert lab.jupyter_probe.startswith("https://127.0.0.1:")  # huntlab itself uses loopback
