"""Every file huntlab fetches over HTTP comes through here (engine zips, jars, datasets, the
dataset metadata).

What a download guarantees:

- it goes to ``<file>.part`` and is renamed into place only once complete and verified, so a
  reader never sees half a file;
- an interrupted download resumes with ``Range`` only together with ``If-Range`` (the ETag or
  Last-Modified of the first reply, kept in ``<file>.part.validator``) and only when the reply's
  ``Content-Range`` starts where the ``.part`` ends; anything else (a changed file, a 416, a
  server that ignores ranges) starts again from byte 0, never stitching two versions together;
- a body shorter than its ``Content-Length``/``Content-Range``, a cut chunked body, or a reply
  that gives no length at all and cannot be verified by a hash is an error, never a file;
- when a hash is known (Maven's ``.sha512``/``.sha1``, a ``SHA256SUMS`` or ``<file>.sha256`` in
  a mirror, the catalog's) the file must match it; :class:`Fetched` says which hash it was, so
  callers can report the files that had none;
- one process at a time per file: an ``fcntl.flock`` on ``<file>.lock``, a file that is never
  removed (removing a held lock file lets a third process lock a new file of the same name);
  a second process waits, then takes the file the first one finished.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.client import HTTPException, HTTPResponse
from pathlib import Path
from typing import Any

from huntlab.errors import DownloadError
from huntlab.files import atomic_write

CHUNK = 1 << 20
TIMEOUT_SECONDS = 30.0
# A download another process holds is waited for this long (a big file on a slow line).
LOCK_WAIT_SECONDS = 3600.0
USER_AGENT = "huntlab"


@dataclass(frozen=True)
class KnownHash:
    """A digest the file must have, and where it was published."""

    algorithm: str  # a hashlib name: sha256, sha512, sha1
    hexdigest: str
    source: str  # the URL or file it came from, or "catalog"

    def describe(self) -> str:
        return f"{self.algorithm} from {self.source}"


@dataclass(frozen=True)
class Fetched:
    """A completed download: where it is, bytes moved by this call, the hash it matched."""

    path: Path
    fetched: int
    verified: KnownHash | None


class _Restart(Exception):
    """The ``.part`` cannot be continued (416, other file, unexpected range): start at 0."""


# --- hashes ---------------------------------------------------------------------------------


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    digest = hashlib.new(algorithm)
    with path.open("rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def parse_sums(text: str, filename: str) -> str | None:
    """The digest of ``filename`` in a ``sha256sum``-style listing (``HEX  name``, ``HEX
    *name``), or the bare digest of a one-file ``<file>.sha256``."""
    for line in text.splitlines():
        parts = line.strip().split(maxsplit=1)
        if not parts or not re.fullmatch(r"[0-9a-fA-F]{32,128}", parts[0]):
            continue
        if len(parts) == 1:
            return parts[0].lower()
        name = parts[1].lstrip("*").strip()
        if name == filename or name.endswith("/" + filename):
            return parts[0].lower()
    return None


def sums_in_folder(folder: Path, filename: str) -> KnownHash | None:
    """A SHA-256 for ``filename`` published beside it: ``<file>.sha256`` or ``SHA256SUMS``."""
    for candidate in (folder / f"{filename}.sha256", folder / "SHA256SUMS"):
        try:
            text = candidate.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        found = parse_sums(text, filename)
        if found:
            return KnownHash("sha256", found, str(candidate))
    return None


def _get_text(url: str, timeout: float) -> str | None:
    """A small text file, or None when the server has none (any HTTP error, no server)."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            data: bytes = response.read(1 << 20)
    except (urllib.error.URLError, HTTPException, OSError):
        return None
    return data.decode("utf-8", "replace")


