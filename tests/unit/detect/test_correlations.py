"""Correlation rules (event_count, value_count, temporal, temporal_ordered) in the pandas
engine: loading and references, windows, group-by and aliases, conditions, generate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from huntlab.detect.rules import Filters, RuleSet, load_rules
from huntlab.detect.run import detect
from huntlab.readers.frame import build_frame

SYSMON = "Microsoft-Windows-Sysmon/Operational"


def events(*rows: tuple[str, dict[str, Any]]) -> pd.DataFrame:
    """Events at the given times (``HH:MM:SS`` on 2024-01-01, UTC): Sysmon process creation
    unless Channel/EventID say otherwise."""
    out = []
    for time, fields in rows:
        row = {"@timestamp": f"2024-01-01T{time}.000Z", "Channel": SYSMON, "EventID": 1}
        row.update(fields)
        out.append({k: v for k, v in row.items() if v is not None})
    return build_frame(out, progress=False)


def base(name: str, image: str, category: str = "process_creation", **extra: Any) -> dict[str, Any]:
    return {
        "title": f"rule {name}",
        "id": f"00000000-0000-4000-8000-{abs(hash(name)) % 10**12:012d}",
        "name": name,
        "status": "test",
        "level": "low",
        "author": "huntlab tests",
        "logsource": {"product": "windows", "category": category},
        "detection": {"selection": {"Image|endswith": image}, "condition": "selection"},
        **extra,
    }


def correlation(kind: str, rules: list[str], **settings: Any) -> dict[str, Any]:
    return {
        "title": f"{kind} correlation",
        "id": "11111111-2222-4333-8444-555555555555",
        "status": "test",
        "level": "high",
        "author": "huntlab tests",
        "tags": ["attack.t1078"],
        "correlation": {"type": kind, "rules": rules, "timespan": "1m", **settings},
    }


def write(folder: Path, *documents: dict[str, Any], name: str = "rules.yml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump_all(documents), encoding="utf-8")
    return path


def alerts(folder: Path, frame: pd.DataFrame, *documents: dict[str, Any]) -> pd.DataFrame:
    rules = load_rules(write(folder, *documents))
    assert not rules.unsupported, rules.unsupported
    return detect(frame, rules, progress=False).correlations


def test_event_count_per_group_in_epoch_aligned_windows(tmp_path: Path) -> None:
    frame = events(
        ("00:00:10", {"Image": r"C:\a.exe", "User": "alice"}),
        ("00:00:20", {"Image": r"C:\a.exe", "User": "alice"}),
        ("00:00:59", {"Image": r"C:\a.exe", "User": "alice"}),
        ("00:01:00", {"Image": r"C:\a.exe", "User": "alice"}),  # the next minute's window
        ("00:00:30", {"Image": r"C:\a.exe", "User": "bob"}),
        ("00:00:31", {"Image": r"C:\a.exe"}),  # no User: in no group
        ("00:00:40", {"Image": r"C:\b.exe", "User": "alice"}),  # not the rule's
    )
    found = alerts(
        tmp_path, frame, base("a", r"\a.exe"),
        correlation("event_count", ["a"], **{"group-by": ["User"], "condition": {"gte": 2}}),
    )  # fmt: skip
    assert len(found) == 1
    alert = found.iloc[0]
    assert alert["group"] == "User=alice"
    assert (alert["value"], alert["events"]) == (3, 3)
    assert alert["window_start"] == pd.Timestamp("2024-01-01T00:00:00Z")
    assert alert["window_end"] == pd.Timestamp("2024-01-01T00:01:00Z")
    assert alert["first"] == pd.Timestamp("2024-01-01T00:00:10Z")
    assert alert["last"] == pd.Timestamp("2024-01-01T00:00:59Z")
    assert (alert["level"], alert["attack"], alert["author"]) == ("high", "attack.t1078",
                                                                  "huntlab tests")  # fmt: skip


@pytest.mark.parametrize(
    ("condition", "groups"),
    [
        ({"gt": 1}, ["User=alice"]),
        ({"gte": 1}, ["User=alice", "User=bob"]),
        ({"lt": 2}, ["User=bob"]),
        ({"lte": 2}, ["User=alice", "User=bob"]),
        ({"eq": 2}, ["User=alice"]),
        ({"neq": 2}, ["User=bob"]),
    ],
)
def test_condition_operators(tmp_path: Path, condition: dict[str, int], groups: list[str]) -> None:
    frame = events(
        ("00:00:01", {"Image": r"C:\a.exe", "User": "alice"}),
        ("00:00:02", {"Image": r"C:\a.exe", "User": "alice"}),
        ("00:00:03", {"Image": r"C:\a.exe", "User": "bob"}),
    )
    found = alerts(
        tmp_path, frame, base("a", r"\a.exe"),
        correlation("event_count", ["a"], **{"group-by": ["User"], "condition": condition}),
    )  # fmt: skip
    assert sorted(found["group"]) == groups


def test_value_count_counts_distinct_values(tmp_path: Path) -> None:
    frame = events(
        *[
            ("00:00:0" + str(i), {"Image": r"C:\a.exe", "User": "alice", "CommandLine": c})
            for i, c in enumerate(["x", "y", "y", "z"])
        ],
        ("00:00:09", {"Image": r"C:\a.exe", "User": "bob", "CommandLine": "x"}),
        ("00:00:09", {"Image": r"C:\a.exe", "User": "bob"}),  # no value: not counted
    )
    condition = {"gte": 2, "field": "CommandLine"}
    found = alerts(
        tmp_path, frame, base("a", r"\a.exe"),
        correlation("value_count", ["a"], **{"group-by": ["User"], "condition": condition}),
    )  # fmt: skip
    assert found[["group", "value", "events"]].values.tolist() == [["User=alice", 3, 4]]


def test_temporal_needs_every_rule_in_the_window(tmp_path: Path) -> None:
    frame = events(
        ("00:00:01", {"Image": r"C:\a.exe", "User": "alice"}),
        ("00:00:02", {"Image": r"C:\b.exe", "User": "alice"}),
        ("00:00:03", {"Image": r"C:\a.exe", "User": "bob"}),
        ("00:01:03", {"Image": r"C:\b.exe", "User": "bob"}),  # another window
    )
    found = alerts(
        tmp_path, frame, base("a", r"\a.exe"), base("b", r"\b.exe"),
        correlation("temporal", ["a", "b"], **{"group-by": ["User"]}),
    )  # fmt: skip
    assert found[["group", "value"]].values.tolist() == [["User=alice", 2]]


def test_temporal_ordered_needs_the_order(tmp_path: Path) -> None:
    frame = events(
        ("00:00:01", {"Image": r"C:\a.exe", "User": "alice"}),
        ("00:00:02", {"Image": r"C:\b.exe", "User": "alice"}),
        ("00:00:03", {"Image": r"C:\b.exe", "User": "bob"}),
        ("00:00:04", {"Image": r"C:\a.exe", "User": "bob"}),  # b before a: not in order
    )
    found = alerts(
        tmp_path, frame, base("a", r"\a.exe"), base("b", r"\b.exe"),
        correlation("temporal_ordered", ["a", "b"], **{"group-by": ["User"]}),
    )  # fmt: skip
    assert found["group"].tolist() == ["User=alice"]
    # The same events, unordered: both users.
    found = alerts(
        tmp_path, frame, base("a", r"\a.exe"), base("b", r"\b.exe"),
        correlation("temporal", ["a", "b"], **{"group-by": ["User"]}),
    )  # fmt: skip
    assert sorted(found["group"]) == ["User=alice", "User=bob"]


def test_aliases_name_a_field_per_rule_and_sources_rename_fields(tmp_path: Path) -> None:
    """A process creation (Security 4688 names Sysmon's User SubjectUserName) then a network
    connection by the same user, grouped through an alias."""
    frame = events(
        ("00:00:01", {"Channel": "Security", "EventID": 4688,
                      "NewProcessName": r"C:\a.exe", "SubjectUserName": "alice"}),
        ("00:00:02", {"EventID": 3, "Image": r"C:\b.exe", "User": "alice"}),
        ("00:00:03", {"EventID": 3, "Image": r"C:\b.exe", "User": "bob"}),
    )  # fmt: skip
    settings = {
        "group-by": ["who"],
        "aliases": {"who": {"a": "User", "b": "User"}},
    }
    found = alerts(
        tmp_path, frame, base("a", r"\a.exe"), base("b", r"\b.exe", "network_connection"),
        correlation("temporal", ["a", "b"], **settings),
    )  # fmt: skip
    assert found[["group", "events"]].values.tolist() == [["who=alice", 2]]


def test_referenced_rules_report_no_hits_unless_generate(tmp_path: Path) -> None:
    frame = events(("00:00:01", {"Image": r"C:\a.exe"}), ("00:00:02", {"Image": r"C:\a.exe"}))
    documents = [base("a", r"\a.exe"), correlation("event_count", ["a"], condition={"gte": 2})]
    rules = load_rules(write(tmp_path, *documents))
    assert [r.info.title for r in rules.rules] == []
    result = detect(frame, rules, progress=False)
    assert len(result.hits) == 0 and len(result.correlations) == 1
    summary = result.summary.set_index("title")
    assert summary.loc["event_count correlation", "hits"] == 1
    assert "events >= 2 per 60 s window" in summary.loc["event_count correlation", "note"]

    documents[1]["correlation"]["generate"] = True
    rules = load_rules(write(tmp_path, *documents))
    result = detect(frame, rules, progress=False)
    assert len(result.hits) == 2 and len(result.correlations) == 1


def test_references_by_id_across_files_and_through_filters(tmp_path: Path) -> None:
    a = base("a", r"\a.exe")
    write(tmp_path, a, name="base.yml")
    write(tmp_path, correlation("event_count", [a["id"]], condition={"gte": 1}), name="c.yml")
    # The base rule is low: a level filter keeps the (high) correlation, which still reads it.
    rules = load_rules(tmp_path, Filters(level=["high"]))
    assert [c.info.title for c in rules.correlations] == ["event_count correlation"]
    frame = events(("00:00:01", {"Image": r"C:\a.exe"}))
    assert len(detect(frame, rules, progress=False).correlations) == 1


@pytest.mark.parametrize(
    ("settings", "reason"),
    [
        ({"rules": ["nowhere"]}, "correlation names rules not read: nowhere"),
        (
            {"type": "value_sum", "condition": {"gte": 1, "field": "x"}},
            "value_sum is not evaluated",
        ),
        ({"rules": ["c2"]}, "its rule c2"),
    ],
)
def test_what_is_not_evaluated_is_listed_with_why(
    tmp_path: Path, settings: dict[str, Any], reason: str
) -> None:
    chained = {**correlation("event_count", ["a"], condition={"gte": 1}), "name": "c2",
               "id": "99999999-2222-4333-8444-555555555555"}  # fmt: skip
    document = correlation("event_count", ["a"], condition={"gte": 1})
    document["correlation"].update(settings)
    rules = load_rules(write(tmp_path, base("a", r"\a.exe"), chained, document))
    reasons = {s.info.id: s.reason for s in rules.unsupported}
    assert reason in reasons.get(document["id"], ""), reasons


def test_a_group_by_field_the_table_lacks_gives_no_alert_and_says_how_many_matched(
    tmp_path: Path,
) -> None:
    frame = events(("00:00:01", {"Image": r"C:\a.exe"}), ("00:00:02", {"Image": r"C:\a.exe"}))
    documents = [
        base("a", r"\a.exe"),
        correlation("event_count", ["a"], **{"group-by": ["NoSuchField"], "condition": {"gte": 1}}),
    ]
    result = detect(frame, load_rules(write(tmp_path, *documents)), progress=False)
    assert len(result.correlations) == 0
    row = result.summary.iloc[-1]
    assert row["logsource_events"] == 2 and "matched 2 events" in row["note"]


def test_hits_and_correlations_stay_apart_in_one_run(tmp_path: Path) -> None:
    frame = events(("00:00:01", {"Image": r"C:\a.exe"}), ("00:00:02", {"Image": r"C:\b.exe"}))
    documents = [
        base("a", r"\a.exe"),
        base("b", r"\b.exe"),
        correlation("event_count", ["a"], condition={"gte": 1}),
    ]
    result = detect(frame, load_rules(write(tmp_path, *documents)), progress=False)
    assert result.hits["title"].tolist() == ["rule b"]
    assert result.correlations["title"].tolist() == ["event_count correlation"]
    assert isinstance(RuleSet().correlations, list)


def test_huntlab_detect_prints_the_alerts(tmp_path: Path, datasets_dir: Path) -> None:
    import json

    from click.testing import CliRunner

    import huntlab
    from huntlab.cli import cli

    source = datasets_dir / "windows/empire_invoke_wmi/empire_invoke_wmi.tar.gz"
    documents = [
        base("c", ".exe", "network_connection"),
        correlation("value_count", ["c"], timespan="10m",
                    **{"group-by": ["Image"], "condition": {"gte": 2, "field": "DestinationIp"}}),
    ]  # fmt: skip
    rules = write(tmp_path, *documents)
    expected = detect(huntlab.read_events(source, progress=False), load_rules(rules)).correlations
    assert len(expected) > 1
    runner = CliRunner()
    shown = runner.invoke(cli, ["detect", str(rules), str(source)])
    assert shown.exit_code == 0, shown.output
    assert all(group in shown.stdout for group in expected["group"])
    assert (
        f"0 rules and 1 correlations, 1 fired, 0 hits, {len(expected)} correlation alerts"
        in shown.stderr
    )
    found = runner.invoke(cli, ["detect", str(rules), str(source), "--format", "json"])
    document = json.loads(found.stdout)
    assert [(a["group"], a["value"]) for a in document["correlations"]] == list(
        zip(expected["group"], expected["value"], strict=True)
    )
    checked = runner.invoke(cli, ["detect", "--check", str(rules)])
    assert "0 rules and 1 correlations supported, 0 not" in checked.stderr


def test_generate_false_hides_only_the_rules_named_even_without_ids(tmp_path: Path) -> None:
    named = {k: v for k, v in base("a", r"\a.exe").items() if k != "id"}
    other = {k: v for k, v in base("b", r"\b.exe").items() if k not in ("id", "name")}
    documents = [named, other, correlation("event_count", ["a"], condition={"gte": 1})]
    rules = load_rules(write(tmp_path, *documents))
    assert [r.info.title for r in rules.rules] == ["rule b"]
    assert [r.info.title for r in rules.correlations[0].rules] == ["rule a"]


def test_a_table_without_timestamps_lists_the_correlation_with_why(tmp_path: Path) -> None:
    frame = events(("00:00:01", {"Image": r"C:\a.exe"})).drop(columns="@timestamp")
    documents = [base("a", r"\a.exe"), correlation("event_count", ["a"], condition={"gte": 1})]
    result = detect(frame, load_rules(write(tmp_path, *documents)), progress=False)
    assert [s.reason for s in result.unsupported] == [
        "the table has no @timestamp column (correlation windows need it)"
    ]
    assert len(result.correlations) == 0


def test_alert_documents_take_integer_fields_whatever_their_column_type() -> None:
    from huntlab.detect.alerts import _number

    assert [_number(v) for v in (4688, "4688", 4688.0, " 12 ", 1.5, "x")] == [
        4688, 4688, 4688, 12, None, None,
    ]  # fmt: skip
