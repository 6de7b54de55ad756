"""The .evtx / evtx_dump reader's guarantees: flatten's rules on odd records, rejects that
carry the flat record and name the file and record, and read == kept + rejected."""

from __future__ import annotations

import json
import re
from pathlib import Path

import orjson
import pytest

import huntlab
from huntlab.errors import DataFormatError
from huntlab.readers import ReadReport, iter_records
from huntlab.readers.evtx import flatten

DTRACE = "regression_data/rules/windows/process_creation/proc_creation_win_dtrace_kernel_dump"


def _rejects(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _dump(sigma_dir: Path) -> str:
    [path] = (sigma_dir / DTRACE).glob("*.json")
    return path.read_text(encoding="utf-8")


def test_flatten_keeps_its_rules_on_odd_records() -> None:
    record = {
        "Event": {
            "System": {
                "Provider": {"#attributes": {"Name": "P", "Other": "x"}},
                "EventID": {"#text": 7, "#attributes": {"Qualifiers": None}},
                "TimeCreated": {"#attributes": {"SystemTime": "2024-01-01T00:00:00.123456Z"}},
                "Correlation": None,
                "Unknown": "dropped",
                "Channel": "Security",
            },
            "EventData": {
                "#attributes": {"Name": "dropped"},
                "Channel": "not the System's",  # System fields win
                "Empty": None,
                "Wrapped": {"#text": "inner", "#attributes": {"a": 1}},
                "#text": "free text",
                "List": ["a", "b"],
            },
        }
    }
    assert flatten(record) == {
        "SourceName": "P",
        "EventID": 7,
        "@timestamp": "2024-01-01T00:00:00.123456Z",
        "Channel": "Security",
        "Wrapped": "inner",
        "Data": "free text",
        "List": ["a", "b"],
    }
    # The common case (plain fields, new names) keeps the record's order, after System's.
    plain = {"Event": {"System": {"EventID": 1}, "EventData": {"B": "2", "A": 1}}}
    assert list(flatten(plain).items()) == [("EventID", 1), ("B", "2"), ("A", 1)]
    # EventData that is not an object is kept whole; a name already taken keeps its value.
    assert flatten({"Event": {"System": {"EventID": 1}, "EventData": "text"}}) == {
        "EventID": 1,
        "EventData": "text",
    }
    assert flatten({"Event": {"EventData": {"EventID": "x"}, "System": {"EventID": 2}}}) == {
        "EventID": 2
    }


def test_a_rejected_record_carries_the_flat_record(sigma_dir: Path, tmp_path: Path) -> None:
    text = _dump(sigma_dir)
    bad = tmp_path / "dump.json"
    bad.write_text(re.sub(r'"EventID": (\d+)', r'"EventID": "x\1"', text, count=1))
    with pytest.raises(DataFormatError, match=r"dump.json, line 1: EventID 'x1'"):
        huntlab.read_events(bad, progress=False)

    report = ReadReport()
    rejects = tmp_path / "rejects.jsonl"
    table = huntlab.read_events(bad, progress=False, errors="skip", rejects=rejects, report=report)
    assert (report.read, report.kept, report.rejected) == (2, 1, 1) and len(table) == 1
    [reject] = _rejects(rejects)
    assert reject["line"] == 1 and reject["reason"] == "EventID 'x1' is not an integer"
    [first, _] = iter_records(bad)
    assert reject["raw"] == orjson.dumps(first.data).decode() == first.raw.decode()
    assert json.loads(str(reject["raw"]))["Image"] == r"C:\Program Files\DTrace\dtrace.exe"


def test_dump_objects_of_other_shapes_are_rejected(sigma_dir: Path, tmp_path: Path) -> None:
    odd = ['{"Event": null}', '{"Event": {"System": "x"}}', '{"Event": {"System": [1]}}']
    path = tmp_path / "odd.json"
    path.write_text("\n".join(odd) + "\n" + _dump(sigma_dir), encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"odd.json, line 1: not an evtx_dump"):
        huntlab.read_events(path, progress=False)

    report = ReadReport()
    rejects = tmp_path / "rejects.jsonl"
    table = huntlab.read_events(path, progress=False, errors="skip", rejects=rejects, report=report)
    assert (report.read, report.kept, report.rejected) == (5, 2, 3) and len(table) == 2
    assert [r["line"] for r in _rejects(rejects)] == [1, 2, 3]


def test_a_damaged_evtx_file_is_one_reject_after_its_good_records(
    sigma_dir: Path, tmp_path: Path
) -> None:
    [sample] = (sigma_dir / DTRACE).glob("*.evtx")
    data = sample.read_bytes()
    good = tmp_path / "good.evtx"
    good.write_bytes(data)
    damaged = tmp_path / "damaged.evtx"
    damaged.write_bytes(data[:4096] + data[4096:4696] + b"\xff" * 300 + data[4996:])
    with pytest.raises(DataFormatError, match=r"damaged.evtx: not a readable .evtx file"):
        huntlab.read_events(damaged, progress=False)

    report = ReadReport()
    rejects = tmp_path / "rejects.jsonl"
    table = huntlab.read_events(
        tmp_path, progress=False, errors="skip", rejects=rejects, report=report
    )
    assert report.read == report.kept + report.rejected
    assert report.rejected == 1 and len(table) == report.kept == 2
    [reject] = _rejects(rejects)
    assert reject["file"] == str(damaged) and reject["line"] is None
