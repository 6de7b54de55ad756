"""Hunters' Elasticsearch identities on the native node, kept in files.

The native node (Elastic's integ-test-zip) has no analysis-common module, which the
``.security`` index's analyzers need, so nothing here may create that index: no native realm,
no API keys, no reserved ``elastic`` user. Users live in the file realm instead: ``users``
(PBKDF2 hashes), ``users_roles`` and ``roles.yml`` in the node's config folder, which the node
re-reads by itself (every ``resource.reload.interval.high``, 5 s by default) and applies at
once, cache included.

Identities:

- :data:`ADMIN_USER` (role :data:`ADMIN_ROLE`): the lab's own; sets up templates and the
  pipeline, loads the shared datasets.
- each hunter, named as their hub login (:func:`check_hunter_name`), with
  :data:`ANALYST_ROLE` (read the lab's indexes) and their own role (every right on their
  indexes ``huntlab-user-<name>-*``, nothing more).

The lab's store of these credentials is ``$HUNTLAB_HOME/team/es-credentials.json`` (owner-only):
the admin's password and each hunter's, random, made here. :func:`apply` writes the realm from
it. Passwords never go on a command line or into a log.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import os
import re
import secrets
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from huntlab.errors import HuntlabError, ServiceError
from huntlab.files import atomic_write, private_dirs
from huntlab.lab.processes import POLL_SECONDS, http_get
from huntlab.settings import Settings, basic_auth_headers

ADMIN_USER = "huntlab-admin"
ADMIN_ROLE = "huntlab_admin"
ANALYST_ROLE = "huntlab_analyst"
HUNTER_ROLE_PREFIX = "huntlab_user_"
HUNTER_INDEX_PREFIX = "huntlab-user-"
# The lab's indexes: the pattern and the alias over them (huntlab.es.indices; the alias has no
# dash, so it is named too).
LAB_INDEXES = ("huntlab", "huntlab-*")

# Names no hunter may have: the lab's admin, and Elasticsearch's reserved users (off on the
# native node, but the docker runtime's node has them; a hunter named so would be one of them).
RESERVED_NAMES = frozenset(
    {
        ADMIN_USER,
        "elastic",
        "kibana",
        "kibana_system",
        "logstash_system",
        "beats_system",
        "apm_system",
        "remote_monitoring_user",
    }
)
HUNTER_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")
HUNTER_NAME_RULE = "a lowercase letter, then at most 31 lowercase letters, digits, '_' or '-'"

# The node's own reload period for the realm files (resource.reload.interval.high, its
# default): a change is seen within about this long.
RELOAD_INTERVAL = 5.0
RELOAD_TIMEOUT = 30.0

# PBKDF2-HMAC-SHA512 with a 32-byte salt and a 32-byte key: the node's "{PBKDF2}" format
# (cost, salt, key, base64). 100000 is one of the costs the node knows by name (pbkdf2_100000).
PBKDF2_COST = 100_000
_PBKDF2_BYTES = 32

STORE = Path("team") / "es-credentials.json"
ADMIN_PASSWORD_FILE = Path("team") / "es-admin-password"
REALM_FILES = ("users", "users_roles", "roles.yml")


def check_hunter_name(name: str) -> str:
    """``name`` when it is a valid hunter name (also their Elasticsearch user name and part of
    their index names); a HuntlabError saying what is allowed otherwise."""
    if not isinstance(name, str) or HUNTER_NAME.fullmatch(name) is None:
        raise HuntlabError(f"hunter name {name!r} is not allowed: use {HUNTER_NAME_RULE}")
    if name in RESERVED_NAMES:
        raise HuntlabError(
            f"hunter name {name!r} is reserved (Elasticsearch or huntlab uses it); choose another"
        )
    return name


def hunter_role(name: str) -> str:
    """The role holding hunter ``name``'s own indexes, e.g. ``huntlab_user_alice``."""
    return HUNTER_ROLE_PREFIX + check_hunter_name(name)


def hunter_index_pattern(name: str) -> str:
    """The indexes hunter ``name`` owns, e.g. ``huntlab-user-alice-*``."""
    return f"{HUNTER_INDEX_PREFIX}{check_hunter_name(name)}-*"


def _check_no_overlap(names: list[str]) -> None:
    # "a"'s indexes huntlab-user-a-* would include "a-b"'s huntlab-user-a-b-*: refuse such
    # pairs rather than let one hunter write another's indexes.
    for name in names:
        for other in names:
            if other != name and other.startswith(name + "-"):
                raise HuntlabError(
                    f"hunter names {name!r} and {other!r} cannot both exist: "
                    f"{hunter_index_pattern(name)} would include {other!r}'s indexes "
                    f"({hunter_index_pattern(other)}); choose a name that does not start "
                    f"with {name + '-'!r}"
                )


