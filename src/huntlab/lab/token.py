"""The JupyterLab token: made once from a CSPRNG, kept mode 600 in the home, stable.

Reruns and restarts read the same file, so a bookmarked URL keeps working; only
``huntlab token --rotate`` replaces it.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from huntlab.files import atomic_write, read_secret_line

TOKEN_FILE = "jupyter_token"
# 32 random bytes -> 64 hex characters; Jupyter compares tokens in constant time.
TOKEN_BYTES = 32


def token_path(home: Path) -> Path:
    return home / TOKEN_FILE


def _write(path: Path, value: str) -> None:
    # Mode 600 from the start: the token is never readable by others, not even for an instant.
    atomic_write(path, value + "\n")


def read_token(home: Path) -> str | None:
    """The stored token, or None when the home has none yet."""
    return read_secret_line(
        token_path(home),
        "the Jupyter token",
        "delete it and run `huntlab up` (a new token is made) or `huntlab token --rotate`",
    )


def ensure_token(home: Path) -> str:
    """The home's token, created on first use; an existing one is never replaced."""
    existing = read_token(home)
    if existing is not None:
        # Repair a mode loosened by a copy or a restore: the token is a password.
        path = token_path(home)
        if path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)
        return existing
    value = secrets.token_hex(TOKEN_BYTES)
    _write(token_path(home), value)
    return value


def rotate_token(home: Path) -> str:
    """Replace the token with a new random one and return it."""
    value = secrets.token_hex(TOKEN_BYTES)
    _write(token_path(home), value)
    return value
