"""Open what a user hands a reader: a dataset name or id, an archive, a JSON-lines file, a folder.

Archives are streamed member by member and never unpacked to disk. Every file inside is a
``Member``: a display name (``archive.zip!inner.json``), the name a ``Dataset`` is derived from,
and its lines as bytes. A corrupt or truncated archive raises ``ArchiveError`` with the line
reached, so readers can report it or skip it.

Input is bounded (docs/event-mapping.md, "Limits"): lines are cut out of fixed-size blocks,
so a line longer than ``Limits.max_record_bytes`` is never held whole (it comes out as an
``OverLong`` with a bounded prefix and its length), and a compressed member that expands
beyond ``Limits.max_decompression_ratio`` times its compressed size (or the absolute floor,
whichever is larger) stops the read with ``DataFormatError``.
"""

from __future__ import annotations

import gzip
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from huntlab.errors import DataFormatError

# Files a folder is searched for; everything else (metadata YAML, READMEs, licences) is ignored.
_ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip")
_PLAIN_SUFFIXES = (".json", ".jsonl", ".ndjson", ".json.gz", ".jsonl.gz", ".log", ".gz", ".evtx")
# Failures a decompressor raises on damaged input, midway through a stream.
_CORRUPT = (EOFError, zlib.error, zipfile.BadZipFile, tarfile.TarError, gzip.BadGzipFile)


# The largest record (one line, its line ending included) a reader takes: far above any real
# event (the largest in the shared recordings is 28 KB), small enough to hold at once.
MAX_RECORD_BYTES = 16 * 1024 * 1024
# How far a compressed member may expand: the shared recordings expand 2x to 30x; deflate's
# own maximum is about 1000x, which only a made-up file reaches.
MAX_DECOMPRESSION_RATIO = 200
# Whatever the ratio, this much may always come out of a member (small files compress well).
DECOMPRESSION_FLOOR = 64 * 1024 * 1024
# What a rejects file keeps of a rejected record; its full length is written beside it.
REJECT_PREFIX_BYTES = 64 * 1024
_BLOCK = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """The bounds of one read (see the module docstring)."""

    max_record_bytes: int = MAX_RECORD_BYTES
    max_decompression_ratio: int = MAX_DECOMPRESSION_RATIO

    def __post_init__(self) -> None:
        if self.max_record_bytes < 1 or self.max_decompression_ratio < 1:
            raise ValueError(
                "max_record_bytes and max_decompression_ratio must be positive, not "
                f"{self.max_record_bytes} and {self.max_decompression_ratio}"
            )


@dataclass(slots=True)
class OverLong:
    """A line longer than the record bound: its first bytes and its whole length."""

    prefix: bytes
    size: int


class _Budget:
    """How many decompressed bytes may still come out of a compressed member (or, for a
    tarball, of all its members: their compressed sizes are not known one by one)."""

    def __init__(self, what: str, compressed: int, ratio: int) -> None:
        self.what = what
        self.compressed = compressed
        self.ratio = ratio
        self.allowed = max(DECOMPRESSION_FLOOR, compressed * ratio)
        self.used = 0

    def spend(self, name: str, count: int, line: int) -> None:
        self.used += count
        if self.used > self.allowed:
            raise DataFormatError(
                name,
                line + 1,
                f"{self.what} expands beyond {self.allowed:,} bytes ({self.ratio}x its "
                f"{self.compressed:,} compressed bytes): not read further, in case it is a "
                "decompression bomb",
                "if you trust this file, raise the bound with --max-decompression-ratio "
                "(max_decompression_ratio=) and read it again",
            )


class ArchiveError(Exception):
    """A damaged archive or compressed file: ``line`` is the last line read before it."""

    def __init__(self, name: str, line: int, problem: str) -> None:
        super().__init__(f"{name}: {problem}")
        self.name = name
        self.line = line
        self.problem = problem


class Readable(Protocol):
    """A binary stream (a file, a zip or tar member, a gzip file)."""

    def read(self, size: int = -1, /) -> bytes: ...


