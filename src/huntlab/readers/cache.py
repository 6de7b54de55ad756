"""The table cache: ``read_events``' canonical tables kept on disk, so a recording is parsed once.

An entry is the table of one read, as an Arrow IPC file (columnar, zstd-compressed), and a
JSON file beside it with the read's counts, under ``$HUNTLAB_CACHE/tables/`` (beside the
dataset store). Arrow IPC rather than Parquet: Parquet decodes every value (dictionary and
run-length encodings), and read the 500,000-event table of benchmarks/bench_readers.py back in
1.2-1.5 s, too slow for the goal (a second read 20x faster than the first); Arrow's buffers
load as they are (0.1 s), the conversion to pandas taking 0.3-0.5 s. Its name is a SHA-256
(the key) over everything the table depends on:

- the SHA-256 of every file the read opens (the source resolved and listed as the readers do),
  with the name the read gives it (member names and ``Dataset`` come from it);
- the mapping's version: ``mapping.json`` and the source of the reader modules;
- the code's version: huntlab's, Python's and that of the libraries that shape the table
  (pandas, numpy, pyarrow, orjson, evtx), and the local time zone (the table must not depend
  on it; keyed anyway, so that the tests proving it parse in each zone);
- the read's parameters: dataset, categorical, the record and decompression bounds, errors.

A changed file, mapping or code makes a new key, so an entry is never served stale; entries of
the same source with another key are removed when a new one is written, and entries whose
files are gone with them. Only a read that completed without rejecting a record is kept (a
read with rejects goes through the readers every time, and writes its rejects file every
time), and only one of at least ``MIN_EVENTS`` events (a smaller one parses as fast). An
entry is written atomically (temporary file, then rename; the JSON last) and checked when read
(the table file's SHA-256, its columns and dtypes); a damaged entry is removed and
the read parses the source instead.

Hashing a file costs a fraction of parsing it, but not nothing (about 1 s per GiB): a file's
digest is remembered with its stat (device, inode, size, modification and change times) and
reused while the stat is unchanged. The change time (ctime) cannot be set by a program, and
every write moves it. A file changed less than a moment before it was looked at (0.1 s, 2 s
where the file system keeps whole seconds) may change again within the same timestamp: its
digest is not remembered and its table not cached. For the dataset store's files, the SHA-256
the manifest recorded is reused when the size matches and the file has not changed (ctime and
mtime) since the manifest recorded it.

Spark (``huntlab.spark.read_events``) reads an entry too, through a Parquet copy of its table
written the first time Spark asks (:func:`spark_copy`).

The cache keeps to a size (``HUNTLAB_TABLE_CACHE_MAX``, default 10 GiB): when an entry or
a Parquet copy is written, the entries used least recently (a read that uses one marks it) are
removed until the tables fit, but not those used within the last hour (a Spark DataFrame may
still read its copy); an entry larger than the bound on its own is not kept (for Spark's copy:
the copy is not kept when the table alone fits), and nothing else is removed for it.

Off for one call with ``read_events(..., cache=False)``, for a process with
``HUNTLAB_TABLE_CACHE=0``; ``huntlab datasets cache --clear`` empties it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from importlib import metadata, resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from huntlab.errors import HuntlabError
from huntlab.files import atomic_write, private_dirs
from huntlab.readers.report import Errors, ReadReport, default_rejects_path
from huntlab.readers.sources import Limits, list_files, resolve_source
from huntlab.settings import cache_dir

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

ENV = "HUNTLAB_TABLE_CACHE"
# The most the entries may take on disk (tables, descriptions, Spark's copies), in bytes or
# with a binary unit: 500M, 20G.
MAX_ENV = "HUNTLAB_TABLE_CACHE_MAX"
DEFAULT_MAX_BYTES = 10 * 2**30
_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
_SIZE_TEXT = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*([KMGT]?)(?:I?B)?", re.IGNORECASE)
# Smaller reads are not kept: loading a table costs about as much as parsing a few hundred
# events (a fixed cost per column), so below this the cache would only take disk space.
MIN_EVENTS = 1_000
# The layout of an entry; a change makes new keys (as any change of this module does).
FORMAT = 1
_OFF = {"0", "false", "no", "off"}
_TABLE = ".arrow"
_META = ".json"
# Spark's copy of an entry's table (Spark reads Parquet, not Arrow IPC files), and its
# description (size and SHA-256, checked before Spark is given the file).
_PARQUET = ".parquet"
_PARQUET_META = ".parquet.json"
_DIGESTS = "digests"
# The libraries whose versions shape the table (the parser of each format, the builder).
_LIBRARIES = ("pandas", "numpy", "pyarrow", "orjson", "evtx")
# The pandas dtypes an entry holds exactly; a table with any other is not cached.
_CATEGORY = "category"
_OBJECT = "object"
_INT = "Int64"
_TIME = "datetime64[ns, UTC]"
# How long a leftover (a table without its JSON, a temporary file) may stay: a writer
# renames its table and writes its JSON within milliseconds.
_LEFTOVER_SECONDS = 3600
_SHA256 = re.compile(r"[0-9a-f]{64}")
# An entry used this recently is not removed to make room for another: Spark reads an entry's
# Parquet copy when its DataFrame is used, which may be long after read_events returned.
_IN_USE_SECONDS = 3600

Signature = tuple[int, int, int, int, int]  # st_dev, st_ino, st_size, st_mtime_ns, st_ctime_ns


def enabled() -> bool:
    """Whether reads use the cache: unless ``HUNTLAB_TABLE_CACHE`` is 0 (or false, no, off)."""
    return os.environ.get(ENV, "").strip().lower() not in _OFF


def max_bytes() -> int:
    """The size the cache keeps to (``HUNTLAB_TABLE_CACHE_MAX``; a value that is not a size is
    an error naming the variable, not a cache without a bound)."""
    text = os.environ.get(MAX_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_BYTES
    match = _SIZE_TEXT.fullmatch(text)
    if match is None:
        raise HuntlabError(
            f"{MAX_ENV}={text!r} is not a size: write bytes, or a number with a binary unit "
            "such as 500M or 20G (unset it for the default, 10G)"
        )
    return int(float(match[1]) * _UNITS[match[2].upper()])


def trusted(root: Path) -> bool:
    """Whether tables may be read from and written to ``root``: absent (made owner-only when
    first written), or a folder, not a link, of this user's that no one else may write in.
    Anyone who can write there could plant a table a read would take: then the cache is not
    used at all (the reads parse)."""
    import stat

    try:
        st = os.lstat(root)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid() and not st.st_mode & 0o022


def tables_dir() -> Path:
    """``$HUNTLAB_CACHE/tables``, beside the dataset store (``$HUNTLAB_CACHE/datasets``)."""
    return cache_dir() / "tables"


# --- what a table depends on ----------------------------------------------------------------


@cache
def mapping_version() -> str:
    """A digest of ``mapping.json`` and of the reader modules' source (once per process)."""
    digest = hashlib.sha256()
    digest.update(resources.files("huntlab").joinpath("mapping.json").read_bytes())
    modules = resources.files("huntlab.readers")
    for name in sorted(item.name for item in modules.iterdir() if item.name.endswith(".py")):
        digest.update(f"\0{name}\0".encode())
        digest.update(modules.joinpath(name).read_bytes())
    return digest.hexdigest()


