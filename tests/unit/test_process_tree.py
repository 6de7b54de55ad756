"""Process trees and timelines (pandas): linking, 4688 mapping, inferred parents, layout.

Hand-made events for the rules, then the real empire_invoke_wmi recording, whose expected
shape is read off its raw JSON lines here with the standard library.
"""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from huntlab import process_tree as pt
from huntlab.errors import HuntlabError

SYSMON, SECURITY = pt.SYSMON, pt.SECURITY
HOST = "HFDC01.shire.com"
WMI = "{905CC552-A560-5C85-0000-00108C030300}"
PS = "{905CC552-43AC-5C91-0000-0010B44BB703}"
CONHOST = "{905CC552-43AC-5C91-0000-00103F4CB703}"


def sysmon(when: str, guid: str, parent: str, pid: int, ppid: int, image: str, **more: Any) -> dict:
    return {
        "@timestamp": pd.Timestamp(when, tz="UTC"),
        "Hostname": more.pop("Hostname", HOST),
        "SourceName": SYSMON,
        "EventID": 1,
        "ProcessGuid": guid,
        "ParentProcessGuid": parent,
        "ProcessId": str(pid),
        "ParentProcessId": str(ppid),
        "Image": image,
        "ParentImage": more.pop("ParentImage", r"C:\Windows\System32\wbem\WmiPrvSE.exe"),
        "CommandLine": more.pop("CommandLine", image),
        "ParentCommandLine": more.pop("ParentCommandLine", "wmiprvse.exe -secured -Embedding"),
        "User": "SHIRE\\Mmidge",
        "LogonId": "0x3b74b08",
        **more,
    }


def security(when: str, pid: int, ppid: int, image: str, parent: str, **more: Any) -> dict:
    return {
        "@timestamp": pd.Timestamp(when, tz="UTC"),
        "Hostname": more.pop("Hostname", HOST),
        "SourceName": SECURITY,
        "EventID": 4688,
        "NewProcessId": hex(pid),
        "ProcessId": hex(ppid),
        "NewProcessName": image,
        "ParentProcessName": parent,
        "CommandLine": more.pop("CommandLine", None),
        "SubjectUserName": "HFDC01$",
        "SubjectDomainName": "SHIRE",
        "SubjectLogonId": "0x3e4",
        "TargetUserName": more.pop("TargetUserName", "Mmidge"),
        "TargetDomainName": "SHIRE",
        "TargetLogonId": more.pop("TargetLogonId", "0x3b74b08"),
        **more,
    }


POWERSHELL = r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe"
CONHOST_EXE = r"C:\Windows\System32\conhost.exe"
CMD = r"C:\Windows\System32\cmd.exe"


def frame(*rows: dict) -> pd.DataFrame:
    table = pd.DataFrame(list(rows))
    # the readers hand text as categoricals: the module must not care
    text = [c for c in table.columns if c not in ("@timestamp", "EventID")]
    return table.astype(dict.fromkeys(text, "category"))


def test_sysmon_links_by_guid_and_infers_the_unrecorded_parent() -> None:
    events = frame(
        sysmon(
            "2019-03-19 19:31:56.948", PS, WMI, 904, 2864, POWERSHELL, CommandLine="ps -enc AAAA"
        ),
        sysmon(
            "2019-03-19 19:31:56.959",
            CONHOST,
            PS,
            3460,
            904,
            CONHOST_EXE,
            ParentImage=POWERSHELL,
        ),
    )
    tree = pt.build_tree(events)
    assert list(tree["Image"]) == [
        r"C:\Windows\System32\wbem\WmiPrvSE.exe",
        POWERSHELL,
        CONHOST_EXE,
    ]
    assert list(tree["Depth"]) == [0, 1, 2]
    assert list(tree["Inferred"]) == [True, False, False]
    root = tree.iloc[0]
    assert root["ProcessKey"] == WMI and root["ProcessId"] == 2864
    assert (
        root["CommandLine"] == "wmiprvse.exe -secured -Embedding"
    )  # the child's ParentCommandLine
    assert tree["path"].iloc[2].startswith(tree["path"].iloc[1] + "/")
    assert pt.summary(tree) == {
        "Processes": 3,
        "RootProcesses": 1,
        "LeafProcesses": 1,
        "BranchProcesses": 1,
        "IsolatedProcesses": 0,
        "LargestTreeDepth": 3,
    }


