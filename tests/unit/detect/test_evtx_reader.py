"""Windows .evtx files and evtx_dump JSON into the canonical table (SigmaHQ's samples)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import huntlab
from huntlab.cli import cli
from huntlab.readers.evtx import EVTX, EVTX_JSON, file_kind, flatten

TASK = "regression_data/rules/windows/builtin/taskscheduler/win_taskscheduler_susp_schtasks_delete_or_disable"
DTRACE = "regression_data/rules/windows/process_creation/proc_creation_win_dtrace_kernel_dump"


def _one(folder: Path, suffix: str) -> Path:
    [path] = folder.glob(f"*{suffix}")
    return path


def test_evtx_and_its_json_give_the_same_table(sigma_dir: Path) -> None:
    folder = sigma_dir / TASK
    from_evtx = huntlab.read_events(_one(folder, ".evtx"), progress=False)
    from_json = huntlab.read_events(_one(folder, ".json"), progress=False)
    assert list(from_evtx.columns) == list(from_json.columns)
    assert from_evtx.astype(str).equals(from_json.astype(str))
    event = from_evtx.iloc[0]
    assert str(event["@timestamp"]) == "2026-03-11 05:16:41.815000+00:00"
    assert event["Hostname"] == "swachchhanda"
    assert event["Channel"] == "Microsoft-Windows-TaskScheduler/Operational"
    assert event["EventID"] == 142
    assert event["SourceName"] == "Microsoft-Windows-TaskScheduler"
    assert event["RecordNumber"] == 14
    assert event["TaskName"] == r"\Microsoft\Windows\SystemRestore\SR"
    assert "#attributes" not in from_evtx.columns


def test_sysmon_event_data_fields_keep_their_names(sigma_dir: Path) -> None:
    events = huntlab.read_events(_one(sigma_dir / DTRACE, ".evtx"), progress=False)
    assert len(events) == 2
    assert set(events["EventID"]) == {1}
    assert events["Image"].iloc[0] == r"C:\Program Files\DTrace\dtrace.exe"
    assert events["ProcessId"].iloc[0].isdigit()  # numbers as decimal text
    assert events["Dataset"].iloc[0] == "7124aebe-4cd7-4ccb-8df0-6d6b93c96795"


def test_file_kinds(sigma_dir: Path, tmp_path: Path) -> None:
    folder = sigma_dir / DTRACE
    assert file_kind(_one(folder, ".evtx")) == EVTX
    assert file_kind(_one(folder, ".json")) == EVTX_JSON
    lines = tmp_path / "events.json"
    lines.write_text('{"EventID": 1, "Channel": "x"}\n', encoding="utf-8")
    assert file_kind(lines) is None


def test_evtx_dump_json_lines_are_read_too(sigma_dir: Path, tmp_path: Path) -> None:
    text = _one(sigma_dir / DTRACE, ".json").read_text(encoding="utf-8")
    decoder = json.JSONDecoder()
    objects, at = [], 0
    while at < len(text.rstrip()):
        obj, at = decoder.raw_decode(text, at)
        objects.append(obj)
        while at < len(text) and text[at].isspace():
            at += 1
    lines = tmp_path / "dump.json"
    lines.write_text("".join(json.dumps(o) + "\n" for o in objects), encoding="utf-8")
    assert len(huntlab.read_events(lines, progress=False)) == 2


def test_a_damaged_evtx_dump_is_reported_with_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{\n  "Event": {\n    "System": \n}\n', encoding="utf-8")
    with pytest.raises(huntlab.DataFormatError, match=r"bad.json, line 1"):
        huntlab.read_events(bad, progress=False)


def test_user_data_is_flattened_under_its_own_names() -> None:
    record = {
        "Event": {
            "System": {"EventID": {"#attributes": {"Qualifiers": 0}, "#text": 1102},
                       "Channel": "Security", "Computer": "dc1",
                       "TimeCreated": {"#attributes": {"SystemTime": "2024-01-01T00:00:00Z"}}},
            "UserData": {"LogFileCleared": {"#attributes": {"xmlns": "x"},
                                            "SubjectUserName": "admin"}},
        }
    }  # fmt: skip
    flat = flatten(record)
    assert flat["EventID"] == 1102
    assert flat["Qualifiers"] == 0
    assert flat["SubjectUserName"] == "admin"
    assert flat["Hostname"] == "dc1"
    assert "xmlns" not in flat


def test_huntlab_read_and_detect_take_evtx(sigma_dir: Path) -> None:
    sample = _one(sigma_dir / DTRACE, ".evtx")
    runner = CliRunner()
    read = runner.invoke(cli, ["read", str(sample)])
    assert read.exit_code == 0, read.output
    assert "Microsoft-Windows-Sysmon/Operational" in read.output
    rules = sigma_dir / "rules/windows/process_creation/proc_creation_win_dtrace_kernel_dump.yml"
    found = runner.invoke(cli, ["detect", str(rules), str(sample), "--format", "json"])
    assert found.exit_code == 0, found.output
    document = json.loads(found.stdout)
    assert len(document["hits"]) == 2
    assert document["hits"][0]["author"] == "Florian Roth (Nextron Systems)"
    assert document["summary"][0]["hits"] == 2


def test_detect_check_lists_unsupported_rules(sigma_dir: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(
        cli, ["detect", "--check", str(sigma_dir / "rules/windows/file/file_access")]
    )
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if line]
    assert lines and all("ETW" in line for line in lines)