def published_sha256(url: str, timeout: float = TIMEOUT_SECONDS) -> KnownHash | None:
    """The SHA-256 a mirror publishes for ``url``: ``<url>.sha256``, else ``SHA256SUMS`` in
    the same folder. None when it publishes neither."""
    filename = url.rsplit("/", 1)[-1]
    for candidate in (f"{url}.sha256", url.rsplit("/", 1)[0] + "/SHA256SUMS"):
        text = _get_text(candidate, timeout)
        found = parse_sums(text, filename) if text else None
        if found:
            return KnownHash("sha256", found, candidate)
    return None


def maven_hash(url: str, timeout: float = TIMEOUT_SECONDS) -> KnownHash:
    """The checksum Maven Central publishes beside ``url`` (``.sha512``, else ``.sha1``)."""
    for algorithm in ("sha512", "sha1"):
        text = _get_text(f"{url}.{algorithm}", timeout)
        words = text.split() if text else []
        if words and re.fullmatch(r"[0-9a-fA-F]+", words[0]):
            return KnownHash(algorithm, words[0].lower(), f"{url}.{algorithm}")
    raise DownloadError(
        f"{url}: no .sha512 or .sha1 checksum could be fetched beside it; check the network "
        "(or the repository URL), then run the command again"
    )


def _check(path: Path, expected: KnownHash, url: str) -> None:
    actual = file_digest(path, expected.algorithm)
    if actual != expected.hexdigest:
        path.unlink(missing_ok=True)
        raise DownloadError(
            f"{url}: {expected.algorithm} {actual} does not match {expected.hexdigest} "
            f"published at {expected.source}; the file was removed. Run the command again; if "
            "it fails again, the server or something on the way alters the file"
        )


# --- the lock -------------------------------------------------------------------------------


def lock_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".lock")


@contextlib.contextmanager
def exclusive(lock: Path, what: str) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``lock`` (created, never removed); wait for another
    holder, saying so on stderr, for at most LOCK_WAIT_SECONDS."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(
                f"huntlab: waiting for another huntlab process downloading {what} ({lock})",
                file=sys.stderr,
                flush=True,
            )
            deadline = time.monotonic() + LOCK_WAIT_SECONDS
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise DownloadError(
                            f"{what}: another huntlab process has held {lock} for "
                            f"{LOCK_WAIT_SECONDS:.0f} s; stop it, or wait and run the command "
                            "again"
                        ) from None
                    time.sleep(0.5)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _identity(path: Path) -> tuple[int, int, int] | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return (stat.st_ino, stat.st_size, stat.st_mtime_ns)


# --- fetching -------------------------------------------------------------------------------


def fetch(
    url: str,
    dest: Path,
    *,
    expected: KnownHash | None = None,
    label: str | None = None,
    hint: str = "",
    progress: bool = True,
    timeout: float = TIMEOUT_SECONDS,
    lock: Path | None = None,
) -> Fetched:
    """Download ``url`` to ``dest`` (see the module docstring for the guarantees).

    ``hint`` is appended to connection errors: how to get the file another way. ``lock``: the
    lock file (default ``<dest>.lock``), elsewhere when ``dest``'s folder should not be made
    before a download starts.
    """
    before = _identity(dest)
    with exclusive(lock or lock_path(dest), url):
        dest.parent.mkdir(parents=True, exist_ok=True)
        after = _identity(dest)
        if after is not None and after != before:
            # The process we waited for finished this very file.
            if expected is not None:
                _check(dest, expected, url)
            return Fetched(dest, 0, expected)
        return _fetch_locked(url, dest, expected, label or dest.name, hint, progress, timeout)


def _validator_path(part: Path) -> Path:
    return part.with_name(part.name + ".validator")


def _discard(part: Path) -> None:
    part.unlink(missing_ok=True)
    _validator_path(part).unlink(missing_ok=True)


def _resume_validator(part: Path, url: str) -> str | None:
    """The If-Range value to resume ``part`` with, or None (then the .part is dropped)."""
    try:
        stored = json.loads(_validator_path(part).read_text(encoding="utf-8"))
        validator = stored["validator"] if stored.get("url") == url else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        validator = None
    if (
        not isinstance(validator, str)
        or not validator
        or not part.is_file()
        or part.stat().st_size == 0
    ):
        _discard(part)
        return None
    return validator


