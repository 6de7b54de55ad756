"""One test per Sigma value modifier, on small canonical tables (pandas engine)."""

from __future__ import annotations

import base64

import pytest

from huntlab.detect.logsource import Unsupported
from tests.unit.detect.helpers import hits, table


def test_equality_is_case_insensitive() -> None:
    events = table(
        {"Image": r"c:\windows\system32\cmd.exe"},
        {"Image": r"C:\WINDOWS\SYSTEM32\CMD.EXE"},
        {"Image": r"C:\Windows\System32\cmd.exe.bak"},
    )
    assert hits({"sel": {"Image": r"C:\Windows\System32\Cmd.exe"}, "condition": "sel"}, events) == [
        0,
        1,
    ]


def test_cased_compares_case_sensitively() -> None:
    events = table({"CommandLine": "run ABC"}, {"CommandLine": "run abc"})
    assert hits({"sel": {"CommandLine|cased|contains": "ABC"}, "condition": "sel"}, events) == [0]


def test_wildcards_with_regex_metacharacters_are_literal() -> None:
    events = table(
        {"CommandLine": "a.b(c)ZZ[x]+$"},
        {"CommandLine": "aXb(c)ZZ[x]+$"},  # '.' is no regex dot
        {"CommandLine": "a.b(c)[x]+$"},  # '*' may be empty
        {"CommandLine": "a.b(c)Z[x]]+$"},
    )
    assert hits({"sel": {"CommandLine": "a.b(c)*[x]+$"}, "condition": "sel"}, events) == [0, 2]


def test_single_wildcard_and_escapes() -> None:
    events = table({"Image": "prog1.exe"}, {"Image": "prog12.exe"}, {"Image": "prog?.exe"})
    assert hits({"sel": {"Image": "prog?.exe"}, "condition": "sel"}, events) == [0, 2]
    assert hits({"sel": {"Image": r"prog\?.exe"}, "condition": "sel"}, events) == [2]
    starred = table({"CommandLine": "a*b"}, {"CommandLine": "aXb"})
    assert hits({"sel": {"CommandLine": r"a\*b"}, "condition": "sel"}, starred) == [0]
    # A backslash before a wildcard, itself escaped: a backslash then any run.
    slashed = table({"Image": "C:\\Temp\\x.exe"}, {"Image": "C:\\Tempx.exe"})
    assert hits({"sel": {"Image": "C:\\Temp\\\\*"}, "condition": "sel"}, slashed) == [0]


def test_contains_startswith_endswith() -> None:
    events = table({"CommandLine": "powershell -enc AAA"}, {"CommandLine": "cmd /c whoami"})
    assert hits({"s": {"CommandLine|contains": "-ENC"}, "condition": "s"}, events) == [0]
    assert hits({"s": {"CommandLine|startswith": "CMD "}, "condition": "s"}, events) == [1]
    assert hits({"s": {"CommandLine|endswith": "WHOAMI"}, "condition": "s"}, events) == [1]


def test_lists_are_or_and_all_makes_them_and() -> None:
    events = table({"CommandLine": "a b"}, {"CommandLine": "a"}, {"CommandLine": "b"})
    assert hits({"s": {"CommandLine|contains": ["a", "b"]}, "condition": "s"}, events) == [0, 1, 2]
    assert hits({"s": {"CommandLine|contains|all": ["a", "b"]}, "condition": "s"}, events) == [0]


def test_windash_then_all() -> None:
    events = table(
        {"CommandLine": "tool /a /b"},
        {"CommandLine": "tool \u2013a -b"},  # en dash
        {"CommandLine": "tool /a"},
        {"CommandLine": "tool \u2014b \u2015a"},  # em dash, horizontal bar
    )
    detection = {"s": {"CommandLine|windash|contains|all": [" -a", " -b"]}, "condition": "s"}
    assert hits(detection, events) == [0, 1, 3]


def test_re_and_its_flags() -> None:
    events = table(
        {"CommandLine": "Invoke-Mimikatz"},
        {"CommandLine": "invoke-mimikatz"},
        {"CommandLine": "line1\nmimi"},
        {"CommandLine": "a\nb"},
    )
    assert hits({"s": {"CommandLine|re": "Invoke-[A-Z]imi"}, "condition": "s"}, events) == [0]
    assert hits({"s": {"CommandLine|re|i": "invoke-mimi"}, "condition": "s"}, events) == [0, 1]
    assert hits({"s": {"CommandLine|re": "^mimi"}, "condition": "s"}, events) == []
    assert hits({"s": {"CommandLine|re|m": "^mimi"}, "condition": "s"}, events) == [2]
    assert hits({"s": {"CommandLine|re": "a.b"}, "condition": "s"}, events) == []
    assert hits({"s": {"CommandLine|re|s": "a.b"}, "condition": "s"}, events) == [3]


def test_cidr() -> None:
    events = table(
        {"DestinationIp": "10.1.2.3"},
        {"DestinationIp": "192.168.1.1"},
        {"DestinationIp": "fe80::1"},
        {"DestinationIp": "not an ip"},
    )
    detection = {"s": {"DestinationIp|cidr": ["10.0.0.0/8", "fe80::/10"]}, "condition": "s"}
    assert hits(detection, events) == [0, 2]


def test_base64_and_base64offset() -> None:
    def b64(text: bytes) -> str:
        return base64.b64encode(text).decode()

    events = table(
        {"CommandLine": f"echo {b64(b'http://evil')}"},
        {"CommandLine": f"echo {b64(b'xx http://evil yy')}"},
        {"CommandLine": f"echo {b64(b'x http://evil')}"},
        {"CommandLine": "echo nothing"},
    )
    assert hits(
        {"s": {"CommandLine|base64|contains": "http://evil"}, "condition": "s"}, events
    ) == [0]
    offset = {"s": {"CommandLine|base64offset|contains": "http://evil"}, "condition": "s"}
    assert hits(offset, events) == [0, 1, 2]