def security_settings() -> dict[str, str]:
    """The ``elasticsearch.yml`` settings that turn security on with the file realm only."""
    return {
        "xpack.security.enabled": "true",
        # Plain HTTP: the node binds 127.0.0.1 only; what leaves the host goes through the
        # lab's TLS front (the hub), and the node's clients are local processes.
        "xpack.security.http.ssl.enabled": "false",
        # One node (discovery.type: single-node): no other node to talk to on the transport.
        # The TLS bootstrap check only warns about it: a node on loopback is in development
        # mode.
        "xpack.security.transport.ssl.enabled": "false",
        # Users in files only. The reserved (elastic, kibana_system ...) and native realms
        # keep their users in the .security index, which this node cannot create.
        "xpack.security.authc.reserved_realm.enabled": "false",
        "xpack.security.authc.realms.native.native1.enabled": "false",
        "xpack.security.authc.realms.file.file1.order": "0",
        # No enrollment tokens (they would create the .security index too).
        "xpack.security.enrollment.enabled": "false",
    }


# JVM options the node needs with security on: no copying of the built-in roles into the
# .security index (8.19 does it at every cluster change, and fails each time with a stack trace
# in the log: the index's analyzers are not in this distribution).
SECURITY_JVM_OPTIONS = ("-Des.queryable_built_in_roles_enabled=false",)


def password_hash(password: str, *, cost: int = PBKDF2_COST) -> str:
    """``password`` hashed as the node's file realm reads it: ``{PBKDF2}cost$salt$key``."""
    salt = secrets.token_bytes(_PBKDF2_BYTES)
    key = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, cost, _PBKDF2_BYTES)
    b64 = base64.b64encode
    return f"{{PBKDF2}}{cost}${b64(salt).decode('ascii')}${b64(key).decode('ascii')}"


def _yaml_list(items: list[str]) -> str:
    # JSON strings are YAML flow scalars: quoted, so no name is read as YAML syntax.
    return "[" + ", ".join(json.dumps(item) for item in items) + "]"


def _role(cluster: list[str], names: list[str], privileges: list[str]) -> list[str]:
    lines = [f"  cluster: {_yaml_list(cluster)}"] if cluster else []
    return [
        *lines,
        "  indices:",
        f"    - names: {_yaml_list(names)}",
        f"      privileges: {_yaml_list(privileges)}",
    ]


def roles_yml(hunters: list[str]) -> str:
    """``roles.yml``: the admin's, the analysts' and one role per hunter."""
    lines = ["# Written by huntlab (huntlab.lab.team.es_realm); edit with `huntlab users`."]
    # The admin: templates and the pipeline (huntlab.es.setup), node facts (monitor), and
    # every right on the lab's indexes (loading, refresh settings, cleaning up).
    lines += [f"{ADMIN_ROLE}:"]
    lines += _role(
        ["monitor", "manage_index_templates", "manage_ingest_pipelines"],
        list(LAB_INDEXES),
        ["all"],
    )
    # Every hunter: read the lab's indexes (the shared datasets, and each other's notes).
    lines += [f"{ANALYST_ROLE}:"]
    lines += _role(["monitor"], list(LAB_INDEXES), ["read", "view_index_metadata"])
    for name in hunters:
        lines += [f"{hunter_role(name)}:"]
        lines += _role([], [hunter_index_pattern(name)], ["all"])
    return "\n".join([*lines, ""])


# The docker runtime's node already has a role named ANALYST_ROLE (the single analyst's, who
# may also load data): its hunters read through this one, which means what ANALYST_ROLE means
# in the file realm above.
TEAM_READER_ROLE = "huntlab_team_reader"


def api_roles(name: str) -> dict[str, dict[str, object]]:
    """The roles hunter ``name`` needs, as bodies of the security API (a node with the
    ``.security`` index): the same rights :func:`roles_yml` writes in the file realm."""
    check_hunter_name(name)
    return {
        TEAM_READER_ROLE: {
            "cluster": ["monitor"],
            "indices": [
                {"names": list(LAB_INDEXES), "privileges": ["read", "view_index_metadata"]}
            ],
        },
        hunter_role(name): {
            "indices": [{"names": [hunter_index_pattern(name)], "privileges": ["all"]}],
        },
    }


# Set on every user and role huntlab makes through the security API: a user or role of the
# cluster without it (someone else's, on an existing cluster) is never overwritten or deleted.
API_USER_METADATA = {"huntlab": "hunter"}
API_ROLE_METADATA = {"huntlab": "role"}


def _made_by_huntlab(es: Any, name: str) -> bool | None:
    """Whether the cluster's user ``name`` is one huntlab made (None: no such user)."""
    found = dict(es.options(ignore_status=404).security.get_user(username=name))
    if name not in found:
        return None
    metadata = found[name].get("metadata") or {}
    return all(metadata.get(k) == v for k, v in API_USER_METADATA.items())