def _save_validator(part: Path, url: str, response: HTTPResponse) -> None:
    etag = response.headers.get("ETag") or ""
    # A weak ETag (W/"...") may not be used in If-Range; Last-Modified may.
    validator = (
        etag if etag and not etag.startswith("W/") else response.headers.get("Last-Modified") or ""
    )
    if validator:
        atomic_write(
            _validator_path(part), json.dumps({"url": url, "validator": validator}), mode=0o644
        )
    else:
        _validator_path(part).unlink(missing_ok=True)


def _fetch_locked(
    url: str,
    dest: Path,
    expected: KnownHash | None,
    label: str,
    hint: str,
    progress: bool,
    timeout: float,
) -> Fetched:
    part = dest.with_name(dest.name + ".part")
    validator = _resume_validator(part, url)
    try:
        fetched, complete = _transfer(url, part, validator, label, hint, progress, timeout)
    except _Restart:
        _discard(part)
        fetched, complete = _transfer(url, part, None, label, hint, progress, timeout)
    if expected is not None:
        try:
            _check(part, expected, url)
        finally:
            if not part.exists():
                _discard(part)
    elif not complete:
        _discard(part)
        raise DownloadError(
            f"could not download {url}: the server sent no Content-Length and no hash is "
            "known, so a complete file cannot be told from a cut connection; "
            + (hint or "fetch the file another way, or from a server that gives its length")
        )
    with part.open("rb") as handle:
        os.fsync(handle.fileno())
    os.replace(part, dest)
    _validator_path(part).unlink(missing_ok=True)
    return Fetched(dest, fetched, expected)


_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


def _open(url: str, headers: dict[str, str], timeout: float, hint: str) -> HTTPResponse:
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, **headers})
    try:
        response: HTTPResponse = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and "Range" in headers:
            raise _Restart from exc
        raise DownloadError(
            f"could not download {url}: HTTP {exc.code} {exc.reason}; check the URL"
            + (f", or {hint}" if hint else "")
        ) from exc
    except (urllib.error.URLError, HTTPException, OSError) as exc:
        raise DownloadError(
            f"could not download {url} ({getattr(exc, 'reason', exc)}). Offline? "
            + (hint or "check the network and run the command again")
        ) from exc
    return response


def _transfer(
    url: str,
    part: Path,
    validator: str | None,
    label: str,
    hint: str,
    progress: bool,
    timeout: float,
) -> tuple[int, bool]:
    """Write the reply into ``part``; returns (bytes received, whether the length was known).

    Raises _Restart when the .part cannot be continued, DownloadError for a short body.
    """
    from tqdm import tqdm

    offset = part.stat().st_size if validator else 0
    headers = {"Range": f"bytes={offset}-", "If-Range": validator} if validator else {}
    fetched = 0
    with _open(url, headers, timeout, hint) as response:
        length = response.headers.get("Content-Length")
        if offset and response.status == 206:
            span = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", "").strip())
            if (
                span is None
                or int(span.group(1)) != offset
                or (span.group(3) != "*" and int(span.group(2)) != int(span.group(3)) - 1)
            ):
                raise _Restart
            expected_len: int | None = int(span.group(2)) - offset + 1
            if length is not None and int(length) != expected_len:
                raise _Restart
            mode = "ab"
        elif response.status == 200:
            # A fresh file (first try, changed file, or a server that ignores Range).
            offset, mode = 0, "wb"
            expected_len = int(length) if length is not None else None
            _save_validator(part, url, response)
        else:
            raise DownloadError(
                f"could not download {url}: unexpected HTTP {response.status} reply; "
                "run the command again"
            )
        known = expected_len is not None or bool(getattr(response, "chunked", False))
        total = offset + expected_len if expected_len is not None else None
        try:
            with (
                part.open(mode) as out,
                tqdm(
                    total=total,
                    initial=offset,
                    unit="B",
                    unit_scale=True,
                    desc=label,
                    disable=None if progress else True,
                ) as bar,
            ):
                while block := response.read(CHUNK):
                    out.write(block)
                    fetched += len(block)
                    bar.update(len(block))
        except (urllib.error.URLError, HTTPException, OSError) as exc:
            raise _short(url, part, offset + fetched, total, f" ({exc})", hint) from exc
    if expected_len is not None and fetched != expected_len:
        raise _short(url, part, offset + fetched, total, "", hint)
    return fetched, known


