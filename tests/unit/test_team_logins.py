"""The team server's logins store and login throttle (no hub needed)."""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

import pytest

from huntlab.errors import HuntlabError
from huntlab.lab.team import accounts, logins
from tests.support.cli import run_huntlab


def test_passwords_are_stored_hashed_and_verified(tmp_path: Path) -> None:
    assert logins.add(tmp_path, "alice", password="correct horse 1") is None
    text = logins.logins_path(tmp_path).read_text(encoding="utf-8")
    assert "correct horse" not in text and "scrypt$" in text
    assert stat.S_IMODE(logins.logins_path(tmp_path).stat().st_mode) == 0o600
    assert logins.verify(tmp_path, "alice", "correct horse 1") is not None
    assert logins.verify(tmp_path, "alice", "correct horse 2") is None
    assert logins.verify(tmp_path, "mallory", "correct horse 1") is None


def test_an_invite_works_once_and_only_for_its_hunter(tmp_path: Path) -> None:
    token = logins.add(tmp_path, "bob", admin=True)
    assert token and token not in logins.logins_path(tmp_path).read_text(encoding="utf-8")
    assert logins.invited(tmp_path, token) == "bob"
    assert logins.verify(tmp_path, "bob", "") is None  # no password before the invite is used
    with pytest.raises(HuntlabError, match="too short"):
        logins.accept_invite(tmp_path, token, "short")
    assert logins.accept_invite(tmp_path, token, "bob's own password") == "bob"
    assert logins.invited(tmp_path, token) is None
    with pytest.raises(HuntlabError, match="used up"):
        logins.accept_invite(tmp_path, token, "another password")
    hunter = logins.verify(tmp_path, "bob", "bob's own password")
    assert hunter is not None and hunter.admin


def test_reset_forgets_the_password(tmp_path: Path) -> None:
    logins.add(tmp_path, "carol", password="carol password")
    token = logins.reset(tmp_path, "carol")
    assert token and logins.verify(tmp_path, "carol", "carol password") is None
    with pytest.raises(HuntlabError, match="exists already"):
        logins.add(tmp_path, "carol")
    logins.remove(tmp_path, "carol")
    assert logins.hunters(tmp_path) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="`huntlab users` is root's")
def test_adding_a_hunter_again_points_at_a_reset_that_invites_them(tmp_path: Path) -> None:
    # Only the library reaches this message: `huntlab users add` refuses an existing hunter
    # before it makes anything (huntlab.lab.native.team.add_hunter). Its hint is the CLI's.
    door = "https://127.0.0.1:8443"
    config = {"runtime": "native", "team": True, "jupyter_url": f"{door}/hub/"}
    (tmp_path / "config.json").write_text(json.dumps(config), encoding="utf-8")
    logins.add(tmp_path, "carol", password="carol password")
    with pytest.raises(HuntlabError) as refused:
        logins.add(tmp_path, "carol")
    found = re.search(r"`(huntlab users reset carol)` gives them a new invite", str(refused.value))
    assert found is not None, refused.value
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUNTLAB_", "JUPYTER_"))}
    reset = run_huntlab(*found.group(1).split()[1:], env={**env, "HUNTLAB_HOME": str(tmp_path)})
    assert reset.returncode == 0, reset.stderr
    invite = re.fullmatch(rf"{re.escape(door)}/hub/invite/(\S+)", reset.stdout.strip())
    assert invite is not None, reset.stdout
    assert logins.invited(tmp_path, invite.group(1)) == "carol"
    assert logins.verify(tmp_path, "carol", "carol password") is None


@pytest.mark.parametrize("name", ["Alice", "root;", "", "-x", "a" * 25, "../etc"])
def test_hunter_names_are_checked(name: str) -> None:
    with pytest.raises(HuntlabError, match="not a valid hunter name"):
        accounts.unix_name(name)


def test_throttle_waits_after_the_allowed_failures() -> None:
    from huntlab.lab.team.authenticator import Throttle

    throttle = Throttle(allowed=3, window=600, base=30, ceiling=900)
    for _ in range(2):
        throttle.failed("bob")
    assert throttle.wait_left("bob") == 0
    throttle.failed("bob")
    assert 29 < throttle.wait_left("bob") <= 30
    throttle.failed("bob")
    assert 59 < throttle.wait_left("bob") <= 60  # doubles
    assert throttle.wait_left("alice") == 0
    throttle.succeeded("bob")
    assert throttle.wait_left("bob") == 0
