"""The table cache of read_events (huntlab/readers/cache.py), on the real recordings.

A cached read must give the frame and the report the parse gives, column by column, and must
never give a table of other bytes, another mapping or other code: each test below changes one
of them and checks the next read parses again."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal, assert_series_equal

import huntlab
from huntlab.cli.datasets import _size
from huntlab.errors import DataFormatError
from huntlab.readers import ReadReport
from huntlab.readers import cache as table_cache
from huntlab.readers import parallel as parallel_module
from tests.support.readers_data import (
    EMPIRE_2019,
    EVENT_DATASETS,
    FODHELPER,
    IWBEM_2020,
    LAUNCHER_VBS,
    LSASS_REDUCED,
    raw_lines,
)

IWBEM_FOLDER = "windows/empire_wmi_dcerpc_wmi_IWbemServices_ExecMethod"  # host + network/


def _settle() -> None:
    """Let a file just written age past the cache's window for changes that leave no trace
    in the file's timestamps (0.1 s): a file changed within it is read, not cached."""
    time.sleep(0.25)


@pytest.fixture
def tables(dataset_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache (its own HUNTLAB_CACHE), on, with no digest remembered by this process."""
    monkeypatch.delenv(table_cache.ENV, raising=False)
    monkeypatch.delenv(table_cache.MAX_ENV, raising=False)
    monkeypatch.setattr(table_cache, "_MEMO", {})
    return dataset_cache / "tables"


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One item per read that parsed its source (read_frame ran: in this process or in worker
    processes), whatever its path."""
    calls: list[int] = []
    read_frame = parallel_module.read_frame

    def counted(*args: Any, **kwargs: Any) -> pd.DataFrame:
        calls.append(1)
        return read_frame(*args, **kwargs)

    monkeypatch.setattr(parallel_module, "read_frame", counted)
    return calls


def _entries(tables: Path) -> list[str]:
    return sorted(p.stem for p in tables.glob("*.json")) if tables.is_dir() else []


def _same_frame(expected: pd.DataFrame, got: pd.DataFrame) -> None:
    """Equal column by column: names and order, dtypes (categories and their order, the
    time zone, nullable integers), values, index."""
    assert list(got.columns) == list(expected.columns)
    assert got.index.equals(expected.index) and type(got.index) is type(expected.index)
    for name in expected.columns:
        assert got[name].dtype == expected[name].dtype, name
        if isinstance(expected[name].dtype, pd.CategoricalDtype):
            assert list(got[name].cat.categories) == list(expected[name].cat.categories), name
        assert_series_equal(got[name], expected[name], check_exact=True, obj=name)
    assert_frame_equal(got, expected, check_exact=True)


def _copy_settled(source: Path, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    _settle()
    return target


def _evtx_sample(sigma_dir: Path) -> Path:
    return sorted((sigma_dir / "regression_data").rglob("*.evtx"))[0]


# --- a cached read is the parsed one ---------------------------------------------------------

SOURCES: dict[str, Callable[[Path, Path], tuple[Path, dict[str, Any]]]] = {
    **{
        name: (lambda d, s, rel=rel: (d / rel, {}))
        for name, rel in EVENT_DATASETS.items()
    },
    "2019 tarball, plain object columns": lambda d, s: (d / EMPIRE_2019, {"categorical": False}),
    "a dataset folder with packet captures": lambda d, s: (d / IWBEM_FOLDER, {}),
    "errors=skip, nothing to reject": lambda d, s: (d / FODHELPER, {"errors": "skip"}),
    "an .evtx file": lambda d, s: (_evtx_sample(s), {}),
    "a folder of .evtx files and their evtx_dump JSON": lambda d, s: (
        s / "regression_data" / "rules" / "windows" / "process_creation",
        {},
    ),
}


@pytest.mark.parametrize("case", sorted(SOURCES))
def test_a_cached_read_is_the_parsed_one_column_by_column(
    case: str,
    tables: Path,
    parses: list[int],
    datasets_dir: Path,
    sigma_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(table_cache, "MIN_EVENTS", 1)  # the small recordings are kept too
    source, options = SOURCES[case](datasets_dir, sigma_dir)
    parsed_report, first_report, cached_report = ReadReport(), ReadReport(), ReadReport()
    parsed = huntlab.read_events(source, cache=False, report=parsed_report, **options)
    first = huntlab.read_events(source, report=first_report, **options)  # parses, keeps it
    assert len(parses) == 2 and len(_entries(tables)) == 1
    cached = huntlab.read_events(source, report=cached_report, **options)
    assert len(parses) == 2, "the second read parsed its source"
    _same_frame(parsed, first)
    _same_frame(parsed, cached)
    assert cached_report == first_report == parsed_report
    assert cached_report.read == cached_report.kept == len(parsed) and cached_report.files


def test_the_report_counts_add_up_as_the_parsed_reads_do(
    tables: Path, parses: list[int], datasets_dir: Path
) -> None:
    """A report given to several reads sums them, cached or not."""
    parsed, cached = ReadReport(), ReadReport()
    for source in (LAUNCHER_VBS, FODHELPER, LAUNCHER_VBS):
        huntlab.read_events(datasets_dir / source, cache=False, report=parsed)
        huntlab.read_events(datasets_dir / source, report=cached)
    assert cached == parsed and len(parses) == 5  # the second launcher read came from the cache


def test_a_cached_frame_is_the_callers_to_change(
    tables: Path, parses: list[int], datasets_dir: Path
) -> None:
    source = datasets_dir / IWBEM_2020
    huntlab.read_events(source)
    frame = huntlab.read_events(source)
    assert len(parses) == 1
    frame.loc[0, "EventID"] = 4242  # nullable integers, in place
    frame["Hostname"] = frame["Hostname"].cat.add_categories(["elsewhere"])
    frame.loc[0, "Hostname"] = "elsewhere"
    frame.loc[0, "@timestamp"] = pd.Timestamp("2000-01-01", tz="UTC")
    again = huntlab.read_events(source)
    assert again.loc[0, "EventID"] != 4242 and again.loc[0, "Hostname"] != "elsewhere"
    _same_frame(huntlab.read_events(source, cache=False), again)


@pytest.mark.parametrize(
    "relative",
    [
        "linux/sh_arp_cache/sh_arp_cache.zip",  # auditd
        "linux/Log4Shell",  # Azure Log Analytics exports
        "windows/GoldenSAMLADFSMailAccess",
        "windows/LSASS_campaign_03",  # Zeek logs
    ],
)
def test_files_that_are_not_event_logs_fail_alike_and_leave_nothing(
    relative: str, tables: Path, datasets_dir: Path
) -> None:
    with pytest.raises(DataFormatError) as parsed:
        huntlab.read_events(datasets_dir / relative, cache=False)
    with pytest.raises(DataFormatError) as cached:
        huntlab.read_events(datasets_dir / relative)
    assert str(cached.value) == str(parsed.value)
    assert _entries(tables) == []


def test_bad_arguments_and_sources_fail_alike(tables: Path, tmp_path: Path) -> None:
    for call in (
        lambda **o: huntlab.read_events(tmp_path / "nowhere.zip", **o),
        lambda **o: huntlab.read_events(tmp_path, errors="ignore", **o),  # type: ignore[arg-type]
        lambda **o: huntlab.read_events(tmp_path, max_record_bytes=0, **o),
        lambda **o: huntlab.read_events(tmp_path, **o),  # a folder without event files
    ):
        with pytest.raises(Exception) as parsed:
            call(cache=False)
        with pytest.raises(Exception) as cached:
            call()
        assert type(cached.value) is type(parsed.value)
        assert str(cached.value) == str(parsed.value)


def test_small_reads_are_not_kept(
    tables: Path, parses: list[int], datasets_dir: Path, sigma_dir: Path
) -> None:
    for source in (_evtx_sample(sigma_dir), datasets_dir / LSASS_REDUCED):
        huntlab.read_events(source)
        frame = huntlab.read_events(source)
        assert len(frame) < table_cache.MIN_EVENTS
    assert len(parses) == 4 and _entries(tables) == []


# --- never stale -----------------------------------------------------------------------------


def test_a_changed_archive_is_read_again(
    tables: Path, parses: list[int], datasets_dir: Path, tmp_path: Path
) -> None:
    archive = _copy_settled(datasets_dir / LAUNCHER_VBS, tmp_path / "empire_launcher_vbs.zip")
    before = huntlab.read_events(archive)
    assert len(huntlab.read_events(archive)) == len(before) and len(parses) == 1
    lines = list(raw_lines(archive))
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:  # same path, new content
        out.writestr("empire_launcher_vbs.json", b"".join(lines[:-10]))
    _settle()
    after = huntlab.read_events(archive)
    assert len(parses) == 2 and len(after) == len(before) - 10
    _same_frame(huntlab.read_events(archive, cache=False), after)
    assert len(_entries(tables)) == 1  # the entry of the old content went


def test_a_change_that_keeps_size_inode_and_mtime_is_seen(
    tables: Path, parses: list[int], datasets_dir: Path, tmp_path: Path
) -> None:
    """Only the change time (ctime), which no program can set back, tells this change."""
    path = tmp_path / "iwbem.json"
    path.write_bytes(b"".join(raw_lines(datasets_dir / IWBEM_2020)))
    _settle()
    first = huntlab.read_events(path)
    assert len(_entries(tables)) == 1
    before = path.stat()
    text = path.read_bytes()
    host = str(first["Hostname"].iloc[0]).encode()
    changed = host[:-1] + (b"X" if host[-1:] != b"X" else b"Y")
    with path.open("r+b") as out:  # in place: same inode, same size
        out.write(text.replace(host, changed, 1))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (
        before.st_ino, before.st_size, before.st_mtime_ns,
    )  # fmt: skip
    _settle()
    second = huntlab.read_events(path)
    assert len(parses) == 2
    assert changed.decode() in set(second["Hostname"]) and not second.equals(first)
    _same_frame(huntlab.read_events(path, cache=False), second)


def test_a_file_added_to_a_folder_is_read(
    tables: Path, parses: list[int], datasets_dir: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "recordings"
    _copy_settled(datasets_dir / LAUNCHER_VBS, folder / "empire_launcher_vbs.zip")
    one = huntlab.read_events(folder)
    _copy_settled(datasets_dir / FODHELPER, folder / "empire_uac_shellapi_fodhelper.zip")
    two = huntlab.read_events(folder)
    assert len(parses) == 2 and len(two) > len(one)
    assert set(two["Dataset"]) == {"empire_launcher_vbs", "empire_uac_shellapi_fodhelper"}


@pytest.mark.parametrize("version", ["mapping_version", "code_version"])
def test_another_mapping_or_code_makes_another_key(
    version: str,
    tables: Path,
    parses: list[int],
    datasets_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = datasets_dir / LAUNCHER_VBS
    huntlab.read_events(source)
    huntlab.read_events(source)
    [old] = _entries(tables)
    assert len(parses) == 1
    monkeypatch.setattr(table_cache, version, lambda: "another version")
    huntlab.read_events(source)
    assert len(parses) == 2
    [new] = _entries(tables)  # the entry of the old version went
    assert new != old
    huntlab.read_events(source)
    assert len(parses) == 2


def test_the_mapping_version_covers_mapping_json_and_the_reader_modules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = Path(huntlab.__file__).parent
    copy = tmp_path / "huntlab"
    (copy / "readers").mkdir(parents=True)
    shutil.copyfile(package / "mapping.json", copy / "mapping.json")
    for module in (package / "readers").glob("*.py"):
        shutil.copyfile(module, copy / "readers" / module.name)

    class Files:
        @staticmethod
        def files(name: str) -> Path:
            return tmp_path.joinpath(*name.split("."))

    monkeypatch.setattr(table_cache, "resources", Files)
    versions = []
    for change in (None, copy / "mapping.json", copy / "readers" / "frame.py"):
        if change is not None:
            change.write_bytes(change.read_bytes() + b"\n")
        table_cache.mapping_version.cache_clear()
        versions.append(table_cache.mapping_version())
    table_cache.mapping_version.cache_clear()
    assert len(set(versions)) == 3


def test_a_file_changed_during_the_read_is_not_cached(
    tables: Path, datasets_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "launcher.json"
    lines = list(raw_lines(datasets_dir / LAUNCHER_VBS))
    path.write_bytes(b"".join(lines))
    _settle()
    read_frame = parallel_module.read_frame

    def changing(*args: Any, **kwargs: Any) -> pd.DataFrame:
        frame = read_frame(*args, **kwargs)
        path.write_bytes(b"".join(lines[:-1]))  # the writer was not done
        return frame

    monkeypatch.setattr(parallel_module, "read_frame", changing)
    huntlab.read_events(path)
    assert _entries(tables) == []
    monkeypatch.setattr(parallel_module, "read_frame", read_frame)
    _settle()
    assert len(huntlab.read_events(path)) == len(lines) - 1


def test_a_file_just_written_is_read_but_not_cached_yet(
    tables: Path, parses: list[int], datasets_dir: Path, tmp_path: Path
) -> None:
    path = tmp_path / "launcher.json"
    path.write_bytes(b"".join(raw_lines(datasets_dir / LAUNCHER_VBS)))
    huntlab.read_events(path)  # at once: the file may still be changing within its timestamp
    assert _entries(tables) == []
    _settle()
    huntlab.read_events(path)
    huntlab.read_events(path)
    assert len(_entries(tables)) == 1 and len(parses) == 2


# --- rejects, switches ------------------------------------------------------------------------


def test_a_read_with_rejects_is_never_cached(
    tables: Path, parses: list[int], datasets_dir: Path, tmp_path: Path
) -> None:
    lines = list(raw_lines(datasets_dir / LAUNCHER_VBS))
    lines[5] = b'{"EventID": 1, "Image": }\n'
    broken = tmp_path / "broken.zip"
    with zipfile.ZipFile(broken, "w") as out:
        out.writestr("broken.json", b"".join(lines))
    _settle()
    rejects = tmp_path / "rejects" / "broken.jsonl"
    for _ in range(2):
        report = ReadReport()
        frame = huntlab.read_events(broken, errors="skip", rejects=rejects, report=report)
        assert report.rejected == 1 and len(frame) == len(lines) - 1
        assert report.rejects_path == rejects
        assert json.loads(rejects.read_text())["line"] == 6
        rejects.unlink()  # written again by the next read
    assert len(parses) == 2 and _entries(tables) == []


def test_no_rejects_leave_the_rejects_path_as_a_parse_does(
    tables: Path, parses: list[int], datasets_dir: Path, tmp_path: Path
) -> None:
    """A read that rejects nothing does not create its rejects file (nor its folder), and
    leaves an old one as it was: so does a cached read."""
    source = datasets_dir / LAUNCHER_VBS
    fresh = tmp_path / "new-folder" / "rejects.jsonl"
    old = tmp_path / "old-rejects.jsonl"
    old.write_text("from an earlier read\n")
    for cache in (False, True, True):
        for rejects in (fresh, old):
            report = ReadReport()
            huntlab.read_events(source, errors="skip", rejects=rejects, report=report, cache=cache)
            assert report.rejects_path is None
        assert not fresh.parent.exists()
        assert old.read_text() == "from an earlier read\n"
    assert len(parses) == 3  # two reads without the cache, one that filled it


def test_cache_false_and_the_environment_turn_it_off(
    tables: Path, parses: list[int], datasets_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = datasets_dir / LAUNCHER_VBS
    huntlab.read_events(source, cache=False)
    huntlab.read_events(source, cache=False)
    assert len(parses) == 2 and not tables.exists()
    for value in ("0", "off", "false", "no"):
        monkeypatch.setenv(table_cache.ENV, value)
        huntlab.read_events(source)
    assert len(parses) == 6 and not tables.exists()
    monkeypatch.setenv(table_cache.ENV, "1")
    huntlab.read_events(source)
    huntlab.read_events(source)
    assert len(parses) == 7 and len(_entries(tables)) == 1
    monkeypatch.setenv(table_cache.ENV, "0")
    huntlab.read_events(source)  # an entry exists, but the cache is off: parsed
    assert len(parses) == 8


# --- damage ----------------------------------------------------------------------------------


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


DAMAGE: dict[str, Callable[[Path], None]] = {
    "table truncated": lambda key: _truncate(key.with_suffix(".arrow")),
    "a byte of the table flipped": lambda key: _flip_a_byte(key.with_suffix(".arrow")),
    "table gone": lambda key: key.with_suffix(".arrow").unlink(),
    "table empty": lambda key: key.with_suffix(".arrow").write_bytes(b""),
    "description not JSON": lambda key: key.with_suffix(".json").write_text("{"),
    "description truncated": lambda key: _truncate(key.with_suffix(".json")),
    "description of another shape": lambda key: key.with_suffix(".json").write_text("[]"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_entry_is_removed_and_the_source_parsed(
    damage: str, tables: Path, parses: list[int], datasets_dir: Path
) -> None:
    source = datasets_dir / FODHELPER
    expected = huntlab.read_events(source, cache=False)
    huntlab.read_events(source)
    [key] = _entries(tables)
    DAMAGE[damage](tables / key)
    report = ReadReport()
    frame = huntlab.read_events(source, report=report)  # no exception, the parsed table
    assert len(parses) == 3
    _same_frame(expected, frame)
    assert report.read == len(expected)
    assert _entries(tables) == [key]  # written again, whole
    _same_frame(expected, huntlab.read_events(source))
    assert len(parses) == 3


def test_a_table_without_its_description_is_not_read(
    tables: Path, parses: list[int], datasets_dir: Path
) -> None:
    """A writer stopped between the table and its JSON (which is written last) leaves an
    entry that no read uses."""
    source = datasets_dir / LAUNCHER_VBS
    huntlab.read_events(source)
    [key] = _entries(tables)
    (tables / f"{key}.json").unlink()
    huntlab.read_events(source)
    assert len(parses) == 2 and _entries(tables) == [key]


def test_concurrent_reads_agree(tables: Path, datasets_dir: Path) -> None:
    """Processes reading one source at once, with an empty cache: each gets the table."""
    source = datasets_dir / IWBEM_2020
    code = (
        "import sys, huntlab, pandas as pd\n"
        "frame = huntlab.read_events(sys.argv[1], progress=False)\n"
        "print(len(frame), int(pd.util.hash_pandas_object(frame.astype(str)).sum()))\n"
    )
    command = [sys.executable, "-c", code, str(source)]
    children = [
        subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=dict(os.environ))
        for _ in range(3)
    ]
    answers = {child.communicate(timeout=300)[0] for child in children}
    assert all(child.returncode == 0 for child in children)
    expected = huntlab.read_events(source, cache=False)
    digest = int(pd.util.hash_pandas_object(expected.astype(str)).sum())
    assert answers == {f"{len(expected)} {digest}\n"}
    assert len(_entries(tables)) == 1
    _same_frame(expected, huntlab.read_events(source))


# --- file digests -----------------------------------------------------------------------------


def test_digests_are_remembered_until_the_file_changes(
    tables: Path, datasets_dir: Path, tmp_path: Path
) -> None:
    path = _copy_settled(datasets_dir / LAUNCHER_VBS, tmp_path / "launcher.zip")
    huntlab.read_events(path)
    table_cache._MEMO.clear()  # as a new process
    now = time.time_ns()
    assert table_cache._digest(path, now).origin == "memo"  # from the file under tables/
    with path.open("ab") as out:
        out.write(b"\0")
    _settle()
    assert table_cache._digest(path, time.time_ns()).origin == "hashed"


def test_store_files_reuse_the_manifest_digest_while_unchanged(
    tables: Path, datasets_dir: Path, parses: list[int]
) -> None:
    from huntlab import datasets

    name = "empire_launcher_vbs"
    stored = datasets.dataset_dir(name) / "empire_launcher_vbs.zip"
    _copy_settled(datasets_dir / LAUNCHER_VBS, stored)
    time.sleep(1.3)  # the manifest records whole seconds: a second later than the file
    [record] = datasets.import_path(stored, name=name)  # the file itself: recorded in place
    assert record.path == stored
    digest = table_cache._digest(stored, time.time_ns())
    assert (digest.origin, digest.sha256) == ("manifest", record.sha256)
    frame = huntlab.read_events(name)  # by name, through the store
    _same_frame(huntlab.read_events(stored, cache=False, dataset=name), frame)
    assert set(frame["Dataset"]) == {name}
    before = stored.stat()
    data = bytearray(stored.read_bytes())
    data[-30] ^= 0xFF  # in the zip's directory: same size, kept mtime
    stored.write_bytes(bytes(data))
    os.utime(stored, ns=(before.st_atime_ns, before.st_mtime_ns))
    table_cache._MEMO.clear()
    changed = table_cache._digest(stored, time.time_ns())
    assert changed.origin == "hashed" and changed.sha256 != record.sha256


# --- the command -----------------------------------------------------------------------------


def _huntlab(*args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "huntlab", *args], capture_output=True,
                          text=True, env=dict(os.environ), timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done


def _shown(output: str) -> dict[str, str]:
    pairs = (line.partition(":") for line in output.splitlines())
    return {key.strip(): value.strip() for key, _, value in pairs}


def test_the_command_shows_and_clears_the_cache(
    tables: Path, parses: list[int], datasets_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shown = _shown(_huntlab("datasets", "cache").stdout)
    assert shown == {
        "table cache": str(tables),
        "tables": "0",
        "size": "0 B",
        "keeps to": "10.0 GiB (HUNTLAB_TABLE_CACHE_MAX; least recently used go first)",
        "reads use it": "on",
    }
    for relative in (LAUNCHER_VBS, FODHELPER):
        huntlab.read_events(datasets_dir / relative)
    held = _size(sum(p.stat().st_size for p in tables.rglob("*") if p.is_file()))
    shown = _shown(_huntlab("datasets", "cache").stdout)
    assert shown["tables"] == "2" and shown["size"] == held
    monkeypatch.setenv(table_cache.ENV, "0")
    off = _shown(_huntlab("datasets", "cache").stdout)["reads use it"]
    assert off == "off (HUNTLAB_TABLE_CACHE=0)"
    monkeypatch.delenv(table_cache.ENV)
    cleared = _huntlab("datasets", "cache", "--clear").stdout
    assert cleared == f"cleared {tables}: 2 table(s), {held} freed\n"
    assert _shown(_huntlab("datasets", "cache").stdout)["tables"] == "0"
    assert not any(p.is_file() for p in tables.rglob("*"))
    huntlab.read_events(datasets_dir / LAUNCHER_VBS)
    assert len(parses) == 3  # parsed again


def test_a_cache_folder_others_may_write_in_is_not_used(
    tables: Path, parses: list[int], datasets_dir: Path
) -> None:
    """Someone who can write in the folder could plant a table a read would take: a folder
    open to others (or a link) is neither read nor written; the reads parse."""
    source = datasets_dir / LAUNCHER_VBS
    huntlab.read_events(source)
    assert len(_entries(tables)) == 1 and len(parses) == 1
    tables.chmod(0o777)
    try:
        huntlab.read_events(source)
        huntlab.read_events(source)
        assert len(parses) == 3
    finally:
        tables.chmod(0o700)
    huntlab.read_events(source)  # private again: the entry is used
    assert len(parses) == 3
    link = tables.parent / "tables-link"
    link.symlink_to(tables)
    assert not table_cache.trusted(link) and table_cache.trusted(tables)


def _entry_bytes(tables: Path) -> dict[str, int]:
    """Each entry's bytes on disk (table, description, Spark's copy), by key."""
    sizes: dict[str, int] = {}
    for path in tables.iterdir():
        if path.is_file() and not path.name.endswith(".tmp"):
            key = path.name.partition(".")[0]
            sizes[key] = sizes.get(key, 0) + path.stat().st_size
    return sizes


def test_the_cache_keeps_to_its_bound_the_least_recently_used_going_first(
    tables: Path, parses: list[int], datasets_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HUNTLAB_TABLE_CACHE_MAX: writing an entry removes those used least recently until all
    fit; a read that uses an entry makes it the most recent; an entry larger than the bound is
    not kept, and its read gives the same table. (Entries used within the last hour are kept
    whatever the bound: the next test; here that window is closed.)"""
    monkeypatch.setattr(table_cache, "_IN_USE_SECONDS", 0)
    sources = [datasets_dir / r for r in (LAUNCHER_VBS, FODHELPER, IWBEM_2020)]
    keys: list[str] = []
    for source in sources:  # each entry's size, alone
        huntlab.read_events(source)
        keys.append(next(k for k in _entry_bytes(tables) if k not in keys))
    sizes = _entry_bytes(tables)
    table_cache.clear()
    # Room for any two of the three entries, not for all three.
    monkeypatch.setenv(table_cache.MAX_ENV, str(sum(sizes.values()) - 1))
    launcher, fodhelper, iwbem = sources
    huntlab.read_events(launcher)
    _settle()  # the next writes must be seen as later (modification times)
    huntlab.read_events(fodhelper)
    _settle()
    huntlab.read_events(launcher)  # from the cache: now the most recently used
    assert len(parses) == 3 + 2
    _settle()
    huntlab.read_events(iwbem)
    held = _entry_bytes(tables)
    assert set(held) == {keys[0], keys[2]}  # fodhelper's went
    assert sum(held.values()) <= sum(sizes.values()) - 1
    got = huntlab.read_events(fodhelper)
    assert len(parses) == 3 + 4  # parsed again
    # A bound smaller than one entry: nothing is kept, the read is the parse.
    table_cache.clear()
    monkeypatch.setenv(table_cache.MAX_ENV, f"{min(sizes.values()) // 1024 - 1}K")
    _same_frame(huntlab.read_events(fodhelper, cache=False), huntlab.read_events(fodhelper))
    assert _entry_bytes(tables) == {}
    assert len(got) > table_cache.MIN_EVENTS


def _sizes_alone(tables: Path, sources: list[Path]) -> list[tuple[str, int]]:
    """Each source's entry key and bytes, each read alone into an empty cache (left empty)."""
    found: list[tuple[str, int]] = []
    for source in sources:
        huntlab.read_events(source)
        ((key, size),) = _entry_bytes(tables).items()
        found.append((key, size))
        table_cache.clear()
    return found


def _age(tables: Path, key: str, seconds: float) -> None:
    """Make the entry look last used ``seconds`` ago."""
    meta = tables / f"{key}.json"
    then = time.time() - seconds
    os.utime(meta, (then, then))


def test_entries_in_use_are_kept_and_an_entry_too_large_removes_nothing_else(
    tables: Path, parses: list[int], datasets_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An entry used within the last hour is not removed to make room (a Spark DataFrame may
    read its copy later): an idle one goes; with every entry in use, none goes and the cache
    stays over its bound. An entry larger than the bound is not kept, and the entries already
    there stay."""
    launcher, fodhelper, iwbem = (datasets_dir / r for r in (LAUNCHER_VBS, FODHELPER, IWBEM_2020))
    (k1, s1), (k2, s2), (k3, s3) = _sizes_alone(tables, [launcher, fodhelper, iwbem])
    monkeypatch.setenv(table_cache.MAX_ENV, str(s1 + s2 + s3 - 1))
    huntlab.read_events(launcher)
    _age(tables, k1, 600)  # used ten minutes ago: in use still
    huntlab.read_events(fodhelper)
    _age(tables, k2, 2 * 3600)  # idle
    huntlab.read_events(iwbem)
    assert set(_entry_bytes(tables)) == {k1, k3}
    # All in use: over the bound, nothing removed.
    huntlab.read_events(fodhelper)
    assert set(_entry_bytes(tables)) == {k1, k2, k3}
    # Too large on its own: it goes, the others stay.
    table_cache.clear()
    small, large = sorted([(s1, launcher, k1), (s3, iwbem, k3)])
    monkeypatch.setenv(table_cache.MAX_ENV, str(large[0] - 1))
    huntlab.read_events(small[1])
    huntlab.read_events(large[1])
    assert set(_entry_bytes(tables)) == {small[2]}


def test_a_spark_copy_beyond_the_bound_is_not_kept_and_the_table_stays(
    tables: Path, parses: list[int], datasets_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Spark's Parquet copy makes an entry larger than the bound: no copy is given (Spark
    parses), the copy's files are gone, and the pandas table stays and is still used."""
    from huntlab.readers import Limits

    source = datasets_dir / LAUNCHER_VBS
    huntlab.read_events(source)
    ((key, table_bytes),) = _entry_bytes(tables).items()
    monkeypatch.setenv(table_cache.MAX_ENV, str(table_bytes))  # the table fits, no more
    entry = table_cache.prepare(
        source, dataset=None, categorical=True, limits=Limits(), errors="raise"
    )
    assert entry is not None and entry.key == key
    assert table_cache.spark_copy(entry) is None
    assert sorted(p.name for p in tables.glob(f"{key}*")) == [f"{key}.arrow", f"{key}.json"]
    huntlab.read_events(source)
    assert len(parses) == 1  # the table still comes from the cache
    monkeypatch.delenv(table_cache.MAX_ENV)
    copied = table_cache.spark_copy(entry)
    assert copied is not None and copied[0].is_file()


def test_a_bound_that_is_not_a_size_is_an_error_naming_it(
    tables: Path, datasets_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for text, expected in (("500M", 500 * 2**20), ("2.5 GiB", int(2.5 * 2**30)), ("4096", 4096)):
        monkeypatch.setenv(table_cache.MAX_ENV, text)
        assert table_cache.max_bytes() == expected
    monkeypatch.setenv(table_cache.MAX_ENV, "ten gigs")
    with pytest.raises(huntlab.HuntlabError, match="HUNTLAB_TABLE_CACHE_MAX='ten gigs' is not a size"):
        huntlab.read_events(datasets_dir / LAUNCHER_VBS)
    assert not tables.exists() or _entry_bytes(tables) == {}
