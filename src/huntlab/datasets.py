"""The local dataset store: downloads, mirror copies, imports, and name resolution.

Layout: ``cache_dir()/datasets/<name>/`` holds a dataset's files, and only them (readers may be
given the folder), under the same relative paths as upstream (``host/<name>.zip``,
``network/<name>.zip`` for atomic datasets; the bare file names for compound ones).
``cache_dir()/dataset-manifests/<name>.json`` records each file's SHA-256, size, origin
(download URL, mirror or imported path) and when it arrived.

Where files come from, for ``get``:
1. the store itself (a file already there is not fetched again);
2. the mirror, ``HUNTLAB_DATASETS_MIRROR``: a folder laid out like
   ``<platform>/<name>/[host|network/]<file>`` (files are hard-linked, or copied);
3. the file's upstream link; ``HUNTLAB_DATASETS_BASE_URL`` replaces the upstream prefix
   ``https://raw.githubusercontent.com/OTRF/Security-Datasets/master/`` (an internal copy of
   the repository). Downloads go through :mod:`huntlab.download` (resumable, locked, checked
   against a known hash: the catalog's, or a ``<file>.sha256``/``SHA256SUMS`` that such an
   internal copy publishes beside the file).

Dataset names are one path component of a safe character set (:func:`check_name`), and every
path the store writes is checked to stay inside it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from huntlab.dataset_catalog import (
    ARCHIVE_SUFFIXES,
    UPSTREAM_RAW_PREFIX,
    Catalog,
    Dataset,
    DatasetFile,
    archive_stem,
    catalog,
    not_found_message,
)
from huntlab.download import KnownHash, file_digest, published_sha256, sums_in_folder
from huntlab.errors import DatasetNotFound, DownloadError, HuntlabError
from huntlab.files import atomic_write
from huntlab.settings import cache_dir

# The lab's default load (`huntlab up`): the 2019 and the 2020 recordings of Empire Invoke WMI.
DEFAULT_DATASETS: tuple[str, ...] = (
    "empire_invoke_wmi",
    "empire_wmi_dcerpc_wmi_IWbemServices_ExecMethod",
)

# A dataset name is one path component: it names a folder of the store and a manifest file.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


@dataclass(frozen=True)
class StoredFile:
    """One file of the store and how it got there during this call."""

    dataset: str
    relpath: str
    path: Path
    sha256: str
    size: int
    origin: str  # "store" (already there), "mirror", "download" or "import"
    fetched: int = 0  # bytes transferred over the network by this call
    verified: str = ""  # the published hash it matched ("" when none was known)


# --- places ---------------------------------------------------------------------------------


def store_dir() -> Path:
    return cache_dir() / "datasets"


def check_name(name: str) -> str:
    """``name`` if it is a valid dataset name, else a HuntlabError saying what is allowed."""
    if not NAME_PATTERN.fullmatch(name):
        raise HuntlabError(
            f"{name!r} is not a valid dataset name: use one path component of letters, digits, "
            "'.', '_' and '-', starting with a letter or digit, at most 128 characters "
            "(e.g. --name my_dataset)"
        )
    return name


def _inside(root: Path, relpath: str) -> Path:
    """``root/relpath``, refusing anything that would leave ``root`` (``..``, absolute, links)."""
    parts = PurePosixPath(relpath).parts
    if (
        not parts
        or relpath.startswith("/")
        or "\\" in relpath
        or "\0" in relpath
        or any(part in ("", ".", "..") for part in parts)
    ):
        raise HuntlabError(f"{relpath!r}: not a relative path inside the dataset store")
    path = root.joinpath(*parts)
    if not path.resolve().is_relative_to(root.resolve()):
        raise HuntlabError(f"{relpath!r}: resolves to {path.resolve()}, outside {root}")
    return path


def dataset_dir(name: str) -> Path:
    """The store's folder of dataset ``name`` (a valid name, inside the store)."""
    return _inside(store_dir(), check_name(name))


def stored_path(name: str, relpath: str) -> Path:
    """Where file ``relpath`` of dataset ``name`` lives in the store (checked to stay inside)."""
    return _inside(dataset_dir(name), relpath)


MIRROR_ENV = "HUNTLAB_DATASETS_MIRROR"


def mirror_dir() -> Path | None:
    """The folder ``HUNTLAB_DATASETS_MIRROR`` names, if set (an error if it is not a folder)."""
    value = os.environ.get(MIRROR_ENV)
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.is_dir():
        raise HuntlabError(
            f"HUNTLAB_DATASETS_MIRROR={value}: not a folder; point it at a folder laid out "
            "like <platform>/<name>/[host|network/]<file>, or unset it"
        )
    return path