@dataclass
class Member:
    """One file to read, possibly inside an archive."""

    name: str  # shown in errors and rejects: path, or path!member
    archive: str  # the outer file's name (the dataset name is derived from it)
    stream: Readable  # read in blocks
    budget: _Budget | None = None  # None: not compressed, nothing to bound


def _suffix_ok(name: str, suffixes: tuple[str, ...]) -> bool:
    lowered = name.lower()
    return lowered.endswith(suffixes)


def is_readable_file(path: Path) -> bool:
    return _suffix_ok(path.name, _ARCHIVE_SUFFIXES + _PLAIN_SUFFIXES)


def resolve_source(source: str | Path) -> tuple[Path, str | None]:
    """The local path of ``source`` and, when it was a dataset name or id, that name."""
    path = Path(source).expanduser()
    if path.exists():
        return path, None
    text = str(source)
    if "/" in text or "\\" in text or path.suffix.lower() in (".zip", ".gz", ".json", ".jsonl"):
        raise DataFormatError(text, None, "no such file or folder", "check the path")
    try:
        from huntlab import datasets
    except ImportError as exc:  # the catalog module is optional at this layer
        raise DataFormatError(
            text,
            None,
            "no such file, and dataset names cannot be resolved here",
            "pass the path of an archive, a JSON-lines file or a folder",
        ) from exc
    resolved = Path(datasets.resolve(text))
    # A name names the dataset; an id (SDWIN-...) leaves it to the file name.
    return resolved, (None if text.upper().startswith("SD") else text)


def _zip_members(path: Path, limits: Limits) -> Iterator[Member]:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ArchiveError(str(path), 0, f"not a readable zip archive ({exc})") from exc
    with archive:
        for info in sorted(archive.infolist(), key=lambda i: i.filename):
            if info.is_dir() or info.filename.startswith("__MACOSX/"):
                continue
            try:
                stream = archive.open(info)
            except (*_CORRUPT, OSError) as exc:
                raise ArchiveError(
                    f"{path}!{info.filename}", 0, f"corrupt archive ({exc})"
                ) from exc
            name = f"{path}!{info.filename}"
            budget = None
            if info.compress_type != zipfile.ZIP_STORED:
                budget = _Budget(
                    f"archive member {info.filename}",
                    info.compress_size,
                    limits.max_decompression_ratio,
                )
            with stream:
                yield Member(name, path.name, stream, budget)


def _tar_members(path: Path, limits: Limits) -> Iterator[Member]:
    # "r|*": a forward-only stream, so a large tarball is never held or unpacked.
    try:
        archive = tarfile.open(path, mode="r|*")  # noqa: SIM115 - closed by the with below
    except (*_CORRUPT, OSError) as exc:
        raise ArchiveError(str(path), 0, f"not a readable tar archive ({exc})") from exc
    budget = None
    if not path.name.lower().endswith(".tar"):
        size = path.stat().st_size
        budget = _Budget(f"compressed tarball {path.name}", size, limits.max_decompression_ratio)
    with archive:
        try:
            for info in archive:
                if not info.isfile():
                    continue
                stream = archive.extractfile(info)
                if stream is None:
                    continue
                yield Member(f"{path}!{info.name}", path.name, stream, budget)
        except _CORRUPT as exc:
            raise ArchiveError(str(path), 0, f"corrupt or truncated archive ({exc})") from exc


def _plain_member(path: Path, limits: Limits) -> Iterator[Member]:
    if path.name.lower().endswith(".gz"):
        size = path.stat().st_size
        budget = _Budget(f"compressed file {path.name}", size, limits.max_decompression_ratio)
        with gzip.open(path, "rb") as stream:
            yield Member(str(path), path.name, stream, budget)
    else:
        with path.open("rb") as stream:
            yield Member(str(path), path.name, stream)


