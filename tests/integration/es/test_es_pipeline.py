"""The ingest pipeline ``huntlab-mordor`` run by a real Elasticsearch: raw Mordor records in,
the Python readers' canonical events out, for every Windows event dataset in ../shared.

The node is Elasticsearch 7.10.2 with Elastic's lang-painless and ingest-common modules (see
tests/support/fixtures/ingest_node.py for why that version).
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from huntlab.es import indices
from huntlab.es.pipeline import NAME, pipeline
from huntlab.readers import iter_events, iter_raw
from tests.support.paths import REPO
from tests.support.readers_data import EVENT_DATASETS

if TYPE_CHECKING:
    from tests.support.fixtures.ingest_node import IngestNode

BATCH = 500


@pytest.fixture(scope="module")
def node(ingest_node: IngestNode) -> IngestNode:
    """The node with the pipeline installed from the committed JSON file."""
    path = REPO / "elasticsearch" / "ingest-pipelines"
    body = json.loads((path / f"{NAME}.json").read_text(encoding="utf-8"))
    assert body == pipeline()
    # `_meta` (informational only) is refused by 7.10's pipeline parser; 8.x takes it.
    body.pop("_meta")
    assert ingest_node.call("PUT", f"/_ingest/pipeline/{NAME}", body) == {"acknowledged": True}
    return ingest_node


def _simulate(node: IngestNode, sources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    docs = [{"_index": indices.PREFIX, "_id": str(n), "_source": s} for n, s in enumerate(sources)]
    result = node.call("POST", f"/_ingest/pipeline/{NAME}/_simulate", {"docs": docs})
    return list(result["docs"])


@pytest.mark.parametrize("name", sorted(EVENT_DATASETS))
def test_pipeline_gives_the_reader_documents(
    node: IngestNode, datasets_dir: Path, name: str
) -> None:
    source = datasets_dir / EVENT_DATASETS[name]
    raws = [{**raw, "Dataset": name} for raw in iter_raw(source)]
    expected = list(iter_events(source))
    assert len(raws) == len(expected) > 0
    families: Counter[str] = Counter()
    for start in range(0, len(raws), BATCH):
        for n, result in enumerate(_simulate(node, raws[start : start + BATCH]), start):
            assert "error" not in result, (n, result)
            doc = result["doc"]
            assert doc["_source"] == expected[n], n
            assert doc["_index"] == indices.index_for(expected[n].get("Channel"))
            families[doc["_index"]] += 1
    want = Counter(indices.index_for(event.get("Channel")) for event in expected)
    assert families == want


def test_pipeline_routes_bulk_requests_to_the_family_indexes(
    node: IngestNode, datasets_dir: Path
) -> None:
    """Through `_bulk?pipeline=`, as Logstash and other shippers send: every record lands in
    its family index, and the counts equal the reader's."""
    name = "psh_lsass_memory_dump_comsvcs"
    source = datasets_dir / EVENT_DATASETS[name]
    prefix = "bulk-check"
    lines = []
    for n, raw in enumerate(iter_raw(source)):
        lines.append(json.dumps({"index": {"_index": prefix, "_id": str(n)}}))
        lines.append(json.dumps({**raw, "Dataset": name}))
    request_body = ("\n".join(lines) + "\n").encode()
    request = urllib.request.Request(
        f"{node.url}/_bulk?pipeline={NAME}&refresh=true",
        data=request_body,
        method="POST",
        headers={"Content-Type": "application/x-ndjson"},
    )
    with urllib.request.urlopen(request, timeout=300) as response:
        result = json.load(response)
    assert result["errors"] is False
    expected = Counter(indices.index_for(e.get("Channel"), prefix) for e in iter_events(source))
    got = {index: node.call("GET", f"/{index}/_count")["count"] for index in expected}
    assert got == dict(expected)
    assert sum(got.values()) == len(lines) // 2


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({"message": "not a Windows event"}, "unknown record format"),
        (
            {"@timestamp": "yesterday", "EventID": 1, "SourceName": "s", "Channel": "c"},
            "timestamp yesterday is not iso8601",
        ),
    ],
)
def test_pipeline_fails_a_record_it_cannot_normalise(
    node: IngestNode, record: dict[str, Any], reason: str
) -> None:
    (result,) = _simulate(node, [record])
    assert "doc" not in result
    assert reason in json.dumps(result["error"])


def test_an_older_cluster_is_named_as_such(ingest_node: IngestNode, tmp_path: Path) -> None:
    """huntlab's client speaks the 8.x API; a 7.x cluster gets a clear error, not "does not
    answer"."""
    from huntlab.errors import ServiceError
    from huntlab.es import search
    from huntlab.settings import load_settings

    settings = load_settings(home=tmp_path, es_url=ingest_node.url)
    with pytest.raises(ServiceError, match=r"is older than 8\.0 .*needs Elasticsearch 8\.x"):
        search(settings=settings)

    # From the shell: one line naming the lab's own node; `huntlab es start`, run as written
    # (and --es-url left out, as it says), gives an 8.x node the commands then use.
    from huntlab.lab.processes import free_ports
    from tests.support.cli import run_huntlab
    from tests.support.hints import suggested

    env = {k: v for k, v in os.environ.items() if not k.startswith("HUNTLAB_")}
    env.update(HUNTLAB_HOME=str(tmp_path / "home"), HUNTLAB_ES_PORT=str(free_ports(1)[0]),
               HUNTLAB_ES_HEAP="512m", HUNTLAB_CACHE=os.environ.get("HUNTLAB_CACHE", ""))  # fmt: skip
    if not env["HUNTLAB_CACHE"]:
        del env["HUNTLAB_CACHE"]
    refused = run_huntlab("es", "setup", "--es-url", ingest_node.url, env=env)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr, refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert "is older than 8.0" in refused.stderr
    try:
        started = run_huntlab(*suggested(refused.stderr, "huntlab es start"), env=env, timeout=600)
        assert started.returncode == 0, started.stderr[-3000:]
        again = run_huntlab("es", "setup", env=env)
        assert again.returncode == 0, again.stderr[-3000:]
        status = run_huntlab("es", "status", env=env)
        assert status.returncode == 0 and "8." in status.stdout, status.stdout
    finally:
        run_huntlab("es", "stop", env=env, timeout=120)


def test_the_live_data_check_event_lands_in_sysmon_and_is_found_by_its_marker(
    node: IngestNode,
) -> None:
    """`huntlab logstash check`'s probe, sent as Logstash's output sends it (`_bulk` with the
    pipeline, into the prefix): it becomes a huntlab-sysmon document the check's query finds,
    and the query finds nothing for another marker."""
    from huntlab.lab import live

    marker = live.new_marker()
    (simulated,) = _simulate(node, [live.probe_event(marker)])
    assert "error" not in simulated, simulated
    assert simulated["doc"]["_index"] == f"{indices.PREFIX}-sysmon"
    assert simulated["doc"]["_source"]["Hostname"] == marker
    prefix = "live-check"
    body = json.dumps({"index": {"_index": prefix}}) + "\n" + json.dumps(live.probe_event(marker))
    request = urllib.request.Request(
        f"{node.url}/_bulk?pipeline={NAME}&refresh=true", data=(body + "\n").encode(),
        method="POST", headers={"Content-Type": "application/x-ndjson"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=60) as response:
        assert json.load(response)["errors"] is False
    assert live.count(node.url, "unused", "unused", marker, index=f"{prefix}-*") == 1
    assert live.count(node.url, "unused", "unused", live.new_marker(), index=f"{prefix}-*") == 0
