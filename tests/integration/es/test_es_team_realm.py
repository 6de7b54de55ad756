"""The team server's Elasticsearch identities on the real native node.

One node (its own temporary home, a free port) started by the product's own path,
``elasticsearch.start(..., security=True)``: security on with the file realm only, written from
the home's credential store by ``huntlab.lab.team.es_realm``. The node has no analysis-common
module, so this also proves that nothing creates the ``.security`` index.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from huntlab.es import indices
from huntlab.settings import Settings
from tests.support.fixtures.elasticsearch import node_settings

DATASET = "windows/psh_lsass_memory_dump_comsvcs/psh_lsass_memory_dump_comsvcs.zip"
SHARED_DOC = {"@timestamp": "2020-01-01T00:00:00Z", "EventID": 1, "Dataset": "team-realm-test"}


@dataclass(frozen=True)
class TeamNode:
    home: Path
    config: Path
    url: str
    admin: Settings
    hunters: dict[str, Settings]

    def hunter(self, name: str, password: str | None = None) -> Settings:
        """Settings authenticating as hunter ``name`` (their stored password by default)."""
        from huntlab.lab.team import es_realm

        return replace(
            self.admin,
            es_user=name,
            es_password=password
            if password is not None
            else es_realm.hunter_password(self.home, name),
        )


@pytest.fixture(scope="module")
def team_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TeamNode]:
    from huntlab.java import find_java
    from huntlab.lab.native import elasticsearch
    from huntlab.lab.team import es_realm

    settings = node_settings(tmp_path_factory.mktemp("es-team-home"), heap="512m")
    home = settings.home
    for name in ("a", "b"):
        es_realm.add_hunter(home, name)
    # No credentials given: start probes health as the lab admin, from the store.
    elasticsearch.start(settings, find_java(), progress=False, security=True, timeout=120)
    try:
        admin = es_realm.admin_settings(settings)
        node = TeamNode(
            home=home,
            config=elasticsearch.node_paths(settings).config,
            url=elasticsearch.local_url(settings),
            admin=admin,
            hunters={},
        )
        yield replace(node, hunters={n: node.hunter(n) for n in ("a", "b")})
    finally:
        elasticsearch.stop(settings)


@pytest.fixture(scope="module")
def shared(team_node: TeamNode) -> TeamNode:
    """The admin has set up the lab (templates, pipeline, indexes) and indexed one event."""
    from huntlab.es.client import client
    from huntlab.es.setup import setup

    report = setup(team_node.admin)
    assert set(report.created_indexes) == set(indices.ALL_INDEXES)
    assert sorted(report.index_templates) == ["huntlab", "huntlab-alerts", "huntlab-user"]
    client(team_node.admin).index(
        index=indices.SYSMON_INDEX, id="shared-1", document=SHARED_DOC, refresh=True
    )
    return team_node


def _es(settings: Settings) -> Any:
    from huntlab.es.client import client

    return client(settings)


def _status(call: Any) -> int:
    """The HTTP status of a refused request (the call must fail)."""
    from elasticsearch import ApiError

    with pytest.raises(ApiError) as refused:
        call()
    return int(refused.value.meta.status)


def test_health_and_status_need_the_admin_credential(team_node: TeamNode) -> None:
    from huntlab.lab.native import elasticsearch

    assert elasticsearch.healthy(team_node.url, team_node.admin.auth_headers())
    assert not elasticsearch.healthy(team_node.url)
    state = elasticsearch.status(team_node.admin)
    assert state.running and state.health in ("green", "yellow") and state.version
    assert elasticsearch.status(replace(team_node.admin, es_user=None)).health is None


def test_starting_again_without_security_is_refused(team_node: TeamNode) -> None:
    from huntlab.errors import ServiceError
    from huntlab.java import find_java
    from huntlab.lab.native import elasticsearch

    java = find_java()
    with pytest.raises(ServiceError, match=r"already runs in .* with security on \(pid \d+\)"):
        elasticsearch.start(team_node.admin, java, progress=False)
    # As it runs: nothing to do.
    pid = elasticsearch.start(team_node.admin, java, progress=False, security=True)
    assert elasticsearch.running(team_node.admin) is not None
    assert pid == elasticsearch.running(team_node.admin).pid  # type: ignore[union-attr]


def test_everyone_is_a_file_realm_user(team_node: TeamNode) -> None:
    from huntlab.lab.team import es_realm

    me = _es(team_node.admin).security.authenticate()
    assert me["username"] == es_realm.ADMIN_USER
    assert me["roles"] == [es_realm.ADMIN_ROLE]
    assert me["authentication_realm"]["type"] == "file"
    a = _es(team_node.hunters["a"]).security.authenticate()
    assert a["username"] == "a"
    assert sorted(a["roles"]) == ["huntlab_analyst", "huntlab_user_a"]
    assert a["authentication_realm"]["type"] == "file"


def test_reserved_users_and_api_keys_are_off(team_node: TeamNode) -> None:
    """Only file users exist: the reserved realm is off (``elastic`` is not a user at all), and
    API keys, which would need the .security index, cannot be had by a hunter."""
    elastic = replace(team_node.admin, es_user="elastic", es_password="changeme")
    assert _status(lambda: _es(elastic).security.authenticate()) == 401
    hunter = _es(team_node.hunters["a"])
    assert _status(lambda: hunter.security.create_api_key(name="mine")) == 403


def test_wrong_password_is_401(team_node: TeamNode) -> None:
    wrong = team_node.hunter("a", password="not-the-password")
    assert _status(lambda: _es(wrong).security.authenticate()) == 401
    nobody = team_node.hunter("a", password="")
    assert _status(lambda: _es(replace(nobody, es_user="zed")).security.authenticate()) == 401


def test_hunter_reads_the_shared_indexes(shared: TeamNode) -> None:
    from huntlab.es import search

    es = _es(shared.hunters["a"])
    hits = es.search(index=indices.ALIAS, query={"term": {"Dataset": "team-realm-test"}})
    assert [h["_id"] for h in hits["hits"]["hits"]] == ["shared-1"]
    frame = search("Dataset:team-realm-test", settings=shared.hunters["b"])
    assert list(frame["EventID"].astype(int)) == [1]


def test_hunter_cannot_write_or_delete_the_shared_indexes(shared: TeamNode) -> None:
    es = _es(shared.hunters["a"])
    doc = {**SHARED_DOC, "EventID": 2}
    assert _status(lambda: es.index(index=indices.SYSMON_INDEX, document=doc)) == 403
    assert _status(lambda: es.delete(index=indices.SYSMON_INDEX, id="shared-1")) == 403
    assert _status(lambda: es.indices.delete(index=indices.SYSMON_INDEX)) == 403
    assert _status(lambda: es.indices.create(index="huntlab-new")) == 403
    # Still there, unchanged.
    admin = _es(shared.admin)
    assert admin.get(index=indices.SYSMON_INDEX, id="shared-1")["_source"] == SHARED_DOC
    assert int(admin.count(index=indices.SYSMON_INDEX)["count"]) == 1


def test_hunter_owns_their_own_indexes_only(shared: TeamNode) -> None:
    a = _es(shared.hunters["a"])
    note = {"@timestamp": "2020-01-02T00:00:00Z", "Message": "suspicious lsass access"}
    a.index(index="huntlab-user-a-notes", id="n1", document=note, refresh=True)
    assert a.get(index="huntlab-user-a-notes", id="n1")["_source"] == note
    assert a.search(index="huntlab-user-a-notes")["hits"]["total"]["value"] == 1
    # A hunter's notes are not events of the lab: not under the alias `huntlab`.
    aliases = _es(shared.admin).indices.get_alias(index="huntlab-user-a-notes")
    assert aliases["huntlab-user-a-notes"]["aliases"] == {}
    a.indices.delete(index="huntlab-user-a-notes")
    assert not a.indices.exists(index="huntlab-user-a-notes")
    # Not another hunter's.
    assert _status(lambda: a.index(index="huntlab-user-b-x", document=note)) == 403
    b = _es(shared.hunters["b"])
    b.index(index="huntlab-user-b-x", id="b1", document=note, refresh=True)
    assert _status(lambda: a.delete(index="huntlab-user-b-x", id="b1")) == 403
    assert _status(lambda: a.indices.delete(index="huntlab-user-b-x")) == 403
    assert b.get(index="huntlab-user-b-x", id="b1")["_source"] == note


def test_added_reset_then_removed_hunter(shared: TeamNode) -> None:
    """The running node applies a rewritten realm by itself: a new hunter gets in, a reset
    password replaces the old one, a removed hunter is refused (401), and the others are
    untouched."""
    from huntlab.lab.team import es_realm

    password = es_realm.add_hunter(shared.home, "c")
    es_realm.apply(shared.home, shared.config)
    es_realm.wait_realm_applied(shared.url, "c", password, expect_ok=True)
    c = shared.hunter("c")
    assert _es(c).security.authenticate()["username"] == "c"
    _es(c).index(index="huntlab-user-c-notes", document={"Message": "hi"}, refresh=True)

    old, password = password, es_realm.add_hunter(shared.home, "c")
    es_realm.apply(shared.home, shared.config)
    es_realm.wait_realm_applied(shared.url, "c", old, expect_ok=False)
    es_realm.wait_realm_applied(shared.url, "c", password, expect_ok=True)
    c = shared.hunter("c")

    assert es_realm.remove_hunter(shared.home, "c")
    es_realm.apply(shared.home, shared.config)
    es_realm.wait_realm_applied(shared.url, "c", password, expect_ok=False)
    assert _status(lambda: _es(c).security.authenticate()) == 401
    assert _status(lambda: _es(c).search(index=indices.ALIAS)) == 401
    assert _es(shared.hunters["a"]).security.authenticate()["username"] == "a"
    assert _es(shared.admin).security.authenticate()["username"] == es_realm.ADMIN_USER


def test_waiting_for_a_change_that_never_comes_fails_clearly(shared: TeamNode) -> None:
    from huntlab.errors import ServiceError
    from huntlab.lab.team import es_realm

    password = es_realm.hunter_password(shared.home, "a")
    with pytest.raises(ServiceError, match=r"did not have 'a' refused \(401\) within 1 s"):
        es_realm.wait_realm_applied(shared.url, "a", password, expect_ok=False, timeout=1)


def test_the_node_never_tries_the_security_index(shared: TeamNode) -> None:
    """Nothing on this node may create ``.security`` (its analyzers are not in the
    distribution): no attempt, hence no failure, in the server log."""
    from huntlab.lab.native import elasticsearch

    log = elasticsearch.node_paths(shared.admin).server_log.read_text(encoding="utf-8")
    assert "file1" in log  # the realm is the file realm, named by huntlab
    assert ".security index" not in log
    assert "Unknown filter type" not in log


def test_loading_a_dataset_is_the_admins_right(shared: TeamNode, datasets_dir: Path) -> None:
    """``huntlab load`` as the admin fills the shared indexes; as a hunter every event is
    refused (403) and nothing is written."""
    import huntlab
    from huntlab.es import load

    source = datasets_dir / DATASET
    expected = len(huntlab.read_events(source))
    report = load(source, shared.admin, progress=False)
    assert report.summary() == f"read {expected} = indexed {expected} + rejected 0"
    in_dataset = {"term": {"Dataset": source.stem}}
    count = _es(shared.hunters["a"]).count(index=indices.ALIAS, query=in_dataset)
    assert int(count["count"]) == expected
    refused = load(source, shared.hunters["b"], progress=False)
    assert refused.summary() == f"read {expected} = indexed 0 + rejected {expected}"
    assert {r.status for r in refused.rejects} == {403}
    count = _es(shared.admin).count(index=indices.ALIAS, query=in_dataset)
    assert int(count["count"]) == expected
