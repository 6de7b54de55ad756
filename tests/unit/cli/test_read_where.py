"""`huntlab read --where COLUMN=VALUE`: the events the docs' example means to show, the same
in the streamed (jsonl) and the table paths, and a clear error for a condition it cannot use."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

from huntlab import read_events
from tests.support.cli import run_huntlab

WMI = "windows/empire_invoke_wmi/empire_invoke_wmi.tar.gz"


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUNTLAB_")}
    env.update({"HUNTLAB_HOME": str(tmp_path / "home"), "HUNTLAB_CACHE": str(tmp_path / "cache")})
    return env


def test_where_keeps_the_matching_events_in_both_paths(tmp_path: Path, datasets_dir: Path) -> None:
    source = str(datasets_dir / WMI)
    frame = read_events(source)
    expected = frame[(frame["EventID"] == 1) & (frame["Channel"] == "Microsoft-Windows-Sysmon/Operational")]
    assert len(expected) > 0
    where = ["--where", "EventID=1", "--where", "Channel=Microsoft-Windows-Sysmon/Operational"]
    streamed = run_huntlab("read", source, *where, "--format", "jsonl",
                           "--columns", "@timestamp,ParentImage,Image", env=_env(tmp_path))  # fmt: skip
    assert streamed.returncode == 0, streamed.stderr
    rows = [json.loads(line) for line in streamed.stdout.splitlines()]
    assert len(rows) == len(expected)
    assert [r["Image"] for r in rows] == list(expected["Image"])
    # The tutorial's find: powershell started by WmiPrvSE, among the first process creations.
    assert any(r["ParentImage"].endswith("WmiPrvSE.exe") and r["Image"].endswith("powershell.exe")
               for r in rows[:3])  # fmt: skip
    table = run_huntlab("read", source, *where, "--format", "csv", env=_env(tmp_path))
    assert table.returncode == 0, table.stderr
    assert [r["Image"] for r in csv.DictReader(io.StringIO(table.stdout))] == list(expected["Image"])
    others = run_huntlab("read", source, "--where", "EventID!=1", "--format", "csv",
                         "--columns", "EventID", env=_env(tmp_path))  # fmt: skip
    assert others.returncode == 0, others.stderr
    ids = [r["EventID"] for r in csv.DictReader(io.StringIO(others.stdout))]
    assert "1" not in ids and len(ids) == len(frame) - int((frame["EventID"] == 1).sum())


def test_a_condition_it_cannot_use_is_one_clear_error(tmp_path: Path, datasets_dir: Path) -> None:
    source = str(datasets_dir / WMI)
    for condition, words in (("EventID", "expected COLUMN=VALUE"), ("NoSuchColumn=1", "no such column")):
        for fmt in ("table", "jsonl"):  # the same answer streamed
            done = run_huntlab("read", source, "--where", condition, "--format", fmt,
                               env=_env(tmp_path))  # fmt: skip
            assert done.returncode == 2, (fmt, done)
            assert words in done.stderr and "Traceback" not in done.stderr, done.stderr
    done = run_huntlab("read", source, "--table", "--where", "EventID=1", env=_env(tmp_path))
    assert done.returncode == 2 and "not --table" in done.stderr, done.stderr


def test_a_timestamp_compares_the_same_streamed_or_as_a_table(
    tmp_path: Path, datasets_dir: Path
) -> None:
    source = str(datasets_dir / WMI)
    where = ["--where", "@timestamp=2019-03-19T19:31:56.948Z", "--columns", "EventID"]
    streamed = run_huntlab("read", source, *where, "--format", "jsonl", env=_env(tmp_path))
    table = run_huntlab("read", source, *where, "--format", "csv", env=_env(tmp_path))
    assert streamed.returncode == 0 and table.returncode == 0, streamed.stderr + table.stderr
    ids = [json.loads(line)["EventID"] for line in streamed.stdout.splitlines()]
    assert ids and ids == [int(r["EventID"]) for r in csv.DictReader(io.StringIO(table.stdout))]
