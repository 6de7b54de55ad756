"""An existing Elasticsearch cluster in place of the native lab's own node.

``huntlab up --native --es-url URL --es-user USER --es-password-file FILE [--es-ca CA]``
(:func:`choose`) points the lab, a single analyst's or a team's, at a cluster someone else runs:
the lab starts no node of its own (and stops the one it ran), sets up its templates and
pipeline there, loads the datasets there, and every notebook, command and hunter reaches it.
``--es-url local`` returns to the lab's own node.

Only a cluster with security on is accepted: credentials are required, and beyond loopback only
over HTTPS (a password never crosses the network in clear). The password is copied into the
home (``elasticsearch-external/password``, owner-only) and config.json names the file, never
the password; the CA, public, is copied beside it.

A team on such a cluster (:mod:`huntlab.lab.native.team`) gets its hunters through the
security API (:func:`huntlab.lab.team.es_realm.put_api_hunter`): the given user must hold
``manage_security``; a user of the cluster that huntlab did not create is never overwritten.
"""

from __future__ import annotations

import shutil
import urllib.parse
from dataclasses import replace
from pathlib import Path
from typing import Any

from huntlab.errors import HuntlabError, ServiceError
from huntlab.files import atomic_write, private_dirs
from huntlab.lab.config import read_config, update_config
from huntlab.lab.status import ServiceStatus
from huntlab.settings import Settings, local_es_url

# config.json's key for `huntlab up --es-url URL` (removed by `--es-url local`).
EXTERNAL_KEY = "es_external"
FOLDER = "elasticsearch-external"

# What the lab does on the cluster as the given user: its templates and ingest pipeline, the
# datasets into its indexes (huntlab.es.setup, huntlab.es.loader).
LAB_CLUSTER_PRIVILEGES = ("monitor", "manage_index_templates", "manage_ingest_pipelines")
LAB_INDEX_PRIVILEGES = ("create_index", "index", "read", "view_index_metadata", "manage")
# A team's admin also makes and removes the hunters' users and roles.
TEAM_CLUSTER_PRIVILEGES = ("manage_security",)


def external_url(home: Path) -> str | None:
    """The existing cluster the lab was pointed at (None: the lab's own node)."""
    value = read_config(home).get(EXTERNAL_KEY)
    return str(value) if value else None


def folder(home: Path) -> Path:
    return home / FOLDER


def _is_loopback_host(host: str) -> bool:
    from huntlab.lab.tls import is_loopback

    return host == "localhost" or is_loopback(host)


def check_url(url: str) -> str:
    """``url`` without a trailing slash when it is an http(s) URL huntlab may send a password
    to: HTTPS, or HTTP on this machine's loopback; a HuntlabError saying why otherwise."""
    parsed = urllib.parse.urlsplit(url)
    # user:password@host without a scheme parses as a path: look at what precedes the host.
    authority = url.split("//", 1)[-1].split("/", 1)[0]
    if parsed.username or parsed.password or "@" in authority:
        raise HuntlabError(
            "--es-url must not hold credentials (they would be kept in config.json and shown "
            "by `huntlab status`): give --es-user and --es-password-file"
        )
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise HuntlabError(
            f"--es-url {url!r} is not an Elasticsearch URL: give https://HOST:PORT (or `local` "
            "for the lab's own node)"
        )
    if parsed.scheme == "http" and not _is_loopback_host(parsed.hostname):
        raise HuntlabError(
            f"--es-url {url}: plain HTTP beyond this machine would send the password in "
            "clear; use the cluster's https:// URL (with --es-ca CA if its certificate is "
            "not signed by a CA this system trusts)"
        )
    return url.rstrip("/")


def _first_line(path: Path, what: str) -> str:
    try:
        text = path.read_text(encoding="utf-8") if path.is_file() else ""
    except (OSError, UnicodeError) as exc:
        raise HuntlabError(f"{path}: cannot read {what} ({exc})") from exc
    value = text.splitlines()[0].strip() if text.strip() else ""
    if not value:
        raise HuntlabError(f"{path}: no {what} on its first line (a missing or empty file)")
    return value