def file_url(file: DatasetFile) -> str:
    """The URL to fetch ``file`` from, after the ``HUNTLAB_DATASETS_BASE_URL`` override."""
    base = os.environ.get("HUNTLAB_DATASETS_BASE_URL")
    if base and file.link.startswith(UPSTREAM_RAW_PREFIX):
        return base.rstrip("/") + "/" + file.link[len(UPSTREAM_RAW_PREFIX) :]
    return file.link


def is_data_file(path: Path) -> bool:
    return path.name.lower().endswith(ARCHIVE_SUFFIXES)


def _is_network_capture(path: Path) -> bool:
    return "network" in (p.lower() for p in path.parts[:-1]) or "pcap" in path.name.lower()


def primary_path(folder: Path) -> Path:
    """What readers get for a dataset folder: its one event archive, or else the folder.

    Network captures (a ``network/`` folder, ``pcap`` in the name) are not events; when a
    single other data file remains it is the answer (``host/<name>.zip``). Compound datasets
    with several event files resolve to the folder.
    """
    candidates = [
        p
        for p in sorted(folder.rglob("*"))
        if p.is_file() and is_data_file(p) and not _is_network_capture(p.relative_to(folder))
    ]
    return candidates[0] if len(candidates) == 1 else folder


# --- the manifest ---------------------------------------------------------------------------


def manifests_dir() -> Path:
    return cache_dir() / "dataset-manifests"


def manifest_path(name: str) -> Path:
    return manifests_dir() / f"{check_name(name)}.json"


def read_manifest(name: str) -> dict[str, Any]:
    path = manifest_path(name)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"files": {}}
    except (OSError, ValueError) as exc:
        raise HuntlabError(
            f"{path}: not readable JSON ({exc}); delete it and run the get again"
        ) from exc
    data.setdefault("files", {})
    return dict(data)


def _write_manifest(name: str, manifest: dict[str, Any]) -> None:
    atomic_write(
        manifest_path(name), json.dumps(manifest, indent=1, sort_keys=True) + "\n", mode=0o644
    )


def _record(
    name: str,
    relpath: str,
    path: Path,
    sha256: str,
    origin: str,
    source: str,
    dataset: Dataset | None,
    verified: str = "",
) -> None:
    manifest = read_manifest(name)
    manifest["name"] = name
    if dataset is not None:
        manifest["id"] = dataset.id
        manifest["title"] = dataset.title
    manifest["files"][relpath] = {
        "sha256": sha256,
        "size": path.stat().st_size,
        "origin": origin,
        "source": source,
        "added": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "verified": verified,
    }
    _write_manifest(name, manifest)


def sha256_file(path: Path) -> str:
    return file_digest(path, "sha256")


def local_files(name: str) -> dict[str, dict[str, Any]]:
    """The store's manifest entries of dataset ``name`` whose file is present."""
    folder = dataset_dir(name)
    entries = read_manifest(name)["files"] if folder.is_dir() else {}
    return {rel: e for rel, e in entries.items() if stored_path(name, rel).is_file()}


def stored_names() -> list[str]:
    root = manifests_dir()
    if not root.is_dir():
        return []
    return sorted(
        p.stem
        for p in root.glob("*.json")
        if NAME_PATTERN.fullmatch(p.stem) and (store_dir() / p.stem).is_dir()
    )


# --- the mirror -----------------------------------------------------------------------------


def _walk_data_files(root: Path) -> Iterator[Path]:
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            path = Path(folder) / name
            if is_data_file(path):
                yield path


def find_in_mirror(name: str, mirror: Path | None = None) -> Path | None:
    """A dataset's file or folder in the mirror, by name alone (no catalog needed).

    Looks for ``<name>.zip``, ``.tar.gz``, ``.json`` or ``.jsonl`` anywhere in the mirror
    (event archives before ``network/`` captures), then a folder called ``<name>``.
    """
    root = mirror or mirror_dir()
    if root is None or not root.is_dir():
        return None
    wanted = name.strip().lower()
    files = [p for p in _walk_data_files(root) if archive_stem(p.name).lower() == wanted]
    files.sort(key=lambda p: (_is_network_capture(p.relative_to(root)), len(p.parts), str(p)))
    if files:
        return files[0]
    for folder, dirs, _ in os.walk(root):
        dirs.sort()
        for sub in dirs:
            if sub.lower() == wanted:
                return primary_path(Path(folder) / sub)
    return None


