"""The OTRF ThreatHunter-Playbook's hunts: where a copy of the playbook is, what each holds.

A hunt is a folder holding ``notebook.md`` (a MyST notebook, as jupytext writes it) and
``metadata.yaml``; upstream (github.com/OTRF/ThreatHunter-Playbook) keeps them in
``docs/hunts/windows/<id>/``. Each analytic (``### Analytic I``, ...) states its logic twice:
Spark SQL over a table ``dataTable`` in a ``{code-block}`` under ``#### Logic``, and pandas code
over ``df`` in a ``{code-cell}`` under ``#### Pandas Query``. Both are kept verbatim (the text
between the fences, byte for byte), so what is checked or run is what the playbook says.

The parser is small and forgiving on purpose: headings and fences are read line by line (a
``#`` inside a fence is code, not a heading), and a hunt with no analytics, or with an analytic
that has neither query, is still listed.

:func:`playbook_dir` gets a copy: a folder given with ``--from``, else the one cached under
``cache_dir()/threathunter-playbook``, else GitHub's archive of the playbook (only the hunts'
``notebook.md`` and ``metadata.yaml`` are kept), downloaded with :mod:`huntlab.download`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tarfile
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from huntlab.errors import HuntlabError

PLAYBOOK_URL = "https://codeload.github.com/OTRF/ThreatHunter-Playbook/tar.gz/refs/heads/master"
PLAYBOOK_URL_ENV = "HUNTLAB_PLAYBOOK_URL"
HOMEPAGE = "https://github.com/OTRF/ThreatHunter-Playbook"
LICENSE = "MIT"
NOTEBOOK = "notebook.md"
METADATA = "metadata.yaml"
# Written beside the extracted hunts: where they came from (URL, archive sha256, commit).
SOURCE_RECORD = "playbook-source.json"
CACHE_FOLDER = "threathunter-playbook"
# What is kept of the archive: <top folder>/docs/hunts/**/(notebook.md|metadata.yaml).
_KEPT_PREFIX = ("docs", "hunts")
_KEPT_NAMES = frozenset({NOTEBOOK, METADATA})
# A hunt's notebook is tens of kB; anything this big is not one (a decompression bomb).
MAX_MEMBER_BYTES = 8 << 20
LAYOUT_HINT = (
    "expected one folder per hunt holding notebook.md and metadata.yaml, as in the playbook's "
    "docs/hunts/windows/<id>/ (give a checkout's docs/hunts)"
)


class PlaybookError(HuntlabError):
    """The playbook cannot be found, downloaded or read; says what to do instead."""


@dataclass(frozen=True)
class Analytic:
    """One analytic of a hunt, its two queries verbatim (None where the hunt gives none)."""

    hunt: str  # hunt id, e.g. "190811-WMIModuleLoad"
    name: str  # "Analytic I"
    sql: str | None  # the {code-block} text under the analytic's Logic, verbatim
    pandas: str | None  # the {code-cell} text under its "Pandas Query", verbatim


@dataclass(frozen=True)
class Hunt:
    """One hunt of the playbook."""

    id: str
    title: str
    folder: Path  # holds notebook.md and metadata.yaml
    dataset_links: tuple[str, ...]  # what its code reads, then metadata.yaml datasets[].dataset
    analytics: tuple[Analytic, ...]

    @property
    def datasets(self) -> tuple[str, ...]:
        """The recordings' archive stems (``empire_psinject_PEinjection``), as
        ``huntlab.datasets.resolve`` takes them."""
        return tuple(dataset_stem(link) for link in self.dataset_links)

    @property
    def notebook(self) -> Path:
        return self.folder / NOTEBOOK

    @property
    def metadata(self) -> Path:
        return self.folder / METADATA


def dataset_stem(link: str) -> str:
    """``https://.../host/empire_wdigest_downgrade.tar.gz`` -> ``empire_wdigest_downgrade``."""
    from huntlab.dataset_catalog import archive_stem

    name = urllib.parse.unquote(urllib.parse.urlsplit(link).path.rstrip("/").rsplit("/", 1)[-1])
    return archive_stem(name)


