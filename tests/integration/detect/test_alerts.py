"""Hits and correlation alerts in the huntlab-alerts index of a real node: one document each,
counted; the same hits from another engine rewrite the same documents; the index stays out of
the alias the rules read."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

import huntlab
from huntlab.detect.alerts import ALERTS_INDEX, _remedy, write_alerts
from huntlab.detect.rules import Filters, RuleSet, load_rules
from huntlab.detect.run import Detection, detect
from huntlab.errors import HuntlabError
from huntlab.es.client import client
from huntlab.settings import Settings
from tests.support.cli import run_huntlab
from tests.support.fixtures.elasticsearch import Loaded
from tests.support.hints import suggested

DATASET = "empire_invoke_wmi"
CORRELATION = {
    "title": "one image, many destinations",
    "status": "test",
    "level": "medium",
    "author": "huntlab tests",
    "correlation": {
        "type": "value_count",
        "rules": ["connection"],
        "group-by": ["Image"],
        "timespan": "10m",
        "condition": {"gte": 2, "field": "DestinationIp"},
    },
}
CONNECTION = {
    "title": "connection",
    "name": "connection",
    "status": "test",
    "logsource": {"product": "windows", "category": "network_connection"},
    "detection": {"selection": {"Image|endswith": ".exe"}, "condition": "selection"},
}


@pytest.fixture
def rules(sigma_dir: Path, tmp_path: Path) -> RuleSet:
    """SigmaHQ's WMI process-creation rules, and a correlation of our own."""
    (tmp_path / "correlation.yml").write_text(yaml.safe_dump_all([CONNECTION, CORRELATION]))
    folder = sigma_dir / "rules" / "windows" / "process_creation"
    wmi = load_rules(folder, Filters(tags=["attack.t1047"]))
    return RuleSet(wmi.rules, [], load_rules(tmp_path).correlations)


def _count(settings: Settings, **query: object) -> int:
    es = client(settings)
    return int(es.count(index=ALERTS_INDEX, query=query or {"match_all": {}})["count"])


def test_alerts_are_written_once_whatever_the_engine(
    es_loaded_reports: Loaded, es_loaded: Settings, rules: RuleSet
) -> None:
    es = client(es_loaded)
    es.options(ignore_status=404).indices.delete(index=ALERTS_INDEX)
    try:
        events = huntlab.read_events(es_loaded_reports.sources[DATASET], progress=False)
        found = detect(events, rules, progress=False)
        assert len(found.hits) > 0 and len(found.correlations) > 0
        # Nothing to write (no index yet): nothing written, no error.
        empty = Detection(found.hits.iloc[:0], found.summary)
        assert write_alerts(empty, es_loaded).summary() == "0 alerts written to huntlab-alerts"
        report = write_alerts(found, es_loaded)
        total = len(found.hits) + len(found.correlations)
        assert (report.written, report.failed) == (total, 0)
        assert _count(es_loaded) == total
        assert _count(es_loaded, term={"kind": "correlation"}) == len(found.correlations)
        # A hit's document: the rule (with its author) and the event's identity.
        first = found.hits.iloc[0]
        answer = es.search(index=ALERTS_INDEX, query={"bool": {"filter": [
            {"term": {"kind": "hit"}}, {"term": {"rule.id": first["rule_id"]}},
            {"term": {"event.RecordNumber": int(first["RecordNumber"])}},
        ]}})["hits"]["hits"]  # fmt: skip
        [doc] = [h["_source"] for h in answer if h["_source"]["event"]["Dataset"] == DATASET]
        assert doc["rule"]["author"] == first["author"] and doc["rule"]["level"] == first["level"]
        assert doc["event"]["Hostname"] == first["Hostname"] and doc["engine"] == "pandas"
        # Again, and from the Elasticsearch engine on the same events: the same documents.
        write_alerts(found, es_loaded)
        on_es = detect("huntlab", rules, progress=False, settings=es_loaded,
                       where={"term": {"Dataset": DATASET}})  # fmt: skip
        assert len(on_es.hits) == len(found.hits)
        assert write_alerts(on_es, es_loaded, engine="elasticsearch").written == total
        assert _count(es_loaded) == total
        assert _count(es_loaded, term={"engine": "elasticsearch"}) == total
        # Rules read the alias huntlab: the alerts are not under it.
        aliases = es.indices.get_alias(index=ALERTS_INDEX)[ALERTS_INDEX]["aliases"]
        assert aliases == {}
        with pytest.raises(HuntlabError, match="huntlab-alerts"):
            write_alerts(found, es_loaded, index="huntlab-sysmon")
    finally:
        es.options(ignore_status=404).indices.delete(index=ALERTS_INDEX)