@cache
def code_version() -> dict[str, str]:
    """huntlab's version, Python's, and the libraries' that shape the table."""
    from huntlab import __version__

    versions = {"huntlab": __version__, "python": "{}.{}".format(*sys.version_info[:2])}
    for name in _LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def _zone() -> str:
    return f"{os.environ.get('TZ', '')}|{'|'.join(time.tzname)}"


def _signature(st: os.stat_result) -> Signature:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _settled(st: os.stat_result, now_ns: int) -> bool:
    """Whether the file was last changed long enough before ``now_ns`` that a change from
    now on moves its timestamps (file systems that keep whole seconds need 2 s)."""
    whole = st.st_mtime_ns % 1_000_000_000 == 0 and st.st_ctime_ns % 1_000_000_000 == 0
    margin = 2_000_000_000 if whole else 100_000_000
    return max(st.st_mtime_ns, st.st_ctime_ns) < now_ns - margin


class _Unstable(Exception):
    """A file changed while it was hashed."""


@dataclass(frozen=True)
class FileDigest:
    name: str  # the path as the read names it
    real: str  # the resolved path (where its digest is remembered)
    signature: Signature
    sha256: str
    origin: str  # "memo" (remembered), "manifest" (the dataset store's) or "hashed"
    settled: bool


# Digests this process knows: resolved path -> (signature, sha256).
_MEMO: dict[str, tuple[Signature, str]] = {}


