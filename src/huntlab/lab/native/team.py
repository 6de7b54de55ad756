"""The native lab as a team server: JupyterHub in front, each hunter a unix account with
their own Elasticsearch user, Elasticsearch with security on (the lab's node: file realm; an
existing cluster, `huntlab up --es-url`: its security API), one shared Spark.

``huntlab up --team`` (:func:`prepare_team`, then the runtime starts the hub where the single
JupyterLab would run) and ``huntlab users add|list|remove|reset`` (:func:`add_hunter` ...).
Root only: hunters' servers run as their own accounts.
"""

from __future__ import annotations

import stat
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from huntlab.errors import HuntlabError
from huntlab.lab import processes
from huntlab.lab.config import read_config
from huntlab.lab.native import elasticsearch, external_es
from huntlab.lab.team import accounts, es_realm, hub, hunter, limits, logins
from huntlab.settings import Settings

Say = Callable[[str], None]


def is_team(home: Path) -> bool:
    return bool(read_config(home).get("team"))


def require_team(home: Path) -> None:
    if not is_team(home):
        raise HuntlabError(
            f"{home} is not a team lab: bring one up with `./install.sh --team` (or "
            "`huntlab up --team`) first"
        )


def _readable_by_all(path: Path) -> str | None:
    """The first folder on the way to ``path`` (or ``path``) that other accounts cannot
    pass or read, or None."""
    for folder in [*reversed(path.parents), path]:
        mode = folder.stat().st_mode
        needed = stat.S_IXOTH if folder != path or folder.is_dir() else stat.S_IROTH
        if not mode & needed:
            return str(folder)
    return None


def check_python_shared() -> None:
    """Hunters' servers run this Python and this huntlab: other accounts must read them."""
    import huntlab

    paths = (
        Path(sys.executable).resolve(),
        Path(sys.prefix),
        Path(sys.base_prefix),
        Path(huntlab.__file__).resolve().parent,
    )
    for path in paths:
        blocked = _readable_by_all(path)
        if blocked is not None:
            raise HuntlabError(
                f"hunters' servers run {path}, but other accounts cannot enter {blocked}: "
                "install the team lab where they can: a checkout outside root's home, with a "
                "virtualenv made from the system's Python (`./install.sh --team` picks "
                "/usr/bin/python3; a pyenv Python under /root will not do)"
            )


def prepare_team(settings: Settings, *, external: bool = False) -> Settings:
    """The team's folders and the node's users before anything starts; return the settings
    the node is reached with (the admin identity). ``external``: ``settings`` reach an
    existing cluster as the user the lab was given, who is the team's admin there."""
    accounts.require_root("a team lab (`huntlab up --team`)")
    check_python_shared()
    accounts.prepare_team_dirs(settings.home)
    if external:
        external_es.verify(settings, team=True)
        sync_es_users(settings)
        return settings
    admin = es_realm.admin_settings(settings)
    es_realm.apply(settings.home, elasticsearch.node_paths(settings).config)
    return admin


def sync_es_users(
    settings: Settings, *, only: str | None = None, removed: str | None = None
) -> None:
    """Make the hunters' Elasticsearch users what the credential store says: the lab's node
    re-reads its file realm; on an existing cluster, through its security API, ``removed`` is
    revoked, else hunter ``only`` (every hunter when None) is put."""
    if not external_es.external_url(settings.home):
        es_realm.apply(settings.home, elasticsearch.node_paths(settings).config)
        return
    from huntlab.es.client import client

    es = client(external_es.settings_for(settings))
    if removed is not None:
        es_realm.delete_api_hunter(es, removed)
        return
    for name in [only] if only is not None else es_realm.hunters(settings.home):
        es_realm.put_api_hunter(es, name, es_realm.hunter_password(settings.home, name))


# --- hunters --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Added:
    name: str
    invite_url: str | None


def door_url(home: Path) -> str:
    url = str(read_config(home).get("jupyter_url") or "")
    return url.removesuffix("/hub/").removesuffix("/hub").rstrip("/")


def _hub_api(settings: Settings, method: str, path: str) -> tuple[int, Any] | None:
    """A call on the running hub's API as the huntlab service; None when no hub answers."""
    import json

    # The token goes only to the hub this lab started, listening where it should.
    if not processes.listens(settings.home, hub.HUB, settings.jupyter_port):
        return None
    request = urllib.request.Request(
        f"{hub.probe_url(settings)}/hub/api{path}",
        data=None if method == "GET" else b"",
        method=method,
        headers={"Authorization": f"token {hub.api_token(settings.home)}"},
    )
    context = processes.loopback_tls_context()
    try:
        with urllib.request.urlopen(request, timeout=30, context=context) as response:
            body = response.read()
            return response.status, json.loads(body) if body else None
    except urllib.error.HTTPError as exc:
        return exc.code, None
    except (urllib.error.URLError, OSError):
        return None


