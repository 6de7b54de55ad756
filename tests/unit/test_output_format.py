"""One ``--format``: json is one JSON array, jsonl (or ndjson) one JSON object per line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ARCHIVE = "windows/empire_launcher_vbs/empire_launcher_vbs.zip"


def _read(datasets_dir: Path, fmt: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "huntlab", "read", str(datasets_dir / ARCHIVE), "--format", fmt,
         "--columns", "EventID,Hostname", "--limit", "3"],
        capture_output=True, text=True, timeout=120, check=True,
    )
    return done.stdout


def test_read_json_is_one_array(datasets_dir: Path) -> None:
    rows = json.loads(_read(datasets_dir, "json"))
    assert isinstance(rows, list) and len(rows) == 3
    assert set(rows[0]) == {"EventID", "Hostname"}


@pytest.mark.parametrize("fmt", ["jsonl", "ndjson"])
def test_read_jsonl_is_one_object_per_line(datasets_dir: Path, fmt: str) -> None:
    lines = _read(datasets_dir, fmt).splitlines()
    assert len(lines) == 3
    assert [set(json.loads(line)) for line in lines] == [{"EventID", "Hostname"}] * 3
    assert json.loads(_read(datasets_dir, "json")) == [json.loads(line) for line in lines]


def test_datasets_list_json_and_jsonl_agree(dataset_cache: Path, metadata_dir: Path) -> None:
    base = [sys.executable, "-m", "huntlab", "datasets", "--metadata", str(metadata_dir), "list",
            "--technique", "T1047", "--format"]
    as_array = json.loads(subprocess.run([*base, "json"], capture_output=True, text=True,
                                         check=True, timeout=120).stdout)
    lines = subprocess.run([*base, "jsonl"], capture_output=True, text=True, check=True,
                           timeout=120).stdout.splitlines()
    assert as_array and as_array == [json.loads(line) for line in lines]
