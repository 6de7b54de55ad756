"""huntlab.hunts.playbook on the real ThreatHunter-Playbook sample
(../shared/threathunter-playbook): the hunts found, their queries verbatim, their datasets, and
getting the playbook as an archive over HTTP (a local server standing in for GitHub), its safe
extraction and its errors."""

from __future__ import annotations

import functools
import hashlib
import io
import json
import re
import tarfile
from collections.abc import Iterator, Sequence
from http.server import SimpleHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
import yaml

from huntlab.hunts.playbook import (
    SOURCE_RECORD,
    PlaybookError,
    extract_playbook,
    find_hunts,
    playbook_dir,
)
from tests.conftest import shared_dir
from tests.support.http_server import closed_port, serving

COMMIT = "d310f3882eb065329a6fb081fa13b205f522392d"


def playbook_sample() -> Path:
    """The sample's hunts folder, read in place."""
    path = shared_dir() / "threathunter-playbook" / "hunts"
    if not path.is_dir():
        pytest.fail(f"{path} not found: the hunts tests read the playbook sample in place")
    return path


def sample_ids() -> list[str]:
    return sorted(p.name for p in playbook_sample().iterdir() if (p / "notebook.md").is_file())


# Computed here from the markdown, independently of the parser under test: the sample writes
# every analytic the same way (a "### Analytic N" heading, "#### Logic" then a {code-block},
# "#### Pandas Query" then a {code-cell}).
def analytic_names(text: str) -> list[str]:
    return re.findall(r"^### (Analytic [IVXLC]+)[ \t]*$", text, flags=re.M)


def logic_blocks(text: str) -> list[str]:
    return re.findall(r"^#### Logic\n+```\{code-block\}[^\n]*\n(.*?)\n```$", text, re.M | re.S)


def pandas_cells(text: str) -> list[str]:
    pattern = r"^#### Pandas Query\n+```\{code-cell\}[^\n]*\n(.*?)\n```$"
    return re.findall(pattern, text, flags=re.M | re.S)


def test_finds_the_17_hunts_sorted_by_id() -> None:
    hunts = find_hunts(playbook_sample())
    assert [h.id for h in hunts] == sample_ids()
    assert len(hunts) == 17
    for hunt in hunts:
        assert hunt.folder == playbook_sample() / hunt.id
        meta = yaml.safe_load((hunt.folder / "metadata.yaml").read_text(encoding="utf-8"))
        assert hunt.title == meta["title"]


@pytest.mark.parametrize("hunt_id", sample_ids())
def test_analytics_are_the_notebooks_text_verbatim(hunt_id: str) -> None:
    (hunt,) = [h for h in find_hunts(playbook_sample()) if h.id == hunt_id]
    text = (hunt.folder / "notebook.md").read_text(encoding="utf-8")
    names = analytic_names(text)
    assert names, "every hunt of the sample has analytics"
    assert [a.name for a in hunt.analytics] == names
    assert all(a.hunt == hunt_id for a in hunt.analytics)
    assert [a.sql for a in hunt.analytics] == logic_blocks(text)
    assert [a.pandas for a in hunt.analytics] == pandas_cells(text)
    for analytic in hunt.analytics:
        assert analytic.sql is not None and analytic.sql in text
        assert analytic.pandas is not None and analytic.pandas in text
        # The playbook's table is dataTable; a few older analytics call it sparkTable.
        assert re.search(r"\bFROM (dataTable|sparkTable)\b", analytic.sql)
        assert "df" in analytic.pandas