def _given_settings(
    settings: Settings, url: str, user: str, password: str, ca: str | None
) -> Settings:
    return replace(
        settings, es_url=url, es_user=user, es_password=password, es_api_key=None, es_ca=ca
    )


def settings_for(settings: Settings) -> Settings:
    """``settings`` reaching the recorded existing cluster as its recorded user."""
    stored = read_config(settings.home)
    url = stored.get(EXTERNAL_KEY)
    if not url:
        return settings
    password_file = Path(str(stored.get("es_password_file") or folder(settings.home) / "password"))
    password = _first_line(password_file, "the Elasticsearch password")
    ca = stored.get("es_ca") or None
    return _given_settings(settings, str(url), str(stored.get("es_user") or ""), password, ca)


def has_privileges(es: Any, *, team: bool) -> list[str]:
    """The privileges the lab needs (a team's too when ``team``) that the client's user lacks."""
    cluster = [*LAB_CLUSTER_PRIVILEGES, *(TEAM_CLUSTER_PRIVILEGES if team else ())]
    answer = es.security.has_privileges(
        cluster=cluster,
        index=[{"names": ["huntlab", "huntlab-*"], "privileges": list(LAB_INDEX_PRIVILEGES)}],
    )
    body = dict(answer)
    missing = [name for name, ok in body.get("cluster", {}).items() if not ok]
    for pattern, privileges in body.get("index", {}).items():
        missing += [f"{name} on {pattern}" for name, ok in privileges.items() if not ok]
    return missing


def verify(settings: Settings, *, team: bool) -> str:
    """Check that the cluster answers, takes the credentials and grants what the lab needs;
    return its version. A ServiceError naming what to do otherwise."""
    from elasticsearch import ApiError

    from huntlab.es.client import check, client

    es = client(settings, request_timeout=30)
    check(es, settings)  # answers, 8.x, credentials, CA: each with its own message
    try:
        who = es.security.authenticate()
        missing = has_privileges(es, team=team)
        version = str(es.info()["version"]["number"])
    except ApiError as exc:
        raise ServiceError(
            f"Elasticsearch at {settings.es_url}: cannot check {settings.es_user!r}'s "
            f"privileges ({exc}); the lab needs a cluster with security on"
        ) from exc
    if missing:
        needs = "the lab" + (" and its team's hunters" if team else "")
        raise ServiceError(
            f"Elasticsearch user {who.get('username')!r} at {settings.es_url} lacks "
            f"{', '.join(missing)}, which {needs} need; give a user with them (the "
            "cluster's `elastic`, or a role with those privileges)"
        )
    return version


