"""Malformed records of many kinds, made at random from real ones: every record is read and
then kept or rejected with a reason (``read == kept + rejected``), and nothing but
``DataFormatError`` ever leaves a read."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path

import pytest

import huntlab
from huntlab.errors import DataFormatError
from huntlab.readers import ReadReport
from tests.support.readers_data import EMPIRE_2019, IWBEM_2020, LSASS_REDUCED, raw_lines

SEED = 20240611
Mutation = Callable[[random.Random, bytes], bytes]


def _set(line: bytes, key: str, value: bytes) -> bytes:
    """``line`` with ``"key": value`` added at its end (value is raw JSON text)."""
    body = line.rstrip(b"\r\n").rstrip()
    assert body.endswith(b"}")
    return body[:-1] + b', "' + key.encode() + b'": ' + value + b"}\n"


def _some_key(rnd: random.Random, line: bytes) -> str:
    keys = list(json.loads(line))
    return rnd.choice([*keys, "EventID", "@timestamp", "Channel", "UtcTime", "event_data"])


def _nest(rnd: random.Random, line: bytes) -> bytes:
    depth = rnd.choice([1, 50, 254, 255, 256, 300, 1100])
    opener, closer = rnd.choice([(b"[", b"]"), (b'{"a":', b"}")])
    return _set(line, _some_key(rnd, line), opener * depth + b"1" + closer * depth)


def _huge_number(rnd: random.Random, line: bytes) -> bytes:
    value = rnd.choice(
        [b"1e400", b"-1e400", b"9" * 5000, b"-" + b"9" * 30, b"18446744073709551616", b"1.5"]
    )
    return _set(line, _some_key(rnd, line), value)


def _invalid_utf8(rnd: random.Random, line: bytes) -> bytes:
    at = rnd.randrange(1, len(line) - 2)
    return line[:at] + rnd.choice([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x80\x80"]) + line[at:]


def _nul(rnd: random.Random, line: bytes) -> bytes:
    if rnd.random() < 0.5:
        at = rnd.randrange(1, len(line) - 2)
        return line[:at] + b"\x00" + line[at:]
    return _set(line, _some_key(rnd, line), b'"a\\u0000b"')


def _not_an_object(rnd: random.Random, line: bytes) -> bytes:
    return rnd.choice([b"[]", b"1", b'"text"', b"null", b"true", b"[" + line.strip() + b"]"]) + (
        b"\n"
    )


def _duplicate_key(rnd: random.Random, line: bytes) -> bytes:
    key = _some_key(rnd, line)
    return _set(line, key, rnd.choice([b"null", b'"x"', b"{}", b"[1, 2]", b"4688"]))


def _surrogate(rnd: random.Random, line: bytes) -> bytes:
    value = rnd.choice([b'"\\ud800"', b'"\\udfff x"', b'"\\ud83d\\ude00"', b'"\\ud800\\u0041"'])
    return _set(line, _some_key(rnd, line), value)


def _odd_value(rnd: random.Random, line: bytes) -> bytes:
    key = rnd.choice(["@timestamp", "UtcTime", "EventID", "Channel", "computer_name", "event_id"])
    value = rnd.choice(
        [
            b'"0001-01-01T00:00:00+01:00"',
            b'"9999-12-31T23:59:59.999Z"',
            b'"1500-01-01T00:00:00Z"',
            b'"2019-13-45"',
            b'""',
            b"12345",
            b"true",
            b'{"x": 1}',
            b'"4688.0"',
            b'"  7 "',
            b'"\\u0130"',
        ]
    )
    return _set(line, key, value)


def _cut(rnd: random.Random, line: bytes) -> bytes:
    return line[: rnd.randrange(0, len(line))] + b"\n"


def _odd_key(rnd: random.Random, line: bytes) -> bytes:
    key = rnd.choice(["", "a.b", "k" * 3000, "ProcessID", "processid", "\\u00e9", "@metadata"])
    return _set(line, key, b'"v"')


MUTATIONS: list[Mutation] = [
    _nest,
    _huge_number,
    _invalid_utf8,
    _nul,
    _not_an_object,
    _duplicate_key,
    _surrogate,
    _odd_value,
    _cut,
    _odd_key,
]


@pytest.fixture(scope="module", params=[EMPIRE_2019, IWBEM_2020, LSASS_REDUCED])
def real_lines(request: pytest.FixtureRequest, datasets_dir: Path) -> list[bytes]:
    return [line for line in list(raw_lines(datasets_dir / request.param))[:200] if line.strip()]


def _mutated(seed: int, lines: list[bytes], count: int) -> list[bytes]:
    rnd = random.Random(seed)
    out = list(lines[:count])
    for i in range(1, count):  # the first stays valid: it sets the file's format
        if rnd.random() < 0.6:
            out[i] = rnd.choice(MUTATIONS)(rnd, out[i])
            if not out[i].endswith(b"\n"):
                out[i] += b"\n"
    return out


def test_fuzzed_records_are_kept_or_rejected(real_lines: list[bytes], tmp_path: Path) -> None:
    for round_ in range(8):
        lines = _mutated(SEED + round_, real_lines, 150)
        path = tmp_path / f"fuzz_{round_}.json"
        path.write_bytes(b"".join(lines))
        report = ReadReport()
        frame = huntlab.read_events(
            path, errors="skip", rejects=tmp_path / f"r{round_}.jsonl", report=report
        )
        assert report.read == report.kept + report.rejected == len(lines), path
        assert len(frame) == report.kept


def test_fuzzed_records_raise_only_data_format_errors(
    real_lines: list[bytes], tmp_path: Path
) -> None:
    rnd = random.Random(SEED)
    for i, mutate in enumerate(MUTATIONS * 3):
        lines = list(real_lines[:5])
        lines[3] = mutate(rnd, lines[3])
        path = tmp_path / f"one_{i}.json"
        path.write_bytes(b"".join(lines))
        try:
            frame = huntlab.read_events(path)
        except DataFormatError as exc:
            assert exc.path == str(path) and exc.line == 4, (mutate.__name__, exc)
        else:
            assert len(frame) == 5, mutate.__name__