# --- the markdown -----------------------------------------------------------------------------

_HEADING = re.compile(r" {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*\r?\n?")
_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})(.*?)\r?\n?")
_DIRECTIVE = re.compile(r"\{([A-Za-z][\w-]*)\}")
_OPTION = re.compile(r":[\w-]+:")


@dataclass(frozen=True)
class _Heading:
    level: int
    text: str


@dataclass(frozen=True)
class Fence:
    """A fenced block of the markdown."""

    directive: str  # "code-block", "code-cell", or "" for a plain fence
    body: str  # the code between the fence lines (MyST options left out), verbatim
    end: int  # the offset just past the closing fence line (or the text's end)


def _blocks(text: str) -> Iterator[_Heading | Fence]:
    """Headings and fenced blocks, in order. A fence left open runs to the end (CommonMark)."""
    lines = text.splitlines(keepends=True)
    index = 0
    offset = 0
    while index < len(lines):
        line = lines[index]
        fence = _FENCE.fullmatch(line)
        if fence and not (fence.group(1)[0] == "`" and "`" in fence.group(2)):
            marker = fence.group(1)
            start = offset + len(line)
            index += 1
            offset = start
            end = len(text)
            while index < len(lines):
                closing = lines[index]
                stripped = closing.strip()
                if (
                    len(closing) - len(closing.lstrip(" ")) <= 3
                    and stripped
                    and set(stripped) == {marker[0]}
                    and len(stripped) >= len(marker)
                ):
                    end = offset
                    offset += len(closing)
                    index += 1
                    break
                offset += len(closing)
                index += 1
            body = text[start:end]
            if end != len(text):
                body = body.removesuffix("\n").removesuffix("\r")
            directive = _DIRECTIVE.match(fence.group(2).strip())
            name = directive.group(1).lower() if directive else ""
            yield Fence(name, _content(body), offset)
            continue
        heading = _HEADING.fullmatch(line)
        if heading:
            yield _Heading(len(heading.group(1)), (heading.group(2) or "").strip())
        offset += len(line)
        index += 1


def fences(text: str) -> list[Fence]:
    """The fenced blocks of a markdown text, in order."""
    return [block for block in _blocks(text) if isinstance(block, Fence)]


def _content(body: str) -> str:
    """A directive's code without its MyST options (``:tags: [...]`` lines, or a ``---``
    block) at the top; what is left is a verbatim suffix of the body."""
    lines = body.splitlines(keepends=True)
    skip = 0
    if lines and lines[0].rstrip("\r\n") == "---":
        for number, line in enumerate(lines[1:], start=1):
            if line.rstrip("\r\n") == "---":
                skip = number + 1
                break
    else:
        while skip < len(lines) and _OPTION.match(lines[skip]):
            skip += 1
    if skip and skip < len(lines) and not lines[skip].strip():
        skip += 1  # the blank line that ends the options
    return "".join(lines[skip:]) if skip else body


def _is_analytic(heading: _Heading) -> bool:
    return heading.level >= 2 and re.match(r"analytic\b", heading.text, re.IGNORECASE) is not None