def _short(url: str, part: Path, got: int, total: int | None, why: str, hint: str) -> Exception:
    resumable = part.is_file() and part.stat().st_size > 0 and _validator_path(part).is_file()
    if not resumable:
        _discard(part)
    of = f" of {total}" if total is not None else ""
    then = (
        f"; {part} is kept and the next try resumes from it"
        if resumable
        else "; run the command again"
    )
    return DownloadError(
        f"could not download {url}: the connection ended after {got}{of} bytes{why}{then}"
        + (f". Offline? {hint}" if hint else "")
    )


# --- streaming (for archives read once and not kept) ----------------------------------------


class _Stream:
    """A reader over one reply that refuses to end short: at EOF it checks the length."""

    def __init__(self, url: str, response: HTTPResponse, bar: Any) -> None:
        self._url = url
        self._response = response
        self._bar = bar
        length = response.headers.get("Content-Length")
        self._length = int(length) if length is not None else None
        self._chunked = bool(getattr(response, "chunked", False))
        self._read = 0

    def read(self, size: int = -1) -> bytes:
        try:
            data: bytes = self._response.read(size if size >= 0 else None)
        except (HTTPException, OSError) as exc:
            raise DownloadError(
                f"could not download {self._url}: the connection ended after {self._read} "
                f"bytes ({exc}); run the command again"
            ) from exc
        self._read += len(data)
        self._bar.update(len(data))
        if not data and size != 0:
            if self._length is not None and self._read != self._length:
                raise DownloadError(
                    f"could not download {self._url}: the connection ended after {self._read} "
                    f"of {self._length} bytes; run the command again"
                )
            if self._length is None and not self._chunked:
                raise DownloadError(
                    f"could not download {self._url}: the server sent no length, so a "
                    "complete reply cannot be told from a cut one"
                )
        return data


@contextlib.contextmanager
def stream(
    url: str,
    *,
    label: str,
    hint: str = "",
    progress: bool = True,
    timeout: float = TIMEOUT_SECONDS,
) -> Iterator[_Stream]:
    """``url``'s body as a file-like reader (with a progress bar) that raises DownloadError
    rather than end early; for archives read once and not kept."""
    from tqdm import tqdm

    with (
        _open(url, {}, timeout, hint) as response,
        tqdm(
            total=int(response.headers.get("Content-Length") or 0) or None,
            unit="B",
            unit_scale=True,
            desc=label,
            disable=None if progress else True,
        ) as bar,
    ):
        yield _Stream(url, response, bar)


# --- Maven Central --------------------------------------------------------------------------


def maven_download(url: str, target: Path, *, progress: bool = True) -> Path:
    """``url`` (a Maven Central file) at ``target``, checked against the checksum published
    beside it; downloaded once, then trusted through a ``.verified`` marker."""
    target.parent.mkdir(parents=True, exist_ok=True)
    verified = target.with_name(target.name + ".verified")
    if target.is_file() and verified.is_file():
        return target
    expected = maven_hash(url)
    if target.is_file():
        actual = file_digest(target, expected.algorithm)
        if actual != expected.hexdigest:
            target.unlink()
            raise DownloadError(
                f"{target}: {expected.algorithm} does not match {expected.source}; the broken "
                "file was removed, run the command again to download it anew"
            )
    else:
        fetch(
            url,
            target,
            expected=expected,
            label=f"download {target.name}",
            progress=progress,
            timeout=60.0,
        )
    atomic_write(verified, f"{expected.algorithm} {expected.hexdigest}\n", mode=0o644)
    return target
