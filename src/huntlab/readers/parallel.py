"""Large reads in worker processes: the same table, counts, rejects and errors as one process.

Parsing, normalising and building columns are Python work that holds the GIL: one core. When
the files of a read add up to ``PARALLEL_BYTES`` or more and the process may use several cores,
the read is cut into parts, in order: each archive, compressed file or ``.evtx`` file whole,
each plain JSON-lines file in parts of about ``part_bytes`` cut just after a line end. Worker
processes, forked for the read and stopped after it, read one part each with the very loop of
the sequential read (``events.file_records`` / ``events.part_records``, then ``normalised``:
the same bounds, normalisation and rejects) into a column builder of their own, and the parts'
columns are joined in order (``ColumnBuilder.extend``): rows, values and category order are
those of the sequential read.

Line numbers: a part counts its lines from its own first byte; the lines of the parts of the
same file before it are added to every line number it reports (rejects and errors), so they
are the file's line numbers. A part's rejects go to a private temporary file, copied in order
into the read's rejects file. With ``errors="raise"``, the first bad line in file order is
the one raised, as in one process: parts are taken in order, and the read stops at the first
part that raised.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from huntlab.errors import DataFormatError, HuntlabError
from huntlab.files import private_dirs
from huntlab.readers import mapping as m
from huntlab.readers.events import (
    Run,
    check_found,
    file_records,
    first_format,
    iter_events,
    normalised,
    part_records,
)
from huntlab.readers.frame import ColumnBuilder, build_frame
from huntlab.readers.report import Errors, ReadReport, RejectsWriter, default_rejects_path
from huntlab.readers.sources import Limits, Member, list_files, resolve_source
from huntlab.readers.workers import MAX_WORKERS, fork_workers, usable_cores

if TYPE_CHECKING:
    from concurrent.futures import Future, ProcessPoolExecutor

    import pandas as pd

# From this many bytes of files on, a read uses worker processes (below it, forking and
# joining cost more than they save: a 60 MiB read takes under a second in one process).
PARALLEL_BYTES = 128 * 2**20
# The size of a part of a plain file: the input over about four parts per worker (so a worker
# that finishes early takes another), within these bounds.
MIN_PART_BYTES = 32 * 2**20
MAX_PART_BYTES = 256 * 2**20
_SCAN = 64 * 1024
_COMPRESSED = (".zip", ".tar.gz", ".tgz", ".tar", ".gz")


@dataclass(frozen=True)
class Part:
    """One part of a read: a file whole, or bytes ``[start, end)`` of a plain file
    (``end`` None: to its end)."""

    file: Path
    whole: bool = True
    start: int = 0
    end: int | None = None
    index: int = 0  # which part of its file
    fmt: str | None = None  # the file's format, for its parts after the first
    identity: tuple[int, int] = (0, 0)  # the file's device and inode when it was cut


@dataclass
class PartResult:
    builder: ColumnBuilder | None
    report: ReadReport
    lines: int  # lines of the part (a plain file's part)
    rejects: Path | None  # the part's rejects file, if it rejected anything
    error: DataFormatError | None = None
    stopped: bool = False  # the file could not be read on: its later parts are not read


class _Window:
    """Bytes ``[start, end)`` of an open file, read as a stream."""

    def __init__(self, stream: BinaryIO, start: int, end: int | None) -> None:
        stream.seek(start)
        self._stream = stream
        self._left = None if end is None else end - start

    def read(self, size: int = -1, /) -> bytes:
        if self._left is None:
            return self._stream.read(size)
        if self._left <= 0:
            return b""
        data = self._stream.read(self._left if size < 0 else min(size, self._left))
        self._left -= len(data)
        return data


def _splittable(file: Path) -> bool:
    from huntlab.readers import evtx

    return not file.name.lower().endswith(_COMPRESSED) and evtx.file_kind(file) is None


def _cuts(stream: BinaryIO, size: int, part_bytes: int) -> list[int]:
    """Where parts of the file begin: 0, then the first line start at or after each
    ``part_bytes`` step (a line is never cut; a long line only makes its part longer)."""
    cuts = [0]
    target = part_bytes
    while target + part_bytes // 2 < size:
        stream.seek(target - 1)
        position = target - 1
        cut = None
        while cut is None:
            block = stream.read(_SCAN)
            if not block:
                return cuts
            found = block.find(b"\n")
            if found >= 0:
                cut = position + found + 1
            position += len(block)
        if cut >= size:
            break
        cuts.append(cut)
        target = cut + part_bytes
    return cuts


def plan(files: list[Path], limits: Limits, part_bytes: int) -> list[Part]:
    """The parts of a read of ``files``, in read order."""
    parts: list[Part] = []
    event_kinds = {*m.event_formats(), "unknown"}
    for file in files:
        try:
            size = file.stat().st_size
            if size < 2 * part_bytes or not _splittable(file):
                parts.append(Part(file))
                continue
            stream = file.open("rb")
        except OSError:  # gone or unreadable: read whole, the read's own error says so
            parts.append(Part(file))
            continue
        with stream:
            status = os.fstat(stream.fileno())
            identity = (status.st_dev, status.st_ino)
            cuts = _cuts(stream, size, part_bytes)
            if len(cuts) < 2:
                parts.append(Part(file))
                continue
            # The file's format, from its first part, as the sequential read decides it: a
            # table or capture file, or one whose first part decides nothing, is read whole.
            head = Member(str(file), file.name, _Window(stream, 0, cuts[1]))
            fmt = first_format(head, limits.max_record_bytes)
        if fmt not in event_kinds:
            parts.append(Part(file))
            continue
        ends: list[int | None] = [*cuts[1:], None]
        for index, (start, end) in enumerate(zip(cuts, ends, strict=True)):
            parts.append(Part(file, False, start, end, index, fmt if index else None, identity))
    return parts


def _read_part(
    part: Part, dataset: str | None, errors: Errors, limits: Limits, rejects: Path | None
) -> PartResult:
    """In a worker: the columns, counts and rejects of one part."""
    report = ReadReport()
    run = Run(str(part.file), errors, rejects, report, limits)
    builder = ColumnBuilder()

    def add(records: Any) -> None:
        def events() -> Any:
            for _, event in normalised(run, records):
                report.kept += 1
                yield event

        builder.add(events())

    try:
        if part.whole:
            add(file_records(run, part.file, dataset))
        else:
            with part.file.open("rb") as stream:
                _same_file(part, stream)
                window = _Window(stream, part.start, part.end)
                member = Member(str(part.file), part.file.name, window)
                add(part_records(run, member, dataset, part.fmt))
    except DataFormatError as exc:
        return PartResult(None, report, run.lines, _made(rejects), exc, run.stopped)
    except Exception as exc:
        raise _portable(exc) from None
    finally:
        run.close()
    return PartResult(builder, report, run.lines, _made(rejects), None, run.stopped)


def _same_file(part: Part, stream: BinaryIO) -> None:
    """Refuse to read a part of a file that is not the one that was cut: replaced (another
    inode: a rotated log) or rewritten so that the part no longer starts a line. A file that
    only grew is read on, to its end, as one process would."""
    status = os.fstat(stream.fileno())
    starts_line = True
    if part.start:
        stream.seek(part.start - 1)
        starts_line = stream.read(1) == b"\n"
    if (status.st_dev, status.st_ino) != part.identity or not starts_line:
        raise DataFormatError(
            str(part.file),
            None,
            "the file was replaced or rewritten while it was read",
            "read it again once nothing writes it",
        )


def _portable(exc: Exception) -> Exception:
    """``exc``, or a HuntlabError with its words where it would not cross back to the caller's
    process (an exception that does not unpickle breaks the whole pool)."""
    import pickle

    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return HuntlabError(f"{type(exc).__name__}: {exc}")
    return exc


def _made(path: Path | None) -> Path | None:
    return path if path is not None and path.exists() else None


def _add(report: ReadReport, part: ReadReport) -> None:
    report.read += part.read
    report.kept += part.kept
    report.rejected += part.rejected
    report.files.update(part.files)
    report.skipped.update(part.skipped)


def _workers(files: list[Path]) -> int:
    """How many worker processes a read of ``files`` gets (0: read in this process)."""
    cores = min(usable_cores(), MAX_WORKERS)
    if cores < 2:
        return 0
    return cores if _total(files) >= PARALLEL_BYTES else 0


def _total(files: list[Path]) -> int:
    """The bytes of ``files`` (one that went away counts nothing: its read says so)."""
    total = 0
    for file in files:
        try:
            total += file.stat().st_size
        except OSError:
            continue
    return total


def read_frame(
    source: str | Path,
    *,
    errors: Errors,
    rejects: str | Path | None,
    report: ReadReport | None,
    dataset: str | None,
    categorical: bool,
    progress: bool | None,
    limits: Limits,
    workers: int | None = None,
) -> pd.DataFrame:
    """The canonical table of ``source``, read in worker processes when it is large
    (``workers``: how many; None decides from the input and the cores, 0 reads here)."""
    path, name = resolve_source(source)
    files = list_files(path)
    dataset = dataset or name
    if rejects is None and errors == "skip":
        rejects = default_rejects_path(str(source))  # named after what was asked for
    count = _workers(files) if workers is None else workers
    parts: list[Part] = []
    if count >= 2:
        part_bytes = max(MIN_PART_BYTES, min(MAX_PART_BYTES, _total(files) // (count * 4)))
        parts = plan(files, limits, part_bytes)
    pool = fork_workers(count) if len(parts) >= 2 else None
    if pool is None:
        events = iter_events(
            path,
            errors=errors,
            rejects=rejects,
            report=report,
            dataset=dataset,
            max_record_bytes=limits.max_record_bytes,
            max_decompression_ratio=limits.max_decompression_ratio,
        )
        return build_frame(events, categorical=categorical, progress=progress)
    try:
        builder = _join(
            pool, count, parts, str(path), dataset, errors, rejects, report, progress, limits
        )
    except BaseException:
        # An error or an interrupt: the parts not started are cancelled, and the read returns
        # without waiting for those being read (their workers end with them). Never
        # terminated: a worker killed while it writes its result would leave the pool's
        # result pipe locked, and the next shutdown waiting for ever.
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    return builder.frame(categorical=categorical)


def _join(
    pool: ProcessPoolExecutor,
    count: int,
    parts: list[Part],
    where: str,
    dataset: str | None,
    errors: Errors,
    rejects: str | Path | None,
    report: ReadReport | None,
    progress: bool | None,
    limits: Limits,
) -> ColumnBuilder:
    """The parts read by ``pool``'s workers, joined in order (at most two parts a worker
    in flight, so finished parts waiting for their turn stay few)."""
    import sys
    from concurrent.futures.process import BrokenProcessPool

    own = ReadReport()
    # The read's rejects file (made at its first reject, as in one process).
    final: RejectsWriter | None = None
    if errors == "skip":
        final = RejectsWriter(
            Path(rejects) if rejects is not None else default_rejects_path(where), own
        )
    bar = None
    if progress or (progress is None and sys.stderr.isatty()):
        from tqdm import tqdm

        bar = tqdm(desc="events", unit=" ev", unit_scale=True, leave=False)
    scratch: Path | None = None
    if final is not None:
        # The parts' rejects, beside the read's rejects file (private, like it); each is
        # deleted once copied, so they never add up to a second copy of the rejects.
        private_dirs(final.path.parent)
        scratch = Path(tempfile.mkdtemp(prefix=".parts-", dir=final.path.parent))
    builder = ColumnBuilder()
    lines_before: dict[Path, int] = {}
    stopped: set[Path] = set()  # files a part could not read on: their later parts are dropped
    pending: deque[tuple[Part, Future[PartResult]]] = deque()
    queue = iter(enumerate(parts))

    def submit() -> None:
        for number, part in queue:
            part_rejects = scratch / f"{number:06d}.jsonl" if scratch is not None else None
            future = pool.submit(_read_part, part, dataset, errors, limits, part_rejects)
            pending.append((part, future))
            return

    try:
        for _ in range(2 * count):
            submit()
        while pending:
            part, future = pending.popleft()
            try:
                result = future.result()
            except BrokenProcessPool as exc:
                raise HuntlabError(
                    f"reading {part.file} failed: a worker process of the read ended "
                    f"({exc}); if memory ran out, read fewer files at once"
                ) from exc
            submit()
            if part.file in stopped and not part.whole:
                # One process stops reading a file where a read failed: nothing after it.
                if result.rejects is not None:
                    result.rejects.unlink(missing_ok=True)
                continue
            if result.stopped and not part.whole:
                stopped.add(part.file)
            offset = 0 if part.whole else lines_before.get(part.file, 0)
            lines_before[part.file] = offset + result.lines
            _add(own, result.report)
            if report is not None:
                _add(report, result.report)
            if result.rejects is not None and final is not None:
                final.copy(result.rejects, offset)
                result.rejects.unlink(missing_ok=True)
            if result.error is not None:
                bad = result.error
                line = bad.line + offset if bad.line is not None else None
                raise DataFormatError(
                    bad.path, line, bad.problem, bad.hint, skippable=bad.skippable
                )
            if result.builder is not None:
                rows = result.builder.rows
                builder.extend(result.builder)
                if bar is not None:
                    bar.update(rows)
        check_found(own, where)
    finally:
        for _, future in pending:
            future.cancel()
        if bar is not None:
            bar.close()
        if final is not None:
            final.close()
            if report is not None and own.rejects_path is not None:
                report.rejects_path = own.rejects_path
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    return builder