def _role_made_by_huntlab(es: Any, name: str) -> bool | None:
    """Whether the cluster's role ``name`` is one huntlab made (None: no such role)."""
    found = dict(es.options(ignore_status=404).security.get_role(name=name))
    if name not in found:
        return None
    metadata = found[name].get("metadata") or {}
    return all(metadata.get(k) == v for k, v in API_ROLE_METADATA.items())


def refuse_foreign_user(es: Any, name: str) -> None:
    """A HuntlabError when the cluster has a user ``name``, or one of the roles hunter
    ``name`` would get, that huntlab did not make."""
    if _made_by_huntlab(es, name) is False:
        raise HuntlabError(
            f"Elasticsearch already has a user {name!r} that huntlab did not create; choose "
            "another hunter name (huntlab never overwrites the cluster's own users)"
        )
    for role in api_roles(name):
        if _role_made_by_huntlab(es, role) is False:
            raise HuntlabError(
                f"Elasticsearch already has a role {role!r} that huntlab did not create; "
                "huntlab never overwrites the cluster's own roles: rename or remove it there"
            )


def put_api_hunter(es: Any, name: str, password: str, *, shared: bool = True) -> None:
    """Hunter ``name`` on a node with the security API (``es``: a client with
    ``manage_security``): :func:`api_roles`, then the user with ``password``. On a ``shared``
    cluster (one the lab did not create), a user or role of those names that huntlab did not
    make is refused, not overwritten."""
    if shared:
        refuse_foreign_user(es, name)
    for role, body in api_roles(name).items():
        es.security.put_role(name=role, metadata=API_ROLE_METADATA, **body)
    es.security.put_user(
        username=name,
        password=password,
        roles=[TEAM_READER_ROLE, hunter_role(name)],
        metadata=API_USER_METADATA,
    )


def delete_api_hunter(es: Any, name: str, *, shared: bool = True) -> None:
    """Revoke hunter ``name`` made by :func:`put_api_hunter` (on a ``shared`` cluster, a user
    or role huntlab did not make is left alone)."""
    if not shared or _made_by_huntlab(es, name) is not False:
        es.options(ignore_status=404).security.delete_user(username=name)
    role = hunter_role(name)
    if not shared or _role_made_by_huntlab(es, role) is not False:
        es.options(ignore_status=404).security.delete_role(name=role)


def write_realm(config_dir: Path, *, admin_password: str, hunters: Mapping[str, str]) -> None:
    """Write the file realm into the node's ``config_dir``: ``users`` (the admin and each
    hunter, passwords hashed), ``users_roles`` and ``roles.yml``, each atomically and
    owner-only. A running node applies the change within about :data:`RELOAD_INTERVAL`
    seconds (see :func:`wait_realm_applied`)."""
    names = sorted(check_hunter_name(name) for name in hunters)
    _check_no_overlap(names)
    users = [f"{ADMIN_USER}:{password_hash(admin_password)}"]
    users += [f"{name}:{password_hash(hunters[name])}" for name in names]
    user_roles = [f"{ADMIN_ROLE}:{ADMIN_USER}"]
    if names:
        user_roles.append(f"{ANALYST_ROLE}:{','.join(names)}")
    user_roles += [f"{hunter_role(name)}:{name}" for name in names]
    # Roles first, users last: a new hunter's login works only once their role is there.
    # Owner-only is enough for the server: when huntlab runs as root, the server runs in a
    # user namespace where the files' owner is its own uid (native.elasticsearch).
    atomic_write(config_dir / "roles.yml", roles_yml(names))
    atomic_write(config_dir / "users_roles", "\n".join([*user_roles, ""]))
    atomic_write(config_dir / "users", "\n".join([*users, ""]))


def wait_realm_applied(
    url: str,
    user: str,
    password: str,
    *,
    expect_ok: bool,
    timeout: float = RELOAD_TIMEOUT,
) -> None:
    """Wait (at most ``timeout`` seconds) until the node at ``url`` accepts ``user`` with
    ``password`` (``expect_ok``) or refuses them with 401 (not ``expect_ok``)."""
    headers = basic_auth_headers(user, password)
    deadline = time.monotonic() + timeout
    answer: tuple[int, bytes] | None = None
    while True:
        answer = http_get(f"{url}/_security/_authenticate", headers=headers)
        if answer is not None:
            if expect_ok and answer[0] == 200 and _username(answer[1]) == user:
                return
            if not expect_ok and answer[0] == 401:
                return
        if time.monotonic() >= deadline:
            break
        time.sleep(POLL_SECONDS)
    seen = "no answer" if answer is None else f"HTTP {answer[0]}"
    wanted = "accepted" if expect_ok else "refused (401)"
    raise ServiceError(
        f"Elasticsearch on {url} did not have {user!r} {wanted} within {timeout:.0f} s "
        f"(last: {seen}); the node re-reads its users files every {RELOAD_INTERVAL:.0f} s: "
        "read its server log"
    )


