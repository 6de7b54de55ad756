"""The team hunting server: one lab, many hunters, each with their own identity.

- ``es_realm``: the hunters' Elasticsearch identities on the native node: the file realm
  (``users``, ``users_roles``, ``roles.yml`` in the node's config folder), the roles that
  separate the lab's shared indexes from each hunter's own, and the lab's credential store
  (``$HUNTLAB_HOME/team/es-credentials.json``).
"""