def test_utf16_encodings_with_base64offset() -> None:
    def b64(text: str, codec: str) -> str:
        return base64.b64encode(text.encode(codec)).decode()

    events = table(
        {"CommandLine": f"powershell -e {b64('IEX (New-Object Net.WebClient)', 'utf-16-le')}"},
        {"CommandLine": f"x {b64('IEX (New-Object Net.WebClient)', 'utf-16-be')}"},
        {"CommandLine": f"x {b64('IEX (New-Object Net.WebClient)', 'utf-8')}"},
    )
    # UTF-16BE text read one byte on is UTF-16LE text: base64offset's shifted variants of the
    # little-endian form therefore find the big-endian encoding too; plain UTF-8 is not found.
    wide = {"s": {"CommandLine|wide|base64offset|contains": "New-Object"}, "condition": "s"}
    assert hits(wide, events) == [0, 1]
    le = {"s": {"CommandLine|utf16le|base64offset|contains": "New-Object"}, "condition": "s"}
    assert hits(le, events) == [0, 1]
    be = {
        "s": {"CommandLine|utf16be|base64|contains": "IEX (New-Object Net.WebClient)"},
        "condition": "s",
    }
    assert hits(be, events) == [1]
    utf16 = {"s": {"CommandLine|utf16|base64|contains": "IEX"}, "condition": "s"}
    assert hits(utf16, events) == []  # no byte order mark in these


def test_exists() -> None:
    events = table({"OriginalFileName": "cmd.exe"}, {"OriginalFileName": ""}, {})
    assert hits({"s": {"OriginalFileName|exists": True}, "condition": "s"}, events) == [0, 1]
    assert hits({"s": {"OriginalFileName|exists": False}, "condition": "s"}, events) == [2]


def test_null_means_absent_and_empty_is_not_null() -> None:
    events = table({"OriginalFileName": "cmd.exe"}, {"OriginalFileName": ""}, {})
    assert hits({"s": {"OriginalFileName": None}, "condition": "s"}, events) == [2]
    assert hits({"s": {"OriginalFileName": ""}, "condition": "s"}, events) == [1]
    assert hits({"s": {"Image": None}, "condition": "s"}, events) == [0, 1, 2]  # no such column
    not_null = {"s": {"OriginalFileName": None}, "condition": "not s"}
    assert hits(not_null, events) == [0, 1]


def test_fieldref() -> None:
    events = table(
        {"Image": r"C:\a\x.exe", "ParentImage": r"c:\A\X.EXE"},
        {"Image": r"C:\a\x.exe", "ParentImage": r"C:\a\y.exe"},
        {"Image": r"C:\a\x.exe"},
    )
    assert hits({"s": {"Image|fieldref": "ParentImage"}, "condition": "s"}, events) == [0]
    assert hits({"s": {"Image|fieldref": "ParentImage"}, "condition": "not s"}, events) == [1, 2]
    starts = table({"CommandLine": r"C:\a\x.exe -arg", "Image": r"C:\a\x.exe"})
    assert hits({"s": {"CommandLine|fieldref|startswith": "Image"}, "condition": "s"}, starts) == [
        0
    ]
    assert hits({"s": {"CommandLine|fieldref|contains": "Image"}, "condition": "s"}, starts) == [0]


def test_numeric_comparisons() -> None:
    events = table({"Size": "5"}, {"Size": "10"}, {"Size": "0x10"}, {"Size": "many"}, {})
    assert hits({"s": {"Size|lt": 10}, "condition": "s"}, events) == [0]
    assert hits({"s": {"Size|lte": 10}, "condition": "s"}, events) == [0, 1]
    assert hits({"s": {"Size|gt": 10}, "condition": "s"}, events) == [2]
    assert hits({"s": {"Size|gte": 10}, "condition": "s"}, events) == [1, 2]


def test_numbers_match_int_and_text_columns() -> None:
    events = table({"EventID": 1, "LogonType": "3"}, {"EventID": 1, "LogonType": "10"})
    assert hits({"s": {"EventID": 1, "LogonType": 3}, "condition": "s"}, events) == [0]
    assert hits({"s": {"EventID": "1", "LogonType": "10"}, "condition": "s"}, events) == [1]


def test_neq() -> None:
    events = table({"IntegrityLevel": "High"}, {"IntegrityLevel": "Low"})
    assert hits({"s": {"IntegrityLevel|neq": "high"}, "condition": "s"}, events) == [1]


def test_expand_with_and_without_placeholder_values() -> None:
    events = table({"Hostname": "DC01"}, {"Hostname": "WS07"})
    detection = {"s": {"Hostname|expand": "%DomainControllers%"}, "condition": "s"}
    assert hits(detection, events, placeholders={"DomainControllers": ["dc01", "dc02"]}) == [0]
    with pytest.raises(Unsupported, match="DomainControllers"):
        hits(detection, events)


def test_keywords_search_every_field() -> None:
    events = table(
        {"CommandLine": "mimikatz sekurlsa::logonpasswords"},
        {"ParentCommandLine": "x SEKURLSA::LOGONPASSWORDS"},
        {"CommandLine": "whoami"},
    )
    assert hits({"keywords": ["sekurlsa::logonpasswords"], "condition": "keywords"}, events) == [
        0,
        1,
    ]
    both = {"keywords": {"|all": ["mimikatz", "sekurlsa"]}, "condition": "keywords"}
    assert hits(both, events) == [0]