def _record_path(real: str) -> Path:
    return tables_dir() / _DIGESTS / f"{hashlib.sha256(real.encode()).hexdigest()[:40]}.json"


def _remembered(real: str, signature: Signature) -> str | None:
    known = _MEMO.get(real)
    if known is not None and known[0] == signature:
        return known[1]
    try:
        record = json.loads(_record_path(real).read_bytes())
        if record["path"] == real and tuple(record["stat"]) == signature:
            sha = str(record["sha256"])
            if _SHA256.fullmatch(sha):
                _MEMO[real] = (signature, sha)
                return sha
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def _manifest_digest(path: Path, st: os.stat_result) -> str | None:
    """The SHA-256 the dataset store's manifest recorded for ``path``, if it is a file of the
    store, of the recorded size, and unchanged since it was recorded."""
    from huntlab import datasets

    try:
        relative = Path(os.path.realpath(path)).relative_to(os.path.realpath(datasets.store_dir()))
    except ValueError:
        return None
    if len(relative.parts) < 2:
        return None
    try:
        entry = datasets.read_manifest(relative.parts[0])["files"].get("/".join(relative.parts[1:]))
        if not isinstance(entry, dict) or entry.get("size") != st.st_size:
            return None
        added = datetime.strptime(str(entry["added"]), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        sha = str(entry["sha256"]).lower()
    except (HuntlabError, KeyError, ValueError, TypeError):
        return None
    # Recorded after the file was written; "added" is cut to the second, so any change made
    # after the record has a ctime at or after "added" (less a clock tick).
    if not _SHA256.fullmatch(sha) or not _settled(st, int(added.timestamp()) * 1_000_000_000):
        return None
    return sha


def _digest(path: Path, now_ns: int) -> FileDigest:
    st = os.stat(path)
    signature = _signature(st)
    settled = _settled(st, now_ns)
    real = os.path.realpath(path)
    known = _remembered(real, signature)
    if known is not None:
        return FileDigest(str(path), real, signature, known, "memo", settled)
    from_store = _manifest_digest(path, st)
    if from_store is not None:
        if settled:
            _MEMO[real] = (signature, from_store)
        return FileDigest(str(path), real, signature, from_store, "manifest", settled)
    with path.open("rb") as stream:
        sha = hashlib.file_digest(stream, "sha256").hexdigest()
    if _signature(os.stat(path)) != signature:
        raise _Unstable(str(path))
    if settled:
        _MEMO[real] = (signature, sha)
    return FileDigest(str(path), real, signature, sha, "hashed", settled)


@dataclass
class Entry:
    """One read's place in the cache: what it reads and the key of its table."""

    source: str
    path: Path  # the source resolved
    dataset: str | None  # the dataset name the read gives (the parameter, else the name read)
    files: list[FileDigest]
    params: dict[str, Any]
    key: str = field(init=False)
    ident: str = field(init=False)  # the source and parameters alone: one source's entries

    def __post_init__(self) -> None:
        names = [f.name for f in self.files]
        self.ident = _sha({"files": names, **self.params})
        self.key = _sha(
            {
                "format": FORMAT,
                "files": [[f.name, f.sha256] for f in self.files],
                **self.params,
                "mapping": mapping_version(),
                "code": code_version(),
                "zone": _zone(),
            }
        )


def _sha(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode("utf-8")).hexdigest()


def prepare(
    source: str | Path,
    *,
    dataset: str | None,
    categorical: bool,
    limits: Limits,
    errors: Errors,
) -> Entry | None:
    """The entry of this read, or None when it cannot be cached (a file unreadable, or
    changing while it is hashed). A source that cannot be resolved raises what the read would
    raise."""
    path, name = resolve_source(source)
    files = list_files(path)
    now = time.time_ns()
    try:
        digests = [_digest(file, now) for file in files]
    except (OSError, _Unstable):
        return None
    params = {
        "dataset": dataset or name,
        "categorical": categorical,
        "max_record_bytes": limits.max_record_bytes,
        "max_decompression_ratio": limits.max_decompression_ratio,
        "errors": errors,
    }
    return Entry(str(source), path, dataset or name, digests, params)


def _unchanged(entry: Entry) -> bool:
    """The files of ``entry`` are still the ones hashed, untouched since (checked after the
    read: a file changed meanwhile may have been read as another content)."""
    if not all(f.settled for f in entry.files):
        return False
    try:
        for file in entry.files:
            if _signature(os.stat(file.name)) != file.signature:
                return False
        return [str(p) for p in list_files(entry.path)] == [f.name for f in entry.files]
    except (OSError, HuntlabError):  # gone, or a folder emptied (list_files raises)
        return False


# --- the read -------------------------------------------------------------------------------


def read_events(
    source: str | Path,
    *,
    errors: Errors,
    rejects: str | Path | None,
    report: ReadReport | None,
    dataset: str | None,
    categorical: bool,
    progress: bool | None,
    limits: Limits,
) -> pd.DataFrame:
    """``huntlab.readers.read_events`` through the cache (see the module notes)."""
    from huntlab.readers.events import _check_errors
    from huntlab.readers.parallel import read_frame

    _check_errors(errors)  # what the read would raise first, before anything is resolved
    max_bytes()  # a bound that is not a size: said before anything is read
    entry = (
        prepare(source, dataset=dataset, categorical=categorical, limits=limits, errors=errors)
        if trusted(tables_dir())
        else None
    )
    if entry is not None:
        found = load(entry)
        if found is not None:
            frame, counts = found
            counts.add_to(report)
            _remember(entry)
            return frame
    own = ReadReport()
    target: str | Path = source
    if entry is not None:
        # The files hashed, under the dataset name they were resolved with; the rejects file
        # named after the source, as the read of the source names it.
        target, dataset = entry.path, entry.dataset
        if rejects is None and errors == "skip":
            rejects = default_rejects_path(str(source))
    try:
        frame = read_frame(
            target,
            errors=errors,
            rejects=rejects,
            report=own,
            dataset=dataset,
            categorical=categorical,
            progress=progress,
            limits=limits,
        )
    finally:
        _merge(own, report)
    if entry is not None and own.rejected == 0 and own.kept >= MIN_EVENTS:
        store(entry, frame, own)
    return frame


def _merge(own: ReadReport, report: ReadReport | None) -> None:
    """Add one read's counts to the caller's report, as if it had been given to the read."""
    if report is None:
        return
    report.read += own.read
    report.kept += own.kept
    report.rejected += own.rejected
    if own.rejects_path is not None:
        report.rejects_path = own.rejects_path
    report.files.update(own.files)
    report.skipped.update(own.skipped)


@dataclass
class Counts:
    """What a cached read puts in the caller's report: the counts of the read that made it."""

    read: int
    kept: int
    files: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    def add_to(self, report: ReadReport | None) -> None:
        if report is not None:
            report.read += self.read
            report.kept += self.kept
            report.files.update(self.files)
            report.skipped.update(self.skipped)

    def to_json(self) -> dict[str, Any]:
        return {"read": self.read, "kept": self.kept, "files": self.files, "skipped": self.skipped}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Counts:
        files, skipped = data["files"], data["skipped"]
        if not (
            isinstance(files, dict)
            and isinstance(skipped, dict)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in files.items())
            and all(isinstance(k, str) and isinstance(v, str) for k, v in skipped.items())
        ):
            raise ValueError("files and skipped are not maps of text")
        return cls(int(data["read"]), int(data["kept"]), dict(files), dict(skipped))


