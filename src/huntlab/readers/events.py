"""Stream records out of a source: detect each file's format, parse, normalise, count, reject.

``iter_records`` is the one loop every reader shares; ``iter_events`` yields canonical event
dicts and ``iter_raw`` the parsed objects untouched (the Elasticsearch ingest-pipeline path).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

from huntlab.errors import DataFormatError, json_problem
from huntlab.readers import mapping as m
from huntlab.readers.records import RawRecord
from huntlab.readers.report import Errors, ReadReport, RejectsWriter, default_rejects_path
from huntlab.readers.sources import (
    MAX_DECOMPRESSION_RATIO,
    MAX_RECORD_BYTES,
    ArchiveError,
    Limits,
    Member,
    OverLong,
    iter_bounded_lines,
    iter_members,
    list_files,
    over_long_problem,
    resolve_source,
)

_PCAP_MAGIC = (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4")
_UNKNOWN = "unknown"
_SKIP_HINT = "pass errors='skip' to set such lines aside and go on"


def _check_errors(errors: str) -> None:
    if errors not in ("raise", "skip"):
        raise ValueError(f"errors must be 'raise' or 'skip', not {errors!r}")


# A pcapng file begins with 0a 0d 0d 0a: split at line ends, a first line b"\n" and a second
# b"\r\r\n" (a classic pcap's magic, in _PCAP_MAGIC, is found in its first line).
_PCAPNG_LINES = (b"\n", b"\r\r\n")


def _pcapng_head(head: list[bytes], number: int, line: bytes | OverLong) -> bool:
    """Track line ``number`` of a member in ``head``; whether its first lines are now those
    of a pcapng file."""
    if number <= 2 and line == _PCAPNG_LINES[number - 1]:
        head.append(line)
    return head == list(_PCAPNG_LINES)


def _classify_first(line: bytes) -> tuple[str, dict[str, Any] | None]:
    """(kind, parsed record): kind is an event format, a table format, 'capture', 'not-json'
    or 'unknown'."""
    if line.startswith(_PCAP_MAGIC):
        return "capture", None
    if line.startswith(b"#separator"):
        return "zeek-tsv", None
    if line.startswith(b"type=") and b"msg=audit(" in line:
        return "auditd", None
    try:
        parsed = orjson.loads(line)
    except orjson.JSONDecodeError:
        return "not-json", None
    if not isinstance(parsed, dict):
        return "not-json", None
    return m.detect_event_format(parsed) or m.detect_table_format(parsed) or _UNKNOWN, parsed


def _decision(
    head: list[bytes], number: int, line: bytes
) -> tuple[str, dict[str, Any] | None] | None:
    """What line ``number`` of a member whose format is not known yet makes of it (over-long
    lines are the caller's): (kind, parsed record) as ``_classify_first`` says, 'capture'
    once its first lines are a pcapng file's, None for a blank line (it decides nothing).
    The read (``_member_records``) and the parallel read's first look (``first_format``)
    both decide with it."""
    if _pcapng_head(head, number, line):
        return "capture", None
    if not line.strip():
        return None
    return _classify_first(line)


class Run:
    """State of one read: the report, the rejects file, the error policy."""

    def __init__(
        self,
        source: str,
        errors: Errors,
        rejects: str | Path | None,
        report: ReadReport | None,
        limits: Limits | None = None,
    ) -> None:
        _check_errors(errors)
        self.errors = errors
        self.limits = limits or Limits()
        self.report = report if report is not None else ReadReport()
        self.lines = 0  # lines read of the last member read to its end
        self.stopped = False  # a file could not be read to its end (rejected as damaged)
        path = Path(rejects) if rejects is not None else default_rejects_path(source)
        self.rejects = RejectsWriter(path, self.report) if errors == "skip" else None

    def reject(
        self,
        file: str,
        line: int | None,
        reason: str,
        raw: bytes,
        hint: str = "",
        size: int | None = None,
    ) -> None:
        """Count and set aside one bad record (``raw``, or the first bytes of it when
        ``size`` says it was longer), or raise DataFormatError when errors='raise'."""
        if self.rejects is None:
            raise DataFormatError(file, line, reason, hint or _SKIP_HINT, skippable=not hint)
        self.report.read += 1
        self.report.rejected += 1
        self.rejects.write(file, line, reason, raw, size)

    def close(self) -> None:
        if self.rejects is not None:
            self.rejects.close()


def _member_records(
    run: Run, member: Member, dataset: str, fmt: str | None = None
) -> Iterator[RawRecord]:
    """The records of one member. ``fmt``: the member's format when it is known already
    (a later part of a file whose first record was classified apart), else None: the first
    record decides. Line numbers count from the start of ``member``'s stream; the number of
    lines read is left in ``run.lines`` at the end."""
    report = run.report
    number = 0
    head: list[bytes] = []  # the first lines, while they are those of a pcapng file
    loads = orjson.loads
    decode_error = orjson.JSONDecodeError
    max_record_bytes = run.limits.max_record_bytes
    for line in iter_bounded_lines(member, max_record_bytes):
        number += 1
        if isinstance(line, OverLong):
            problem = over_long_problem(line.size, max_record_bytes)
            run.reject(member.name, number, problem, line.prefix, size=line.size)
            continue
        if fmt is None:
            decision = _decision(head, number, line)
            if decision is None:
                continue
            kind, parsed = decision
            if kind in ("capture", "zeek-tsv") or kind in m.mapping()["tables"]:
                report.skipped[member.name] = (
                    "packet capture"
                    if kind == "capture"
                    else f"{kind} table: read it with huntlab.readers.read_table"
                )
                return
            if kind == "not-json":
                run.reject(member.name, number, "not a JSON object", line)
                continue
            if kind == _UNKNOWN:
                keys = ", ".join(sorted(parsed or {})[:12])
                report.files[member.name] = _UNKNOWN
                fmt = _UNKNOWN
                run.reject(
                    member.name,
                    number,
                    f"unknown format (keys: {keys})",
                    line,
                    "huntlab reads the 2019 Winlogbeat, 2020 NXLog and reduced Security-Datasets "
                    "formats; see docs/event-mapping.md",
                )
                continue
            fmt = kind
            report.files[member.name] = fmt
            report.read += 1
            yield RawRecord(member.name, number, fmt, dataset, parsed or {}, line)
            continue
        if fmt == _UNKNOWN:
            if line.strip():
                run.reject(member.name, number, "unknown format (file's first record)", line)
            continue
        try:
            parsed = loads(line)
        except decode_error as exc:
            if not line.strip():
                continue
            run.reject(member.name, number, json_problem(exc), line)
            continue
        if type(parsed) is not dict:
            run.reject(member.name, number, "not a JSON object", line)
            continue
        report.read += 1
        yield RawRecord(member.name, number, fmt, dataset, parsed, line)
    run.lines = number


def _records(run: Run, source: str | Path, dataset: str | None) -> Iterator[RawRecord]:
    path, name = resolve_source(source)
    yield from records_of_files(run, list_files(path), dataset or name, str(path))


def records_of_files(
    run: Run, files: list[Path], dataset: str | None, where: str
) -> Iterator[RawRecord]:
    """The records of ``files`` (``where`` names them all in errors)."""
    for file in files:
        yield from file_records(run, file, dataset)
    check_found(run.report, where)


def file_records(run: Run, file: Path, dataset: str | None) -> Iterator[RawRecord]:
    """The records of one file of a read (``records_of_files`` reads each in turn)."""
    from huntlab.readers import evtx  # here: evtx builds this module's RawRecords

    kind = evtx.file_kind(file)
    if kind is not None:  # a Windows .evtx file or evtx_dump's JSON
        yield from evtx.records(run, file, kind, dataset)
        return
    try:
        for member in iter_members(file, run.limits):
            member_dataset = dataset or m.dataset_name_from_file(member.archive)
            yield from _member_records(run, member, member_dataset)
    except ArchiveError as exc:
        _damaged(run, exc)


def _damaged(run: Run, exc: ArchiveError) -> None:
    """A file that could not be read on (damaged archive, failed read): one reject, and the
    rest of the file is not read."""
    run.stopped = True
    run.reject(
        exc.name,
        exc.line + 1,
        exc.problem,
        b"",
        "the archive is damaged: download it again (huntlab datasets get) "
        "or check it against its published checksum",
    )


def part_records(
    run: Run, member: Member, dataset: str | None, fmt: str | None
) -> Iterator[RawRecord]:
    """The records of ``member``, a part of a plain file (``fmt``: the file's format, None for
    its first part, whose first record decides it, as ``file_records`` would). A failed
    read is rejected as ``file_records`` rejects it (line numbers from the part's start), and
    ``run.stopped`` tells the caller that the file is not read further."""
    try:
        yield from _member_records(
            run, member, dataset or m.dataset_name_from_file(member.archive), fmt
        )
    except ArchiveError as exc:
        _damaged(run, exc)


def first_format(member: Member, max_record_bytes: int) -> str | None:
    """What the first record of ``member`` makes of it, as ``_member_records`` decides: an
    event format, a table format, 'capture', 'zeek-tsv' or 'unknown'; None when no line of
    ``member`` decides it (blank, over-long or not JSON objects, all of them)."""
    head: list[bytes] = []
    for number, line in enumerate(iter_bounded_lines(member, max_record_bytes), 1):
        if isinstance(line, OverLong):
            continue
        decision = _decision(head, number, line)
        if decision is not None and decision[0] != "not-json":
            return decision[0]
    return None


def check_found(report: ReadReport, where: str) -> None:
    """Refuse a read that found only tables and captures, no event file (a silent empty
    table otherwise)."""
    if not report.files and report.skipped:
        what = "; ".join(f"{k}: {v}" for k, v in report.skipped.items())
        raise DataFormatError(
            where,
            None,
            f"no Windows event file here ({what})",
            "read such files with huntlab.readers.read_table (huntlab read --table)",
        )


def iter_records(
    source: str | Path,
    *,
    errors: Errors = "raise",
    rejects: str | Path | None = None,
    report: ReadReport | None = None,
    dataset: str | None = None,
    max_record_bytes: int = MAX_RECORD_BYTES,
    max_decompression_ratio: int = MAX_DECOMPRESSION_RATIO,
) -> Iterator[RawRecord]:
    """Every JSON record of the event files in ``source``, with file, line, format and dataset.

    Counts ``read`` as records are handed out; the caller counts ``kept``. A line longer
    than ``max_record_bytes`` is a rejected record; a compressed member that expands beyond
    ``max_decompression_ratio`` times its size raises DataFormatError (docs/event-mapping.md,
    "Limits"). Table files (Azure
    exports, Zeek logs) and packet captures are skipped and named in ``report.skipped``.
    """
    limits = Limits(max_record_bytes, max_decompression_ratio)
    run = Run(str(source), errors, rejects, report, limits)
    try:
        yield from _records(run, source, dataset)
    finally:
        run.close()


def iter_events(
    source: str | Path,
    *,
    errors: Errors = "raise",
    rejects: str | Path | None = None,
    report: ReadReport | None = None,
    dataset: str | None = None,
    max_record_bytes: int = MAX_RECORD_BYTES,
    max_decompression_ratio: int = MAX_DECOMPRESSION_RATIO,
) -> Iterator[dict[str, Any]]:
    """Canonical events of ``source`` as flat dicts, streamed (docs/event-mapping.md).

    ``@timestamp`` is ISO-8601 UTC text (``2019-03-19T19:31:15.524Z``), ``EventID`` an int,
    every other value a string. ``report`` (a ReadReport) is filled as it goes. A record
    that cannot be normalised, for whatever reason, is rejected with that reason.
    """
    limits = Limits(max_record_bytes, max_decompression_ratio)
    run = Run(str(source), errors, rejects, report, limits)
    try:
        for _, event in normalised(run, _records(run, source, dataset)):
            run.report.kept += 1
            yield event
    finally:
        run.close()


def normalised(
    run: Run, records: Iterable[RawRecord]
) -> Iterator[tuple[RawRecord, dict[str, Any]]]:
    """Each record of ``records`` with its canonical event (``Dataset`` set); a record that
    cannot be normalised, for whatever reason, is rejected with that reason. The caller
    counts ``kept``."""
    counts = run.report
    dataset_key = m.dataset_field()
    normalisers: dict[str, m.Normaliser] = {}
    for record in records:
        normalise = normalisers.get(record.format)
        if normalise is None:
            normalise = normalisers[record.format] = m.normaliser(record.format)
        try:
            event = normalise(record.data)
        except m.RecordError as exc:
            counts.read -= 1  # counted when handed out; reject() counts it again
            run.reject(record.file, record.line, str(exc), record.raw)
            continue
        except Exception as exc:  # the guarantee: every record is kept or rejected
            # Whatever else a record makes fail (a field nested deeper than JSON can be
            # written back, a number out of range) is that record's fault, not the run's.
            counts.read -= 1
            reason = f"cannot be normalised ({type(exc).__name__}: {exc})"
            run.reject(record.file, record.line, reason, record.raw)
            continue
        event[dataset_key] = record.dataset
        yield record, event


def iter_raw(
    source: str | Path,
    *,
    errors: Errors = "raise",
    rejects: str | Path | None = None,
    report: ReadReport | None = None,
    dataset: str | None = None,
    max_record_bytes: int = MAX_RECORD_BYTES,
    max_decompression_ratio: int = MAX_DECOMPRESSION_RATIO,
) -> Iterator[dict[str, Any]]:
    """The parsed JSON objects of the event files in ``source``, untouched (the ingest
    pipeline normalises them); same error handling and report as ``iter_events``."""
    limits = Limits(max_record_bytes, max_decompression_ratio)
    run = Run(str(source), errors, rejects, report, limits)
    try:
        for record in _records(run, source, dataset):
            run.report.kept += 1
            yield record.data
    finally:
        run.close()
