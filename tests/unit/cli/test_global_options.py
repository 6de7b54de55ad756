"""Options that hold for every command under a group work wherever a user types them:
`huntlab --home X token` is `huntlab token --home X`, and `huntlab datasets list --metadata DIR`
is `huntlab datasets --metadata DIR list` (the offline hint's spelling)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.cli import run_huntlab


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUNTLAB_")}
    env["HUNTLAB_HOME"] = str(tmp_path / "default-home")  # never the one asked for
    env["HUNTLAB_CACHE"] = str(tmp_path / "cache")
    return env


def test_home_in_any_position(tmp_path: Path) -> None:
    home = tmp_path / "lab"
    home.mkdir()
    (home / "jupyter_token").write_text("tok-" + "a" * 40 + "\n")
    (home / "jupyter_token").chmod(0o600)
    env = _env(tmp_path)
    for args in (
        ("--home", str(home), "token"),
        ("token", "--home", str(home)),
        (f"--home={home}", "token"),
        ("token", f"--home={home}"),
    ):
        done = run_huntlab(*args, env=env)
        assert done.returncode == 0, (args, done.stderr)
        assert done.stdout.strip() == "tok-" + "a" * 40, args
    # A relative --home is the folder it names from where the command runs.
    done = run_huntlab("--home", os.path.relpath(home), "token", env=env)
    assert done.returncode == 0, done.stderr
    # Without a value: one error line, exit 2 (a usage error), no traceback.
    done = run_huntlab("token", "--home", env=env)
    assert done.returncode == 2, done
    assert "--home needs a value" in done.stderr and "Traceback" not in done.stderr


def test_metadata_before_or_after_the_datasets_command(
    tmp_path: Path, metadata_dir: Path
) -> None:
    env = _env(tmp_path)
    after = run_huntlab("datasets", "list", "--metadata", str(metadata_dir), env=env)
    before = run_huntlab("datasets", "--metadata", str(metadata_dir), "list", env=env)
    assert after.returncode == 0, after.stderr
    assert after.stdout == before.stdout
    assert len(after.stdout.splitlines()) > 20  # the catalog that folder describes
    missing = run_huntlab("datasets", "show", "empire_invoke_wmi", "--metadata",
                          str(tmp_path / "none"), env=env)  # fmt: skip
    assert missing.returncode != 0
    assert "metadata folder not found" in missing.stderr, missing.stderr


def test_verbose_in_any_position_shows_what_is_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "lab"
    home.mkdir()
    (home / "jupyter_token").write_text("tok-" + "b" * 40 + "\n")
    env = _env(tmp_path)
    for args in (("-v", "--home", str(home), "token"), ("token", "--verbose", "--home", str(home))):
        done = run_huntlab(*args, env=env)
        assert done.returncode == 0, (args, done.stderr)
        assert done.stdout.strip() == "tok-" + "b" * 40
    # What -v adds: each process the lab starts, with its pid, log and command.
    from huntlab.lab import processes

    said: list[str] = []
    for value, name in (("", "quiet"), ("1", "told")):
        monkeypatch.setenv("HUNTLAB_VERBOSE", value)
        started = processes.ensure(home, name, ["sleep", "30"], env=dict(os.environ),
                                   cwd=tmp_path, meta={}, say=said.append)  # fmt: skip
        processes.stop(home, name)
        assert started.pid > 0
    assert said == [f"huntlab: started told, pid {started.pid}, log {started.log}: sleep 30"]