def _username(body: bytes) -> str | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    return data.get("username") if isinstance(data, dict) else None


# The lab's credential store.


@dataclass
class Credentials:
    """What ``team/es-credentials.json`` holds."""

    admin: str
    hunters: dict[str, str] = field(default_factory=dict)


def store_path(home: Path) -> Path:
    return home / STORE


def admin_password_file(home: Path) -> Path:
    """The admin's password alone, on one line: what config.json's ``es_password_file``
    names so that later commands authenticate as :data:`ADMIN_USER`."""
    return home / ADMIN_PASSWORD_FILE


def _new_password() -> str:
    return secrets.token_urlsafe(24)


def read_store(home: Path) -> Credentials | None:
    """The store, or None when this home has none yet."""
    path = store_path(home)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise HuntlabError(f"{path}: not readable JSON ({exc}); restore it from a backup") from exc
    admin = data.get("admin") if isinstance(data, dict) else None
    hunters = data.get("hunters", {}) if isinstance(data, dict) else None
    if not isinstance(admin, str) or not isinstance(hunters, dict):
        raise HuntlabError(
            f"{path}: expected {{'admin': password, 'hunters': {{name: password}}}}; "
            "restore it from a backup"
        )
    return Credentials(admin, {str(k): str(v) for k, v in hunters.items()})


def _write_store(home: Path, credentials: Credentials) -> None:
    data = {"admin": credentials.admin, "hunters": dict(sorted(credentials.hunters.items()))}
    atomic_write(store_path(home), json.dumps(data, indent=2) + "\n")
    atomic_write(admin_password_file(home), credentials.admin + "\n")


@contextlib.contextmanager
def _locked(home: Path) -> Iterator[Credentials]:
    """The store, read under an exclusive lock and written back on leaving (created with a
    new admin password when missing), so concurrent `huntlab users` commands lose nothing."""
    folder = store_path(home).parent
    private_dirs(folder)
    fd = os.open(folder / ".es-credentials.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        credentials = read_store(home) or Credentials(_new_password())
        before = replace(credentials, hunters=dict(credentials.hunters))
        yield credentials
        if credentials != before or not admin_password_file(home).exists():
            _write_store(home, credentials)
    finally:
        os.close(fd)


def ensure_admin_password(home: Path) -> str:
    """The admin's password, made (and stored) on first use."""
    with _locked(home) as credentials:
        return credentials.admin


def admin_config(home: Path) -> dict[str, str]:
    """The config.json entries (``huntlab.lab.config.update_config``) with which later
    commands (``huntlab load``, ``query``, ``status``) reach the team node as the admin, the
    password read from :func:`admin_password_file`, never held in config.json."""
    ensure_admin_password(home)
    return {"es_user": ADMIN_USER, "es_password_file": str(admin_password_file(home))}


def admin_settings(settings: Settings) -> Settings:
    """``settings`` authenticating as :data:`ADMIN_USER` (password from the store)."""
    return replace(
        settings,
        es_user=ADMIN_USER,
        es_password=ensure_admin_password(settings.home),
        es_api_key=None,
    )


def add_hunter(home: Path, name: str) -> str:
    """Give hunter ``name`` a new random password and return it (a hunter already there gets
    a new one: their old password stops working once :func:`apply` has run)."""
    check_hunter_name(name)
    with _locked(home) as credentials:
        _check_no_overlap(sorted({*credentials.hunters, name}))
        password = _new_password()
        credentials.hunters[name] = password
        return password


def remove_hunter(home: Path, name: str) -> bool:
    """Forget hunter ``name`` (False when unknown); :func:`apply` then revokes them."""
    with _locked(home) as credentials:
        return credentials.hunters.pop(name, None) is not None


def hunter_password(home: Path, name: str) -> str:
    """Hunter ``name``'s password; a HuntlabError when the store does not know them."""
    credentials = read_store(home)
    if credentials is None or name not in credentials.hunters:
        raise HuntlabError(
            f"no Elasticsearch credential for hunter {name!r} in {store_path(home)}; "
            f"add them with `huntlab users add {name}`"
        )
    return credentials.hunters[name]


def hunters(home: Path) -> list[str]:
    """The hunters in the store, sorted."""
    credentials = read_store(home)
    return sorted(credentials.hunters) if credentials else []


def apply(home: Path, config_dir: Path) -> None:
    """Write the node's realm (``config_dir``) from the store (see :func:`write_realm`)."""
    with _locked(home) as credentials:
        write_realm(config_dir, admin_password=credentials.admin, hunters=credentials.hunters)
