"""Elasticsearch resources without a node: generated files, index routing, document ids."""

from __future__ import annotations

import json

from huntlab.es import generate, indices
from huntlab.es.loader import doc_id
from huntlab.es.query import build_query
from huntlab.resources import resource_dir


def test_committed_resources_equal_generated() -> None:
    root = resource_dir("elasticsearch")
    for relative, document in generate.generated().items():
        committed = (root / relative).read_text(encoding="utf-8")
        assert committed == generate.render(document), (
            f"elasticsearch/{relative} is stale: run python -m huntlab.es.generate"
        )


def test_mapping_template_follows_mapping_json() -> None:
    from huntlab.readers import mapping as m

    template = json.loads(
        (resource_dir("elasticsearch") / "component-templates/huntlab-mappings.json").read_text()
    )["template"]["mappings"]
    assert template["properties"]["@timestamp"] == {"type": "date"}
    assert template["properties"]["EventID"] == {"type": "integer"}
    dynamic = {name: spec for entry in template["dynamic_templates"] for name, spec in entry.items()}
    numbers = dynamic["numbers"]
    assert numbers["match"] == list(m.number_fields())
    assert numbers["mapping"]["type"] == "long"
    assert numbers["mapping"]["fields"]["keyword"]["type"] == "keyword"
    free_text = dynamic["free_text"]
    assert free_text["match"] == list(m.mapping()["text_fields"])
    assert free_text["mapping"]["fields"]["text"]["type"] == "text"
    assert template["properties"]["Message"]["fields"]["text"]["type"] == "text"


def test_index_template_covers_every_family_index() -> None:
    template = json.loads(
        (resource_dir("elasticsearch") / "index-templates/huntlab.json").read_text()
    )
    assert template["index_patterns"] == [indices.PATTERN]
    assert indices.ALIAS in template["template"]["aliases"]
    assert all(name.startswith(indices.PREFIX + "-") for name in indices.ALL_INDEXES)


def test_channel_families() -> None:
    assert indices.index_for("Microsoft-Windows-Sysmon/Operational") == indices.SYSMON_INDEX
    assert indices.index_for("security") == indices.SECURITY_INDEX
    assert indices.index_for("Windows PowerShell") == indices.POWERSHELL_INDEX
    assert indices.index_for("Microsoft-Windows-PowerShell/Operational") == indices.POWERSHELL_INDEX
    assert indices.index_for("System") == indices.WINDOWS_INDEX
    assert indices.index_for(None) == indices.WINDOWS_INDEX


def test_document_ids_are_deterministic_and_distinct() -> None:
    ids = {doc_id("empire_invoke_wmi", n) for n in range(10_000)}
    assert len(ids) == 10_000
    assert doc_id("empire_invoke_wmi", 7) == doc_id("empire_invoke_wmi", 7)
    assert doc_id("a", 1) != doc_id("b", 1)


def test_build_query() -> None:
    assert build_query(None) == {"match_all": {}}
    assert build_query("EventID:1")["query_string"]["query"] == "EventID:1"
    assert build_query({"query": {"term": {"EventID": 1}}}) == {"term": {"EventID": 1}}
    windowed = build_query("EventID:1", start="2019-03-19T00:00:00Z", end="2019-03-20T00:00:00Z")
    assert windowed["bool"]["filter"][0]["range"]["@timestamp"] == {
        "gte": "2019-03-19T00:00:00Z",
        "lt": "2019-03-20T00:00:00Z",
    }