# --- entries on disk ------------------------------------------------------------------------


def load(entry: Entry) -> tuple[pd.DataFrame, Counts] | None:
    """The cached table and counts of ``entry``, or None. A damaged entry is removed (and None
    returned): never an exception, never a table other than the one written."""
    root = tables_dir()
    if not (root / f"{entry.key}{_META}").is_file():
        return None
    try:
        meta, data = _checked_meta(entry)
        table = meta["table"]
        frame = _frame(data, table["columns"], table["dtypes"], table["rows"])
        counts = Counts.from_json(meta["report"])
    except Exception:  # whatever is wrong with it, the entry is not used again
        _remove(root, entry.key)
        return None
    _used(root, entry.key)
    return frame, counts


def store(entry: Entry, frame: pd.DataFrame, report: ReadReport) -> bool:
    """Keep ``frame`` as the table of ``entry`` (``report``: the read's own counts). Whether
    it was kept: not when a file changed during the read, when the table holds something an
    entry cannot hold exactly, or when the cache cannot be written (the read goes on)."""
    if not _unchanged(entry):
        return False
    try:
        encoded = _encode(frame)
        if encoded is None:
            return False
        data, columns, dtypes = encoded
        root = tables_dir()
        private_dirs(root)
        atomic_write(root / f"{entry.key}{_TABLE}", data)
        meta = {
            "format": FORMAT,
            "key": entry.key,
            "ident": entry.ident,
            "source": entry.source,
            "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "params": entry.params,
            "mapping": mapping_version(),
            "code": code_version(),
            "files": [
                {"name": f.name, "path": f.real, "sha256": f.sha256, "size": f.signature[2]}
                for f in entry.files
            ],
            "table": {
                "bytes": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
                "rows": len(frame),
                "columns": columns,
                "dtypes": dtypes,
            },
            "report": Counts(report.read, report.kept, report.files, report.skipped).to_json(),
        }
        # Written last: an entry without its JSON is not read.
        atomic_write(root / f"{entry.key}{_META}", json.dumps(meta, indent=1) + "\n")
    except Exception:  # a full disk, a read-only cache, a table pyarrow cannot write
        return False
    _remember(entry)
    _sweep(entry)
    return _bound(entry.key)