def parse_analytics(hunt_id: str, text: str) -> tuple[Analytic, ...]:
    """The analytics of one notebook: for each ``Analytic`` heading, the first
    ``{code-block}`` under its ``Logic`` heading and the first ``{code-cell}`` under its
    ``Pandas`` heading (without such a heading: the first of each in the analytic). An
    analytic with neither is left out."""
    found: list[Analytic] = []
    current: _Heading | None = None
    part = ""  # "logic", "pandas" or "" (the analytic's text outside both)
    part_level = 0
    sql: dict[str, str] = {}
    pandas: dict[str, str] = {}

    def close() -> None:
        if current is None:
            return
        query = sql.get("logic", sql.get(""))
        code = pandas.get("pandas", pandas.get(""))
        if query is not None or code is not None:
            found.append(Analytic(hunt_id, current.text, query, code))

    for block in _blocks(text):
        if isinstance(block, _Heading):
            if current is not None and block.level <= current.level:
                close()
                current = None
            if current is None:
                if _is_analytic(block):
                    current, part, sql, pandas = block, "", {}, {}
                continue
            if part and block.level <= part_level:
                part = ""
            lowered = block.text.lower()
            if lowered.startswith("logic"):
                part, part_level = "logic", block.level
            elif "pandas" in lowered:
                part, part_level = "pandas", block.level
        elif current is not None:
            if block.directive == "code-block":
                sql.setdefault(part, block.body)
            elif block.directive == "code-cell":
                pandas.setdefault(part, block.body)
    close()
    return tuple(found)


def _title_of(text: str) -> str | None:
    for block in _blocks(text):
        if isinstance(block, _Heading) and block.level == 1 and block.text:
            return block.text
    return None


def _read_metadata(path: Path) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8", errors="replace"))
    except (OSError, yaml.YAMLError):
        return {}  # a broken metadata.yaml costs the title and dataset links, not the hunt
    return data if isinstance(data, dict) else {}


def _entry_links(entries: Any) -> list[str]:
    links: list[str] = []
    for entry in entries if isinstance(entries, list) else ():
        link = entry.get("dataset") if isinstance(entry, dict) else None
        if isinstance(link, str) and link.strip():
            links.append(link.strip())
        elif isinstance(link, list):  # a compound dataset written as a list of links
            links.extend(x.strip() for x in link if isinstance(x, str) and x.strip())
    return links


_LINK_ROW = re.compile(r"^\|\s*link\s*\|\s*(\S+?)\s*\|", re.MULTILINE | re.IGNORECASE)


# A recording's link quoted in the notebook's code (the Download Dataset cell's ``url = '...'``).
_CODE_LINK = re.compile(r"""['"](https?://[^'"\s]+?\.(?:zip|tar\.gz|tgz|json))['"]""")


def read_links(text: str) -> list[str]:
    """The recordings' links the notebook's own code reads, in order: the data the
    playbook's analytics run over."""
    links = []
    for fence in fences(text):
        if fence.directive == "code-cell":
            links += _CODE_LINK.findall(fence.body)
    return links


def _links(metadata: dict[str, Any], text: str) -> tuple[str, ...]:
    """The hunt's recordings: first those the notebook's own code downloads and reads
    (``read_links``: where a hunt names several, the one its analytics run over), then
    ``datasets[].dataset``, in order. Some hunts list theirs under another key (upstream's
    201012-WuaucltCreateRemoteThread says ``detections:``): then any list of entries with a
    ``dataset``, else the ``| link | ... |`` rows of the notebook's datasets table."""
    links = _entry_links(metadata.get("datasets"))
    if not links:
        for key, entries in metadata.items():
            if key != "datasets":
                links += _entry_links(entries)
    if not links:
        links = [m.group(1) for m in _LINK_ROW.finditer(text) if "://" in m.group(1)]
    return tuple(dict.fromkeys([*read_links(text), *links]))


def read_hunt(folder: Path) -> Hunt:
    """The hunt in ``folder`` (its name is the hunt's id, as upstream)."""
    metadata = _read_metadata(folder / METADATA)
    text = (folder / NOTEBOOK).read_text(encoding="utf-8", errors="replace")
    title = metadata.get("title")
    if not isinstance(title, str) or not title.strip():
        title = _title_of(text) or folder.name
    return Hunt(
        id=folder.name,
        title=" ".join(title.split()),
        folder=folder,
        dataset_links=_links(metadata, text),
        analytics=parse_analytics(folder.name, text),
    )


