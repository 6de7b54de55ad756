"""Bounded input (docs/event-mapping.md, "Limits"): an over-long record is rejected with its
file and line and never held whole, an archive member may not expand beyond a ratio of its
compressed size, and every record that cannot be normalised is a rejected record with its
reason; nothing else escapes a read."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

import huntlab
from huntlab.errors import DataFormatError
from huntlab.readers import ReadReport, iter_events, iter_raw
from huntlab.readers.sources import iter_lines, iter_members
from tests.support.readers_data import EMPIRE_2019, IWBEM_2020, raw_lines

MIB = 1024 * 1024


def _rejects(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def iwbem_lines(datasets_dir: Path) -> list[bytes]:
    return list(raw_lines(datasets_dir / IWBEM_2020))[:20]


@pytest.fixture(scope="module")
def empire_lines(datasets_dir: Path) -> list[bytes]:
    return list(raw_lines(datasets_dir / EMPIRE_2019))[:20]


@pytest.fixture(scope="module")
def long_line_zip(iwbem_lines: list[bytes], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 400 KB holding three events, one 400 MB line, three events (written in pieces:
    the test process never holds the line either)."""
    path = tmp_path_factory.mktemp("bomb") / "long_line.zip"
    block = b"a" * MIB
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("long_line.json", "w", force_zip64=True) as out,
    ):
        out.write(b"".join(iwbem_lines[:3]))
        out.write(b'{"EventID": 1, "Message": "')
        for _ in range(400):
            out.write(block)
        out.write(b'"}\n')
        out.write(b"".join(iwbem_lines[3:6]))
    assert path.stat().st_size < 1 * MIB
    return path


# Runs the CLI as a child and prints the child's peak resident set size (kB, Linux).
_PEAK_RSS = textwrap.dedent(
    """
    import resource, subprocess, sys
    done = subprocess.run([sys.executable, "-m", "huntlab", *sys.argv[1:]])
    print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)
    sys.exit(done.returncode)
    """
)


