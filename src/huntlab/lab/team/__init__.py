"""The team hunting server: one lab, many hunters behind JupyterHub.

Modules: ``accounts`` (hunter names, unix accounts, the team's folders), ``logins`` (hub
passwords, hashed, and one-time invites), ``es_realm`` (each hunter's Elasticsearch identity),
``hub`` (JupyterHub and its proxy as a lab service), ``hubconfig`` (the hub's configuration,
read by the hub process), ``authenticator`` and ``spawner`` (the hub's plug-ins, imported only
by the hub), ``users`` (what ``huntlab users`` does).
"""
