"""The hub's spawner: each hunter's JupyterLab runs as their own unix account
(``huntlab-NAME``, :mod:`huntlab.lab.team.accounts`), prepared by :mod:`huntlab.lab.team.hunter`
just before it starts. Imported by the hub process only (it needs jupyterhub)."""

from __future__ import annotations

import asyncio
import os
import pwd
from pathlib import Path
from typing import Any

from jupyterhub.spawner import LocalProcessSpawner, set_user_setuid
from traitlets import Unicode

from huntlab.lab.config import read_config
from huntlab.lab.team import accounts, hunter, limits


class HunterSpawner(LocalProcessSpawner):
    huntlab_home = Unicode(help="The lab's home.").tag(config=True)
    _groups: list[Path] | None = None

    @property
    def home(self) -> Path:
        return Path(self.huntlab_home)

    def make_preexec_fn(self, name: str) -> Any:
        become = set_user_setuid(accounts.unix_name(name))
        groups = list(self._groups or [])

        def preexec() -> None:
            # Into the hunter's memory and CPU group while still root (every kernel the
            # server starts inherits it), then the hunter's account.
            limits.join(groups)
            # Files made in the shared hunts/ folder are writable by the team (the folder's
            # setgid group); the hunter's own folder is private by its mode.
            os.umask(0o002)
            become()

        return preexec

    def user_env(self, env: dict[str, str]) -> dict[str, str]:
        entry = pwd.getpwnam(accounts.unix_name(self.user.name))
        env.update({"USER": entry.pw_name, "HOME": entry.pw_dir, "SHELL": entry.pw_shell})
        return env

    def get_env(self) -> dict[str, str]:
        env: dict[str, str] = super().get_env()
        env.update(hunter.server_env(self.home, self.user.name))
        return env

    async def start(self) -> Any:
        # As root, before the server exists: the account, the workspace, the settings.
        await asyncio.to_thread(hunter.prepare, self.home, self.user.name)
        why = limits.why_unavailable()
        self._groups = []
        if why is None:
            wanted = limits.Limits.from_config(read_config(self.home))
            try:
                self._groups = limits.prepare(self.user.name, wanted)
            except OSError as exc:  # e.g. a cgroup v2 namespace root that refuses controllers
                why = f"cannot set them up ({exc.strerror or exc})"
        if why is not None:
            self.log.warning("%s's server runs without memory and CPU limits: %s",
                             self.user.name, why)  # fmt: skip
        self.notebook_dir = str(accounts.workspace(self.home, self.user.name))
        return await super().start()
