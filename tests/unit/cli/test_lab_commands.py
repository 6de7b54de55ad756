"""``huntlab up|down|status|token|logs`` in a home where no lab ever ran: the runtime each
command picks, the exit codes and the messages, without any service."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from huntlab.errors import HuntlabError
from huntlab.lab.docker import DockerRuntime
from huntlab.lab.native import SERVICES, NativeRuntime
from huntlab.lab.processes import free_ports
from huntlab.lab.runtime import Runtime, runtime_for, runtime_named
from huntlab.settings import load_settings
from tests.support.cli import run_huntlab, sigint_at_default


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A fresh home whose services would listen on free ports (nothing listens there)."""
    es, master, master_ui, worker_ui, jupyter = free_ports(5)
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("HUNTLAB_", "JUPYTER_"))}
    clean.update(
        {
            "HUNTLAB_HOME": str(tmp_path / "home"),
            "HUNTLAB_ES_PORT": str(es),
            "HUNTLAB_SPARK_MASTER_PORT": str(master),
            "HUNTLAB_SPARK_MASTER_UI_PORT": str(master_ui),
            "HUNTLAB_SPARK_WORKER_UI_PORT": str(worker_ui),
            "HUNTLAB_JUPYTER_PORT": str(jupyter),
        }
    )
    return clean


def huntlab(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run_huntlab(*args, env=env, timeout=120)


def test_the_recorded_runtime_is_used_and_native_is_the_default(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path)
    lab: Runtime = runtime_for(settings)
    assert isinstance(lab, NativeRuntime) and lab.name == "native"
    (tmp_path / "config.json").write_text(json.dumps({"runtime": "docker"}))
    assert isinstance(runtime_for(settings), DockerRuntime)
    # A flag beats the record.
    assert isinstance(runtime_for(settings, "native"), NativeRuntime)
    said: list[str] = []
    runtime_for(settings, detect=True, say=said.append)
    assert said == [f"huntlab: runtime docker (recorded in {settings.config_file})"]
    with pytest.raises(HuntlabError, match="choose one of native, docker"):
        runtime_named("kubernetes", settings)


def test_status_of_a_home_where_nothing_runs_exits_3(env: dict[str, str]) -> None:
    done = huntlab(env, "status")
    assert done.returncode == 3, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("runtime: native   home: ")
    rows = {line.split()[0]: line.split()[1] for line in lines[1:]}
    assert rows == dict.fromkeys(SERVICES, "down")


def test_down_with_nothing_running_says_so(env: dict[str, str]) -> None:
    done = huntlab(env, "down")
    assert done.returncode == 0, done.stderr
    assert "nothing was running" in done.stderr


def test_token_before_up_is_a_clear_error(env: dict[str, str]) -> None:
    done = huntlab(env, "token")
    assert done.returncode == 1
    assert "run `huntlab up` first" in done.stderr
    assert "Traceback" not in done.stderr
    # Rotating a token that was never made is the same error, and makes none.
    rotated = huntlab(env, "token", "--rotate")
    assert rotated.returncode == 1 and "run `huntlab up` first" in rotated.stderr
    assert not (Path(env["HUNTLAB_HOME"]) / "jupyter_token").exists()


def test_logs_list_the_files_and_refuse_what_they_cannot_show(env: dict[str, str]) -> None:
    listed = huntlab(env, "logs")
    assert listed.returncode == 0, listed.stderr
    assert [line.split()[0] for line in listed.stdout.splitlines()] == list(SERVICES)
    unknown = huntlab(env, "logs", "kibana")
    assert unknown.returncode == 1 and "choose one of" in unknown.stderr
    follow_all = huntlab(env, "logs", "-f")
    assert follow_all.returncode == 1 and "-f needs a SERVICE" in follow_all.stderr
    never_ran = huntlab(env, "logs", "jupyter")
    assert never_ran.returncode == 1 and "no log yet" in never_ran.stderr


def test_up_refuses_to_serve_beyond_loopback_without_tls(env: dict[str, str]) -> None:
    done = huntlab(env, "up", "--native", "--listen", "0.0.0.0", "--no-data")
    assert done.returncode == 1
    assert "without TLS" in done.stderr and "Traceback" not in done.stderr


def test_logs_follow_prints_the_tail_then_new_lines_and_ends_cleanly_on_ctrl_c(
    env: dict[str, str],
) -> None:
    """Ctrl-C as soon as the tail is out (the moment a reader sees what it waited for) ends
    it with exit 0; what is appended meanwhile is printed once."""
    import signal

    log = Path(env["HUNTLAB_HOME"]) / "logs" / "jupyter.log"
    log.parent.mkdir(parents=True)
    log.write_text("old line\nlast line\n")
    follower = subprocess.Popen(
        [sys.executable, "-m", "huntlab", "logs", "jupyter", "-f", "-n", "1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=sigint_at_default,
    )
    assert follower.stdout is not None and follower.stderr is not None
    assert follower.stdout.readline() == "last line\n"
    with log.open("a") as out:
        out.write("new line\n")
    assert follower.stdout.readline() == "new line\n"
    follower.send_signal(signal.SIGINT)
    assert follower.wait(timeout=60) == 0
    assert follower.stdout.read() == ""
    assert "Traceback" not in follower.stderr.read()