def choose(
    settings: Settings,
    url: str | None,
    user: str | None,
    password_file: str | None,
    ca: str | None,
    *,
    team: bool,
    say: Any,
) -> Settings:
    """Apply ``huntlab up --es-url``: ``URL`` points the lab at an existing cluster (checked
    first: nothing changes when it does not answer as it should), ``local`` returns the lab
    to its own node. None leaves the choice as it was. Return ``settings`` as they are now
    (the lab's own node's URL, without the cluster's credentials, after ``local``)."""
    home = settings.home
    extra = [n for n, v in (("--es-user", user), ("--es-password-file", password_file),
                            ("--es-ca", ca)) if v]  # fmt: skip
    if url is None:
        if extra:
            raise HuntlabError(f"{', '.join(extra)}: only with --es-url URL")
        return settings
    if url == "local":
        if extra:
            raise HuntlabError(f"{', '.join(extra)}: not for `--es-url local`")
        if external_url(home):
            if team:
                _revoke_hunters(settings, say)
            shutil.rmtree(folder(home), ignore_errors=True)
            update_config(
                home,
                **{EXTERNAL_KEY: None, "es_user": None, "es_password_file": None, "es_ca": None},
            )
            say("huntlab: back to the lab's own Elasticsearch node")
            return replace(
                settings, es_url=local_es_url(settings.es_port), es_user=None,
                es_password=None, es_password_file=None, es_api_key=None, es_ca=None,
            )  # fmt: skip
        return settings
    url = check_url(url)
    if not user or not password_file:
        raise HuntlabError(
            f"--es-url {url} needs --es-user USER and --es-password-file FILE (the password "
            "on the file's first line): the lab only uses a cluster with security on"
        )
    password = _first_line(Path(password_file).expanduser(), "Elasticsearch password")
    ca_path = Path(ca).expanduser() if ca else None
    if ca_path is not None and not ca_path.is_file():
        raise HuntlabError(f"--es-ca {ca}: no such file (the PEM CA certificate of the cluster)")
    given = _given_settings(settings, url, user, password, str(ca_path) if ca_path else None)
    # Nothing is changed until the cluster answers as it should, and (a team) until every
    # hunter can be made there without overwriting a user or role of its own.
    version = verify(given, team=team)
    if team:
        from huntlab.es.client import client
        from huntlab.lab.team import es_realm

        es = client(given)
        for name in es_realm.hunters(home):
            es_realm.refuse_foreign_user(es, name)
        previous = external_url(home)
        if previous and previous != url:
            _revoke_hunters(settings, say)
    place = folder(home)
    private_dirs(place)
    atomic_write(place / "password", password + "\n")
    kept_ca = None
    if ca_path is not None:
        kept_ca = place / "ca.crt"
        # Public: each hunter's server gets a copy of its own (huntlab.lab.team.hunter).
        atomic_write(kept_ca, ca_path.read_text(encoding="utf-8"), mode=0o644)
    update_config(
        home,
        **{
            EXTERNAL_KEY: url,
            "es_url": url,
            "es_user": user,
            "es_password_file": str(place / "password"),
            "es_ca": str(kept_ca) if kept_ca else None,
        },
    )
    say(f"huntlab: the lab uses Elasticsearch {version} at {url} as {user!r}")
    return settings


def _revoke_hunters(settings: Settings, say: Any) -> None:
    """Before a team leaves the existing cluster it used: delete its hunters' users and roles
    there (those huntlab made), so that none keeps access the lab can no longer revoke. A
    cluster that does not answer any more is said loudly, with what to delete by hand."""
    from elasticsearch import ApiError, TransportError

    from huntlab.es.client import client
    from huntlab.lab.team import es_realm

    names = es_realm.hunters(settings.home)
    if not names:
        return
    old = settings_for(settings)
    try:
        es = client(old)
        for name in names:
            es_realm.delete_api_hunter(es, name)
    except TransportError as exc:
        say(
            f"huntlab: WARNING: the cluster {old.es_url} does not answer ({exc}); the hunters' "
            f"users there stay until its administrator deletes them: {', '.join(names)} (and "
            "their roles huntlab_user_NAME)"
        )
        return
    except ApiError as exc:
        raise HuntlabError(
            f"cannot delete the hunters' users on {old.es_url} ({exc}); nothing changed: "
            "they would keep their access there"
        ) from exc
    say(f"huntlab: deleted the hunters' users on {old.es_url}: {', '.join(names)}")


def status(settings: Settings) -> ServiceStatus:
    """The status row of the existing cluster (its health, as the lab's user sees it)."""
    from elasticsearch import ApiError, TransportError

    from huntlab.es.client import client

    url = external_url(settings.home) or settings.es_url
    try:
        given = settings_for(settings)
        es = client(given, request_timeout=5, max_retries=0)
        health = str(es.cluster.health(timeout="5s")["status"])
        version = str(es.info()["version"]["number"])
    except (HuntlabError, ApiError, TransportError, KeyError) as exc:
        return ServiceStatus("elasticsearch", False, url, None, f"an existing cluster: {exc}")
    return ServiceStatus(
        "elasticsearch", health in ("green", "yellow"), url, version,
        f"an existing cluster, health {health}",
    )  # fmt: skip
