"""The docker runtime's spawner: each hunter's JupyterLab is a container of the lab's Jupyter
image on the stack's network (DockerSpawner), with the hunter's own uid, volume, Elasticsearch
user and Spark caps. Imported by the hub process only (it needs dockerspawner); configured by
:func:`huntlab.lab.team.docker_hub.configure`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from dockerspawner import DockerSpawner
from traitlets import Unicode

from huntlab.lab.team import docker_hub, es_realm, logins
from huntlab.lab.team.hunter import spark_caps_for


class HunterDockerSpawner(DockerSpawner):
    huntlab_home = Unicode(help="The hub's home (its volume).").tag(config=True)

    @property
    def home(self) -> Path:
        return Path(self.huntlab_home)

    def _uids(self) -> dict[str, int]:
        """Each hunter's uid: :data:`FIRST_UID` plus their number in the logins, which is
        never given twice."""
        return {
            h.name: docker_hub.FIRST_UID + h.number
            for h in logins.hunters(self.home)
            if h.number is not None
        }

    def get_env(self) -> dict[str, str]:
        env: dict[str, str] = super().get_env()
        name = self.user.name
        uids = self._uids()
        if name not in uids:
            # A hub user made in its admin page, not by `huntlab users add`: no uid for them.
            raise RuntimeError(
                f"{name} has no number in the team's logins: `huntlab users add {name}`"
            )
        caps = spark_caps_for(
            os.environ.get("HUNTLAB_HUNTER_SPARK_CORES"),
            os.environ.get("HUNTLAB_HUNTER_EXECUTOR_MEMORY"),
        )
        env.update(
            {
                "HUNTLAB_RUNTIME": "docker",
                "HUNTLAB_HUNTER": name,
                "HUNTLAB_HUNTER_UID": str(uids[name]),
                # Every hunter's name and uid: the authors of the shared hunts show by name.
                "HUNTLAB_TEAM_NAMES": ",".join(f"{n}:{u}" for n, u in sorted(uids.items())),
                "HUNTLAB_ES_URL": os.environ.get("HUNTLAB_ES_URL", ""),
                "HUNTLAB_ES_USER": name,
                "HUNTLAB_ES_PASSWORD": es_realm.hunter_password(self.home, name),
                "HUNTLAB_SPARK_MASTER": os.environ.get("HUNTLAB_SPARK_MASTER", ""),
                "_SPARK_AUTH_SECRET": os.environ.get("_SPARK_AUTH_SECRET", ""),
                "HUNTLAB_SPARK_CAPS": ";".join(f"{k} {v}" for k, v in caps.items()),
                "HUNTLAB_CACHE": f"{docker_hub.HUNTER_WORKSPACE}/.cache/huntlab",
                # The team's read-only datasets volume, laid out as a mirror: found by name.
                "HUNTLAB_DATASETS_MIRROR": f"{docker_hub.HUNTER_WORKSPACE}/datasets",
            }
        )
        # A Java trust store for the drivers' downloads, when the stack was given one
        # (docker/compose.test.yaml: a TLS-inspecting proxy between the lab and Maven Central).
        if os.environ.get("HUNTLAB_HUNTER_JAVA_TOOL_OPTIONS"):
            env["JAVA_TOOL_OPTIONS"] = os.environ["HUNTLAB_HUNTER_JAVA_TOOL_OPTIONS"]
        return env

    async def start(self, *args: Any, **kwargs: Any) -> Any:
        cacerts = os.environ.get("HUNTLAB_HUNTER_JAVA_CACERTS")
        if cacerts:
            volumes: dict[str, Any] = dict(getattr(self, "volumes", {}))
            self.volumes = {**volumes, cacerts: {"bind": "/run/secrets/java_cacerts", "mode": "ro"}}
        return await super().start(*args, **kwargs)
