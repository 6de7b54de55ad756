"""Open what a user hands a reader: a dataset name or id, an archive, a JSON-lines file, a folder.

Archives are streamed member by member and never unpacked to disk. Every file inside is a
``Member``: a display name (``archive.zip!inner.json``), the name a ``Dataset`` is derived from,
and its lines as bytes. A corrupt or truncated archive raises ``ArchiveError`` with the line
reached, so readers can report it or skip it.
"""

from __future__ import annotations

import gzip
import tarfile
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from huntlab.errors import DataFormatError

# Files a folder is searched for; everything else (metadata YAML, READMEs, licences) is ignored.
_ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip")
_PLAIN_SUFFIXES = (".json", ".jsonl", ".ndjson", ".json.gz", ".jsonl.gz", ".log", ".gz", ".evtx")
# Failures a decompressor raises on damaged input, midway through a stream.
_CORRUPT = (EOFError, zlib.error, zipfile.BadZipFile, tarfile.TarError, gzip.BadGzipFile)


class ArchiveError(Exception):
    """A damaged archive or compressed file: ``line`` is the last line read before it."""

    def __init__(self, name: str, line: int, problem: str) -> None:
        super().__init__(f"{name}: {problem}")
        self.name = name
        self.line = line
        self.problem = problem


@dataclass
class Member:
    """One file to read, possibly inside an archive."""

    name: str  # shown in errors and rejects: path, or path!member
    archive: str  # the outer file's name (the dataset name is derived from it)
    stream: Iterable[bytes]  # a binary stream: iterating it yields lines


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


def _zip_members(path: Path) -> Iterator[Member]:
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
            with stream:
                yield Member(f"{path}!{info.filename}", path.name, stream)


def _tar_members(path: Path) -> Iterator[Member]:
    # "r|*": a forward-only stream, so a large tarball is never held or unpacked.
    try:
        archive = tarfile.open(path, mode="r|*")  # noqa: SIM115 - closed by the with below
    except (*_CORRUPT, OSError) as exc:
        raise ArchiveError(str(path), 0, f"not a readable tar archive ({exc})") from exc
    with archive:
        try:
            for info in archive:
                if not info.isfile():
                    continue
                stream = archive.extractfile(info)
                if stream is None:
                    continue
                yield Member(f"{path}!{info.name}", path.name, stream)
        except _CORRUPT as exc:
            raise ArchiveError(str(path), 0, f"corrupt or truncated archive ({exc})") from exc


def _plain_member(path: Path) -> Iterator[Member]:
    if path.name.lower().endswith(".gz"):
        with gzip.open(path, "rb") as stream:
            yield Member(str(path), path.name, stream)
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


def iter_members(path: Path) -> Iterator[Member]:
    """Every file of ``path`` to read, in a stable order."""
    if path.is_dir():
        for file in list_files(path):
            yield from iter_members(file)
        return
    if not path.is_file():
        raise DataFormatError(str(path), None, "no such file or folder", "check the path")
    lowered = path.name.lower()
    if lowered.endswith(".zip"):
        yield from _zip_members(path)
    elif lowered.endswith((".tar.gz", ".tgz", ".tar")):
        yield from _tar_members(path)
    else:
        yield from _plain_member(path)


def iter_lines(member: Member) -> Iterator[bytes]:
    """The lines of ``member`` (line endings kept), turning decompression failures into
    ArchiveError with the number of the last complete line."""
    count = 0
    try:
        for line in member.stream:
            count += 1
            yield line
    except (*_CORRUPT, OSError) as exc:
        raise ArchiveError(member.name, count, f"corrupt or truncated ({exc})") from exc