def remember(entry: Entry) -> None:
    """Write down the digests this read computed, for the next process (a read that found no
    entry: the next one hashes nothing that has not changed)."""
    _remember(entry)


def _remember(entry: Entry) -> None:
    """Write down the digests this read computed, for the next process."""
    for file in entry.files:
        if file.origin == "memo" or not file.settled:
            continue
        record = {"path": file.real, "stat": list(file.signature), "sha256": file.sha256}
        with contextlib.suppress(OSError):
            atomic_write(_record_path(file.real), json.dumps(record) + "\n")


def _used(root: Path, key: str) -> None:
    """Mark the entry used now (its description's modification time): the bound removes the
    entries used least recently first."""
    with contextlib.suppress(OSError):
        os.utime(root / f"{key}{_META}")


def _bound(keep: str, copy: bool = False) -> bool:
    """Keep the entries within ``max_bytes()``: remove those used least recently until all fit,
    but never one used within ``_IN_USE_SECONDS`` (the cache may stay over its bound until
    they age). ``keep`` (the entry just written, or just given its Parquet copy: ``copy``) is
    never removed to make room; larger than the bound on its own, it is removed itself (only
    its Parquet copy, with ``copy``, when the table alone fits) and nothing else is. Whether
    ``keep`` (with its copy, with ``copy``) is still there."""
    limit = max_bytes()
    root = tables_dir()
    sizes: dict[str, int] = {}
    copies: dict[str, int] = {}
    used: dict[str, int] = {}
    try:
        with os.scandir(root) as items:
            for item in items:
                key, _, rest = item.name.partition(".")
                if not _SHA256.fullmatch(key) or item.is_dir(follow_symlinks=False):
                    continue
                with contextlib.suppress(OSError):
                    st = item.stat(follow_symlinks=False)
                    suffix = f".{rest}"
                    sizes[key] = sizes.get(key, 0) + st.st_size
                    if suffix in (_PARQUET, _PARQUET_META):
                        copies[key] = copies.get(key, 0) + st.st_size
                    elif suffix == _META:
                        used[key] = st.st_mtime_ns
    except OSError:
        return True
    if keep not in used:
        return False
    if sizes[keep] > limit:
        if copy and sizes[keep] - copies.get(keep, 0) <= limit:
            for suffix in (_PARQUET_META, _PARQUET):
                with contextlib.suppress(OSError):
                    (root / f"{keep}{suffix}").unlink()
        else:
            _remove(root, keep)
        return False
    total = sum(sizes[key] for key in used)
    recent = time.time_ns() - int(_IN_USE_SECONDS * 1e9)
    idle = sorted((k for k in used if k != keep and used[k] < recent), key=lambda k: (used[k], k))
    for key in idle:
        if total <= limit:
            break
        _remove(root, key)
        total -= sizes[key]
    return True


def _remove(root: Path, key: str) -> None:
    # The JSON first: without it the table is not read.
    for suffix in (_META, _PARQUET_META, _TABLE, _PARQUET):
        with contextlib.suppress(OSError):
            (root / f"{key}{suffix}").unlink()


