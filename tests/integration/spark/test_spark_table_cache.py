"""Spark reads a recording's table from the table cache a pandas read left (a Parquet copy of
the cached table): the same table as Spark's own parse, row for row and column for column,
with the same counts; never an entry of other files or of another mapping, never a damaged
copy."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import huntlab
import huntlab.notebook
from huntlab.readers import ReadReport
from huntlab.readers import cache as table_cache
from huntlab.spark import read_events
from tests.conftest import shared_dir

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

# fodhelper holds LogonId and LogonID, the 2019 file ProcessId and processid: names a
# case-insensitive Spark tells apart only by position.
RECORDINGS = {
    "2020": "windows/empire_uac_shellapi_fodhelper/empire_uac_shellapi_fodhelper.zip",
    "2019": "windows/empire_invoke_wmi/empire_invoke_wmi.tar.gz",
}


@pytest.fixture
def cache_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The table cache on (the suite runs with it off), in a folder of the test's own."""
    monkeypatch.setenv("HUNTLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv(table_cache.ENV, "1")
    return table_cache.tables_dir()


def _from_cache(frame: DataFrame, tables: Path) -> bool:
    files = frame.inputFiles()  # none for an archive's records, handed over in batches
    return bool(files) and all(Path(f.removeprefix("file:")).parent == tables for f in files)


def _same(one: DataFrame, other: DataFrame) -> None:
    """The same columns (names, types, order) and the same rows, each as often: so each
    column holds the same values too."""
    assert one.schema == other.schema
    assert one.count() == other.count()
    assert one.exceptAll(other).count() == 0
    assert other.exceptAll(one).count() == 0


@pytest.mark.parametrize("kind", sorted(RECORDINGS))
def test_a_cached_read_is_the_parsed_one(
    spark: SparkSession, cache_on: Path, kind: str
) -> None:
    recording = shared_dir() / "datasets" / RECORDINGS[kind]
    parsed = read_events(spark, recording, cache=False)
    assert not _from_cache(parsed, cache_on)
    # Nothing cached yet: Spark parses (and writes nothing).
    assert not _from_cache(read_events(spark, recording), cache_on)
    frame = huntlab.read_events(recording)  # the pandas read writes the entry
    report = ReadReport()
    cached = read_events(spark, recording, report=report)
    assert _from_cache(cached, cache_on)
    _same(cached, parsed)
    assert (report.read, report.kept, report.rejected) == (len(frame), len(frame), 0)
    # A schema given picks and orders the columns, as for a parse.
    wanted = parsed.schema
    narrowed = type(wanted)(list(reversed(wanted.fields[:5])))
    _same(
        read_events(spark, recording, schema=narrowed),
        read_events(spark, recording, schema=narrowed, cache=False),
    )


def test_a_plain_pandas_read_serves_too(spark: SparkSession, cache_on: Path) -> None:
    """The hunts' pandas_frame reads with categorical=False: that entry serves Spark too."""
    recording = shared_dir() / "datasets" / RECORDINGS["2020"]
    huntlab.read_events(recording, categorical=False)
    cached = read_events(spark, recording)
    assert _from_cache(cached, cache_on)
    _same(cached, read_events(spark, recording, cache=False))


def test_never_stale_nor_damaged(
    spark: SparkSession, cache_on: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "data" / "fodhelper.json"
    source.parent.mkdir()
    with huntlab.notebook.open_json_lines(shared_dir() / "datasets" / RECORDINGS["2020"]) as fh:
        lines = fh.read().splitlines(keepends=True)
    source.write_bytes(b"".join(lines))
    time.sleep(0.25)  # a file changed a moment ago is not cached (it may change again unseen)
    huntlab.read_events(source)
    assert _from_cache(read_events(spark, source), cache_on)

    # A damaged copy is not served: the copy is made again from the checked table.
    (parquet,) = cache_on.glob("*.parquet")
    parquet.write_bytes(b"PAR1 not a table PAR1")
    again = read_events(spark, source)
    assert _from_cache(again, cache_on)
    _same(again, read_events(spark, source, cache=False))

    # The mapping changed: the entry is another key's; Spark parses.
    with monkeypatch.context() as patch:
        patch.setattr(table_cache, "mapping_version", lambda: "another mapping")
        assert not _from_cache(read_events(spark, source), cache_on)

    # The file changed (one event more): Spark parses the new content.
    source.write_bytes(b"".join([*lines, lines[0]]))
    changed = read_events(spark, source)
    assert not _from_cache(changed, cache_on)
    assert changed.count() == len(lines) + 1
