"""The hub's authenticator: hunters' own passwords (:mod:`huntlab.lab.team.logins`), repeated
failures throttled, and the invite page where a new hunter sets their password.

Imported by the hub process only (it needs jupyterhub). A team that has an identity provider
replaces this class in the hub's configuration with one of JupyterHub's authenticators
(OAuthenticator, LDAPAuthenticator): see docs/team.md.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyterhub.auth import Authenticator
from jupyterhub.handlers import BaseHandler
from tornado import web
from traitlets import Float, Integer, Unicode

from huntlab.errors import HuntlabError
from huntlab.lab.team import logins


@dataclass
class _Failures:
    count: int = 0
    first: float = field(default_factory=time.monotonic)
    locked_until: float = 0.0


class Throttle:
    """Failed logins per key (a hunter's name, or a client address): after ``allowed`` failures
    within ``window`` seconds, each further attempt waits ``base`` seconds, doubling up to
    ``ceiling``. A success clears the name's record."""

    def __init__(self, allowed: int, window: float, base: float, ceiling: float) -> None:
        self.allowed, self.window, self.base, self.ceiling = allowed, window, base, ceiling
        self._failures: dict[str, _Failures] = {}

    def wait_left(self, key: str) -> float:
        record = self._failures.get(key)
        return max(0.0, record.locked_until - time.monotonic()) if record else 0.0

    def failed(self, key: str) -> None:
        now = time.monotonic()
        record = self._failures.get(key)
        if record is None or now - record.first > max(self.window, record.locked_until - now):
            record = self._failures[key] = _Failures(first=now)
        record.count += 1
        beyond = record.count - self.allowed
        if beyond >= 0:
            record.locked_until = now + min(self.ceiling, self.base * 2**beyond)

    def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)


class HuntlabAuthenticator(Authenticator):
    """Hunters added with ``huntlab users add``; nobody else."""

    huntlab_home = Unicode(help="The lab's home (its team/logins.json).").tag(config=True)
    allowed_failures = Integer(5, help="Failed logins of one name before waits begin.").tag(
        config=True
    )
    allowed_failures_per_address = Integer(
        25, help="Failed logins from one address (a team behind one NAT) before waits begin."
    ).tag(config=True)
    failure_window = Float(600.0, help="Seconds over which failures are counted.").tag(config=True)
    lockout_seconds = Float(30.0, help="First wait once failures are used up; doubles.").tag(
        config=True
    )
    lockout_ceiling = Float(900.0, help="Longest wait.").tag(config=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        timing = (self.failure_window, self.lockout_seconds, self.lockout_ceiling)
        self.by_name = Throttle(self.allowed_failures, *timing)
        self.by_address = Throttle(self.allowed_failures_per_address, *timing)

    @property
    def home(self) -> Path:
        return Path(self.huntlab_home)

    async def authenticate(self, handler: Any, data: dict[str, str]) -> dict[str, Any] | None:
        name = (data.get("username") or "").strip().lower()
        password = data.get("password") or ""
        address = handler.request.remote_ip if handler is not None else ""
        wait = max(self.by_name.wait_left(name), self.by_address.wait_left(address))
        if wait > 0:
            self.log.warning("login of %r from %s refused: throttled (%.0f s)", name, address, wait)
            raise web.HTTPError(429, f"Too many failed logins: try again in {wait:.0f} s.")
        # scrypt takes tens of milliseconds: off the hub's event loop.
        hunter = await asyncio.to_thread(logins.verify, self.home, name, password)
        if hunter is None:
            self.by_name.failed(name)
            self.by_address.failed(address)
            self.log.warning("failed login for %r from %s", name, address)
            return None
        self.by_name.succeeded(name)
        return {"name": hunter.name, "admin": hunter.admin}

    def check_allowed(self, username: str, authentication: Any = None) -> bool:
        return any(h.name == username for h in logins.hunters(self.home))

    def get_handlers(self, app: Any) -> list[tuple[str, Any]]:
        return [*super().get_handlers(app), (r"/invite/([^/]+)", InviteHandler)]


class InviteHandler(BaseHandler):
    """``/hub/invite/TOKEN``: a new (or reset) hunter sets their own password."""

    @property
    def _home(self) -> Path:
        return Path(self.authenticator.huntlab_home)

    async def _page(self, token: str, name: str | None, error: str = "") -> None:
        html = await self.render_template(
            "huntlab-invite.html",
            hunter=name,
            token=token,
            error=error,
            min_length=logins.MIN_PASSWORD,
        )
        self.finish(html)

    async def get(self, token: str) -> None:
        name = logins.invited(self._home, token)
        if name is None:
            self.set_status(404)
        await self._page(token, name)

    async def post(self, token: str) -> None:
        name = logins.invited(self._home, token)
        if name is None:
            self.set_status(404)
            await self._page(token, None)
            return
        password = self.get_argument("password", default="")
        if password != self.get_argument("password2", default=""):
            self.set_status(400)
            await self._page(token, name, "The two passwords differ.")
            return
        try:
            await asyncio.to_thread(logins.accept_invite, self._home, token, password)
        except HuntlabError as exc:
            self.set_status(400)
            await self._page(token, name, str(exc).capitalize() + ".")
            return
        self.log.info("hunter %s set their password with an invite", name)
        self.redirect(f"{self.hub.base_url}login?username={name}")
