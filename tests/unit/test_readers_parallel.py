"""Large reads in worker processes (readers/parallel.py) give what one process gives: the same
table (rows, values, category order), counts, rejects file (line numbers of the whole file)
and first error, on real recordings cut into many parts, with bad lines planted in later
parts. The thresholds are lowered so that a few megabytes take the workers' path."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import huntlab
from huntlab.errors import DataFormatError
from huntlab.readers import Limits, ReadReport
from huntlab.readers import parallel as parallel_module
from tests.support.readers_data import EMPIRE_2019, IWBEM_2020, LAUNCHER_VBS, raw_lines

MAX_RECORD = 64 * 1024


def _plant(lines: list[bytes], every: int, bad: list[bytes]) -> tuple[bytes, list[int]]:
    """``lines`` with one of ``bad`` after every ``every``-th; the bad lines' line numbers."""
    out: list[bytes] = []
    planted: list[int] = []
    for number, line in enumerate(lines, 1):
        out.append(line)
        if number % every == 0:
            out.append(bad[(number // every) % len(bad)])
            planted.append(len(out))
    return b"".join(out), planted


@pytest.fixture(scope="module")
def folder(datasets_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A folder of three plain JSON-lines files big enough to be cut into parts, and an
    archive read whole. Bad lines of every kind the loop rejects sit all along the files."""
    root = tmp_path_factory.mktemp("parallel")
    bad = [
        b"{broken\n",  # not JSON
        b"[1, 2]\n",  # not an object
        b'{"EventID": "seven", "Channel": "Security"}\n',  # cannot be normalised
        b'{"Message": "' + b"x" * (MAX_RECORD + 10) + b'"}\n',  # over the record bound
        b"\n",  # blank: skipped, but counted as a line
    ]
    empire = list(raw_lines(datasets_dir / EMPIRE_2019))[:3000]
    text, planted = _plant(empire, 400, bad)
    (root / "a_2019.json").write_bytes(text)
    iwbem = list(raw_lines(datasets_dir / IWBEM_2020))[:2500]
    # The first lines decide nothing (not JSON objects), the last has no line end.
    text, _ = _plant(iwbem, 700, bad)
    (root / "b_2020.json").write_bytes(b"not json\n\n" + text.rstrip(b"\n"))
    shutil.copy(datasets_dir / LAUNCHER_VBS, root / "c_launcher.zip")
    return {"path": root, "planted": planted}


def _read(source: Path, workers: int, **options: Any) -> tuple[Any, ReadReport]:
    report = ReadReport()
    try:
        frame = parallel_module.read_frame(
            source,
            report=report,
            dataset=None,
            progress=False,
            limits=Limits(max_record_bytes=MAX_RECORD),
            workers=workers,
            **{"rejects": None, "categorical": True, **options},
        )
    except DataFormatError as exc:
        return exc, report
    return frame, report


@pytest.fixture
def small_parts(monkeypatch: pytest.MonkeyPatch) -> list[list[parallel_module.Part]]:
    """Parts of 64 KiB to 1 MiB; the parts of each read with workers, as planned."""
    monkeypatch.setattr(parallel_module, "MIN_PART_BYTES", 64 * 1024)
    monkeypatch.setattr(parallel_module, "MAX_PART_BYTES", 1024 * 1024)
    planned: list[list[parallel_module.Part]] = []
    _after_planning(monkeypatch, planned.append)
    return planned


def _after_planning(
    monkeypatch: pytest.MonkeyPatch, action: Callable[[list[parallel_module.Part]], object]
) -> None:
    """``action(parts)`` each time a read has cut its input into parts."""
    plan = parallel_module.plan

    def planned(*args: Any, **kwargs: Any) -> list[parallel_module.Part]:
        parts = plan(*args, **kwargs)
        action(parts)
        return parts

    monkeypatch.setattr(parallel_module, "plan", planned)


def _same(one: pd.DataFrame, other: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(one, other)
    for name in one.columns:
        if isinstance(one[name].dtype, pd.CategoricalDtype):
            assert list(one[name].cat.categories) == list(other[name].cat.categories), name


@pytest.mark.parametrize("categorical", [True, False])
def test_workers_give_the_table_counts_and_rejects_of_one_process(
    folder: dict[str, Any],
    small_parts: list[list[parallel_module.Part]],
    tmp_path: Path,
    categorical: bool,
) -> None:
    source = folder["path"]
    options = {"errors": "skip", "categorical": categorical}
    alone, alone_report = _read(source, 0, rejects=tmp_path / "alone.jsonl", **options)
    shared, shared_report = _read(source, 2, rejects=tmp_path / "shared.jsonl", **options)

    parts = small_parts[-1]
    by_file = {part.file.name: sum(p.file == part.file for p in parts) for part in parts}
    assert by_file["a_2019.json"] >= 4 and by_file["b_2020.json"] >= 3, by_file
    assert by_file["c_launcher.zip"] == 1  # an archive is read whole

    _same(alone, shared)
    assert len(shared) > 5000
    for report in (alone_report, shared_report):
        assert report.read == report.kept + report.rejected
    assert (shared_report.read, shared_report.kept, shared_report.rejected) == (
        alone_report.read,
        alone_report.kept,
        alone_report.rejected,
    )
    assert shared_report.files == alone_report.files
    assert shared_report.rejects_path == tmp_path / "shared.jsonl"
    # The same rejects, in the same order, with the line numbers of the whole file.
    assert (tmp_path / "shared.jsonl").read_bytes() == (tmp_path / "alone.jsonl").read_bytes()
    rejected = pd.read_json(tmp_path / "shared.jsonl", lines=True)
    in_a = rejected[rejected["file"].str.endswith("a_2019.json")]
    planted = [line for n, line in enumerate(folder["planted"], 1) if n % 5 != 4]  # no blank
    assert list(in_a["line"]) == planted[: len(in_a)]
    assert len(in_a) == len(planted)
    assert not list(tmp_path.glob(".parts-*")), "the parts' rejects files were left behind"


def test_the_first_bad_line_in_file_order_is_raised_from_a_later_part(
    folder: dict[str, Any], small_parts: list[list[parallel_module.Part]]
) -> None:
    source = folder["path"]
    alone, _ = _read(source, 0, errors="raise")
    shared, _ = _read(source, 2, errors="raise")
    assert isinstance(alone, DataFormatError) and isinstance(shared, DataFormatError)
    first = folder["planted"][0]
    assert (shared.path, shared.line) == (str(source / "a_2019.json"), first)
    assert str(shared) == str(alone)
    # It lies in a part after the first: its line number was made whole by the parent.
    parts = [p for p in small_parts[-1] if p.file.name == "a_2019.json"]
    assert parts[1].start < len(
        b"".join((source / "a_2019.json").read_bytes().splitlines(True)[:first])
    )


def test_read_events_takes_the_workers_path_on_large_input(
    folder: dict[str, Any],
    small_parts: list[list[parallel_module.Part]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(parallel_module, "PARALLEL_BYTES", 1)
    monkeypatch.setattr(parallel_module, "usable_cores", lambda: 2)
    report = ReadReport()
    frame = huntlab.read_events(
        folder["path"], cache=False, errors="skip", report=report, max_record_bytes=MAX_RECORD
    )
    assert len(small_parts) == 1 and len(small_parts[0]) > 3
    alone, alone_report = _read(folder["path"], 0, errors="skip")
    _same(alone, frame)
    assert report.kept == alone_report.kept == len(frame)


def test_columns_with_more_values_than_16_bit_codes_hold_added_and_joined() -> None:
    """Codes are 16-bit until a column has 32,767 distinct values, then 32-bit: the values
    and their order survive the change, in one builder and across joined ones."""
    from huntlab.readers.frame import ColumnBuilder

    def events(start: int, stop: int) -> list[dict[str, Any]]:
        return [
            {"EventID": 1, "CommandLine": f"cmd {n}", "Image": f"img{n % 3}"}
            | ({"ProcessId": n} if n % 2 else {})
            for n in range(start, stop)
        ]

    whole = ColumnBuilder()
    whole.add(events(0, 70_000))
    first, second = ColumnBuilder(), ColumnBuilder()
    first.add(events(0, 30_000))  # still 16-bit: joined into, then widened
    second.add(events(30_000, 70_000))  # widened on its own
    first.extend(second)
    for built in (whole.frame(categorical=False), first.frame(categorical=False)):
        assert list(built["CommandLine"]) == [f"cmd {n}" for n in range(70_000)]
        assert list(built["Image"]) == [f"img{n % 3}" for n in range(70_000)]
        assert built["ProcessId"].isna().sum() == 35_000
        assert built["ProcessId"].dropna().tolist() == list(range(1, 70_000, 2))


def test_a_read_that_fails_in_a_later_part_stops_that_file_as_one_process_does(
    folder: dict[str, Any],
    small_parts: list[list[parallel_module.Part]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A read error (a failing disk, say) in the third part of a file: the rows before it are
    kept, one reject names the line after the last one read, and nothing after it is read,
    exactly as one process that hit the error there (the file cut at that point)."""
    source = folder["path"] / "a_2019.json"
    read = parallel_module._Window.read
    failing: dict[str, int] = {}

    def failing_read(self: Any, size: int = -1, /) -> bytes:
        if getattr(self, "start", None) == failing.get("start"):
            raise OSError(5, "Input/output error")
        return read(self, size)

    init = parallel_module._Window.__init__

    def remember_start(self: Any, stream: Any, start: int, end: int | None) -> None:
        self.start = start
        init(self, stream, start, end)

    monkeypatch.setattr(parallel_module._Window, "__init__", remember_start)
    monkeypatch.setattr(parallel_module._Window, "read", failing_read)
    parts = parallel_module.plan([source], Limits(max_record_bytes=MAX_RECORD), 1024 * 1024)
    failing["start"] = parts[2].start
    shared, report = _read(source, 2, errors="skip", rejects=tmp_path / "shared.jsonl")

    cut = tmp_path / "cut" / "a_2019.json"
    cut.parent.mkdir()
    cut.write_bytes(source.read_bytes()[: parts[2].start])
    alone, alone_report = _read(cut, 0, errors="skip", rejects=tmp_path / "alone.jsonl")
    _same(alone, shared)
    assert report.kept == alone_report.kept and report.rejected == alone_report.rejected + 1
    last = pd.read_json(tmp_path / "shared.jsonl", lines=True).iloc[-1]
    assert last["line"] == cut.read_bytes().count(b"\n") + 1
    assert last["reason"].startswith("corrupt or truncated")


def test_a_file_replaced_during_the_read_is_refused(
    folder: dict[str, Any],
    small_parts: list[list[parallel_module.Part]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A log rotated between the cutting and the reading of its parts: the parts would read
    another file at the old offsets; the read refuses instead of mixing the two."""
    path = tmp_path / "events.json"
    shutil.copy(folder["path"] / "a_2019.json", path)

    def rotate(parts: list[parallel_module.Part]) -> None:
        fresh = tmp_path / "fresh.json"
        shutil.copy(path, fresh)
        fresh.replace(path)  # the same bytes, another file

    _after_planning(monkeypatch, rotate)
    error, _ = _read(path, 2, errors="skip", rejects=tmp_path / "rejects.jsonl")
    assert isinstance(error, DataFormatError)
    assert "replaced or rewritten while it was read" in str(error)
