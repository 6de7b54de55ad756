"""The native team server on an existing Elasticsearch cluster (`./install.sh --native --team
--es-url URL --es-user elastic --es-password-file F --es-ca CA`): the lab runs no node, each
hunter is a user of that cluster made through its security API, whose kernel reads it as
themselves with the analyst's rights; a user of the cluster that huntlab did not make is never
overwritten, and `users remove` revokes the hunter there.

The cluster is the ``existing_es`` node (tests.support.es_secured), which huntlab did not start.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.es_secured import SecuredNode
from tests.support.fixtures.lab import run_in_kernel
from tests.support.fixtures.team import SUFFIX, TeamLab, team_lab_of
from tests.support.hub_checks import KERNEL_ES

DATASET = "psh_lsass_memory_dump_comsvcs"
ERIN = f"erin{SUFFIX}"
FRED = f"fred{SUFFIX}"
# A user the cluster already has, made by its administrator, not by huntlab.
THEIRS = f"theirs{SUFFIX}"


@pytest.fixture(scope="module")
def team(existing_es: SecuredNode, datasets_dir: Path) -> Iterator[TeamLab]:
    args = ("--datasets", DATASET, "--es-url", existing_es.url, "--es-user", "elastic",
            "--es-password-file", str(existing_es.password_file),
            "--es-ca", str(existing_es.ca_file))  # fmt: skip
    with team_lab_of(args, (ERIN, FRED), datasets_dir) as lab:
        yield lab


def _ok(lab: TeamLab) -> None:
    assert lab.install.returncode == 0, lab.install.stderr[-6000:]


def _as(
    node: SecuredNode, user: str, password: str, method: str, path: str, **kw: Any
) -> requests.Response:
    return requests.request(method, f"{node.url}{path}", auth=(user, password),
                            verify=str(node.ca_file), timeout=60, **kw)  # fmt: skip


def _elastic(node: SecuredNode, method: str, path: str, **kw: Any) -> requests.Response:
    return _as(node, "elastic", node.settings.es_password or "", method, path, **kw)


def _hunter_password(lab: TeamLab, name: str) -> str:
    store = json.loads((lab.home / "team" / "es-credentials.json").read_text(encoding="utf-8"))
    return str(store["hunters"][name])


def test_the_team_runs_on_the_existing_cluster(team: TeamLab, existing_es: SecuredNode) -> None:
    from huntlab.lab import processes

    _ok(team)
    assert existing_es.url in team.install.stdout and "an existing cluster" in team.install.stdout
    assert processes.running(team.home, "elasticsearch") is None  # no node of the lab's own
    status = team.huntlab("status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "an existing cluster, health" in status.stdout, status.stdout
    # The hunter is a user of that cluster, marked as huntlab's, with the analyst's roles.
    answer = _elastic(existing_es, "GET", f"/_security/user/{ERIN}")
    assert answer.status_code == 200, answer.text
    user = answer.json()[ERIN]
    assert user["metadata"] == {"huntlab": "hunter"}
    assert sorted(user["roles"]) == ["huntlab_team_reader", f"huntlab_user_{ERIN}"]


def test_a_hunters_kernel_reads_the_existing_cluster_as_themselves(
    team: TeamLab, existing_es: SecuredNode
) -> None:
    _ok(team)
    indexes = _elastic(existing_es, "GET", "/_cat/indices/huntlab-*?format=json").json()
    shared = sorted(i["index"] for i in indexes
                    if not i["index"].startswith("huntlab-user-") and int(i["docs.count"]))  # fmt: skip
    assert shared, indexes
    code = KERNEL_ES.replace("SHARED", shared[0]).replace("OTHER", "nobody").replace("NAME", ERIN)
    url = team.start_server(ERIN)
    out = json.loads(
        run_in_kernel(url, team.user_token(ERIN), code, ca=team.cert, timeout=600)
        .strip().splitlines()[-1]
    )  # fmt: skip
    assert out["who"] == ERIN
    assert out["count"] > 0
    assert out["index_shared"] == 403 and out["delete_shared"] == 403
    assert out["index_other"] == 403
    assert out["own"] >= 1
    # The kernel runs in the hunter's memory and CPU group, with the limits the lab was given.
    from huntlab.lab.team import limits

    if limits.why_unavailable() is None:
        code = "import json\nprint(json.dumps(open('/proc/self/cgroup').read()))"
        raw = json.loads(run_in_kernel(url, team.user_token(ERIN), code, ca=team.cert)
                         .strip().splitlines()[-1])  # fmt: skip
        groups = {line.split(":", 2)[1]: line.split(":", 2)[2] for line in raw.splitlines()}
        memory = groups.get("") if limits.cgroup_version() == 2 else groups.get("memory")
        assert memory == f"/{limits.GROUP}/hunter-{ERIN}", raw
        [folder, *_] = limits.group_dirs(ERIN)
        limit = "memory.max" if limits.cgroup_version() == 2 else "memory.limit_in_bytes"
        assert int((folder / limit).read_text()) == 1536 * 1024**2


def test_a_user_huntlab_did_not_make_is_never_overwritten(
    team: TeamLab, existing_es: SecuredNode
) -> None:
    _ok(team)
    made = _elastic(existing_es, "PUT", f"/_security/user/{THEIRS}",
                    json={"password": "their-own-password", "roles": []})  # fmt: skip
    assert made.status_code == 200, made.text
    try:
        added = team.huntlab("users", "add", THEIRS, "--password-stdin", stdin="x" * 12 + "\n")
        assert added.returncode != 0
        assert "huntlab did not create" in added.stderr, added.stderr
        # Still theirs: same password, no huntlab role, and no hunter of that name.
        who = _as(existing_es, THEIRS, "their-own-password", "GET", "/_security/_authenticate")
        assert who.status_code == 200 and who.json()["roles"] == [], who.text
        listed = team.huntlab("users", "list")
        assert THEIRS not in listed.stdout, listed.stdout
    finally:
        _elastic(existing_es, "DELETE", f"/_security/user/{THEIRS}")


def test_users_remove_revokes_the_hunter_on_the_cluster(
    team: TeamLab, existing_es: SecuredNode
) -> None:
    _ok(team)
    password = _hunter_password(team, ERIN)
    assert _as(existing_es, ERIN, password, "GET", "/_security/_authenticate").status_code == 200
    removed = team.huntlab("users", "remove", ERIN)
    assert removed.returncode == 0, removed.stderr
    assert _as(existing_es, ERIN, password, "GET", "/_security/_authenticate").status_code == 401
    assert _elastic(existing_es, "GET", f"/_security/role/huntlab_user_{ERIN}").status_code == 404


def test_leaving_the_cluster_deletes_the_hunters_there(
    team: TeamLab, existing_es: SecuredNode
) -> None:
    _ok(team)
    password = _hunter_password(team, FRED)
    assert _as(existing_es, FRED, password, "GET", "/_security/_authenticate").status_code == 200
    back = team.huntlab("up", "--native", "--no-data", "--es-url", "local", timeout=900)
    assert back.returncode == 0, back.stderr[-4000:]
    assert f"deleted the hunters' users on {existing_es.url}: {FRED}" in back.stderr
    # No hunter keeps access to a cluster the lab no longer manages; the team's own node has
    # them again (its file realm), and the hunter is still a hunter of the lab.
    assert _as(existing_es, FRED, password, "GET", "/_security/_authenticate").status_code == 401
    assert _elastic(existing_es, "GET", f"/_security/role/huntlab_user_{FRED}").status_code == 404
    listed = team.huntlab("users", "list")
    assert FRED in listed.stdout, listed.stdout
