"""Logsources to table rows, rule loading and filters, and rules listed as unsupported."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from huntlab.detect.logsource import Unsupported, sources
from huntlab.detect.rules import Filters, load_rules
from huntlab.detect.run import detect
from tests.unit.detect.helpers import SYSMON, compiled, hits, rule, table


def test_process_creation_means_sysmon_1_and_security_4688_with_its_field_names() -> None:
    events = table(
        {"Image": r"C:\Windows\System32\whoami.exe"},
        {
            "Channel": "Security",
            "EventID": 4688,
            "NewProcessName": r"C:\Windows\System32\whoami.exe",
        },
        {"EventID": 3, "Image": r"C:\Windows\System32\whoami.exe"},  # Sysmon network
        {"Channel": "Security", "EventID": 4624, "NewProcessName": r"C:\x\whoami.exe"},
    )
    assert hits({"s": {"Image|endswith": r"\whoami.exe"}, "condition": "s"}, events) == [0, 1]


def test_categories_and_services_pick_their_channels_and_events() -> None:
    events = table(
        {"EventID": 13, "TargetObject": r"HKLM\x\Run"},
        {"EventID": 12, "EventType": "CreateKey", "TargetObject": r"HKLM\x\Run"},
        {"Channel": "Security", "EventID": 4624, "TargetObject": r"HKLM\x\Run"},
    )
    detection = {"s": {"TargetObject|endswith": r"\Run"}, "condition": "s"}
    registry_set = {"product": "windows", "category": "registry_set"}
    registry_add = {"product": "windows", "category": "registry_add"}
    registry_event = {"product": "windows", "category": "registry_event"}
    security = {"product": "windows", "service": "security"}
    assert hits(detection, events, logsource=registry_set) == [0]
    assert hits(detection, events, logsource=registry_add) == [1]
    assert hits(detection, events, logsource=registry_event) == [0, 1]
    assert hits(detection, events, logsource=security) == [2]
    assert hits(detection, events, logsource={"product": "windows"}) == [0, 1, 2]


def test_provider_name_is_the_source_name_column() -> None:
    events = table({"Channel": "System", "EventID": 7045, "SourceName": "Service Control Manager"})
    detection = {"s": {"Provider_Name": "Service Control Manager"}, "condition": "s"}
    assert hits(detection, events, logsource={"product": "windows", "service": "system"}) == [0]


def test_unmapped_logsources_say_why() -> None:
    with pytest.raises(Unsupported, match="Windows event logs"):
        sources("linux", "process_creation", None)
    with pytest.raises(Unsupported, match="ETW"):
        sources("windows", "file_access", None)
    with pytest.raises(Unsupported, match="not mapped"):
        sources("windows", "no_such_category", None)
    assert [s.event_ids for s in sources("windows", "ps_script", None)] == [(4104,), (4104,)]


def test_summary_says_when_a_logsource_has_no_events() -> None:
    events = table({"Image": "x"})
    ruleset = compiled(rule({"s": {"ScriptBlockText|contains": "x"}, "condition": "s"},
                            {"product": "windows", "category": "ps_script"}))  # fmt: skip
    summary = detect(events, ruleset, progress=False).summary
    assert summary["hits"].tolist() == [0]
    assert summary["logsource_events"].tolist() == [0]
    assert "no events" in summary["note"][0]


def test_hits_carry_rule_attribution_and_event_columns() -> None:
    events = table({"Image": "a.exe", "Hostname": "WS1"})
    ruleset = compiled(rule({"s": {"Image": "a.exe"}, "condition": "s"}))
    result = detect(events, ruleset, progress=False)
    hit = result.hits.iloc[0]
    assert hit["rule_id"] == "0e1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b"
    assert hit["author"] == "huntlab tests"
    assert hit["attack"] == "attack.execution,attack.t1059"
    assert hit["level"] == "high"
    assert hit["Hostname"] == "WS1"
    assert hit["Channel"] == SYSMON


def _write(folder: Path, name: str, document: dict[str, object]) -> None:
    (folder / name).write_text(yaml.safe_dump(document), encoding="utf-8")


def test_load_rules_lists_every_rule_it_cannot_evaluate(tmp_path: Path) -> None:
    good = yaml.safe_load(rule({"s": {"Image": "a"}, "condition": "s"}))
    _write(tmp_path, "good.yml", good)
    _write(tmp_path, "linux.yml", {**good, "id": "1e1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b",
                                   "logsource": {"product": "linux", "category": "process_creation"}})  # fmt: skip
    _write(
        tmp_path,
        "broken.yml",
        {**good, "detection": {"s": {"Image|nosuch": "a"}, "condition": "s"}},
    )
    (tmp_path / "notyaml.yml").write_text("title: [unclosed\n", encoding="utf-8")
    _write(tmp_path, "correlation.yml", {"title": "c", "id": "2e1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b",
           "correlation": {"type": "value_sum", "rules": ["0e1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b"],
                           "group-by": ["Hostname"], "timespan": "1h",
                           "condition": {"gte": 5, "field": "Size"}}})  # fmt: skip
    ruleset = load_rules(tmp_path)
    assert [r.info.path.rsplit("/", 1)[-1] for r in ruleset.rules] == ["good.yml"]
    reasons = {s.info.path.rsplit("/", 1)[-1]: s.reason for s in ruleset.unsupported}
    assert set(reasons) == {"linux.yml", "broken.yml", "notyaml.yml", "correlation.yml"}
    assert "Windows event logs" in reasons["linux.yml"]
    assert "nosuch" in reasons["broken.yml"]
    assert "correlation type value_sum is not evaluated" in reasons["correlation.yml"]


def test_filters_keep_by_level_status_and_tag_prefix() -> None:
    info = compiled(rule({"s": {"Image": "a"}, "condition": "s"})).rules[0].info
    assert Filters(level=["high"]).keep(info)
    assert not Filters(level=["low", "medium"]).keep(info)
    assert Filters(status=["test"]).keep(info)
    assert Filters(tags=["attack.t1059"]).keep(info)
    assert not Filters(tags=["attack.t1059.001"]).keep(info)
    assert not Filters(tags=["attack.t105"]).keep(info)
    assert Filters(category=["process_creation"]).keep(info)


def test_docs_show_the_logsource_map_as_it_is() -> None:
    from huntlab.detect.logsource import markdown_tables
    from tests.support.paths import REPO

    text = (REPO / "docs" / "detections.md").read_text(encoding="utf-8")
    shown = text.split("<!-- logsource-map:start -->\n")[1].split("<!-- logsource-map:end -->")[0]
    assert shown == markdown_tables()