def test_4688_is_mapped_linked_by_pid_and_left_out_when_sysmon_saw_it() -> None:
    events = frame(
        sysmon("2019-03-19 19:31:56.948", PS, WMI, 904, 2864, POWERSHELL),
        # the same powershell seen by the Security log: left out
        security(
            "2019-03-19 19:31:56.940",
            904,
            2864,
            POWERSHELL,
            r"C:\Windows\System32\wbem\WmiPrvSE.exe",
        ),
        # a cmd.exe only the Security log saw, started by that powershell (hex ids)
        security(
            "2019-03-19 19:32:10.000",
            0x1234,
            904,
            CMD,
            POWERSHELL,
            CommandLine="cmd /c whoami",
            TargetLogonId="0x0",
            TargetUserName="-",
        ),
    )
    procs = pt.processes(events)
    assert list(procs["Source"]) == ["Sysmon 1", "Security 4688"]
    cmd = procs.iloc[1]
    assert (cmd["ProcessId"], cmd["ParentProcessId"], cmd["Image"]) == (0x1234, 904, CMD)
    # no target logon: the new process runs as the subject
    assert (cmd["User"], cmd["LogonId"]) == ("SHIRE\\HFDC01$", "0x3e4")

    tree = pt.build_tree(events)
    assert list(tree["Image"]) == [r"C:\Windows\System32\wbem\WmiPrvSE.exe", POWERSHELL, CMD]
    assert tree.iloc[2]["ParentKey"] == PS  # a 4688 child under its Sysmon parent


def test_4688_parent_is_the_latest_process_with_that_id_created_before() -> None:
    host = "HR001.shire.com"
    events = frame(
        security(
            "2019-03-19 10:00:00",
            0x10,
            0x4,
            CMD,
            r"C:\Windows\System32\services.exe",
            Hostname=host,
        ),
        security("2019-03-19 10:05:00", 0x20, 0x10, CONHOST_EXE, CMD, Hostname=host),
        # pid 0x10 reused by a later cmd.exe: not the parent of the conhost above
        security(
            "2019-03-19 11:00:00",
            0x10,
            0x4,
            CMD,
            r"C:\Windows\System32\services.exe",
            Hostname=host,
        ),
    )
    tree = pt.build_tree(events, host="hr001")
    first_cmd = tree[(tree["Image"] == CMD)].sort_values("@timestamp").iloc[0]
    conhost = tree[tree["Image"] == CONHOST_EXE].iloc[0]
    assert conhost["ParentKey"] == first_cmd["ProcessKey"]
    # both cmd.exe hang under one inferred services.exe
    services = tree[tree["Inferred"]]
    assert len(services) == 1 and services.iloc[0]["ProcessId"] == 4
    assert pt.summary(tree)["RootProcesses"] == 1


def test_host_filter_and_text_layout() -> None:
    events = frame(
        sysmon("2019-03-19 19:31:56.948", PS, WMI, 904, 2864, POWERSHELL, CommandLine="x" * 500),
        sysmon(
            "2019-03-19 19:35:00",
            "{A}",
            "{B}",
            1156,
            580,
            "svchost.exe",
            Hostname="HR001.shire.com",
        ),
    )
    tree = pt.build_tree(events, host="HFDC01")
    assert set(tree["Hostname"]) == {HOST}
    text = pt.tree_text(tree)
    lines = text.splitlines()
    assert lines[0] == r"+ Process: C:\Windows\System32\wbem\WmiPrvSE.exe  PID: 2864 (0xb30)"
    assert lines[3].startswith(rf"   +-- Process: {POWERSHELL}  PID: 904 (0x388)")
    assert "(500 characters)" in text
    assert pt.build_tree(events, host="nowhere").empty