def _mirror_file(file: DatasetFile, mirror: Path) -> Path | None:
    """The mirror's copy of one catalog file: same file name, in the same host/network folder
    when there is one (a host file may also sit directly in its dataset's folder)."""
    hits = [p for p in _walk_data_files(mirror) if p.name.lower() == file.filename.lower()]
    folder = file.relpath.split("/")[0] if "/" in file.relpath else ""
    if folder:
        exact = [hit for hit in hits if hit.parent.name.lower() == folder]
        if exact or folder == "network":
            return exact[0] if exact else None
    hits = [hit for hit in hits if not _is_network_capture(hit.relative_to(mirror))]
    return hits[0] if hits else None


# --- adding files to the store --------------------------------------------------------------


def _place(src: Path, dest: Path) -> None:
    """Hard-link ``src`` to ``dest`` (same file system), else copy it; atomic either way."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copyfile(src, tmp)
    tmp.replace(dest)


def _already_stored(name: str, relpath: str, verify: bool) -> StoredFile | None:
    path = stored_path(name, relpath)
    if not path.is_file():
        return None
    entry = read_manifest(name)["files"].get(relpath)
    if entry is None or entry.get("size") != path.stat().st_size:
        return None
    if verify and sha256_file(path) != entry.get("sha256"):
        return None
    return StoredFile(
        name,
        relpath,
        path,
        str(entry["sha256"]),
        path.stat().st_size,
        "store",
        verified=str(entry.get("verified") or ""),
    )


def _store_copy(
    src: Path, name: str, relpath: str, origin: str, dataset: Dataset | None, force: bool
) -> StoredFile:
    dest = stored_path(name, relpath)
    digest = sha256_file(src)
    # A mirror (or a folder of downloads) may publish the hashes beside its files.
    published = sums_in_folder(src.parent, src.name)
    if published is not None and published.hexdigest != digest:
        raise HuntlabError(
            f"{src}: SHA-256 {digest} does not match {published.hexdigest} published in "
            f"{published.source}; the file is damaged or the list is stale, fix the mirror"
        )
    verified = published.describe() if published is not None else ""
    if dest.is_file() and not dest.samefile(src):
        current = sha256_file(dest)
        if current != digest and not force:
            raise HuntlabError(
                f"{dest} already holds a different file (SHA-256 {current[:12]}…, "
                f"{src} has {digest[:12]}…); rerun with --force to replace it"
            )
    if not (dest.is_file() and sha256_file(dest) == digest):
        _place(src, dest)
    _record(name, relpath, dest, digest, origin, str(src), dataset, verified)
    return StoredFile(name, relpath, dest, digest, dest.stat().st_size, origin, verified=verified)


# --- downloading ----------------------------------------------------------------------------


def _offline_hint(url: str, name: str, relpath: str) -> str:
    mirror = os.environ.get(MIRROR_ENV)
    where = (
        f"or put it in the mirror you set, {MIRROR_ENV}={mirror} (which holds no "
        f"{Path(relpath).name}), as <platform>/{name}/{relpath}"
        if mirror
        else f"or set {MIRROR_ENV} to a folder laid out like <platform>/<name>/[host|network/]"
        "<file> that holds it"
    )
    return (
        f"download the file some other way and run `huntlab datasets import FILE --name {name}`"
        f" (it belongs at {relpath}), {where}"
    )


def _lock_file(name: str, relpath: str) -> Path:
    """The download lock of one dataset file: beside the store, one per (dataset, file)."""
    digest = hashlib.sha256(f"{name}/{relpath}".encode()).hexdigest()[:16]
    return store_dir().parent / "locks" / f"{name}-{digest}.lock"


def _prune_empty(folder: Path) -> None:
    """Remove the empty folders a failed ``get`` made under ``folder`` (and it, if empty)."""
    if not folder.is_dir():
        return
    for sub in sorted((p for p in folder.rglob("*") if p.is_dir()), reverse=True):
        with contextlib.suppress(OSError):
            sub.rmdir()
    with contextlib.suppress(OSError):
        folder.rmdir()


def download(
    url: str,
    dest: Path,
    *,
    label: str | None = None,
    hint: str = "",
    expected: KnownHash | None = None,
) -> int:
    """Fetch ``url`` into ``dest`` with :func:`huntlab.download.fetch` (resumable, locked,
    checked against ``expected`` when given); returns the bytes transferred."""
    from huntlab.download import fetch

    return fetch(url, dest, expected=expected, label=label, hint=hint).fetched


def known_hash(file: DatasetFile, url: str) -> KnownHash | None:
    """The hash ``file`` must have: the catalog's, else one an internal copy of the repository
    (``HUNTLAB_DATASETS_BASE_URL``) publishes beside it. Upstream publishes none."""
    if file.sha256:
        return KnownHash("sha256", file.sha256.lower(), "catalog")
    if os.environ.get("HUNTLAB_DATASETS_BASE_URL") and url != file.link:
        return published_sha256(url)
    return None


# --- the public operations ------------------------------------------------------------------


def _catalog(metadata: str | Path | None, download_ok: bool = True) -> Catalog:
    return catalog(metadata, download=download_ok)


def _try_catalog(metadata: str | Path | None = None) -> Catalog | None:
    """The catalog when it is at hand without the network, else None."""
    try:
        return catalog(metadata, download=False)
    except HuntlabError:
        return None


def get(
    id_or_name: str | Dataset,
    *,
    kinds: Iterable[str] | None = None,
    verify: bool = False,
    metadata: str | Path | None = None,
) -> list[StoredFile]:
    """Bring every file of a dataset into the store (``kinds``: only host, network, ...).

    Files already in the store are not fetched again (``verify`` re-hashes them first).
    """
    if isinstance(id_or_name, Dataset):
        ds = id_or_name
    else:
        try:
            ds = _catalog(metadata).get(id_or_name)
        except HuntlabError:
            by_name = _get_from_mirror_by_name(id_or_name, verify)
            if by_name is None:
                raise
            return by_name
    wanted = {k.lower() for k in kinds} if kinds else None
    files = [f for f in ds.files if wanted is None or f.kind in wanted]
    if not files:
        raise DatasetNotFound(
            f"{ds.id} ({ds.name}) lists no downloadable files"
            + (f" of kind {', '.join(sorted(wanted))}" if wanted else "")
        )
    mirror = mirror_dir()
    results: list[StoredFile] = []
    to_download: list[DatasetFile] = []
    # Local sources first, so that one unreachable URL does not hold back the others.
    for file in files:
        done = _already_stored(ds.name, file.relpath, verify)
        if done is not None:
            results.append(done)
            continue
        from_mirror = _mirror_file(file, mirror) if mirror else None
        if from_mirror is not None:
            results.append(_store_copy(from_mirror, ds.name, file.relpath, "mirror", ds, True))
            continue
        to_download.append(file)
    failures: list[DownloadError] = []
    for file in to_download:
        url = file_url(file)
        dest = stored_path(ds.name, file.relpath)
        from huntlab.download import fetch

        try:
            expected = known_hash(file, url)
            got = fetch(
                url,
                dest,
                expected=expected,
                label=f"{ds.name} {file.relpath}",
                hint=_offline_hint(url, ds.name, file.relpath),
                # Beside the store, not in the dataset's folder: a failed get leaves none.
                lock=_lock_file(ds.name, file.relpath),
            )
        except DownloadError as exc:
            failures.append(exc)
            continue
        digest = sha256_file(dest)
        verified = got.verified.describe() if got.verified is not None else ""
        _record(ds.name, file.relpath, dest, digest, "download", url, ds, verified)
        results.append(
            StoredFile(
                ds.name,
                file.relpath,
                dest,
                digest,
                dest.stat().st_size,
                "download",
                got.fetched,
                verified,
            )
        )
    if failures:
        _prune_empty(dataset_dir(ds.name))  # a partial download (to resume) is kept
    if len(failures) == 1:
        raise failures[0]
    if failures:
        raise DownloadError(
            f"{len(failures)} of {len(files)} files of {ds.name} could not be fetched:\n"
            + "\n".join(f"- {exc}" for exc in failures)
        )
    return results


def _catalog_relpath(ds: Dataset | None, filename: str) -> str | None:
    if ds is None:
        return None
    for file in ds.files:
        if file.filename.lower() == filename.lower():
            return file.relpath
    return None


def _import_file(
    path: Path,
    name: str | None,
    cat: Catalog | None,
    force: bool,
    relpath: str | None = None,
    origin: str = "import",
) -> StoredFile:
    ds = cat.find(name or archive_stem(path.name)) if cat is not None else None
    target = ds.name if ds is not None else (name or archive_stem(path.name))
    rel = _catalog_relpath(ds, path.name) or relpath
    if ds is not None and rel is None:
        # One file given for a dataset the catalog describes, and not one of its files: a
        # second archive beside the real one would be read with it (or instead of it).
        files = ", ".join(f.relpath for f in ds.files) or "none listed"
        raise HuntlabError(
            f"{path}: not a file of dataset {ds.name} (the catalog lists: {files}); to read it "
            f"as a dataset of its own, import it under a name of yours: huntlab datasets "
            f"import {path} --name my_{ds.name}"
        )
    if rel is None:
        rel = (
            f"{path.parent.name}/{path.name}"
            if path.parent.name in ("host", "network")
            else path.name
        )
    return _store_copy(path, target, rel, origin, ds, force)


def _get_from_mirror_by_name(name: str, verify: bool) -> list[StoredFile] | None:
    """``get`` for a name the catalog does not know but the mirror holds (empire_invoke_wmi).

    The whole dataset folder is taken when the mirror's folder carries the name, else the file.
    """
    found = find_in_mirror(name)
    if found is None:
        return None
    if found.is_file():
        holder = found.parent.parent if found.parent.name in ("host", "network") else found.parent
    else:
        holder = found
    if holder.name.lower() == name.lower():
        target, files = holder.name, list(_walk_data_files(holder))
    else:
        target, holder, files = name, found.parent, [found]
    results = []
    for file in files:
        rel = file.relative_to(holder).as_posix()
        done = _already_stored(target, rel, verify)
        results.append(done or _import_file(file, target, None, True, rel, "mirror"))
    return results


def import_path(
    path: str | Path,
    *,
    name: str | None = None,
    force: bool = False,
    metadata: str | Path | None = None,
) -> list[StoredFile]:
    """Put a local archive/JSON file, or every data file of a mirror folder, into the store.

    A file goes under ``name`` (default: its stem, matched to the catalog when it can be
    loaded without the network). In a folder, each file's dataset is the folder holding it
    (above a ``host``/``network`` level), as in ``<platform>/<name>/host/<name>.zip``.
    """
    if name is not None:
        check_name(name)
    src = Path(path).expanduser()
    if not src.exists():
        raise HuntlabError(f"{src}: no such file or folder")
    cat = _try_catalog(metadata)
    if src.is_file():
        if not is_data_file(src):
            raise HuntlabError(
                f"{src}: not a dataset file (expected {', '.join(ARCHIVE_SUFFIXES)})"
            )
        return [_import_file(src, name, cat, force)]
    results: list[StoredFile] = []
    for file in _walk_data_files(src):
        holder = (
            file.parent.parent if file.parent.name.lower() in ("host", "network") else file.parent
        )
        rel = file.relative_to(holder).as_posix()
        if holder == src and name is None and cat is not None and cat.find(src.name) is None:
            # Loose files at the top of an arbitrary folder: each is its own dataset.
            results.append(_import_file(file, None, cat, force))
            continue
        results.append(_import_file(file, name or holder.name, cat, force, rel))
    if not results:
        raise HuntlabError(f"{src}: no .zip, .tar.gz, .json or .jsonl files in this folder")
    return results


def _store_lookup(name: str) -> Path | None:
    root = store_dir()
    if not root.is_dir():
        return None
    for folder in root.iterdir():
        if folder.name.lower() != name.lower() or not NAME_PATTERN.fullmatch(folder.name):
            continue
        present = [rel for rel in local_files(folder.name) if is_data_file(Path(rel))]
        events = [rel for rel in present if not _is_network_capture(Path(rel))]
        if len(events) == 1:
            return folder / events[0]
        if events:
            return folder
        # Only network captures here (get --kind network): nothing to read as events yet.
    return None


def keep(name: str) -> Path:
    """Make sure the store holds dataset ``name``'s event files, as :func:`resolve` would read
    them (from the mirror, hard-linked or copied, else downloaded); return the path to read.

    The lab keeps every dataset it loads in the store, so that the workspace's ``datasets/``
    (a link to the store) shows each of them, whether it came from a mirror or the network.
    """
    found = _store_lookup(name)
    if found is not None:
        return found
    try:
        ds = _catalog(None).find(name)
    except HuntlabError:
        ds = None
    if ds is not None:
        get(ds, kinds=sorted({f.kind for f in ds.files} - {"network"}) or None)
    elif _get_from_mirror_by_name(name, False) is None:
        return resolve(name)  # not a dataset of the catalog or the mirror: resolve says why
    found = _store_lookup(ds.name if ds is not None else name)
    if found is None:
        raise DatasetNotFound(f"{name}: fetched, but the store at {store_dir()} holds no event "
                              "file of it; run `huntlab datasets get --verify` on it")  # fmt: skip
    return found


def locate(name: str) -> Path | None:
    """A dataset's path in the store or the mirror, by name only: no catalog, no network."""
    return _store_lookup(name) or find_in_mirror(name)