def test_a_400_mb_line_is_rejected_in_bounded_memory(long_line_zip: Path, tmp_path: Path) -> None:
    rejects = tmp_path / "rejects.jsonl"
    # The decompression bound is raised: this test is about the record bound alone.
    command = f"read {long_line_zip} --errors skip --rejects {rejects} --format csv"
    command += " --max-decompression-ratio 5000"
    done = subprocess.run(
        [sys.executable, "-c", _PEAK_RSS, *command.split()], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    peak_kb = int(done.stderr.strip().splitlines()[-1])
    assert peak_kb < 300 * 1024, f"peak RSS {peak_kb} kB"
    assert "read 7, kept 6, rejected 1" in done.stderr
    [entry] = _rejects(rejects)
    assert entry["file"] == f"{long_line_zip}!long_line.json" and entry["line"] == 4
    assert "longer than" in str(entry["reason"]) and "--max-record-bytes" in str(entry["reason"])
    assert entry["raw_bytes"] == 400 * MIB + len(b'{"EventID": 1, "Message": ""}\n')
    assert entry["truncated"] is True
    assert str(entry["raw"]).startswith('{"EventID": 1, "Message": "aaa')
    assert rejects.stat().st_size < 1 * MIB


def test_an_over_long_line_stops_a_strict_read_with_file_and_line(
    iwbem_lines: list[bytes], tmp_path: Path
) -> None:
    lines = list(iwbem_lines)
    lines[6] = b'{"EventID": 1, "Message": "' + b"x" * 5000 + b'"}\n'
    path = tmp_path / "events.json"
    path.write_bytes(b"".join(lines))
    with pytest.raises(DataFormatError) as caught:
        list(iter_events(path, max_record_bytes=4096))
    assert caught.value.path == str(path) and caught.value.line == 7
    assert "longer than 4,096 bytes" in str(caught.value)

    report = ReadReport()
    rejects = tmp_path / "rejects.jsonl"
    kept = list(
        iter_events(path, errors="skip", rejects=rejects, report=report, max_record_bytes=4096)
    )
    assert len(kept) == 19 and (report.read, report.kept, report.rejected) == (20, 19, 1)
    [entry] = _rejects(rejects)
    assert entry["line"] == 7 and entry["raw_bytes"] == len(lines[6])
    # The default bound is far above any real event: the same file reads whole.
    assert len(list(iter_events(path))) == 20


def test_the_line_after_an_over_long_one_is_read(tmp_path: Path, iwbem_lines: list[bytes]) -> None:
    # The over-long line ends exactly at a block boundary and the file has no final newline.
    path = tmp_path / "edge.json"
    path.write_bytes(b"x" * (3 * MIB - 1) + b"\n" + iwbem_lines[0].rstrip(b"\n"))
    report = ReadReport()
    events = list(
        iter_events(
            path, errors="skip", rejects=tmp_path / "r.jsonl", report=report, max_record_bytes=MIB
        )
    )
    assert len(events) == 1 and (report.read, report.rejected) == (2, 1)


def test_line_reading_is_unchanged_for_every_shared_file(datasets_dir: Path) -> None:
    """Every member of every real archive has the same lines as the standard library reads."""
    files = sorted(p for p in datasets_dir.rglob("*") if p.suffix.lower() in (".zip", ".gz"))
    assert len(files) >= 14
    for file in files:
        for member in iter_members(file):
            inner = member.name.rsplit("!", 1)[-1]
            if file.suffix.lower() == ".zip":
                with zipfile.ZipFile(file) as archive, archive.open(inner) as stream:
                    expected = list(stream)  # io's lines: split at b"\n" only
            else:
                expected = list(raw_lines(file))
            assert list(iter_lines(member)) == expected, member.name


def test_an_archive_member_may_not_expand_without_bound(long_line_zip: Path) -> None:
    with pytest.raises(DataFormatError) as caught:
        list(iter_events(long_line_zip, errors="skip", rejects=long_line_zip.with_suffix(".r")))
    text = str(caught.value)
    assert f"{long_line_zip}!long_line.json" in text
    assert "--max-decompression-ratio" in text and "200" in text


def test_a_gzip_file_may_not_expand_without_bound(tmp_path: Path) -> None:
    path = tmp_path / "blank.json.gz"
    with gzip.open(path, "wb") as out:
        for _ in range(100 * 16):
            out.write(b" " * (MIB // 16 - 1) + b"\n")  # blank lines
    assert path.stat().st_size < MIB // 2
    with pytest.raises(DataFormatError, match="max-decompression-ratio"):
        list(iter_events(path))
    assert list(iter_events(path, max_decompression_ratio=5000)) == []


def test_real_recordings_expand_far_below_the_bound(datasets_dir: Path) -> None:
    # The largest ratio among the shared recordings is about 30x; the default is 200x.
    for name in (EMPIRE_2019, IWBEM_2020):
        assert sum(1 for _ in iter_raw(datasets_dir / name, max_decompression_ratio=40)) > 5000


def _deep(depth: int) -> bytes:
    return b'{"EventID": 4688, "Nested": ' + b"[" * depth + b"]" * depth + b"}"


def test_a_record_that_cannot_be_normalised_is_rejected(
    iwbem_lines: list[bytes], empire_lines: list[bytes], tmp_path: Path
) -> None:
    first = json.loads(iwbem_lines[0])
    deep = json.dumps(first)[:-1].encode() + b', "Deep": ' + b"[" * 300 + b"]" * 300 + b"}\n"
    lines = list(iwbem_lines)
    lines[4] = deep
    path = tmp_path / "deep.json"
    path.write_bytes(b"".join(lines))
    with pytest.raises(DataFormatError) as caught:
        huntlab.read_events(path)
    assert caught.value.path == str(path) and caught.value.line == 5
    report = ReadReport()
    rejects = tmp_path / "rejects.jsonl"
    frame = huntlab.read_events(path, errors="skip", rejects=rejects, report=report)
    assert len(frame) == 19 and (report.read, report.kept, report.rejected) == (20, 19, 1)
    [entry] = _rejects(rejects)
    assert entry["line"] == 5 and "cannot be normalised" in str(entry["reason"])
    assert entry["raw"] == deep.decode().rstrip("\n")

    command = f"read {path} --errors skip --rejects {tmp_path / 'cli.jsonl'}".split()
    done = subprocess.run(
        [sys.executable, "-m", "huntlab", *command], capture_output=True, text=True
    )
    assert done.returncode == 0 and "Traceback" not in done.stderr
    assert "read 20, kept 19, rejected 1" in done.stderr
