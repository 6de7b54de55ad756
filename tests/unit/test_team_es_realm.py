"""The team server's Elasticsearch identities without a node: names, the realm files, the
credential store (the node's side: tests/integration/es/test_es_team_realm.py)."""

from __future__ import annotations

import base64
import hashlib
import stat
from pathlib import Path

import pytest
import yaml

from huntlab.errors import HuntlabError
from huntlab.lab.team import es_realm


@pytest.mark.parametrize("name", ["a", "alice", "bob_2", "team-lead", "x" + "y" * 31])
def test_valid_hunter_names(name: str) -> None:
    assert es_realm.check_hunter_name(name) == name
    assert es_realm.hunter_index_pattern(name) == f"huntlab-user-{name}-*"
    assert es_realm.hunter_role(name) == f"huntlab_user_{name}"


@pytest.mark.parametrize(
    "name", ["", "Alice", "1st", "_a", "-a", "a b", "a.b", "a*", "a/b", "é", "x" + "y" * 32]
)
def test_invalid_hunter_names_say_what_is_allowed(tmp_path: Path, name: str) -> None:
    with pytest.raises(HuntlabError, match=r"is not allowed: use a lowercase letter, then"):
        es_realm.check_hunter_name(name)
    with pytest.raises(HuntlabError, match="is not allowed"):
        es_realm.add_hunter(tmp_path, name)
    assert es_realm.hunters(tmp_path) == []


@pytest.mark.parametrize("name", ["huntlab-admin", "elastic", "kibana_system"])
def test_reserved_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(HuntlabError, match=rf"hunter name '{name}' is reserved"):
        es_realm.add_hunter(tmp_path, name)
    with pytest.raises(HuntlabError, match="is reserved"):
        es_realm.write_realm(tmp_path / "config", admin_password="x", hunters={name: "pw"})


def test_admin_config_lets_load_settings_authenticate_as_the_admin(tmp_path: Path) -> None:
    from huntlab.lab.config import update_config
    from huntlab.settings import load_settings

    update_config(tmp_path, **es_realm.admin_config(tmp_path))
    settings = load_settings(home=tmp_path)
    assert settings.es_user == es_realm.ADMIN_USER
    assert settings.es_password == es_realm.ensure_admin_password(tmp_path)
    assert settings.es_password not in (tmp_path / "config.json").read_text()
    assert es_realm.admin_settings(settings) == settings


def test_a_name_inside_another_hunters_indexes_is_refused(tmp_path: Path) -> None:
    es_realm.add_hunter(tmp_path, "a")
    with pytest.raises(HuntlabError, match=r"huntlab-user-a-\* would include 'a-b'"):
        es_realm.add_hunter(tmp_path, "a-b")
    es_realm.add_hunter(tmp_path, "ab")  # no dash after "a": its own indexes
    with pytest.raises(HuntlabError, match="cannot both exist"):
        es_realm.write_realm(
            tmp_path / "config", admin_password="x", hunters={"b": "1", "b-c": "2"}
        )
    assert es_realm.hunters(tmp_path) == ["a", "ab"]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_store_is_private_and_keeps_each_hunters_password(tmp_path: Path) -> None:
    admin = es_realm.ensure_admin_password(tmp_path)
    assert es_realm.ensure_admin_password(tmp_path) == admin
    first = es_realm.add_hunter(tmp_path, "alice")
    bob = es_realm.add_hunter(tmp_path, "bob")
    assert len({admin, first, bob}) == 3 and min(map(len, (admin, first, bob))) >= 32
    assert es_realm.hunter_password(tmp_path, "alice") == first
    # Adding again is a reset: a new password.
    again = es_realm.add_hunter(tmp_path, "alice")
    assert again != first and es_realm.hunter_password(tmp_path, "alice") == again
    assert es_realm.remove_hunter(tmp_path, "alice") is True
    assert es_realm.remove_hunter(tmp_path, "alice") is False
    assert es_realm.hunters(tmp_path) == ["bob"]
    with pytest.raises(HuntlabError, match=r"no Elasticsearch credential for hunter 'alice'"):
        es_realm.hunter_password(tmp_path, "alice")

    store = es_realm.store_path(tmp_path)
    assert store == tmp_path / "team" / "es-credentials.json"
    assert _mode(store.parent) == 0o700
    assert _mode(store) == 0o600
    admin_file = es_realm.admin_password_file(tmp_path)
    assert _mode(admin_file) == 0o600
    assert admin_file.read_text() == admin + "\n"
    assert es_realm.ensure_admin_password(tmp_path) == admin


def test_a_broken_store_names_itself(tmp_path: Path) -> None:
    store = es_realm.store_path(tmp_path)
    store.parent.mkdir()
    store.write_text('{"hunters": {}}')
    with pytest.raises(HuntlabError, match=rf"{store}: expected"):
        es_realm.add_hunter(tmp_path, "alice")


def test_the_hash_is_the_nodes_pbkdf2_format() -> None:
    hashed = es_realm.password_hash("correct horse", cost=1000)
    prefix, salt_b64, key_b64 = hashed.split("$")
    assert prefix == "{PBKDF2}1000"
    salt, key = base64.b64decode(salt_b64), base64.b64decode(key_b64)
    assert len(salt) == 32 and len(salt_b64) == len(key_b64) == 44
    assert key == hashlib.pbkdf2_hmac("sha512", b"correct horse", salt, 1000, 32)
    assert es_realm.password_hash("correct horse", cost=1000) != hashed  # a new salt each time


def test_apply_writes_the_realm_privately_without_passwords(tmp_path: Path) -> None:
    home, config = tmp_path / "home", tmp_path / "config"
    admin = es_realm.ensure_admin_password(home)
    alice = es_realm.add_hunter(home, "alice")
    es_realm.add_hunter(home, "bob")
    es_realm.apply(home, config)
    for name in es_realm.REALM_FILES:
        assert _mode(config / name) == 0o600, name
        text = (config / name).read_text()
        assert admin not in text and alice not in text, name
    users = dict(line.split(":", 1) for line in (config / "users").read_text().splitlines())
    assert set(users) == {"huntlab-admin", "alice", "bob"}
    assert all(h.startswith(f"{{PBKDF2}}{es_realm.PBKDF2_COST}$") for h in users.values())
    assert (config / "users_roles").read_text().splitlines() == [
        "huntlab_admin:huntlab-admin",
        "huntlab_analyst:alice,bob",
        "huntlab_user_alice:alice",
        "huntlab_user_bob:bob",
    ]
    roles = yaml.safe_load((config / "roles.yml").read_text())
    lab = ["huntlab", "huntlab-*"]
    assert roles == {
        "huntlab_admin": {
            "cluster": ["monitor", "manage_index_templates", "manage_ingest_pipelines"],
            "indices": [{"names": lab, "privileges": ["all"]}],
        },
        "huntlab_analyst": {
            "cluster": ["monitor"],
            "indices": [{"names": lab, "privileges": ["read", "view_index_metadata"]}],
        },
        "huntlab_user_alice": {
            "indices": [{"names": ["huntlab-user-alice-*"], "privileges": ["all"]}]
        },
        "huntlab_user_bob": {"indices": [{"names": ["huntlab-user-bob-*"], "privileges": ["all"]}]},
    }
    es_realm.remove_hunter(home, "bob")
    es_realm.apply(home, config)
    assert "bob" not in (config / "users").read_text()
    assert "bob" not in (config / "users_roles").read_text()
    assert "bob" not in (config / "roles.yml").read_text()
