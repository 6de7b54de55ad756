"""Writing files so that a reader never sees half of one, and nobody else can read it.

Everything huntlab writes under its home (token, config, pid records, the Compose ``.env``)
goes through :func:`atomic_write`: a temporary file in the same folder, created with its final
mode from the start (never readable by others, not even for an instant), flushed, then renamed
over the target.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def private_dirs(path: Path) -> Path:
    """``path`` as a folder: it and every missing folder above it created owner-only.
    (``mkdir(mode=..., parents=True)`` gives the mode to the last folder only, and the ones
    above it the umask's: ``workspace/hunts`` readable by all under a umask of 022.)"""
    missing = []
    current = path
    while not os.path.lexists(current) and current.parent != current:
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):  # made meanwhile by another process
            folder.mkdir(mode=PRIVATE_DIR)
    path.mkdir(mode=PRIVATE_DIR, exist_ok=True)  # raises when it is not a folder
    return path


def atomic_write(path: Path, data: str | bytes, *, mode: int = PRIVATE_FILE) -> Path:
    """Replace ``path`` with ``data`` in one step; the file gets ``mode`` (owner-only by
    default). The parent folder, and any missing above it, is created owner-only."""
    private_dirs(path.parent)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), mode)
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def read_secret_line(path: Path, what: str, remedy: str) -> str | None:
    """The one-line secret kept in ``path`` (a token, a shared secret), or None when the file
    does not exist; an unreadable or empty file is an error that says ``remedy``."""
    from huntlab.errors import HuntlabError

    try:
        value = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise HuntlabError(f"{path}: cannot read {what} ({exc})") from exc
    if not value:
        raise HuntlabError(f"{path} is empty; {remedy}")
    return value