def resolve(source: str | Path, *, metadata: str | Path | None = None) -> Path:
    """A path to read for ``source``: a file or folder that exists, or a dataset id or name.

    For ids and names, in order: the local store, the mirror (by name, no catalog needed),
    then the catalog (ids, file stems), then a download of the dataset's event files (not its
    network captures) into the store. A dataset with one event archive resolves to that file
    (``host/<name>.zip``); one with several (compound datasets) to its folder.
    """
    path = Path(source).expanduser()
    if path.exists():
        return path
    text = str(source).strip()
    if not text:
        raise DatasetNotFound("an empty dataset name was given")
    if "/" in text or os.sep in text or text.lower().endswith(ARCHIVE_SUFFIXES):
        raise DatasetNotFound(f"{path}: no such file or folder")
    found = locate(text)
    if found is not None:
        return found
    problem = ""
    cat: Catalog | None
    try:
        cat = _catalog(metadata)
    except HuntlabError as exc:
        cat, problem = None, str(exc)
    ds = cat.find(text) if cat is not None else None
    if ds is not None:
        for spelling in (ds.name, *ds.aliases):
            found = locate(spelling)
            if found is not None:
                return found
        get(ds, kinds=sorted({f.kind for f in ds.files} - {"network"}) or None)
        return primary_path(dataset_dir(ds.name))
    known = stored_names() + _mirror_names()
    if cat is not None:
        known += [s for ds in cat for s in (ds.id, ds.name)]
    message = not_found_message(text, _close(text, known))
    if problem:
        message += f"; the catalog could not be loaded: {problem}"
    raise DatasetNotFound(message)


