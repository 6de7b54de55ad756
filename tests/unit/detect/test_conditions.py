"""Condition forms: and, or, not, parentheses, `1 of` / `all of` patterns and `them`."""

from __future__ import annotations

from tests.unit.detect.helpers import hits, table

EVENTS = table(
    {"Image": r"C:\x\a.exe", "CommandLine": "a one"},  # 0
    {"Image": r"C:\x\b.exe", "CommandLine": "b two"},  # 1
    {"Image": r"C:\x\a.exe", "CommandLine": "a two"},  # 2
    {"Image": r"C:\x\c.exe", "CommandLine": "c three"},  # 3
)
DETECTIONS = {
    "selection_a": {"Image|endswith": r"\a.exe"},
    "selection_b": {"Image|endswith": r"\b.exe"},
    "filter_two": {"CommandLine|contains": "two"},
    "sel_other": {"CommandLine|contains": "three"},
}


def run(condition: str) -> list[int]:
    return hits({**DETECTIONS, "condition": condition}, EVENTS)


def test_and_or_not() -> None:
    assert run("selection_a and filter_two") == [2]
    assert run("selection_a or selection_b") == [0, 1, 2]
    assert run("selection_a and not filter_two") == [0]
    assert run("not selection_a") == [1, 3]


def test_parentheses_and_precedence() -> None:
    # and binds tighter than or
    assert run("selection_b or selection_a and filter_two") == [1, 2]
    assert run("(selection_b or selection_a) and filter_two") == [1, 2]
    assert run("(selection_b or selection_a) and not filter_two") == [0]
    assert run("not (selection_a or selection_b)") == [3]


def test_one_of_and_all_of_with_wildcards() -> None:
    assert run("1 of selection_*") == [0, 1, 2]
    assert run("all of selection_*") == []
    assert run("1 of sel*") == [0, 1, 2, 3]  # sel_other too
    assert run("1 of selection_* and not 1 of filter_*") == [0]
    assert run("1 of *_a or 1 of *other") == [0, 2, 3]


def test_them() -> None:
    assert run("1 of them") == [0, 1, 2, 3]
    assert run("all of them") == []
    one = {"selection": {"Image|endswith": ".exe"}, "filter": {"CommandLine|contains": "a"}}
    assert hits({**one, "condition": "all of them"}, EVTS := EVENTS) == [0, 2]
    assert EVTS is EVENTS


def test_list_of_maps_is_or() -> None:
    detection = {
        "selection": [{"Image|endswith": r"\b.exe"}, {"CommandLine|contains": "three"}],
        "condition": "selection",
    }
    assert hits(detection, EVENTS) == [1, 3]


def test_several_conditions_are_or() -> None:
    assert hits({**DETECTIONS, "condition": ["selection_a", "selection_b"]}, EVENTS) == [0, 1, 2]