def list_files(path: Path) -> list[Path]:
    """The readable files of ``path`` (itself, or those below a folder), in a stable order."""
    if not path.is_dir():
        return [path]
    files = sorted(p for p in path.rglob("*") if p.is_file() and is_readable_file(p))
    if not files:
        raise DataFormatError(
            str(path),
            None,
            "no .zip, .tar.gz, .json or .jsonl file in this folder",
            "point huntlab at a dataset archive or a folder that holds some",
        )
    return files


def iter_members(path: Path, limits: Limits | None = None) -> Iterator[Member]:
    """Every file of ``path`` to read, in a stable order."""
    limits = limits or Limits()
    if path.is_dir():
        for file in list_files(path):
            yield from iter_members(file, limits)
        return
    if not path.is_file():
        raise DataFormatError(str(path), None, "no such file or folder", "check the path")
    lowered = path.name.lower()
    if lowered.endswith(".zip"):
        yield from _zip_members(path, limits)
    elif lowered.endswith((".tar.gz", ".tgz", ".tar")):
        yield from _tar_members(path, limits)
    else:
        yield from _plain_member(path, limits)


def iter_bounded_lines(
    member: Member, max_record_bytes: int = MAX_RECORD_BYTES
) -> Iterator[bytes | OverLong]:
    """The lines of ``member`` (line endings kept), read in fixed-size blocks: a line longer
    than ``max_record_bytes`` comes out as an ``OverLong`` and is never held whole.

    Raises ArchiveError (with the number of the last complete line) when decompression
    fails, and DataFormatError when the member expands beyond its budget.
    """
    read = member.stream.read
    budget = member.budget
    count = 0
    head: list[bytes] = []  # the pieces of a line that goes on in the next block
    head_size = 0
    skipping: OverLong | None = None  # an over-long line, read past up to its end
    try:
        while True:
            block = read(_BLOCK)
            if not block:
                break
            if budget is not None:
                budget.spend(member.name, len(block), count)
            start = 0
            if head or skipping is not None:
                end = block.find(b"\n")
                piece = block if end < 0 else block[: end + 1]
                if skipping is not None:
                    skipping.size += len(piece)
                else:
                    head.append(piece)
                    head_size += len(piece)
                    if head_size > max_record_bytes:
                        skipping = OverLong(b"".join(head)[:REJECT_PREFIX_BYTES], head_size)
                        head, head_size = [], 0
                if end < 0:
                    continue
                count += 1
                if skipping is not None:
                    yield skipping
                    skipping = None
                else:
                    yield b"".join(head)
                    head, head_size = [], 0
                start = end + 1
            parts = block[start:].split(b"\n")
            tail = parts.pop()
            for part in parts:
                count += 1
                if len(part) >= max_record_bytes:
                    yield OverLong(part[:REJECT_PREFIX_BYTES], len(part) + 1)
                else:
                    yield part + b"\n"
            if tail:
                if len(tail) > max_record_bytes:
                    skipping = OverLong(tail[:REJECT_PREFIX_BYTES], len(tail))
                else:
                    head, head_size = [tail], len(tail)
    except (*_CORRUPT, OSError) as exc:
        raise ArchiveError(member.name, count, f"corrupt or truncated ({exc})") from exc
    if skipping is not None:
        yield skipping
    elif head:
        yield b"".join(head)


def over_long_problem(size: int, max_record_bytes: int) -> str:
    return (
        f"record of {size:,} bytes, longer than {max_record_bytes:,} bytes "
        "(raise the bound with --max-record-bytes, max_record_bytes=, if it is real)"
    )


def iter_lines(member: Member, max_record_bytes: int = MAX_RECORD_BYTES) -> Iterator[bytes]:
    """The lines of ``member`` (line endings kept); an over-long line raises
    DataFormatError. Decompression failures raise ArchiveError (see iter_bounded_lines)."""
    for number, line in enumerate(iter_bounded_lines(member, max_record_bytes), 1):
        if isinstance(line, OverLong):
            raise DataFormatError(
                member.name, number, over_long_problem(line.size, max_record_bytes)
            )
        yield line
