"""Bad input: files made corrupt here, from the real recordings, give the documented errors
(docs/event-mapping.md, "Bad input") or the documented reject counts."""

from __future__ import annotations

import gzip
import json
import zipfile
from pathlib import Path

import pytest

import huntlab
from huntlab.errors import DataFormatError
from huntlab.readers import ReadReport, iter_events
from tests.support.readers_data import EMPIRE_2019, IWBEM_2020, raw_lines


def _rejects(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def iwbem_lines(datasets_dir: Path) -> list[bytes]:
    return list(raw_lines(datasets_dir / IWBEM_2020))


def test_truncated_gzip_tarball(datasets_dir: Path, tmp_path: Path) -> None:
    data = (datasets_dir / EMPIRE_2019).read_bytes()
    broken = tmp_path / "empire_invoke_wmi.tar.gz"
    broken.write_bytes(data[: len(data) // 2])

    with pytest.raises(DataFormatError) as caught:
        huntlab.read_events(broken)
    assert str(broken) in str(caught.value) and "truncated" in str(caught.value)
    assert caught.value.line is not None and caught.value.line > 1

    report = ReadReport()
    rejects = tmp_path / "rejects.jsonl"
    frame = huntlab.read_events(broken, errors="skip", rejects=rejects, report=report)
    assert 0 < report.kept == len(frame) < 5189
    assert report.read == report.kept + report.rejected
    entries = _rejects(rejects)
    assert len(entries) == report.rejected >= 1
    assert "truncated" in str(entries[-1]["reason"]) and entries[-1]["line"] == report.read
    assert report.rejects_path == rejects


def test_gzip_json_lines_truncated(iwbem_lines: list[bytes], tmp_path: Path) -> None:
    whole = gzip.compress(b"".join(iwbem_lines))
    broken = tmp_path / "events.json.gz"
    broken.write_bytes(whole[: len(whole) - 200])
    with pytest.raises(DataFormatError, match="truncated"):
        huntlab.read_events(broken)


def test_broken_line(iwbem_lines: list[bytes], tmp_path: Path) -> None:
    lines = list(iwbem_lines)
    lines[9] = lines[9][: len(lines[9]) // 2] + b"\n"  # line 10 cut in the middle
    lines[99] = b"not json at all\n"  # line 100
    path = tmp_path / "empire_wmi_2020-09-21001437.json"
    path.write_bytes(b"".join(lines))

    with pytest.raises(DataFormatError) as caught:
        huntlab.read_events(path)
    assert caught.value.path == str(path) and caught.value.line == 10
    assert "errors='skip'" in str(caught.value)

    report = ReadReport()
    rejects = tmp_path / "rejects.jsonl"
    frame = huntlab.read_events(path, errors="skip", rejects=rejects, report=report)
    assert (report.read, report.kept, report.rejected) == (6383, 6381, 2)
    assert len(frame) == 6381
    assert set(frame["Dataset"]) == {"empire_wmi"}  # capture time stripped from the name
    entries = _rejects(rejects)
    assert [e["line"] for e in entries] == [10, 100]
    assert entries[1]["raw"] == "not json at all"
    assert entries[0]["raw"] == lines[9].decode().rstrip("\n")
    assert all(e["file"] == str(path) for e in entries)


def test_zip_with_broken_line(iwbem_lines: list[bytes], tmp_path: Path) -> None:
    lines = list(iwbem_lines)
    lines[0] = b"{\n"
    path = tmp_path / "broken.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        out.writestr("broken.json", b"".join(lines))
    with pytest.raises(DataFormatError) as caught:
        huntlab.read_events(path)
    assert caught.value.path == f"{path}!broken.json" and caught.value.line == 1
    report = ReadReport()
    huntlab.read_events(path, errors="skip", rejects=tmp_path / "r.jsonl", report=report)
    assert (report.read, report.kept, report.rejected) == (6383, 6382, 1)


def test_unknown_format(tmp_path: Path) -> None:
    path = tmp_path / "other.jsonl"
    path.write_text('{"alpha": 1, "beta": "x"}\n{"alpha": 2}\n\n{"alpha": 3}\n', encoding="utf-8")
    with pytest.raises(DataFormatError) as caught:
        huntlab.read_events(path)
    assert caught.value.line == 1 and "unknown format" in str(caught.value)
    assert "alpha, beta" in str(caught.value)
    report = ReadReport()
    rejects = tmp_path / "rejects.jsonl"
    frame = huntlab.read_events(path, errors="skip", rejects=rejects, report=report)
    assert (report.read, report.kept, report.rejected) == (3, 0, 3)
    assert len(frame) == 0
    assert [e["line"] for e in _rejects(rejects)] == [1, 2, 4]


def test_not_an_archive(tmp_path: Path) -> None:
    path = tmp_path / "fake.zip"
    path.write_bytes(b"this is not a zip file\n" * 10)
    with pytest.raises(DataFormatError, match="not a readable zip"):
        huntlab.read_events(path)


def test_bad_event_id_is_rejected(iwbem_lines: list[bytes], tmp_path: Path) -> None:
    records = [json.loads(line) for line in iwbem_lines[:20]]
    records[4]["EventID"] = "four thousand"
    path = tmp_path / "bad_id.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    with pytest.raises(DataFormatError, match="EventID") as caught:
        list(iter_events(path))
    assert caught.value.line == 5
    report = ReadReport()
    kept = list(iter_events(path, errors="skip", rejects=tmp_path / "r.jsonl", report=report))
    assert len(kept) == 19 and (report.read, report.kept, report.rejected) == (20, 19, 1)


def test_errors_argument_is_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="errors"):
        huntlab.read_events(tmp_path, errors="ignore")  # type: ignore[arg-type]


def test_cli_read_reports_counts_and_errors(iwbem_lines: list[bytes], tmp_path: Path) -> None:
    import subprocess
    import sys

    lines = list(iwbem_lines)
    lines[2] = b"{oops\n"
    path = tmp_path / "events.json"
    path.write_bytes(b"".join(lines))
    failed = subprocess.run(
        [sys.executable, "-m", "huntlab", "read", str(path)], capture_output=True, text=True
    )
    assert failed.returncode == 1
    assert f"{path}, line 3" in failed.stderr and "Traceback" not in failed.stderr

    rejects = tmp_path / "rejects.jsonl"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "huntlab",
            "read",
            str(path),
            "--errors",
            "skip",
            "--rejects",
            str(rejects),
            "--format",
            "csv",
            "--columns",
            "EventID,Hostname",
            "--limit",
            "4",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    rows = done.stdout.strip().splitlines()
    assert rows[0] == "EventID,Hostname" and len(rows) == 5
    assert "read 6,383, kept 6,382, rejected 1" in done.stderr
    assert [e["line"] for e in _rejects(rejects)] == [3]
