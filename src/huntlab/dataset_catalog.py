"""The Security-Datasets catalog, built at run time from the upstream metadata YAML files.

huntlab ships no copy of that metadata: it is upstream data. The catalog is generated from a
metadata folder found, in this order, at

1. the ``metadata`` argument (``--metadata DIR``), then ``HUNTLAB_DATASETS_METADATA``;
2. the dataset mirror (``HUNTLAB_DATASETS_MIRROR``): its ``_metadata/`` or
   ``security-datasets-metadata/`` folder, or a ``security-datasets-metadata/`` folder beside it;
3. a copy downloaded earlier into the cache (``cache_dir()/security-datasets-metadata``);
4. a fresh download of the Security-Datasets repository archive (only the ``_metadata`` YAML
   files are kept), from ``HUNTLAB_DATASETS_METADATA_URL`` when set.

A metadata folder is laid out either like upstream (``datasets/atomic/_metadata/*.yaml``,
``datasets/compound/_metadata/*.yaml``) or flat (``atomic/*.yaml``, ``compound/*.yaml``, and an
optional ``COMMIT`` file naming the upstream commit). The parsed catalog is cached as JSON
(``cache_dir()/catalog.json``) with the source commit and a fingerprint of the YAML files, so
later runs skip the YAML parsing, and a machine that went offline keeps its catalog.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import json
import os
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, cast
from urllib.parse import urlsplit

from huntlab.errors import DatasetNotFound, DownloadError, HuntlabError
from huntlab.files import atomic_write
from huntlab.settings import cache_dir

UPSTREAM_REPO = "OTRF/Security-Datasets"
# Prefix of every file link in the upstream metadata; HUNTLAB_DATASETS_BASE_URL replaces it.
UPSTREAM_RAW_PREFIX = f"https://raw.githubusercontent.com/{UPSTREAM_REPO}/master/"
UPSTREAM_ARCHIVE_URL = f"https://codeload.github.com/{UPSTREAM_REPO}/tar.gz/refs/heads/master"
CATALOG_FORMAT = 1

# MITRE ATT&CK Enterprise tactics: id -> name. The metadata only carries the ids.
TACTICS: dict[str, str] = {
    "TA0043": "Reconnaissance",
    "TA0042": "Resource Development",
    "TA0001": "Initial Access",
    "TA0002": "Execution",
    "TA0003": "Persistence",
    "TA0004": "Privilege Escalation",
    "TA0005": "Defense Evasion",
    "TA0006": "Credential Access",
    "TA0007": "Discovery",
    "TA0008": "Lateral Movement",
    "TA0009": "Collection",
    "TA0011": "Command and Control",
    "TA0010": "Exfiltration",
    "TA0040": "Impact",
}

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".zip", ".jsonl", ".json")


def tactic_slug(name: str) -> str:
    """``Lateral Movement`` -> ``lateral-movement`` (the ATT&CK website's spelling)."""
    return "-".join(name.lower().replace("_", " ").replace("-", " ").split())


def tactic_id(value: str) -> str | None:
    """A tactic given as id (``TA0008``), name or slug (``lateral-movement``) -> its id."""
    wanted = value.strip()
    if wanted.upper() in TACTICS:
        return wanted.upper()
    slug = tactic_slug(wanted)
    for ident, name in TACTICS.items():
        if tactic_slug(name) == slug:
            return ident
    return None


def archive_stem(filename: str) -> str:
    """``empire_invoke_wmi.tar.gz`` -> ``empire_invoke_wmi`` (suffix matched case-insensitively)."""
    lower = filename.lower()
    for suffix in ARCHIVE_SUFFIXES:
        if lower.endswith(suffix):
            return filename[: -len(suffix)]
    return filename.rsplit(".", 1)[0] if "." in filename else filename


@dataclass(frozen=True)
class DatasetFile:
    """One downloadable file of a dataset, as the metadata lists it."""

    type: str  # as written upstream: Host, Network, Cloud, ...
    link: str
    kind: str  # host, network, cloud, ...: the link's host/network folder wins over `type`
    relpath: str  # where the file goes inside the dataset's folder: host/x.zip, or x.zip
    sha256: str = ""  # when the metadata gives one (upstream does not, an internal copy may)

    @property
    def filename(self) -> str:
        return PurePosixPath(self.relpath).name

    @property
    def stem(self) -> str:
        return archive_stem(self.filename)


@dataclass(frozen=True)
class Dataset:
    """The facts the upstream metadata gives about one dataset."""

    id: str
    name: str
    title: str
    type: str  # atomic or compound
    description: str = ""
    platforms: tuple[str, ...] = ()
    techniques: tuple[str, ...] = ()  # T1047, T1218.005
    tactics: tuple[str, ...] = ()  # TA0008
    tags: tuple[str, ...] = ()
    contributors: tuple[str, ...] = ()
    creation_date: str = ""  # YYYY-MM-DD
    modification_date: str = ""
    files: tuple[DatasetFile, ...] = ()
    aliases: tuple[str, ...] = ()  # every archive stem, so each file's name finds the dataset
    references: tuple[str, ...] = ()
    metadata_file: str = ""  # e.g. atomic/SDWIN-200921001437.yaml

    @property
    def tactic_names(self) -> tuple[str, ...]:
        return tuple(TACTICS.get(t, t) for t in self.tactics)

    def names(self) -> tuple[str, ...]:
        """Every spelling that finds this dataset: id, name, aliases."""
        return (self.id, self.name, *self.aliases)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["tactic_names"] = list(self.tactic_names)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Dataset:
        values = {k: v for k, v in data.items() if k in _DATASET_FIELDS}
        values["files"] = tuple(DatasetFile(**f) for f in data.get("files", ()))
        for key in _TUPLE_FIELDS:
            values[key] = tuple(values.get(key, ()))
        return cls(**values)

    def matches(
        self,
        *,
        technique: str | None = None,
        tactic: str | None = None,
        platform: str | None = None,
        type: str | None = None,
        text: str | None = None,
    ) -> bool:
        if technique:
            wanted = technique.strip().upper()
            # A parent technique matches its sub-techniques; a sub-technique only itself.
            if not any(t == wanted or t.startswith(wanted + ".") for t in self.techniques):
                return False
        if tactic:
            ident = tactic_id(tactic)
            if ident is None or ident not in self.tactics:
                return False
        if platform and platform.strip().lower() not in {p.lower() for p in self.platforms}:
            return False
        if type and type.strip().lower() != self.type.lower():
            return False
        if text:
            haystack = " ".join(
                [
                    self.id,
                    self.name,
                    self.title,
                    self.description,
                    *self.aliases,
                    *self.tags,
                    *self.techniques,
                    *self.tactics,
                    *self.tactic_names,
                ]
            ).lower()
            if not all(word in haystack for word in text.lower().split()):
                return False
        return True


_DATASET_FIELDS = {f for f in Dataset.__dataclass_fields__}
_TUPLE_FIELDS = (
    "platforms",
    "techniques",
    "tactics",
    "tags",
    "contributors",
    "aliases",
    "references",
)


@dataclass
class Catalog:
    """Every dataset the metadata describes, found by id, name or file stem."""

    datasets: list[Dataset]
    commit: str = ""
    source: str = ""
    _index: dict[str, Dataset] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        # Ids and names first, so that an alias never shadows another dataset's own name.
        for ds in self.datasets:
            self._index.setdefault(ds.id.lower(), ds)
            self._index.setdefault(ds.name.lower(), ds)
        for ds in self.datasets:
            for alias in ds.aliases:
                self._index.setdefault(alias.lower(), ds)

    def __iter__(self) -> Iterator[Dataset]:
        return iter(self.datasets)

    def __len__(self) -> int:
        return len(self.datasets)

    def find(self, id_or_name: str) -> Dataset | None:
        return self._index.get(id_or_name.strip().lower())

    def get(self, id_or_name: str) -> Dataset:
        found = self.find(id_or_name)
        if found is None:
            raise DatasetNotFound(
                not_found_message(id_or_name, self.close_matches(id_or_name), "in the catalog")
            )
        return found

    def close_matches(self, id_or_name: str, n: int = 5) -> list[str]:
        spellings = {s.lower(): s for ds in self.datasets for s in (ds.id, ds.name)}
        hits = difflib.get_close_matches(id_or_name.lower(), list(spellings), n=n, cutoff=0.6)
        return [spellings[h] for h in hits]

    def filter(self, **criteria: str | None) -> list[Dataset]:
        """Datasets matching every criterion given (technique, tactic, platform, type, text)."""
        return [ds for ds in self.datasets if ds.matches(**criteria)]

    def to_json(self, fingerprint: str) -> dict[str, Any]:
        return {
            "format": CATALOG_FORMAT,
            "commit": self.commit,
            "source": self.source,
            "fingerprint": fingerprint,
            "datasets": [ds.to_dict() for ds in self.datasets],
        }


def not_found_message(
    id_or_name: str,
    suggestions: Iterable[str],
    where: str = "in the catalog, the local store or the mirror",
) -> str:
    text = f"no dataset {id_or_name!r} {where}"
    hints = list(dict.fromkeys(suggestions))
    if hints:
        text += "; did you mean " + ", ".join(hints) + "?"
    return text + " (`huntlab datasets list -q WORD` searches the catalog)"


# --- parsing the metadata -----------------------------------------------------------------


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list):
        return [v for v in value if v is not None]
    return [value]


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _date(value: Any) -> str:
    """Upstream writes ``2019/03/19``; YAML may also hand back a date. -> ``2019-03-19``."""
    return _text(value).replace("/", "-")