def _sweep(entry: Entry) -> None:
    """Remove the entries no read can use any more: the other keys of ``entry``'s source
    (another content, mapping or code), those whose files are gone, and leftovers."""
    root = tables_dir()
    now = time.time()
    try:
        names = os.listdir(root)
    except OSError:
        return
    present = set(names)
    for name in names:
        path = root / name
        key = name.partition(".")[0]
        if name.endswith(_META) and key != entry.key and _SHA256.fullmatch(key):
            try:
                meta = json.loads(path.read_bytes())
                dead = meta["ident"] == entry.ident or not all(
                    os.path.exists(f["path"]) for f in meta["files"]
                )
            except (OSError, ValueError, KeyError, TypeError):
                dead = True
            if dead:
                _remove(root, key)
        elif (
            name.endswith((_TABLE, _PARQUET, _PARQUET_META)) and f"{key}{_META}" not in present
        ) or name.endswith(".tmp"):
            with contextlib.suppress(OSError):
                if now - path.stat().st_mtime > _LEFTOVER_SECONDS:
                    path.unlink()
    with contextlib.suppress(OSError):
        for record in (root / _DIGESTS).iterdir():
            try:
                gone = not os.path.exists(json.loads(record.read_bytes())["path"])
            except (OSError, ValueError, KeyError, TypeError):
                gone = now - record.stat().st_mtime > _LEFTOVER_SECONDS
            if gone:
                record.unlink(missing_ok=True)


# --- Spark's copy ----------------------------------------------------------------------------


