"""The pandas reader on the real recordings in ../shared/datasets."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

import huntlab
from huntlab.readers import ReadReport, iter_events, iter_raw, read_table, read_tables
from huntlab.readers import mapping as m
from tests.support.readers_data import (
    EMPIRE_2019,
    EVENT_DATASETS,
    FODHELPER,
    IWBEM_2020,
    LAUNCHER_VBS,
    LSASS_REDUCED,
    WMIPRVSE,
    raw_lines,
    raw_records,
)


@pytest.fixture(scope="module")
def empire_2019(datasets_dir: Path) -> pd.DataFrame:
    return huntlab.read_events(datasets_dir / EMPIRE_2019)


@pytest.fixture(scope="module")
def iwbem_2020(datasets_dir: Path) -> pd.DataFrame:
    return huntlab.read_events(datasets_dir / IWBEM_2020)


def _wmiprvse_children(frame: pd.DataFrame) -> pd.DataFrame:
    sysmon = frame[(frame["SourceName"] == "Microsoft-Windows-Sysmon") & (frame["EventID"] == 1)]
    parent = sysmon["ParentImage"].astype("string").str.lower()
    return sysmon[parent == WMIPRVSE.lower()]


def test_2019_counts_by_source(empire_2019: pd.DataFrame) -> None:
    assert len(empire_2019) == 5189
    assert empire_2019["SourceName"].value_counts().to_dict() == {
        "Microsoft-Windows-Sysmon": 1665,
        "Microsoft-Windows-Security-Auditing": 1222,
        "PowerShell": 1046,
        "Microsoft-Windows-PowerShell": 875,
        "Microsoft-Windows-DNS-Client": 377,
        "Microsoft-Windows-Bits-Client": 4,
    }


def test_2019_wmiprvse_child_has_its_whole_command_line(
    empire_2019: pd.DataFrame, datasets_dir: Path
) -> None:
    sysmon_1 = empire_2019[
        (empire_2019["SourceName"] == "Microsoft-Windows-Sysmon") & (empire_2019["EventID"] == 1)
    ]
    assert len(sysmon_1) == 4
    children = _wmiprvse_children(empire_2019)
    assert len(children) == 1
    child = children.iloc[0]
    raw = [
        r
        for r in raw_records(datasets_dir / EMPIRE_2019)
        if r["event_id"] == 1
        and r["source_name"] == "Microsoft-Windows-Sysmon"
        and r["event_data"].get("ParentImage", "").lower() == WMIPRVSE.lower()
    ]
    assert len(raw) == 1
    expected = raw[0]["event_data"]["CommandLine"]
    assert child["CommandLine"] == expected
    assert len(child["CommandLine"]) == len(expected) > 1000  # the encoded Empire launcher
    assert child["CommandLine"].endswith(expected[-40:])
    assert child["ProcessGuid"] == raw[0]["event_data"]["ProcessGuid"]
    assert child["@timestamp"] == pd.Timestamp(raw[0]["@timestamp"])


def test_2020_counts_and_wmiprvse_query(iwbem_2020: pd.DataFrame, datasets_dir: Path) -> None:
    assert len(iwbem_2020) == 6383
    children = _wmiprvse_children(iwbem_2020)
    assert len(children) == 1
    raw = [
        r
        for r in raw_records(datasets_dir / IWBEM_2020)
        if r["EventID"] == 1 and r.get("ParentImage", "").lower() == WMIPRVSE.lower()
    ]
    assert len(raw) == 1
    assert children.iloc[0]["CommandLine"] == raw[0]["CommandLine"]
    assert children.iloc[0]["Hostname"] == raw[0]["Hostname"]


def test_canonical_types_and_names(empire_2019: pd.DataFrame, iwbem_2020: pd.DataFrame) -> None:
    for frame in (empire_2019, iwbem_2020):
        assert list(frame.columns[:7]) == [
            "@timestamp",
            "Hostname",
            "Channel",
            "EventID",
            "SourceName",
            "Message",
            "Dataset",
        ]
        assert str(frame["@timestamp"].dtype) == "datetime64[ns, UTC]"
        assert str(frame["EventID"].dtype) == "Int64"
        numbers = set(m.number_fields())
        for name in frame.columns[frame.columns != "@timestamp"].drop("EventID"):
            if name in numbers:
                assert str(frame[name].dtype) == "Int64", name
            else:
                assert frame[name].dropna().map(type).eq(str).all(), name
        assert not [c for c in frame.columns if "." in c]
        lowered = Counter(c.lower() for c in frame.columns)
        assert [c for c, n in lowered.items() if n > 1] == []
        assert frame["@timestamp"].notna().all()


def test_2019_renames_flattening_and_aliases(empire_2019: pd.DataFrame, datasets_dir: Path) -> None:
    raw = raw_records(datasets_dir / EMPIRE_2019)
    # Sysmon's ProcessId and PowerShell's ProcessID end up in one column.
    with_pid = sum(
        1
        for r in raw
        if "ProcessId" in r.get("event_data", {}) or "ProcessID" in r.get("event_data", {})
    )
    assert with_pid > 0 and empire_2019["ProcessId"].notna().sum() == with_pid
    assert "ProcessID" not in empire_2019.columns
    # Transport fields are gone, Winlogbeat names became Windows names.
    for gone in ("beat", "@metadata", "host", "type", "event_data", "computer_name", "log_name"):
        assert gone not in empire_2019.columns
    assert Counter(empire_2019["Hostname"].astype(str)) == Counter(r["computer_name"] for r in raw)
    assert empire_2019["RecordNumber"].astype(str).tolist() == [r["record_number"] for r in raw]
    keywords = empire_2019["Keywords"].dropna().astype(str)
    assert set(keywords) == {'["Audit Success"]', '["Classic"]', '["Audit Failure"]'}
    assert empire_2019["AccountName"].notna().sum() == sum(
        1 for r in raw if "name" in r.get("user", {})
    )
    assert set(empire_2019["Dataset"].astype(str)) == {"empire_invoke_wmi"}


def test_2020_channels_and_dropped_fields(iwbem_2020: pd.DataFrame, datasets_dir: Path) -> None:
    raw = raw_records(datasets_dir / IWBEM_2020)
    lower_security = sum(1 for r in raw if r["Channel"] == "security")
    assert lower_security > 0  # the quirk is in the file ...
    channels = Counter(iwbem_2020["Channel"].astype(str))
    assert "security" not in channels  # ... and not in the table
    assert channels["Security"] == sum(1 for r in raw if r["Channel"].lower() == "security")
    for gone in ("@version", "host", "port", "tags", "SourceModuleName", "EventReceivedTime"):
        assert gone not in iwbem_2020.columns
    assert iwbem_2020["Message"].isna().sum() == sum(1 for r in raw if "Message" not in r)
    assert set(iwbem_2020["ERROR_EVT_UNRESOLVED"].dropna().astype(str)) <= {"true", "false"}
    assert iwbem_2020["Keywords"].astype(str).str.fullmatch(r"-?\d+").all()


def test_reduced_format_timestamp_from_utctime(datasets_dir: Path) -> None:
    frame = huntlab.read_events(datasets_dir / LSASS_REDUCED)
    raw = raw_records(datasets_dir / LSASS_REDUCED)
    assert len(frame) == len(raw) == 184
    has_utc = frame["UtcTime"].notna()
    assert has_utc.sum() == sum(1 for r in raw if "UtcTime" in r) > 0
    # Sysmon rows: @timestamp is UtcTime read as UTC; the others have none (see the docs).
    expected = pd.to_datetime(frame.loc[has_utc, "UtcTime"].astype(str), utc=True)
    assert (frame.loc[has_utc, "@timestamp"] == expected).all()
    assert frame.loc[~has_utc, "@timestamp"].isna().all()
    assert frame["TimeCreated"].notna().all()


def test_iter_events_and_iter_raw_stream_dicts(datasets_dir: Path) -> None:
    report = ReadReport()
    events = iter_events(datasets_dir / EMPIRE_2019, report=report)
    first = next(events)
    assert first["@timestamp"] == "2019-03-19T19:31:15.524Z"
    assert isinstance(first["EventID"], int)
    assert first["Dataset"] == "empire_invoke_wmi"
    assert report.read == report.kept == 1  # streamed: nothing read ahead
    rest = sum(1 for _ in events)
    assert rest + 1 == report.read == report.kept == 5189 and report.rejected == 0

    raw_report = ReadReport()
    raw = list(iter_raw(datasets_dir / IWBEM_2020, report=raw_report))
    assert raw == raw_records(datasets_dir / IWBEM_2020)
    assert raw_report.read == raw_report.kept == 6383


def test_every_event_dataset_reads(datasets_dir: Path) -> None:
    for name, relative in EVENT_DATASETS.items():
        frame = huntlab.read_events(datasets_dir / relative, categorical=False)
        assert len(frame) == len(raw_records(datasets_dir / relative)), name
        assert set(frame["Dataset"]) == {name}
        assert frame["EventID"].notna().all() and frame["SourceName"].notna().all()


def test_dataset_folder_skips_packet_captures(datasets_dir: Path) -> None:
    report = ReadReport()
    folder = datasets_dir / "windows/empire_wmi_dcerpc_wmi_IWbemServices_ExecMethod"
    frame = huntlab.read_events(folder, report=report)
    assert len(frame) == 6383
    assert len(report.skipped) == 2 and all(v == "packet capture" for v in report.skipped.values())


def _pcapng(packets: list[bytes]) -> bytes:
    """A little-endian pcapng file: section header, one Ethernet interface, these packets."""
    import struct

    def block(kind: int, body: bytes) -> bytes:
        body += b"\0" * (-len(body) % 4)
        size = len(body) + 12
        return struct.pack("<II", kind, size) + body + struct.pack("<I", size)

    out = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    out += block(1, struct.pack("<HHI", 1, 0, 65535))
    for n, packet in enumerate(packets):
        out += block(6, struct.pack("<IIIII", 0, 0, n, len(packet), len(packet)) + packet)
    return out


def test_a_pcapng_capture_is_skipped_as_a_capture(datasets_dir: Path, tmp_path: Path) -> None:
    """pcapng's magic (0a 0d 0d 0a) begins with a line end: its first "lines" are blank and
    CR CR LF, and it was read as lines that are not JSON (rejected) instead of a capture."""
    import zipfile

    archive = tmp_path / "recording.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("host/events.json", b"".join(list(raw_lines(datasets_dir / LAUNCHER_VBS))))
        out.writestr("network/traffic.pcapng", _pcapng([b"GET / HTTP/1.1\r\n\r\n", b"{x\n"]))
    report = ReadReport()
    rejects = tmp_path / "rejects.jsonl"
    frame = huntlab.read_events(archive, errors="skip", rejects=rejects, report=report, cache=False)
    assert report.rejected == 0 and len(frame) == report.kept > 0
    assert report.skipped == {f"{archive}!network/traffic.pcapng": "packet capture"}


def test_azure_zeek_and_auditd_read_as_tables(datasets_dir: Path) -> None:
    golden = datasets_dir / "windows/GoldenSAMLADFSMailAccess"
    windows = read_table(golden / "WindowsEvents.Zip")
    assert len(windows) == 38 and str(windows["@timestamp"].dtype) == "datetime64[ns, UTC]"
    assert windows["EventData_dynamic"].str.startswith("[").all()
    defender = read_table(golden / "Microsoft365DefenderEvents.Zip")
    assert len(defender) == 9
    zeek = read_tables(datasets_dir / "windows/LSASS_campaign_03")
    sizes = {k.rsplit("!", 1)[-1]: len(v) for k, v in zeek.items()}
    assert sizes["conn.log"] == 126 and sizes["dns.log"] == 149 and sizes["weird.log"] == 19
    assert sizes["kerberos.log"] == 5
    conn = read_table(datasets_dir / "windows/LSASS_campaign_03", "conn.log")
    assert conn["@timestamp"].notna().all() and "id.orig_h" in conn.columns
    log4shell = datasets_dir / "linux/Log4Shell"
    assert len(read_table(log4shell, "auoms")) == 50
    assert len(read_table(log4shell, "syslog_sysmon")) == 93
    audit = read_table(datasets_dir / "linux/sh_arp_cache/sh_arp_cache.zip")
    assert len(audit) == 12 and set(audit["type"]) >= {"SYSCALL", "EXECVE"}


def test_azure_export_is_not_forced_into_events(datasets_dir: Path) -> None:
    with pytest.raises(huntlab.DataFormatError, match="read_table"):
        huntlab.read_events(datasets_dir / "windows/GoldenSAMLADFSMailAccess")


def test_2020_logon_id_spellings_merge(datasets_dir: Path) -> None:
    """The fodhelper recording holds both LogonId and LogonID (on different events)."""
    raw = raw_records(datasets_dir / FODHELPER)
    spellings = Counter(k for r in raw for k in r if k.lower() == "logonid")
    assert set(spellings) == {"LogonId", "LogonID"}
    frame = huntlab.read_events(datasets_dir / FODHELPER)
    assert "LogonID" not in frame.columns
    assert frame["LogonId"].notna().sum() == sum(spellings.values())


def test_auditd_log_is_named_as_a_table(datasets_dir: Path) -> None:
    with pytest.raises(huntlab.DataFormatError, match="auditd table"):
        huntlab.read_events(datasets_dir / "linux/sh_arp_cache/sh_arp_cache.zip")


def test_build_frame_keeps_objects_and_arrays_as_json_text() -> None:
    """Documents of indexes other than the lab's events (huntlab-alerts) nest objects."""
    from huntlab.readers.frame import build_frame

    frame = build_frame(
        [
            {"kind": "hit", "rule": {"level": "high", "attack": ["attack.t1047"]}},
            {"kind": "hit", "rule": {"attack": ["attack.t1047"], "level": "high"}},
            {"kind": "correlation", "tags": ["a", "b"]},
        ],
        progress=False,
    )
    assert list(frame["rule"][:2]) == ['{"attack":["attack.t1047"],"level":"high"}'] * 2
    assert frame["tags"][2] == '["a","b"]' and frame["rule"].isna()[2]


def test_build_frame_takes_a_null_as_an_absent_value() -> None:
    """A JSON null (documents of other indexes, another tool's export) is a missing value, as
    the normaliser makes it: the table builds, categorical or not, integer fields included."""
    from huntlab.readers.frame import build_frame

    events = [
        {"Image": None, "Channel": "x", "EventID": None},
        {"Image": None, "Channel": "x", "EventID": 4},
        {"Image": "a.exe", "Channel": "x"},
        {"Image": None, "Channel": None, "Nothing": None},
    ]
    for categorical in (True, False):
        frame = build_frame(events, categorical=categorical, progress=False)
        assert "Nothing" not in frame.columns  # null everywhere: no column, as when absent
        assert frame["Image"].isna().tolist() == [True, True, False, True]
        assert frame["Channel"].isna().tolist() == [False, False, False, True]
        assert frame["EventID"].tolist() == [pd.NA, 4, pd.NA, pd.NA]
        assert str(frame["EventID"].dtype) == "Int64"