def _file_entry(raw: dict[str, Any]) -> DatasetFile | None:
    link = _text(raw.get("link"))
    if not link:
        return None
    parts = PurePosixPath(urlsplit(link).path).parts
    filename = parts[-1]
    kind = _text(raw.get("type")).lower() or "host"
    folder = parts[-2].lower() if len(parts) > 1 else ""
    if folder in ("host", "network"):
        kind = folder  # some metadata types a network capture as Host; the link's folder is right
        relpath = f"{folder}/{filename}"
    else:
        relpath = filename
    return DatasetFile(
        type=_text(raw.get("type")),
        link=link,
        kind=kind,
        relpath=relpath,
        sha256=_text(raw.get("sha256")).lower(),
    )


def parse_metadata(data: dict[str, Any], metadata_file: str) -> Dataset:
    """One metadata YAML document -> a Dataset. ``metadata_file`` names it in errors."""
    ident = _text(data.get("id"))
    if not ident:
        raise HuntlabError(f"{metadata_file}: no 'id' in this dataset metadata")
    ds_type = _text(data.get("type")).lower() or "atomic"
    files: list[DatasetFile] = []
    seen: set[str] = set()
    for raw in _as_list(data.get("files")):
        entry = _file_entry(raw) if isinstance(raw, dict) else None
        # Some metadata lists the same link twice (once as Host, once as Network).
        if entry is None or entry.link in seen:
            continue
        seen.add(entry.link)
        files.append(entry)
    stems = list(dict.fromkeys(f.stem for f in files))
    yaml_stem = PurePosixPath(metadata_file).stem
    if ds_type == "compound":
        # Compound ids are UUIDs; the YAML file and the upstream folder carry the name.
        name = yaml_stem
    else:
        host = [f.stem for f in files if f.kind != "network"]
        name = (host or stems or [ident])[0]
    techniques: list[str] = []
    tactics: list[str] = []
    for mapping in _as_list(data.get("attack_mappings")):
        if not isinstance(mapping, dict):
            continue
        technique = _text(mapping.get("technique")).upper()
        sub = _text(mapping.get("sub-technique"))
        if technique:
            full = f"{technique}.{sub.zfill(3)}" if sub else technique
            if full not in techniques:
                techniques.append(full)
        for tactic in _as_list(mapping.get("tactics")):
            tac = _text(tactic).upper()
            if tac and tac not in tactics:
                tactics.append(tac)
    references = [
        _text(r.get("link")) if isinstance(r, dict) else _text(r)
        for r in _as_list(data.get("references"))
    ]
    return Dataset(
        id=ident,
        name=name,
        title=_text(data.get("title")),
        type=ds_type,
        description=_text(data.get("description")),
        platforms=tuple(_text(p) for p in _as_list(data.get("platform"))),
        techniques=tuple(techniques),
        tactics=tuple(tactics),
        tags=tuple(_text(t) for t in _as_list(data.get("tags"))),
        contributors=tuple(_text(c) for c in _as_list(data.get("contributors"))),
        creation_date=_date(data.get("creation_date")),
        modification_date=_date(data.get("modification_date")),
        files=tuple(files),
        aliases=tuple(s for s in stems if s != name),
        references=tuple(r for r in references if r),
        metadata_file=metadata_file,
    )