def _checked_meta(entry: Entry) -> tuple[dict[str, Any], bytes]:
    """The entry's description and table file, checked as :func:`load` checks them (raises
    on anything wrong)."""
    root = tables_dir()
    meta = json.loads((root / f"{entry.key}{_META}").read_bytes())
    table = meta["table"]
    if meta["format"] != FORMAT or meta["key"] != entry.key:
        raise ValueError("another entry's description")
    data = (root / f"{entry.key}{_TABLE}").read_bytes()
    if len(data) != table["bytes"] or hashlib.sha256(data).hexdigest() != table["sha256"]:
        raise ValueError("the table file is not the one written")
    return meta, data


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def spark_copy(entry: Entry) -> tuple[Path, list[str], Counts] | None:
    """The entry's table as a Parquet file for Spark, the table's column names (the file's
    columns are named by position, ``c0``, ``c1``...: names that differ only in case would
    stop a case-insensitive Spark from reading it) and the read's counts; None when the
    entry is absent or damaged (then removed). The copy is written from the checked Arrow
    file the first time Spark asks (text as dictionary-encoded strings, times in
    microseconds: the readers keep milliseconds), and its size and SHA-256 are checked each
    time it is given out."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = tables_dir()
    if not (root / f"{entry.key}{_META}").is_file():
        return None
    try:
        meta, data = _checked_meta(entry)
        counts = Counts.from_json(meta["report"])
        columns = list(meta["table"]["columns"])
        parquet = root / f"{entry.key}{_PARQUET}"
        described = root / f"{entry.key}{_PARQUET_META}"
        try:
            known = json.loads(described.read_bytes())
            if parquet.stat().st_size != known["bytes"] or _file_sha256(parquet) != known["sha256"]:
                raise ValueError("the Parquet copy is not the one written")
        except (OSError, ValueError, KeyError, TypeError):
            table = pa.ipc.open_file(pa.BufferReader(data)).read_all()
            if table.column_names != columns:
                raise ValueError("the table file holds other columns") from None
            table = table.rename_columns([f"c{i}" for i in range(len(columns))])
            sink = pa.BufferOutputStream()
            pq.write_table(table, sink, coerce_timestamps="us", allow_truncated_timestamps=False)
            written = sink.getvalue().to_pybytes()
            atomic_write(parquet, written)
            digest = hashlib.sha256(written).hexdigest()
            atomic_write(described, json.dumps({"bytes": len(written), "sha256": digest}) + "\n")
    except Exception:  # whatever is wrong with it, the entry is not used again
        _remove(root, entry.key)
        return None
    _remember(entry)
    _used(root, entry.key)
    if not _bound(entry.key, copy=True):  # the copy made the entry larger than the bound
        return None
    return parquet, columns, counts


# --- the table as Arrow, and back -----------------------------------------------------------


def _text_only(values: np.ndarray) -> bool:
    """Whether ``values`` (an object array) holds nothing but str, NA-likes aside."""
    import pandas as pd

    return pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty")


def _dictionary(codes: np.ndarray, values: np.ndarray) -> pa.DictionaryArray:
    """Codes into ``values`` (-1: null) as an Arrow dictionary array of large strings."""
    import numpy as np
    import pyarrow as pa

    size = len(values)
    narrow = np.int8 if size < 2**7 else np.int16 if size < 2**15 else np.int32
    # The null slots keep their -1 in the indices' buffer, which _frame reads as it is.
    indices = pa.array(codes.astype(narrow, copy=False), mask=codes < 0)
    return pa.DictionaryArray.from_arrays(indices, pa.array(values, type=pa.large_string()))


def _narrow_ints(values: np.ndarray) -> np.ndarray:
    """``values`` (int64) in the narrowest integer type that holds them all: a tenth of the
    bytes to write and to decompress for ports, logon types and the like."""
    import numpy as np

    if not len(values):
        return values
    low, high = int(values.min()), int(values.max())
    for kind in (np.int8, np.int16, np.int32):
        info = np.iinfo(kind)
        if info.min <= low and high <= info.max:
            return values.astype(kind)
    return values


def _buffer_values(array: pa.Array) -> np.ndarray:
    """The values buffer of ``array`` (a fixed-width integer array) as a writable numpy array,
    nulls included as they were written (-1 codes, 0 integers): the buffer itself where
    Arrow decompressed it into memory of its own (the frame then owns it), else a copy."""
    import numpy as np

    dtype = np.dtype(array.type.to_pandas_dtype())
    data = np.frombuffer(array.buffers()[1], dtype=dtype)[array.offset : array.offset + len(array)]
    return data if data.flags.writeable else data.copy()


def _null_mask(array: pa.Array) -> np.ndarray:
    """Where ``array`` is null, as a numpy bool array (from its validity bitmap)."""
    import numpy as np

    validity = array.buffers()[0]
    if validity is None:
        return np.full(len(array), array.null_count == len(array) and len(array) > 0)
    bits = np.unpackbits(
        np.frombuffer(validity, dtype=np.uint8), count=array.offset + len(array), bitorder="little"
    )
    return bits[array.offset :] == 0


def _arrow_column(series: pd.Series) -> tuple[pa.Array, str] | None:
    """One column as Arrow and its kind; None when it is not one of the canonical table's
    dtypes, or holds a value Arrow would give back otherwise (bytes, NaN or pd.NA in text)."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        categories = dtype.categories
        if dtype.ordered or categories.dtype != object or not _text_only(categories.to_numpy()):
            return None
        return _dictionary(series.cat.codes.to_numpy(), categories.to_numpy()), _CATEGORY
    kind = str(dtype)
    if kind == _OBJECT:
        # Dictionary-encoded too: one copy of each value on disk, and back in the frame
        # (which shares repeated values, as the readers' frame does).
        values = series.to_numpy()
        codes, uniques = pd.factorize(values)
        # Absent is None, and only None (NaN or pd.NA would come back as None).
        absent = values[codes < 0]
        if not _text_only(uniques) or not np.equal(absent, np.array(None, dtype=object)).all():
            return None
        return _dictionary(codes, uniques), _OBJECT
    if kind == _INT:
        values = _narrow_ints(series.to_numpy(dtype="int64", na_value=0))
        return pa.array(values, mask=series.isna().to_numpy()), _INT
    if kind == _TIME:
        return pa.Array.from_pandas(series), _TIME
    return None