def test_huntlab_detect_alerts_from_the_shell(
    es_loaded_reports: Loaded, es_loaded: Settings, tmp_path: Path
) -> None:
    (tmp_path / "correlation.yml").write_text(yaml.safe_dump_all([CONNECTION, CORRELATION]))
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUNTLAB_")}
    es = client(es_loaded)
    es.options(ignore_status=404).indices.delete(index=ALERTS_INDEX)
    try:
        source = str(es_loaded_reports.sources[DATASET])
        done = run_huntlab("detect", str(tmp_path), source, "--alerts", "--format", "json",
                           "--es-url", es_loaded.es_url, env=env)  # fmt: skip
        assert done.returncode == 0, done.stderr
        alerts = json.loads(done.stdout)["correlations"]
        assert alerts and f"{len(alerts)} alerts written to huntlab-alerts" in done.stderr
        assert _count(es_loaded, term={"kind": "correlation"}) == len(alerts) == _count(es_loaded)
        # docs/detections.md's next step: the alerts queried as any index.
        shown = run_huntlab("query", "kind:correlation", "--index", ALERTS_INDEX, "--format",
                            "csv", "--es-url", es_loaded.es_url, env=env)  # fmt: skip
        assert shown.returncode == 0, shown.stderr
        assert shown.stdout.count("one image, many destinations") == len(alerts)
    finally:
        es.options(ignore_status=404).indices.delete(index=ALERTS_INDEX)


def test_an_alerts_index_made_without_the_template_is_named_and_the_rerun_fills_it(
    es_loaded_reports: Loaded, es_loaded: Settings, tmp_path: Path
) -> None:
    """huntlab-alerts made before huntlab's template (by hand, another tool): the alerts it
    refuses are counted and the error says to delete it and rerun the same `huntlab detect
    ... --alerts`; done as written, every alert is in the index the template makes."""
    (tmp_path / "correlation.yml").write_text(yaml.safe_dump_all([CONNECTION, CORRELATION]))
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUNTLAB_")}
    es = client(es_loaded)
    es.options(ignore_status=404).indices.delete(index=ALERTS_INDEX)
    try:
        es.indices.create(index=ALERTS_INDEX, mappings={"properties": {"rule": {"type": "keyword"}}})
        args = ["detect", str(tmp_path), str(es_loaded_reports.sources[DATASET]), "--alerts",
                "--format", "json", "--es-url", es_loaded.es_url]  # fmt: skip
        failed = run_huntlab(*args, env=env)
        assert failed.returncode == 1 and "Traceback" not in failed.stderr, failed.stderr
        assert "was not made from huntlab's huntlab-alerts template" in failed.stderr
        assert suggested(failed.stderr, "huntlab detect") == ["detect", "...", "--alerts"]
        es.indices.delete(index=ALERTS_INDEX)  # "delete that index"
        done = run_huntlab(*args, env=env)  # "rerun the same `huntlab detect ... --alerts`"
        assert done.returncode == 0, done.stderr
        alerts = json.loads(done.stdout)["correlations"]
        assert alerts and _count(es_loaded) == len(alerts)
        mapping = es.indices.get_mapping(index=ALERTS_INDEX)[ALERTS_INDEX]["mappings"]
        assert mapping["dynamic"] == "strict"
        # The index the template made is told apart from the one made without it.
        assert "a fault of huntlab" in _remedy(es, ALERTS_INDEX)
    finally:
        es.options(ignore_status=404).indices.delete(index=ALERTS_INDEX)
