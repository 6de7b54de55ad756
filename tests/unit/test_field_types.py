"""The type rule of the canonical table: numeric fields are numbers, in every dataset.

The numeric fields are derived from the OSSEM data dictionaries and the recordings
(tests/support/derive_types.py, written apart from the readers); the tests check mapping.json
holds exactly that list, that the readers give those columns as integers equal to the raw
files' decimal text, and that a record whose numeric field is not a number is rejected where
it is, counted, and never silently dropped or turned into a null.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import huntlab
from huntlab.errors import DataFormatError
from huntlab.readers import ReadReport
from huntlab.readers import mapping as m
from tests.conftest import shared_dir
from tests.support import derive_types
from tests.support.readers_data import EVENT_DATASETS, IWBEM_2020, raw_records


def test_the_numeric_fields_are_what_the_dictionaries_and_recordings_say() -> None:
    derived = derive_types.derive(shared_dir())
    assert list(m.number_fields()) == derived, (
        "mapping.json's fields.numbers differs from the type rule's derivation: run "
        "python -m tests.support.derive_types --write and review the difference"
    )
    numbers = set(derived)
    # What the rule is for: the playbook's comparisons (LogonType == 3, DestPort == 5985)
    # work, and identifiers written in hexadecimal stay text.
    assert {"LogonType", "DestPort", "DestinationPort", "SourcePort", "LayerRTID"} <= numbers
    assert not {"LogonId", "ProcessId", "TargetLogonId", "SubjectLogonId", "Keywords"} & numbers
    assert not numbers & {"EventID", "@timestamp", "Dataset"}


@pytest.mark.parametrize("dataset", sorted(EVENT_DATASETS))
def test_numeric_columns_hold_the_recordings_numbers(datasets_dir: Path, dataset: str) -> None:
    archive = datasets_dir / EVENT_DATASETS[dataset]
    frame = huntlab.read_events(archive, progress=False, categorical=False)
    raw = raw_records(archive)
    numbers = [c for c in frame.columns if c in set(m.number_fields())]
    assert numbers, "every shared recording holds some numeric field"
    for name in numbers:
        assert str(frame[name].dtype) == "Int64", name
    # Field by field, the same values as the files' text, in the same order.
    if dataset == "empire_invoke_wmi":  # Winlogbeat: the fields sit in event_data
        records = [{**r, **(r.get("event_data") or {})} for r in raw]
    else:
        records = raw
    for name in numbers:
        expected = [int(r[name]) if r.get(name) is not None else None for r in records]
        got = [None if pd.isna(v) else int(v) for v in frame[name]]
        if any(v is not None for v in expected):
            assert got == expected, name


def test_the_playbooks_number_comparisons_find_the_events(datasets_dir: Path) -> None:
    frame = huntlab.read_events(datasets_dir / IWBEM_2020, progress=False)
    raw = raw_records(datasets_dir / IWBEM_2020)
    network_logons = [r for r in raw if r["EventID"] == 4624 and r.get("LogonType") == "3"]
    assert network_logons, "the recording holds network logons"
    found = frame[(frame["EventID"] == 4624) & (frame["LogonType"] == 3)]
    assert len(found) == len(network_logons)
    assert (frame["LogonType"] == "3").sum() == 0  # a number, not text


@pytest.mark.parametrize("value", ['"0x3"', '"3.0"', '" 3"', '"1_000"', '"-"', '""', "true",
                                   "3.5", '"\\u0663"', '"9223372036854775808"'])  # fmt: skip
def test_a_numeric_field_that_is_not_a_number_rejects_its_record(
    tmp_path: Path, value: str
) -> None:
    good = '{"@timestamp":"2020-09-21T18:58:29.000Z","Hostname":"WKS","Channel":"Security","SourceName":"Microsoft-Windows-Security-Auditing",'
    good += '"EventID":4624,"LogonType":"3","TargetUserName":"pgustavo"}'
    bad = good.replace('"LogonType":"3"', f'"LogonType":{value}')
    path = tmp_path / "events.json"
    path.write_text(f"{good}\n{bad}\n{good}\n", encoding="utf-8")
    with pytest.raises(DataFormatError) as caught:
        huntlab.read_events(path, progress=False)
    message = str(caught.value)
    assert f"{path}, line 2" in message and "LogonType" in message

    report, rejects = ReadReport(), tmp_path / "rejects.jsonl"
    frame = huntlab.read_events(path, progress=False, errors="skip", rejects=rejects,
                                report=report)  # fmt: skip
    assert (report.read, report.kept, report.rejected) == (3, 2, 1)
    assert frame["LogonType"].tolist() == [3, 3]
    [reject] = [json.loads(line) for line in rejects.read_text(encoding="utf-8").splitlines()]
    assert reject["line"] == 2 and "LogonType" in reject["reason"]


def test_integers_past_32_bits_are_kept_in_numeric_fields(tmp_path: Path) -> None:
    big = 2**40
    line = '{"@timestamp":"2020-09-21T18:58:29.000Z","Hostname":"WKS","Channel":"Security","SourceName":"Microsoft-Windows-Security-Auditing",'
    line += f'"EventID":5156,"DestPort":"5985","LayerRTID":"{big}","SourcePort":-1}}'
    path = tmp_path / "events.json"
    path.write_text(line + "\n", encoding="utf-8")
    frame = huntlab.read_events(path, progress=False)
    assert frame.loc[0, "DestPort"] == 5985
    assert frame.loc[0, "LayerRTID"] == big
    assert frame.loc[0, "SourcePort"] == -1