def _hunt_folders(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        if NOTEBOOK in filenames and METADATA in filenames:
            yield Path(dirpath)


def find_hunts(root: Path) -> list[Hunt]:
    """Every hunt under ``root`` (each ``*/notebook.md`` with ``metadata.yaml`` beside it, at
    any depth), sorted by id."""
    if not root.is_dir():
        raise PlaybookError(f"{root}: no such folder; {LAYOUT_HINT}")
    hunts: dict[str, Hunt] = {}
    for folder in _hunt_folders(root):
        hunt = read_hunt(folder)
        if hunt.id in hunts:
            raise PlaybookError(
                f"{root}: two hunts named {hunt.id} ({hunts[hunt.id].folder} and {folder}); "
                "keep one of them, or give --from the folder of one platform"
            )
        hunts[hunt.id] = hunt
    if not hunts:
        raise PlaybookError(f"{root}: no hunts found; {LAYOUT_HINT}")
    return [hunts[key] for key in sorted(hunts)]


# --- the copy of the playbook -------------------------------------------------------------------


def playbook_url() -> str:
    """Where the playbook's archive is downloaded from (``HUNTLAB_PLAYBOOK_URL`` or GitHub)."""
    return os.environ.get(PLAYBOOK_URL_ENV, "").strip() or PLAYBOOK_URL


def cached_dir() -> Path:
    from huntlab.settings import cache_dir

    return cache_dir() / CACHE_FOLDER


def source_record(folder: Path) -> dict[str, Any] | None:
    """What :func:`playbook_dir` recorded about the copy holding ``folder`` (a hunt's folder
    or the copy itself): ``url``, ``sha256``, ``commit``, ``fetched``. None for a folder
    given with ``--from``."""
    # The copy's own layout is hunts/windows/<id>/: no need to look further up than that.
    for candidate in (folder, *folder.parents[:3]):
        record = candidate / SOURCE_RECORD
        if record.is_file():
            try:
                data = json.loads(record.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return None
            return data if isinstance(data, dict) else None
    return None


def playbook_dir(source: Path | None = None, *, download_ok: bool = True) -> Path:
    """The folder holding the playbook's hunts.

    ``source`` (``--from DIR``): that folder, which must hold hunts. Else the copy cached under
    ``cache_dir()/threathunter-playbook``, else (``download_ok``) the playbook's archive from
    :func:`playbook_url`, of which only the hunts are kept.
    """
    if source is not None:
        folder = Path(source).expanduser()
        find_hunts(folder)  # names the folder and the expected layout when it holds none
        return folder
    cached = cached_dir()
    if (cached / SOURCE_RECORD).is_file():
        return cached
    url = playbook_url()
    if not download_ok:
        raise PlaybookError(
            f"no copy of the ThreatHunter-Playbook in {cached}; give a copy of its hunts with "
            f"--from DIR (a checkout's docs/hunts), or download it (online, or with "
            f"{PLAYBOOK_URL_ENV} set to a reachable copy of its archive)"
        )
    return _download(url, cached)


def _download(url: str, cached: Path) -> Path:
    from huntlab.download import exclusive, fetch, file_digest, lock_path
    from huntlab.errors import DownloadError

    archive = cached.with_name(CACHE_FOLDER + ".tar.gz")
    with exclusive(lock_path(cached), url):
        if (cached / SOURCE_RECORD).is_file():
            return cached  # another process got it while this one waited
        hint = (
            "give a copy of the playbook's hunts with --from DIR (a checkout's docs/hunts), "
            f"or set {PLAYBOOK_URL_ENV} to a reachable copy of its archive"
        )
        try:
            fetch(url, archive, label="ThreatHunter-Playbook", hint=hint, lock=lock_path(archive))
        except DownloadError as exc:
            raise PlaybookError(f"the ThreatHunter-Playbook: {exc}") from exc
        try:
            staging = Path(tempfile.mkdtemp(prefix=f".{CACHE_FOLDER}.", dir=cached.parent))
            try:
                commit = extract_playbook(archive, staging)
                record = {
                    "url": url,
                    "sha256": file_digest(archive),
                    "commit": commit,
                    "fetched": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "license": LICENSE,
                    "homepage": HOMEPAGE,
                }
                (staging / SOURCE_RECORD).write_text(
                    json.dumps(record, indent=2) + "\n", encoding="utf-8"
                )
                find_hunts(staging)  # an archive without hunts is not cached
                os.chmod(staging, 0o755)
                if cached.exists():
                    shutil.rmtree(cached)  # a copy without its record: a cut earlier attempt
                os.replace(staging, cached)
            finally:
                if staging.exists():
                    shutil.rmtree(staging)
        finally:
            with contextlib.suppress(FileNotFoundError):
                archive.unlink()
    return cached


def _member_parts(name: str, archive: Path) -> tuple[str, ...]:
    """A member's path parts; an absolute path or a ``..`` refuses the whole archive."""
    path = PurePosixPath(name)
    if (
        path.is_absolute()
        or name.startswith(("/", "\\"))
        or ".." in path.parts
        or (path.parts and re.match(r"[A-Za-z]:", path.parts[0]))
    ):
        raise PlaybookError(
            f"{archive}: refusing an archive with the unsafe member {name!r} (a path out of "
            "the folder it is extracted into); download the playbook again from GitHub"
        )
    return tuple(part for part in path.parts if part not in ("", "."))


def _kept(parts: tuple[str, ...]) -> tuple[str, ...] | None:
    """The path under docs/hunts/ of a member worth keeping, else None. The archive's single
    top folder (``ThreatHunter-Playbook-master/``) is optional."""
    for skip in (1, 0):
        rest = parts[skip:]
        if (
            rest[: len(_KEPT_PREFIX)] == _KEPT_PREFIX
            and len(rest) > len(_KEPT_PREFIX) + 1
            and rest[-1] in _KEPT_NAMES
        ):
            return rest[len(_KEPT_PREFIX) :]
    return None


def extract_playbook(archive: Path, dest: Path) -> str | None:
    """Extract the hunts (``docs/hunts/**/notebook.md`` and ``metadata.yaml``) of the
    playbook's tar.gz ``archive`` into ``dest``/hunts; returns the commit the archive names
    (GitHub's archives carry it), or None.

    Refused, the whole archive: a member with an absolute path or ``..``. Never extracted:
    links, devices and everything outside docs/hunts. A kept file larger than
    MAX_MEMBER_BYTES is refused too.
    """
    try:
        tar = tarfile.open(archive, "r:*")  # noqa: SIM115 (closed by the `with tar` below)
    except (tarfile.TarError, OSError) as exc:
        raise PlaybookError(
            f"{archive}: not a tar archive ({exc}); {PLAYBOOK_URL_ENV} must point at the "
            "playbook's .tar.gz (GitHub's codeload archive of the repository)"
        ) from exc
    kept = 0
    with tar:
        try:
            for member in tar:
                parts = _member_parts(member.name, archive)
                if member.islnk() or member.issym() or not member.isfile():
                    continue
                relative = _kept(parts)
                if relative is None:
                    continue
                if member.size > MAX_MEMBER_BYTES:
                    raise PlaybookError(
                        f"{archive}: {member.name} is {member.size} bytes, not a hunt's "
                        f"{relative[-1]}; download the playbook again from GitHub"
                    )
                source = tar.extractfile(member)
                if source is None:
                    continue
                target = dest.joinpath("hunts", *relative)
                target.parent.mkdir(parents=True, exist_ok=True)
                with source, target.open("wb") as out:
                    shutil.copyfileobj(source, out)
                kept += 1
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise PlaybookError(
                f"{archive}: the archive is damaged ({exc}); download it again"
            ) from exc
        commit = tar.pax_headers.get("comment")
    if not kept:
        raise PlaybookError(
            f"{archive}: no docs/hunts/**/notebook.md in the archive; {PLAYBOOK_URL_ENV} must "
            "point at an archive of the ThreatHunter-Playbook repository"
        )
    if commit and re.fullmatch(r"[0-9a-f]{7,64}", commit):
        return commit
    return None