def test_dataset_stems_resolve_to_the_sample_recordings(
    dataset_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from huntlab.datasets import resolve

    recordings = shared_dir() / "threathunter-playbook" / "datasets"
    monkeypatch.setenv("HUNTLAB_DATASETS_MIRROR", str(recordings))
    for hunt in find_hunts(playbook_sample()):
        assert len(hunt.datasets) == len(hunt.dataset_links) >= 1, hunt.id
        for stem, link in zip(hunt.datasets, hunt.dataset_links, strict=True):
            assert link.rsplit("/", 1)[1].startswith(stem + ".")
            path = resolve(stem)
            assert path.parent == recordings
            assert path.name == link.rsplit("/", 1)[1]


def test_a_hunt_listing_its_dataset_elsewhere_still_names_it() -> None:
    # 201012-WuaucltCreateRemoteThread lists its recording under `detections:`.
    (hunt,) = [
        h for h in find_hunts(playbook_sample()) if h.id.endswith("Wuauclt" + "CreateRemoteThread")
    ]
    assert hunt.datasets == ("covenant_lolbin_wuauclt_createremotethread",)


def _hunt(root: Path, hunt_id: str, body: str, metadata: str = "") -> None:
    folder = root / hunt_id
    folder.mkdir(parents=True)
    (folder / "notebook.md").write_text(body, encoding="utf-8")
    (folder / "metadata.yaml").write_text(metadata, encoding="utf-8")


def test_a_hunt_naming_several_recordings_reads_the_one_its_code_reads(tmp_path: Path) -> None:
    """Where metadata.yaml names several recordings, the one the notebook's own Download
    Dataset cell reads is the hunt's first (what the analytics run over, in check and in
    the converted notebook); a link only in the code counts too."""
    base = "https://raw.githubusercontent.com/OTRF/Security-Datasets/master/datasets/atomic"
    first, second, third = (f"{base}/{name}.zip" for name in ("one_a", "two_b", "three_c"))
    metadata = f"datasets:\n  - dataset: {first}\n  - dataset: {second}\n"
    body = (
        "# Two\n\n## Download Dataset\n\n```{code-cell} ipython3\n"
        f"url = '{second}'\nzipFileRequest = requests.get(url)\n```\n\n"
        f"| link | {third} |\n"
    )
    _hunt(tmp_path, "000001-Two", body, metadata)
    _hunt(tmp_path, "000002-Three", body.replace(second, third), metadata)
    two, three = find_hunts(tmp_path)
    assert two.datasets == ("two_b", "one_a")
    assert three.datasets == ("three_c", "one_a", "two_b")
    from huntlab.hunts.convert import build

    parameters = next(c for c in build(two).cells if "parameters" in c.metadata.get("tags", []))
    assert 'dataset = "two_b"' in parameters.source
    assert '# The hunt also names "one_a".' in parameters.source


def test_odd_hunts_are_listed_and_never_crash(tmp_path: Path) -> None:
    _hunt(tmp_path, "a-no-analytics", "# Just prose\n\n## Analytics\n\nNothing yet.\n")
    _hunt(
        tmp_path,
        "b-empty-analytic",
        "# B\n\n### Analytic I\n\nOnly words.\n\n### Analytic II\n\n#### Logic\n\n"
        "```{code-block}\nSELECT 1 FROM dataTable\n```\n",
        "title: [not, a, string]\ndatasets: 7\n",
    )
    _hunt(
        tmp_path,
        "c-broken",
        "# C\n\n### Analytic I\n\n#### Pandas Query\n\n```{code-cell} ipython3\n"
        ":tags: [x]\n\n# ### not a heading\ndf\n",  # a fence left open, options on top
        "title: [unclosed\n",
    )
    hunts = find_hunts(tmp_path)
    assert [h.id for h in hunts] == ["a-no-analytics", "b-empty-analytic", "c-broken"]
    assert hunts[0].analytics == () and hunts[0].title == "Just prose"
    (only,) = hunts[1].analytics
    assert (only.name, only.sql, only.pandas) == ("Analytic II", "SELECT 1 FROM dataTable", None)
    assert hunts[1].title == "B" and hunts[1].dataset_links == ()
    (open_cell,) = hunts[2].analytics
    assert open_cell.sql is None and open_cell.pandas == "# ### not a heading\ndf\n"


def test_a_folder_without_hunts_is_an_error_naming_it_and_the_layout(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "notebook.md").write_text("# no metadata beside it\n", encoding="utf-8")
    for call in (lambda: find_hunts(tmp_path), lambda: playbook_dir(tmp_path)):
        with pytest.raises(PlaybookError) as caught:
            call()
        assert str(tmp_path) in str(caught.value)
        assert "notebook.md and metadata.yaml" in str(caught.value)
    with pytest.raises(PlaybookError, match="no such folder"):
        playbook_dir(tmp_path / "missing")


def test_from_dir_is_used_as_given() -> None:
    assert playbook_dir(playbook_sample(), download_ok=False) == playbook_sample()


# --- the playbook as GitHub's archive -------------------------------------------------------


def _add(tar: tarfile.TarFile, name: str, data: bytes = b"", **fields: Any) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for key, value in fields.items():
        setattr(info, key, value)
    tar.addfile(info, io.BytesIO(data) if info.isfile() else None)


def upstream_archive(path: Path, extra: Sequence[tuple[str, dict[str, Any]]] = ()) -> Path:
    """The sample laid out as GitHub's archive of the repository: one top folder, the hunts in
    docs/hunts/windows/<id>/, other files around them, the commit in the pax header."""
    top = "ThreatHunter-Playbook-master"
    with tarfile.open(
        path, "w:gz", format=tarfile.PAX_FORMAT, pax_headers={"comment": COMMIT}
    ) as tar:
        _add(tar, f"{top}/README.md", b"# ThreatHunter-Playbook\n")
        _add(tar, f"{top}/docs/hunts/windows/intro.md", b"# Windows\n")
        for hunt_id in sample_ids():
            for name in ("notebook.md", "metadata.yaml"):
                data = (playbook_sample() / hunt_id / name).read_bytes()
                _add(tar, f"{top}/docs/hunts/windows/{hunt_id}/{name}", data)
        for name, fields in extra:
            _add(tar, name, **fields)
    return path


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A local HTTP server over tmp_path/www: (base URL, folder)."""
    folder = tmp_path / "www"
    folder.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(folder))
    with serving(handler) as url:
        yield url, folder


def test_playbook_dir_downloads_keeps_only_the_hunts_and_records_the_source(
    dataset_cache: Path, monkeypatch: pytest.MonkeyPatch, served: tuple[str, Path]
) -> None:
    base, www = served
    archive = upstream_archive(
        www / "master.tar.gz",
        [("ThreatHunter-Playbook-master/docs/hunts/windows/zz/notebook.md",
          {"type": tarfile.SYMTYPE, "linkname": "/etc/passwd"})],
    )  # fmt: skip
    url = f"{base}/master.tar.gz"
    monkeypatch.setenv("HUNTLAB_PLAYBOOK_URL", url)

    root = playbook_dir()
    assert root == dataset_cache / "threathunter-playbook"
    hunts = find_hunts(root)
    assert [h.id for h in hunts] == sample_ids()
    for hunt in hunts:
        for name in ("notebook.md", "metadata.yaml"):
            original = playbook_sample() / hunt.id / name
            assert (hunt.folder / name).read_bytes() == original.read_bytes()
    kept = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    assert kept == sorted(
        [SOURCE_RECORD]
        + [f"hunts/windows/{i}/{n}" for i in sample_ids() for n in ("metadata.yaml", "notebook.md")]
    )  # no README, no intro.md, no link
    record = json.loads((root / SOURCE_RECORD).read_text(encoding="utf-8"))
    assert record["url"] == url
    assert record["sha256"] == hashlib.sha256(archive.read_bytes()).hexdigest()
    assert record["commit"] == COMMIT
    assert not list(dataset_cache.glob("*.tar.gz")), "the archive is not kept once extracted"

    # A notebook converted from this copy says where it came from.
    from huntlab.hunts.convert import build

    top = build(hunts[0]).cells[0].source
    assert f"tree/{COMMIT}/docs/hunts/windows/{hunts[0].id}" in top and url in top

    # The cached copy is used from now on: no server needed.
    monkeypatch.setenv("HUNTLAB_PLAYBOOK_URL", f"http://127.0.0.1:{closed_port()}/gone.tar.gz")
    assert playbook_dir() == root
    assert playbook_dir(download_ok=False) == root


def test_without_network_the_error_says_to_use_from_or_the_url(
    dataset_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"http://127.0.0.1:{closed_port()}/master.tar.gz"
    monkeypatch.setenv("HUNTLAB_PLAYBOOK_URL", url)
    with pytest.raises(PlaybookError) as caught:
        playbook_dir()
    message = str(caught.value)
    assert url in message and "--from DIR" in message and "HUNTLAB_PLAYBOOK_URL" in message
    assert not (dataset_cache / "threathunter-playbook").exists()

    with pytest.raises(PlaybookError) as caught:
        playbook_dir(download_ok=False)
    assert "--from DIR" in str(caught.value) and "HUNTLAB_PLAYBOOK_URL" in str(caught.value)


@pytest.mark.parametrize("bad", ["../x", "ThreatHunter-Playbook-master/../../x", "/tmp/x"])
def test_safe_extraction_refuses_a_member_out_of_the_folder(tmp_path: Path, bad: str) -> None:
    archive = upstream_archive(tmp_path / "bad.tar.gz", [(bad, {"size": 0})])
    dest = tmp_path / "out" / "deep"
    dest.mkdir(parents=True)
    with pytest.raises(PlaybookError) as caught:
        extract_playbook(archive, dest)
    assert repr(bad) in str(caught.value) and "unsafe" in str(caught.value)
    assert not (tmp_path / "out" / "x").exists() and not (tmp_path / "x").exists()


def test_an_unsafe_download_is_not_cached(
    dataset_cache: Path, monkeypatch: pytest.MonkeyPatch, served: tuple[str, Path]
) -> None:
    base, www = served
    upstream_archive(www / "evil.tar.gz", [("../x", {"size": 0})])
    monkeypatch.setenv("HUNTLAB_PLAYBOOK_URL", f"{base}/evil.tar.gz")
    with pytest.raises(PlaybookError, match=re.escape("unsafe member '../x'")):
        playbook_dir()
    assert not (dataset_cache / "threathunter-playbook").exists()
    assert not (dataset_cache / "x").exists()
    assert not [p for p in dataset_cache.iterdir() if p.name.startswith(".threathunter")]


def test_an_archive_that_is_not_the_playbook_is_an_error(
    dataset_cache: Path, monkeypatch: pytest.MonkeyPatch, served: tuple[str, Path]
) -> None:
    base, www = served
    (www / "page.tar.gz").write_text("<html>not an archive</html>", encoding="utf-8")
    with tarfile.open(www / "other.tar.gz", "w:gz") as tar:
        _add(tar, "other-master/README.md", b"hello\n")
    monkeypatch.setenv("HUNTLAB_PLAYBOOK_URL", f"{base}/page.tar.gz")
    with pytest.raises(PlaybookError, match="not a tar archive"):
        playbook_dir()
    monkeypatch.setenv("HUNTLAB_PLAYBOOK_URL", f"{base}/other.tar.gz")
    with pytest.raises(PlaybookError, match="no docs/hunts"):
        playbook_dir()
