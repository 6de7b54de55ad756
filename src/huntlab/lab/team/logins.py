"""The hub's logins: each hunter's password, hashed, and one-time invites.

One file, ``team/logins.json`` (mode 600, root's), read and rewritten under an exclusive lock
by ``huntlab users`` and by the hub (which consumes invites). Passwords are stored as scrypt
hashes (salted, memory-hard; Python's standard library, no extra dependency); an invite is a
random token whose SHA-256 is stored with its expiry, so the file never holds anything that
logs a hunter in. A new hunter gets an invite link and sets their own password with it.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import functools
import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from huntlab.errors import HuntlabError
from huntlab.files import atomic_write
from huntlab.lab.team.accounts import check_name, team_dir

INVITE_LIFETIME = 7 * 24 * 3600.0
MIN_PASSWORD = 10
# scrypt's interactive-login cost (RFC 7914 section 2): 16 MB, ~50 ms.
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def logins_path(home: Path) -> Path:
    return team_dir(home) / "logins.json"


@dataclass(frozen=True)
class Hunter:
    name: str
    admin: bool
    created: float
    has_password: bool
    invite_expires: float | None
    # Given at `add`, never reused: the docker runtime's servers take their uid from it.
    number: int | None = None


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, dklen=32, **_SCRYPT)
    b64 = base64.b64encode
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${b64(salt).decode()}${b64(digest).decode()}"


def check_password(password: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        expected = base64.b64decode(digest)
        got = hashlib.scrypt(
            password.encode("utf-8"), salt=base64.b64decode(salt), dklen=len(expected),
            n=int(n), r=int(r), p=int(p),
        )  # fmt: skip
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


def check_new_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise HuntlabError(f"the password is too short: at least {MIN_PASSWORD} characters")
    return password


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@contextlib.contextmanager
def _locked(home: Path, write: bool) -> Iterator[dict[str, Any]]:
    path = logins_path(home)
    path.parent.mkdir(mode=0o711, parents=True, exist_ok=True)
    lock_fd = os.open(path.with_suffix(".lock"), os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(lock_fd, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            data = {"hunters": {}}
        except ValueError as exc:
            raise HuntlabError(f"{path}: not readable JSON ({exc}); restore it from a "
                               "backup") from exc  # fmt: skip
        yield data
        if write:
            atomic_write(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def _new_invite(entry: dict[str, Any]) -> str:
    token = secrets.token_urlsafe(24)
    entry["invite"] = {"sha256": _token_digest(token), "expires": time.time() + INVITE_LIFETIME}
    return token


def add(home: Path, name: str, *, admin: bool = False, password: str | None = None) -> str | None:
    """Add a hunter: with ``password``, ready to log in; without, return an invite token."""
    check_name(name)
    with _locked(home, write=True) as data:
        if name in data["hunters"]:
            raise HuntlabError(f"hunter {name} exists already: `huntlab users reset {name}` "
                               "gives them a new invite")  # fmt: skip
        number = int(data.get("next_number", 1))
        data["next_number"] = number + 1
        entry: dict[str, Any] = {"admin": admin, "created": time.time(), "number": number}
        data["hunters"][name] = entry
        if password is not None:
            entry["password"] = hash_password(check_new_password(password))
            return None
        return _new_invite(entry)


def reset(home: Path, name: str, *, password: str | None = None) -> str | None:
    """Forget the hunter's password; set ``password`` or return a new invite token."""
    with _locked(home, write=True) as data:
        entry = _entry(data, name)
        entry.pop("password", None)
        entry.pop("invite", None)
        if password is not None:
            entry["password"] = hash_password(check_new_password(password))
            return None
        return _new_invite(entry)


def remove(home: Path, name: str) -> None:
    with _locked(home, write=True) as data:
        _entry(data, name)
        del data["hunters"][name]


def _entry(data: dict[str, Any], name: str) -> dict[str, Any]:
    entry = data["hunters"].get(name)
    if entry is None:
        raise HuntlabError(f"no hunter {name}: `huntlab users list` shows who there is")
    return entry


def hunters(home: Path) -> list[Hunter]:
    with _locked(home, write=False) as data:
        return [
            Hunter(
                name,
                bool(e.get("admin")),
                float(e.get("created", 0)),
                "password" in e,
                float(e["invite"]["expires"]) if "invite" in e else None,
                int(e["number"]) if "number" in e else None,
            )
            for name, e in sorted(data["hunters"].items())
        ]


def verify(home: Path, name: str, password: str) -> Hunter | None:
    """The hunter when ``password`` is theirs; None otherwise (unknown name included, after
    the same work, so the answer's time does not tell which names exist)."""
    with _locked(home, write=False) as data:
        entry = data["hunters"].get(name)
    stored = entry.get("password") if entry else None
    ok = check_password(password, stored or _dummy_hash())
    if not ok or entry is None or stored is None:
        return None
    return Hunter(name, bool(entry.get("admin")), float(entry.get("created", 0)), True, None)


def invited(home: Path, token: str) -> str | None:
    """The hunter a live invite ``token`` belongs to, or None."""
    digest = _token_digest(token)
    with _locked(home, write=False) as data:
        for name, entry in data["hunters"].items():
            invite = entry.get("invite")
            if invite and hmac.compare_digest(invite["sha256"], digest):
                return name if invite["expires"] > time.time() else None
    return None


def accept_invite(home: Path, token: str, password: str) -> str:
    """Set the password of the invite's hunter and use the invite up; return their name."""
    check_new_password(password)
    digest = _token_digest(token)
    with _locked(home, write=True) as data:
        for name, entry in data["hunters"].items():
            invite = entry.get("invite")
            if invite and hmac.compare_digest(invite["sha256"], digest):
                if invite["expires"] <= time.time():
                    break
                entry["password"] = hash_password(password)
                del entry["invite"]
                return str(name)
    raise HuntlabError("this invite is used up or expired: ask an admin for a new one "
                       "(huntlab users reset NAME)")  # fmt: skip


@functools.cache
def _dummy_hash() -> str:
    return hash_password(secrets.token_hex(8))