def metadata_files(folder: Path) -> list[Path]:
    """The dataset YAML files of a metadata folder (flat or upstream layout), sorted."""
    patterns = (
        "atomic/*.yaml",
        "compound/*.yaml",
        "atomic/_metadata/*.yaml",
        "compound/_metadata/*.yaml",
        "datasets/atomic/_metadata/*.yaml",
        "datasets/compound/_metadata/*.yaml",
        "_metadata/*.yaml",
    )
    found: dict[Path, None] = {}
    for pattern in patterns:
        for path in sorted(folder.glob(pattern)):
            found[path] = None
    return list(found)


def _fingerprint(files: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in files:
        stat = path.stat()
        digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def build_catalog(folder: Path) -> Catalog:
    """Parse every YAML file of a metadata folder (no cache involved)."""
    import yaml

    files = metadata_files(folder)
    if not files:
        raise HuntlabError(
            f"{folder}: no dataset metadata here (expected atomic/*.yaml and compound/*.yaml, "
            "or datasets/atomic/_metadata/*.yaml as in the Security-Datasets repository)"
        )
    datasets: list[Dataset] = []
    for path in files:
        rel = path.relative_to(folder).as_posix()
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise HuntlabError(f"{path}: not readable YAML ({exc})") from exc
        if not isinstance(data, dict):
            raise HuntlabError(f"{path}: not a dataset metadata document")
        datasets.append(parse_metadata(data, rel))
    datasets.sort(key=lambda ds: (ds.type, ds.id))
    commit_file = folder / "COMMIT"
    commit = commit_file.read_text(encoding="utf-8").strip() if commit_file.is_file() else ""
    return Catalog(datasets, commit=commit, source=str(folder))


# --- finding, caching and downloading the metadata -----------------------------------------


def downloaded_metadata_dir() -> Path:
    return cache_dir() / "security-datasets-metadata"


def catalog_cache_file() -> Path:
    return cache_dir() / "catalog.json"


def _mirror_metadata_dir() -> Path | None:
    mirror = os.environ.get("HUNTLAB_DATASETS_MIRROR")
    if not mirror:
        return None
    root = Path(mirror).expanduser()
    for candidate in (
        root / "_metadata",
        root / "security-datasets-metadata",
        root.parent / "security-datasets-metadata",
    ):
        if candidate.is_dir() and metadata_files(candidate):
            return candidate
    return None


def metadata_dir(metadata: str | Path | None = None) -> Path | None:
    """The metadata folder to build the catalog from, without downloading (None: none here)."""
    explicit = metadata or os.environ.get("HUNTLAB_DATASETS_METADATA")
    if explicit:
        folder = Path(explicit).expanduser()
        if not folder.is_dir():
            raise HuntlabError(
                f"{folder}: metadata folder not found (given by --metadata or "
                "HUNTLAB_DATASETS_METADATA); point it at a copy of Security-Datasets' _metadata"
            )
        return folder
    mirrored = _mirror_metadata_dir()
    if mirrored is not None:
        return mirrored
    downloaded = downloaded_metadata_dir()
    if downloaded.is_dir() and metadata_files(downloaded):
        return downloaded
    return None


def _read_cached(fingerprint: str | None) -> Catalog | None:
    path = catalog_cache_file()
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if stored.get("format") != CATALOG_FORMAT:
        return None
    if fingerprint is not None and stored.get("fingerprint") != fingerprint:
        return None
    datasets = [Dataset.from_dict(d) for d in stored.get("datasets", [])]
    return Catalog(datasets, commit=stored.get("commit", ""), source=stored.get("source", ""))


def _write_cached(cat: Catalog, fingerprint: str) -> None:
    atomic_write(catalog_cache_file(), json.dumps(cat.to_json(fingerprint), indent=1), mode=0o644)


# Parsed catalogs of this process, by (metadata folder, fingerprint).
_MEMO: dict[tuple[str, str], Catalog] = {}


def _cache_matches(fingerprint: str) -> bool:
    try:
        stored = json.loads(catalog_cache_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return bool(stored.get("fingerprint") == fingerprint)


def catalog(
    metadata: str | Path | None = None, *, refresh: bool = False, download: bool = True
) -> Catalog:
    """The Security-Datasets catalog (see the module docstring for where it comes from).

    ``refresh`` downloads the upstream metadata again. ``download=False`` never touches the
    network and raises a HuntlabError when no metadata or cached catalog is at hand.
    """
    explicit = metadata or os.environ.get("HUNTLAB_DATASETS_METADATA")
    if refresh and explicit:
        raise HuntlabError(
            f"--refresh downloads the upstream metadata, but {explicit} (--metadata or "
            "HUNTLAB_DATASETS_METADATA) names a local folder, read as it is: unset "
            "HUNTLAB_DATASETS_METADATA (and drop --metadata) to download, or update that folder"
        )
    folder = None if refresh else metadata_dir(metadata)
    if folder is None and not refresh:
        cached = _read_cached(None)
        if cached is not None:
            return cached
    if folder is None:
        if not download:
            raise HuntlabError(offline_metadata_hint("no dataset metadata available offline"))
        folder = download_metadata()
    files = metadata_files(folder)
    fingerprint = _fingerprint(files)
    key = (str(folder.resolve()), fingerprint)
    cat = _MEMO.get(key) or _read_cached(fingerprint)
    if cat is None:
        cat = build_catalog(folder)
    if not _cache_matches(fingerprint):
        # A read-only cache only costs the parse next time.
        with contextlib.suppress(OSError):
            _write_cached(cat, fingerprint)
    _MEMO[key] = cat
    return cat


def offline_metadata_hint(problem: str) -> str:
    return (
        f"{problem}. Point huntlab at a local copy of the Security-Datasets metadata "
        "(the `_metadata` folders of https://github.com/OTRF/Security-Datasets): "
        "`huntlab datasets list --metadata DIR` or HUNTLAB_DATASETS_METADATA=DIR, or set "
        "HUNTLAB_DATASETS_MIRROR to a mirror holding a `_metadata` folder"
    )


def metadata_archive_url() -> str:
    return os.environ.get("HUNTLAB_DATASETS_METADATA_URL") or UPSTREAM_ARCHIVE_URL


def _metadata_member(name: str) -> str | None:
    """``Security-Datasets-<ref>/datasets/atomic/_metadata/X.yaml`` -> ``atomic/X.yaml``."""
    parts = PurePosixPath(name).parts
    for i in range(len(parts) - 2):
        if (
            parts[i] in ("atomic", "compound")
            and parts[i + 1] == "_metadata"
            and len(parts) == i + 3
            and parts[-1].endswith((".yaml", ".yml"))
            and (i == 0 or parts[i - 1] == "datasets")
        ):
            return f"{parts[i]}/{parts[-1]}"
    return None


def download_metadata(url: str | None = None) -> Path:
    """Stream the repository archive and keep only its metadata YAML files (and the commit).

    The archive (GitHub's is large: it holds every dataset) is read once through
    :func:`huntlab.download.stream`, which refuses a cut reply, and not kept; no hash is
    published for it. GitHub's archives carry the commit id in the tar's global header; it is
    written to ``COMMIT`` beside the YAML files.
    """
    import shutil

    from huntlab.download import stream

    source = url or metadata_archive_url()
    target = downloaded_metadata_dir()
    staging = target.with_name(target.name + ".part")
    shutil.rmtree(staging, ignore_errors=True)
    kept = 0
    try:
        with (
            stream(source, label="dataset metadata") as reader,
            tarfile.open(fileobj=cast(Any, reader), mode="r|gz") as tar,
        ):
            commit = str(tar.pax_headers.get("comment", "")) if tar.pax_headers else ""
            for member in tar:
                rel = _metadata_member(member.name) if member.isfile() else None
                if rel is None:
                    continue
                extracted = tar.extractfile(member)
                if extracted is None:
                    continue
                out = staging / rel
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(extracted.read())
                kept += 1
            if not commit and tar.pax_headers:
                commit = str(tar.pax_headers.get("comment", ""))
    except (DownloadError, OSError, tarfile.TarError, EOFError) as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise DownloadError(
            offline_metadata_hint(f"could not download the dataset metadata from {source} ({exc})")
        ) from exc
    if kept == 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise DownloadError(
            offline_metadata_hint(f"{source} holds no datasets/*/_metadata/*.yaml files")
        )
    if commit:
        (staging / "COMMIT").write_text(commit + "\n", encoding="utf-8")
    shutil.rmtree(target, ignore_errors=True)
    staging.replace(target)
    return target