def _encode(frame: pd.DataFrame) -> tuple[bytes, list[str], list[str]] | None:
    """``frame`` as an Arrow IPC file, its columns and dtypes; None when an entry cannot hold
    it exactly (an index other than 0..n-1, a column name that is not unique text, a dtype
    other than those of the canonical table, a value that is not text in a text column)."""
    import pandas as pd
    import pyarrow as pa

    index = frame.index
    if not (isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1):
        return None
    columns = list(frame.columns)
    if (
        not columns
        or frame.columns.dtype != object
        or any(type(name) is not str for name in columns)
        or len(set(columns)) != len(columns)
    ):
        return None
    arrays, dtypes = [], []
    try:
        for position in range(len(columns)):
            converted = _arrow_column(frame.iloc[:, position])
            if converted is None:
                return None
            arrays.append(converted[0])
            dtypes.append(converted[1])
    except (pa.ArrowException, TypeError, ValueError):
        return None
    table = pa.Table.from_arrays(arrays, names=columns)
    codec = "zstd" if pa.Codec.is_available("zstd") else None
    sink = pa.BufferOutputStream()
    options = pa.ipc.IpcWriteOptions(compression=codec)
    with pa.ipc.new_file(sink, table.schema, options=options) as out:
        out.write_table(table)
    return sink.getvalue().to_pybytes(), columns, dtypes


def _frame(data: bytes, columns: list[str], dtypes: list[str], rows: int) -> pd.DataFrame:
    """The DataFrame an Arrow IPC file of ``_encode`` holds, with the dtypes it was written
    with (raises when it does not hold them). Numpy arrays are copied out of Arrow's
    read-only buffers: the frame is the caller's to change, as a parsed one is."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    table = pa.ipc.open_file(pa.BufferReader(data)).read_all()
    if table.column_names != columns or table.num_rows != rows or len(dtypes) != len(columns):
        raise ValueError("the table file holds other columns or rows")
    series: dict[str, pd.Series] = {}
    for name, kind in zip(columns, dtypes, strict=True):
        chunks = table.column(name)
        array = chunks.chunk(0) if chunks.num_chunks == 1 else chunks.combine_chunks()
        if kind in (_CATEGORY, _OBJECT):
            codes = _buffer_values(array.indices)
            if int(np.count_nonzero(codes < 0)) != array.null_count:
                raise ValueError(f"the codes of column {name!r} are not those written")
            values = array.dictionary.to_numpy(zero_copy_only=False)
            if kind == _CATEGORY:
                categories = pd.Index(values, dtype=object)
                series[name] = pd.Series(pd.Categorical.from_codes(codes, categories=categories))  # type: ignore[arg-type]
            else:  # as the readers build it: -1 (absent) picks the last slot, None
                table_of = np.empty(len(values) + 1, dtype=object)
                table_of[: len(values)] = values
                table_of[-1] = None
                series[name] = pd.Series(table_of[codes], dtype=object)
        elif kind == _INT:
            ints = _buffer_values(array).astype(np.int64, copy=False)
            mask = _null_mask(array)
            series[name] = pd.Series(pd.arrays.IntegerArray(ints, mask))
        elif kind == _TIME:
            stamps = array.to_numpy(zero_copy_only=False, writable=True)
            series[name] = pd.Series(stamps).dt.tz_localize("UTC")
        else:
            raise ValueError(f"unknown column kind {kind!r}")
    frame = pd.DataFrame(series, copy=False)
    if len(frame) != rows or [str(d) for d in frame.dtypes] != dtypes:
        raise ValueError("the table read back has other dtypes")
    return frame


# --- the command's view ---------------------------------------------------------------------


@dataclass(frozen=True)
class Usage:
    """The cache's folder, how many tables it holds, and the bytes of everything in it."""

    path: Path
    tables: int
    bytes: int


def _files() -> list[Path]:
    root = tables_dir()
    found: list[Path] = []
    for folder in (root, root / _DIGESTS):
        try:
            with os.scandir(folder) as items:
                found += [Path(i.path) for i in items if not i.is_dir(follow_symlinks=False)]
        except OSError:
            continue
    return found


def _count(files: list[Path]) -> Usage:
    tables, total = 0, 0
    for path in files:
        with contextlib.suppress(OSError):
            total += path.lstat().st_size
            if path.parent == tables_dir() and path.name.endswith(_META):
                tables += 1
    return Usage(tables_dir(), tables, total)


def usage() -> Usage:
    return _count(_files())


def clear() -> Usage:
    """Empty the cache; returns what it held. A read at the same time finds no entry (or a
    damaged one, which it removes) and parses its source."""
    files = _files()
    held = _count(files)
    for path in sorted(files, key=lambda p: not p.name.endswith(_META)):  # JSON files first
        with contextlib.suppress(OSError):
            path.unlink()
    with contextlib.suppress(OSError):
        (tables_dir() / _DIGESTS).rmdir()
    return held
