"""config.json has one reader: a broken file is a one-line error naming it, in every command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from huntlab.errors import HuntlabError
from huntlab.lab.config import read_config, update_config
from huntlab.settings import load_settings

BROKEN = {"not JSON": "{\"es_url\": ", "not an object": "[1, 2]"}


@pytest.mark.parametrize("text", list(BROKEN.values()), ids=list(BROKEN))
def test_both_readers_fail_the_same_way(tmp_path: Path, text: str) -> None:
    (tmp_path / "config.json").write_text(text)
    with pytest.raises(HuntlabError) as from_settings:
        load_settings(home=tmp_path)
    with pytest.raises(HuntlabError) as from_lab:
        read_config(tmp_path)
    assert str(from_settings.value) == str(from_lab.value)
    assert str(tmp_path / "config.json") in str(from_lab.value)
    assert "fix or delete it" in str(from_lab.value)


@pytest.mark.parametrize("command", [["query", "*"], ["status"]])
def test_cli_says_which_file_is_broken_without_a_traceback(
    tmp_path: Path, command: list[str]
) -> None:
    (tmp_path / "config.json").write_text("{broken")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUNTLAB_")}
    env["HUNTLAB_HOME"] = str(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "huntlab", *command], capture_output=True, text=True, env=env,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"huntlab: error: {tmp_path / 'config.json'}: not readable JSON")
    assert line.endswith("fix or delete it")


def test_update_config_writes_privately_and_keeps_other_keys(tmp_path: Path) -> None:
    update_config(tmp_path, runtime="native", es_port=9201)
    update_config(tmp_path, es_port=None, listen="127.0.0.1")
    assert read_config(tmp_path) == {"runtime": "native", "listen": "127.0.0.1"}
    assert (tmp_path / "config.json").stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]
    assert load_settings(home=tmp_path).listen == "127.0.0.1"


def test_a_port_that_is_not_a_number_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUNTLAB_ES_PORT", "ninety")
    with pytest.raises(HuntlabError, match="HUNTLAB_ES_PORT"):
        load_settings(home=tmp_path)


def test_es_password_file_gives_the_password_of_the_configured_user(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "team" / "es-admin-password"
    secret.parent.mkdir()
    secret.write_text("s3cret-pw\nignored second line\n")
    update_config(tmp_path, es_user="huntlab-admin", es_password_file=str(secret))
    settings = load_settings(home=tmp_path)
    assert (settings.es_user, settings.es_password) == ("huntlab-admin", "s3cret-pw")
    # A password given outright wins; the file is then not even read.
    secret.unlink()
    monkeypatch.setenv("HUNTLAB_ES_PASSWORD", "from-env")
    assert load_settings(home=tmp_path).es_password == "from-env"
    assert load_settings(home=tmp_path, es_password="flag").es_password == "flag"
    monkeypatch.delenv("HUNTLAB_ES_PASSWORD")
    # Without a user there is nothing to authenticate: the file is not needed.
    assert load_settings(home=tmp_path, es_user="").es_password is None


@pytest.mark.parametrize("content", [None, "", "\nsecond"], ids=["missing", "empty", "blank"])
def test_an_unusable_es_password_file_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str | None
) -> None:
    secret = tmp_path / "pw"
    if content is not None:
        secret.write_text(content)
    monkeypatch.setenv("HUNTLAB_ES_USER", "huntlab-admin")
    monkeypatch.setenv("HUNTLAB_ES_PASSWORD_FILE", str(secret))
    with pytest.raises(HuntlabError) as error:
        load_settings(home=tmp_path)
    message = str(error.value)
    assert message.startswith(f"{secret}: ")
    assert "'huntlab-admin'" in message and "HUNTLAB_ES_PASSWORD_FILE" in message
