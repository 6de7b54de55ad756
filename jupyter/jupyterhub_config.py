# JupyterHub configuration of huntlab's team server. Native runtime: everything is set from the
# lab's home (team/hub.json, written by `huntlab up --team`), see huntlab.lab.team.hub; the
# docker runtime's hub container (HUNTLAB_HUB_RUNTIME=docker): huntlab.lab.team.docker_hub.
import os

if os.environ.get("HUNTLAB_HUB_RUNTIME") == "docker":
    from huntlab.lab.team.docker_hub import configure
else:
    from huntlab.lab.team.hub import configure

configure(c)  # noqa: F821 (c is the config object JupyterHub provides)