def add_hunter(
    settings: Settings, name: str, *, admin: bool = False, password: str | None = None
) -> Added:
    """Add a hunter: their Elasticsearch user, their login (a password or an invite), their
    unix account and workspace; all or nothing."""
    accounts.require_root("huntlab users add")
    require_team(settings.home)
    accounts.check_name(name)
    if name in es_realm.hunters(settings.home):
        raise HuntlabError(f"hunter {name} exists already: `huntlab users reset {name}` "
                           "gives them a new invite")  # fmt: skip
    # A hunter with a login but no Elasticsearch credential (a credential store restored
    # from a backup older than them; their server then fails to start and says to run this):
    # they get the credential and keep their login.
    has_login = any(h.name == name for h in logins.hunters(settings.home))
    if external_es.external_url(settings.home):  # before anything is made for them
        from huntlab.es.client import client

        es_realm.refuse_foreign_user(client(external_es.settings_for(settings)), name)
    es_realm.add_hunter(settings.home, name)  # refuses a name overlapping another's indexes
    token: str | None = None
    made_login = False
    try:
        if not has_login:
            token = logins.add(settings.home, name, admin=admin, password=password)
            made_login = True
        elif password is not None:
            logins.reset(settings.home, name, password=password)
        hunter.prepare(settings.home, name)
        sync_es_users(settings, only=name)
    except BaseException:
        es_realm.remove_hunter(settings.home, name)
        if made_login:  # only what this call made: never an existing hunter's login
            logins.remove(settings.home, name)
        raise
    # Known to a running hub at once (an admin can start their server before they log in);
    # a hub started later reads every hunter at its start.
    answer = _hub_api(settings, "POST", f"/users/{name}")
    if answer is not None and answer[0] not in (201, 409):
        raise HuntlabError(f"the hub answered {answer[0]} adding {name}: read "
                           f"{processes.log_path(settings.home, hub.HUB)}")  # fmt: skip
    invite = f"{door_url(settings.home)}/hub/invite/{token}" if token else None
    return Added(name, invite)


def reset_hunter(settings: Settings, name: str, *, password: str | None = None) -> str | None:
    accounts.require_root("huntlab users reset")
    require_team(settings.home)
    token = logins.reset(settings.home, name, password=password)
    return f"{door_url(settings.home)}/hub/invite/{token}" if token else None


def remove_hunter(settings: Settings, name: str, *, keep_files: bool, say: Say) -> None:
    """Stop the hunter's server, revoke their logins and Elasticsearch user, delete their
    account (and their files unless ``keep_files``)."""
    accounts.require_root("huntlab users remove")
    require_team(settings.home)
    known = {h.name for h in logins.hunters(settings.home)} | set(es_realm.hunters(settings.home))
    if name not in known and accounts.account(name) is None:
        raise HuntlabError(f"no hunter {name}: `huntlab users list` shows who there is")
    if any(h.name == name for h in logins.hunters(settings.home)):
        logins.remove(settings.home, name)
    answer = _hub_api(settings, "DELETE", f"/users/{name}")
    if answer is not None and answer[0] not in (204, 404):
        say(f"huntlab: the hub answered {answer[0]} removing {name}; their server may run on")
    es_realm.remove_hunter(settings.home, name)
    sync_es_users(settings, removed=name)
    accounts.kill_processes(name)
    accounts.remove_account(settings.home, name, keep_files=keep_files)
    limits.remove(name)  # its memory and CPU group, empty now
    where = accounts.hunter_dir(settings.home, name)
    say(
        f"huntlab: removed hunter {name}" + (f"; their files stay in {where}" if keep_files else "")
    )


def list_hunters(settings: Settings) -> list[dict[str, Any]]:
    accounts.require_root("huntlab users list")
    require_team(settings.home)
    answer = _hub_api(settings, "GET", "/users")
    servers = hub.server_states(answer)
    rows = []
    for entry in logins.hunters(settings.home):
        rows.append(
            {
                "name": entry.name,
                "admin": entry.admin,
                "login": "password set" if entry.has_password else "invited",
                "account": accounts.unix_name(entry.name)
                if accounts.account(entry.name) else "(missing)",
                "server": servers.get(entry.name, "stopped" if answer else "hub down"),
            }
        )  # fmt: skip
    return rows
