"""Oracles that do not come from the code under test: the readers, the Spark reader and the
ingest pipeline are all generated from mapping.json, so comparing them with each other
cannot catch a wrong mapping. These compare the readers with facts derived from the raw
files by the standard library, with literals, and with runs under other time zones."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import huntlab
from huntlab.es.loader import doc_id
from tests.support import derive_columns
from tests.support.readers_data import EVENT_DATASETS, LSASS_REDUCED, raw_records


@pytest.fixture(scope="module")
def committed_columns() -> dict[str, list[str]]:
    data: dict[str, list[str]] = json.loads(derive_columns.OUTPUT.read_text(encoding="utf-8"))
    return data


def test_columns_match_the_committed_derivation(
    committed_columns: dict[str, list[str]], datasets_dir: Path
) -> None:
    assert sorted(committed_columns) == sorted(EVENT_DATASETS)
    for name, relative in EVENT_DATASETS.items():
        frame = huntlab.read_events(datasets_dir / relative)
        assert sorted(frame.columns) == committed_columns[name], name


def test_the_committed_columns_are_what_the_raw_files_give(
    committed_columns: dict[str, list[str]], datasets_dir: Path
) -> None:
    # The committed list is the derivation's output, not an edited copy.
    assert derive_columns.derive(datasets_dir) == committed_columns


def test_document_ids_are_pinned() -> None:
    # Literal values: ids must be the same in every process and every release, or a second
    # load of the same dataset duplicates every event instead of overwriting it.
    assert doc_id("empire_invoke_wmi", 0) == "ZhbERTuxK0q4mLIU_2T3"
    assert doc_id("empire_invoke_wmi", 5188) == "-I4eZn1YQvM0BO05bGem"
    assert doc_id("psh_lsass_memory_dump_comsvcs", 0) == "SsN9o3sy7kVrrbxk3Rlc"


# Prints the reader's @timestamp of every event that has a Sysmon UtcTime (zone-less text).
_TIMES = """
import sys, huntlab
frame = huntlab.read_events(sys.argv[1])
rows = frame[frame["UtcTime"].notna()]
for stamp in rows["@timestamp"]:
    print(stamp.isoformat())
"""


@pytest.mark.parametrize("zone", ["America/New_York", "Asia/Kolkata"])
def test_zone_less_times_are_utc_whatever_the_local_zone(zone: str, datasets_dir: Path) -> None:
    source = datasets_dir / LSASS_REDUCED
    expected = [
        record["UtcTime"].replace(" ", "T") + "000+00:00"  # microseconds, as isoformat writes
        for record in raw_records(source)
        if record.get("UtcTime") is not None
    ]
    assert len(expected) == 148
    env = {**os.environ, "TZ": zone}
    done = subprocess.run(
        [sys.executable, "-c", _TIMES, str(source)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert done.stdout.split() == expected
