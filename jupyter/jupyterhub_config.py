# JupyterHub configuration of huntlab's team server: everything is set from the lab's home
# (team/hub.json, written by `huntlab up --team`); see huntlab.lab.team.hub.
from huntlab.lab.team.hub import configure

configure(c)  # noqa: F821 (c is the config object JupyterHub provides)