def test_timeline_relations_and_details() -> None:
    events = frame(
        sysmon("2019-03-19 19:31:56.948", PS, WMI, 904, 2864, POWERSHELL),
        sysmon(
            "2019-03-19 19:31:56.959", CONHOST, PS, 3460, 904, CONHOST_EXE, ParentImage=POWERSHELL
        ),
        {
            "@timestamp": pd.Timestamp("2019-03-19 19:31:58", tz="UTC"),
            "Hostname": HOST,
            "SourceName": SYSMON,
            "EventID": 3,
            "ProcessGuid": PS.lower(),  # GUID casing varies between recordings
            "Image": POWERSHELL,
            "Protocol": "tcp",
            "SourceIp": "172.18.39.5",
            "SourcePort": "50000",
            "DestinationIp": "10.0.10.5",
            "DestinationPort": "80",
        },
        {
            "@timestamp": pd.Timestamp("2019-03-19 19:31:57", tz="UTC"),
            "Hostname": HOST,
            "SourceName": SYSMON,
            "EventID": 10,
            "SourceProcessGUID": WMI,
            "TargetProcessGUID": PS,
            "SourceImage": "wmiprvse.exe",
            "TargetImage": POWERSHELL,
            "GrantedAccess": "0x1fffff",
        },
        {
            "@timestamp": pd.Timestamp("2019-03-19 19:31:59", tz="UTC"),
            "Hostname": HOST,
            "SourceName": SYSMON,
            "EventID": 13,
            "ProcessGuid": PS,
            "Image": POWERSHELL,
            "EventType": "SetValue",
            "TargetObject": r"HKLM\Software\x",
            "Details": "1",
        },
    )
    found = pt.timeline(events, PS.lower())
    assert list(found["Relation"]) == ["self", "child", "target", "self", "self"]
    assert list(found["Category"]) == [
        "process",
        "process",
        "process access",
        "network",
        "registry",
    ]
    assert found.iloc[2]["Detail"] == "wmiprvse.exe opened it (0x1fffff)"
    assert found.iloc[3]["Detail"] == "tcp 172.18.39.5:50000 -> 10.0.10.5:80"
    assert found.iloc[4]["Detail"] == r"SetValue HKLM\Software\x = 1"
    assert found.iloc[1]["Image"] == CONHOST_EXE


def test_descendants_of_names_a_missing_process() -> None:
    tree = pt.build_tree(frame(sysmon("2019-03-19 19:31:56", PS, WMI, 904, 2864, POWERSHELL)))
    assert list(pt.descendants_of(tree, WMI.lower())["ProcessKey"]) == [WMI, PS]
    with pytest.raises(HuntlabError, match="no process"):
        pt.descendants_of(tree, "{nope}")


# -- the lab's recording ------------------------------------------------------------------------


def _raw_events(datasets_dir: Path) -> list[dict[str, Any]]:
    path = datasets_dir / "windows/empire_invoke_wmi/empire_invoke_wmi.tar.gz"
    with tarfile.open(path) as archive:
        (member,) = [m for m in archive.getmembers() if m.isfile()]
        stream = archive.extractfile(member)
        assert stream is not None
        return [json.loads(line) for line in stream if line.strip()]


def test_the_recordings_tree_on_hfdc01(datasets_dir: Path) -> None:
    import huntlab

    raw = _raw_events(datasets_dir)
    created = [
        e["event_data"]
        for e in raw
        if e["source_name"] == "Microsoft-Windows-Sysmon"
        and e["event_id"] == 1
        and e["computer_name"].startswith("HFDC01")
    ]
    guids = {c["ProcessGuid"].upper() for c in created}
    parents = {c["ParentProcessGuid"].upper() for c in created} - guids

    tree = pt.build_tree(
        huntlab.read_events(datasets_dir / "windows/empire_invoke_wmi/empire_invoke_wmi.tar.gz"),
        host="HFDC01",
    )
    assert set(tree.loc[~tree["Inferred"], "ProcessKey"]) == guids
    assert set(tree.loc[tree["Inferred"], "ProcessKey"]) == parents
    wmi_child = [c for c in created if c["ParentImage"].lower().endswith("wmiprvse.exe")]
    assert len(wmi_child) == 1
    row = tree[tree["ProcessKey"] == wmi_child[0]["ProcessGuid"].upper()].iloc[0]
    assert row["CommandLine"] == wmi_child[0]["CommandLine"]
    assert row["Depth"] == 1 and row["IsBranch"]
    assert pt.summary(tree) == {
        "Processes": len(guids) + len(parents),
        "RootProcesses": len(parents),
        "LeafProcesses": 2,
        "BranchProcesses": 1,
        "IsolatedProcesses": 0,
        "LargestTreeDepth": 3,
    }
