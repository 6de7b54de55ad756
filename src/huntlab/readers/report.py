"""What a read did (counts, files, what was skipped) and where rejected lines went."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Literal

import orjson

from huntlab.files import PRIVATE_FILE, private_dirs
from huntlab.readers.sources import REJECT_PREFIX_BYTES
from huntlab.settings import home_dir

Errors = Literal["raise", "skip"]


@dataclass
class ReadReport:
    """Counts of one read, filled as it goes: ``read == kept + rejected`` at every moment
    a record has been handed out."""

    read: int = 0
    kept: int = 0
    rejected: int = 0
    rejects_path: Path | None = None
    files: dict[str, str] = field(default_factory=dict)  # member -> format read
    skipped: dict[str, str] = field(default_factory=dict)  # member -> why it was not read

    def summary(self) -> str:
        text = f"read {self.read:,}, kept {self.kept:,}, rejected {self.rejected:,}"
        if self.rejected and self.rejects_path is not None:
            text += f" (rejects in {self.rejects_path})"
        return text


def default_rejects_path(source: str) -> Path:
    stem = Path(source).name.split(".")[0] or "source"
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return home_dir() / "rejects" / f"{stem}-{stamp}.jsonl"


class RejectsWriter:
    """Appends rejected lines as JSON lines; the file is created at the first reject only."""

    def __init__(self, path: Path, report: ReadReport) -> None:
        self.path = path
        self.report = report
        self._out: IO[bytes] | None = None

    def write(
        self, file: str, line: int | None, reason: str, raw: bytes, size: int | None = None
    ) -> None:
        """One rejects line: where, why, and the record (its first ``REJECT_PREFIX_BYTES``
        only, with ``truncated``; ``raw_bytes`` is its whole length, ``size`` when the
        caller only had a prefix)."""
        out = self._open()
        body = raw.rstrip(b"\r\n")
        whole = size if size is not None else len(raw)
        kept = body[:REJECT_PREFIX_BYTES]
        entry: dict[str, object] = {
            "file": file,
            "line": line,
            "reason": reason,
            "raw": kept.decode("utf-8", errors="replace"),
            "raw_bytes": whole,
        }
        if len(kept) < len(body) or whole > len(raw):
            entry["truncated"] = True
        out.write(orjson.dumps(entry) + b"\n")

    def copy(self, path: Path, line_offset: int = 0) -> None:
        """Append the entries of another rejects file (a part of a read), ``line_offset``
        added to their line numbers."""
        with path.open("rb") as source:
            for text in source:
                if line_offset:
                    entry = orjson.loads(text)
                    if entry.get("line") is not None:
                        entry["line"] += line_offset
                    text = orjson.dumps(entry) + b"\n"
                self._open().write(text)

    def _open(self) -> IO[bytes]:
        if self._out is None:
            # Rejected records are the user's data: private, like everything in the home.
            private_dirs(self.path.parent)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
            self._out = os.fdopen(fd, "wb")
            self.report.rejects_path = self.path
        return self._out

    def close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None