def _mirror_names() -> list[str]:
    root = mirror_dir()
    if root is None or not root.is_dir():
        return []
    return sorted({archive_stem(p.name) for p in _walk_data_files(root)})


def _close(text: str, names: list[str]) -> list[str]:
    import difflib

    lowered = {n.lower(): n for n in names}
    hits = difflib.get_close_matches(text.lower(), list(lowered), n=5, cutoff=0.6)
    return [lowered[h] for h in hits]


def mirror_file_names() -> set[str]:
    """The (lower-case) names of the data files the mirror holds; empty without a mirror."""
    mirror = mirror_dir()
    return {p.name.lower() for p in _walk_data_files(mirror)} if mirror else set()


def local_state(
    ds: Dataset, stored: Iterable[str] | None = None, mirrored: set[str] | None = None
) -> str:
    """Where the dataset can be read without the network: ``yes`` (every file in the store),
    ``partial`` (some), ``mirror`` (none stored, but the mirror holds its event files, which
    ``get``, ``read`` and ``load`` take from there) or ``no``. ``stored``: stored_names();
    ``mirrored``: mirror_file_names() (both computed once for a whole listing)."""
    names = {n.lower() for n in (stored_names() if stored is None else stored)}
    present = local_files(ds.name) if ds.name.lower() in names else {}
    if ds.files and all(f.relpath in present for f in ds.files):
        return "yes"
    if present:
        return "partial"
    events = [f for f in ds.files if f.kind != "network"]
    mirrored = mirror_file_names() if mirrored is None else mirrored
    if events and all(f.filename.lower() in mirrored for f in events):
        return "mirror"
    return "no"


def local_status(ds: Dataset) -> dict[str, Any]:
    """Which of a dataset's files are in the store (with their checksums) or in the mirror."""
    stored = local_files(ds.name)
    mirror = mirror_dir()
    files = []
    for file in ds.files:
        entry = stored.get(file.relpath)
        in_mirror = _mirror_file(file, mirror) if mirror else None
        files.append(
            {
                "relpath": file.relpath,
                "kind": file.kind,
                "url": file_url(file),
                "stored": str(stored_path(ds.name, file.relpath)) if entry else None,
                "sha256": entry.get("sha256") if entry else None,
                "mirror": str(in_mirror) if in_mirror else None,
            }
        )
    return {
        "cached": bool(ds.files) and all(f["stored"] for f in files),
        "store": str(dataset_dir(ds.name)),
        "files": files,
    }
