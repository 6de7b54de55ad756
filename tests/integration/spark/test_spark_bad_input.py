"""The Spark reader keeps or rejects exactly the records the pandas reader does, for every
kind of bad record (the fuzz inputs of tests/unit/test_readers_fuzz.py, over-long records,
decompression bombs), and reads .evtx files and evtx_dump JSON as pandas does."""

from __future__ import annotations

import gzip
import json
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

import huntlab
from huntlab import spark as hspark
from huntlab.readers import ReadReport
from tests.integration.spark.test_spark_readers import _assert_same_table
from tests.support.paths import REPO
from tests.support.readers_data import EMPIRE_2019, IWBEM_2020, LSASS_REDUCED, raw_lines
from tests.unit.test_readers_fuzz import SEED, _mutated

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

REGRESSION = REPO.parent / "shared" / "sigma" / "regression_data"


def _rejected(path: Path) -> list[tuple[str, int | None, str]]:
    entries = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return sorted((e["file"], e["line"], e["reason"]) for e in entries)


def _both(spark: SparkSession, source: Path, tmp_path: Path, **limits: Any) -> None:
    """pandas and Spark on ``source`` with errors="skip": same counts, same rejects (file,
    line, reason), and Spark's table holds the kept rows."""
    pandas_report, spark_report = ReadReport(), ReadReport()
    frame = huntlab.read_events(
        source, errors="skip", rejects=tmp_path / "p.jsonl", report=pandas_report, **limits
    )
    spark_frame = hspark.read_events(
        spark, source, errors="skip", rejects=tmp_path / "s.jsonl", report=spark_report, **limits
    )
    assert pandas_report.read == pandas_report.kept + pandas_report.rejected
    assert (spark_report.read, spark_report.kept, spark_report.rejected) == (
        pandas_report.read,
        pandas_report.kept,
        pandas_report.rejected,
    )
    assert _rejected(tmp_path / "s.jsonl") == _rejected(tmp_path / "p.jsonl")
    assert spark_frame.count() == len(frame) == pandas_report.kept
    assert spark_frame.columns == list(frame.columns)


@pytest.mark.parametrize("name", [EMPIRE_2019, IWBEM_2020, LSASS_REDUCED])
def test_spark_rejects_fuzzed_records_like_pandas(
    spark: SparkSession, datasets_dir: Path, tmp_path: Path, name: str
) -> None:
    """Plain files (read by Spark itself), a gzip file and a zip member (lines handed over
    from Python) of mutated records, plus one record over the size bound."""
    real = [line for line in list(raw_lines(datasets_dir / name))[:200] if line.strip()]
    folder = tmp_path / "in"
    folder.mkdir()
    for round_ in range(3):
        lines = _mutated(SEED + round_, real, 150)
        lines[7] = lines[7].rstrip(b"\n") + b" " * 70_000 + b"\n"  # over the bound below
        data = b"".join(lines)
        if round_ == 0:
            (folder / "fuzz_0.json").write_bytes(data)
        elif round_ == 1:
            (folder / "fuzz_1.json.gz").write_bytes(gzip.compress(data))
        else:
            with zipfile.ZipFile(folder / "fuzz_2.zip", "w", zipfile.ZIP_DEFLATED) as out:
                out.writestr("fuzz_2.json", data)
    _both(spark, folder, tmp_path, max_record_bytes=65_536)


def test_spark_bounds_decompression_like_pandas(
    spark: SparkSession, datasets_dir: Path, tmp_path: Path
) -> None:
    lines = list(raw_lines(datasets_dir / IWBEM_2020))[:50]
    path = tmp_path / "bomb.json.gz"
    # Blank lines past the 64 MiB every member may expand to, whatever its ratio (long ones:
    # 70 million one-byte lines took both readers minutes to skip before the bound).
    blank = b" " * 999 + b"\n"
    path.write_bytes(gzip.compress(b"".join(lines) + blank * 70_000, compresslevel=1))
    with pytest.raises(huntlab.DataFormatError) as from_pandas:
        huntlab.read_events(path, max_decompression_ratio=2)
    with pytest.raises(huntlab.DataFormatError) as caught:
        hspark.read_events(spark, path, max_decompression_ratio=2)
    assert str(caught.value) == str(from_pandas.value)
    assert "decompression bomb" in str(caught.value)


def _regression_samples() -> list[Path]:
    found = sorted(REGRESSION.rglob("*.evtx"))
    return found[:3]


@pytest.mark.parametrize("kind", ["evtx", "json"])
def test_spark_reads_evtx_like_pandas(spark: SparkSession, tmp_path: Path, kind: str) -> None:
    """SigmaHQ's regression samples: .evtx files, and evtx_dump's JSON beside them."""
    samples = _regression_samples()
    assert samples, REGRESSION
    folder = tmp_path / kind
    folder.mkdir()
    for i, sample in enumerate(samples):
        source = sample if kind == "evtx" else sample.with_suffix(".json")
        (folder / f"s{i}.{kind}").write_bytes(source.read_bytes())
    pandas_report, report = ReadReport(), ReadReport()
    pandas_frame = huntlab.read_events(folder, report=pandas_report)
    spark_frame = hspark.read_events(spark, folder, report=report)
    assert len(pandas_frame) > 0
    assert report.files == pandas_report.files
    assert (report.read, report.kept) == (pandas_report.read, pandas_report.kept)
    _assert_same_table(pandas_frame, spark_frame)
