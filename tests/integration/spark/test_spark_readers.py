"""The Spark reader gives the pandas reader's table: same rows, columns, types and values."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pytest

import huntlab
from huntlab import spark as hspark
from huntlab.readers import ReadReport
from huntlab.readers import mapping as m
from tests.support.readers_data import EMPIRE_2019, EVENT_DATASETS, IWBEM_2020, WMIPRVSE, raw_lines

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


# Compared value by value on every dataset (as sorted multisets: row order is not a contract).
SAMPLE_COLUMNS = [
    "@timestamp",
    "Hostname",
    "Channel",
    "EventID",
    "SourceName",
    "Message",
    "Dataset",
    "CommandLine",
    "ParentImage",
    "Image",
    "ProcessId",
    "Keywords",
    "TargetUserName",
    "RecordNumber",
    "LogonType",
    "DestinationPort",
    "ThreadID",
    "UtcTime",
    "ScriptBlockText",
    "AccountName",
]


def _text(value: Any) -> str | None:
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, float) and pd.isna(value):
        return None
    if isinstance(value, float) and value.is_integer():  # a number column with nulls
        return str(int(value))
    if isinstance(value, pd.Timestamp):
        value = value.tz_localize("UTC") if value.tzinfo is None else value.tz_convert("UTC")
        return value.isoformat()
    return str(value)


def _values(frame: pd.DataFrame, column: str) -> list[str]:
    return sorted((_text(v) or "<null>") for v in frame[column].astype(object).tolist())


def _assert_same_table(pandas_frame: pd.DataFrame, spark_frame: DataFrame) -> None:
    assert spark_frame.columns == list(pandas_frame.columns)
    types = dict(spark_frame.dtypes)
    assert types["@timestamp"] == "timestamp" and types["EventID"] == "int"
    numbers = set(m.number_fields())
    for name, kind in types.items():
        if name not in ("@timestamp", "EventID"):
            assert kind == ("bigint" if name in numbers else "string"), name
    columns = [c for c in SAMPLE_COLUMNS if c in pandas_frame.columns]
    rows = spark_frame.select(*[f"`{c}`" for c in columns]).toPandas()
    assert len(rows) == len(pandas_frame)
    for column in columns:
        assert _values(rows, column) == _values(pandas_frame, column), column


@pytest.mark.parametrize("name", sorted(EVENT_DATASETS))
def test_spark_and_pandas_agree(spark: SparkSession, datasets_dir: Path, name: str) -> None:
    path = datasets_dir / EVENT_DATASETS[name]
    pandas_frame = huntlab.read_events(path)
    spark_frame = hspark.read_events(spark, path)
    assert spark_frame.count() == len(pandas_frame)
    _assert_same_table(pandas_frame, spark_frame)


def test_spark_2019_wmiprvse_query(spark: SparkSession, datasets_dir: Path) -> None:
    frame = hspark.read_events(spark, datasets_dir / EMPIRE_2019)
    sysmon_1 = frame.where("SourceName = 'Microsoft-Windows-Sysmon' AND EventID = 1")
    assert sysmon_1.count() == 4
    children = sysmon_1.where(f"lower(ParentImage) = '{WMIPRVSE.lower()}'".replace("\\", "\\\\"))
    rows = children.select("CommandLine", "ProcessId").collect()
    assert len(rows) == 1
    pandas_frame = huntlab.read_events(datasets_dir / EMPIRE_2019)
    expected = pandas_frame[pandas_frame["ProcessGuid"].notna()]
    expected = expected[expected["ParentImage"].astype("string").str.lower() == WMIPRVSE.lower()]
    assert rows[0]["CommandLine"] == expected.iloc[0]["CommandLine"]
    # Sysmon's ProcessId and PowerShell's ProcessID share one column: no case collision.
    assert frame.where("ProcessId IS NOT NULL").count() == pandas_frame["ProcessId"].notna().sum()


def test_spark_reads_plain_json_files_itself(
    spark: SparkSession, datasets_dir: Path, tmp_path: Path
) -> None:
    """Plain JSON lines (here gzip-compressed) go to Spark's reader directly; with a known
    schema no pass over the keys is made, and the table is the same."""
    path = tmp_path / "empire_wmi_dcerpc_wmi_IWbemServices_ExecMethod_2020-09-21001437.json.gz"
    path.write_bytes(gzip.compress(b"".join(raw_lines(datasets_dir / IWBEM_2020))))
    pandas_frame = huntlab.read_events(path)
    report = ReadReport()
    spark_frame = hspark.read_events(spark, path, report=report)
    assert report.files == {str(path): "nxlog-2020"}
    assert set(pandas_frame["Dataset"]) == {"empire_wmi_dcerpc_wmi_IWbemServices_ExecMethod"}
    _assert_same_table(pandas_frame, spark_frame)

    schema = hspark.event_schema(spark, path)
    assert schema.fieldNames() == list(pandas_frame.columns)
    known = hspark.read_events(spark, path, schema=schema)
    _assert_same_table(pandas_frame, known)


def test_spark_skips_bad_archive_lines_like_pandas(
    spark: SparkSession, datasets_dir: Path, tmp_path: Path
) -> None:
    import zipfile

    lines = list(raw_lines(datasets_dir / IWBEM_2020))
    lines[41] = b"{broken\n"
    path = tmp_path / "broken.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        out.writestr("broken.json", b"".join(lines))
    with pytest.raises(huntlab.DataFormatError) as caught:
        hspark.read_events(spark, path)
    assert caught.value.line == 42
    report = ReadReport()
    frame = hspark.read_events(
        spark, path, errors="skip", rejects=tmp_path / "r.jsonl", report=report
    )
    assert (report.read, report.kept, report.rejected) == (6383, 6382, 1)
    assert frame.count() == 6382


def test_spark_reads_a_dataset_folder(spark: SparkSession, datasets_dir: Path) -> None:
    """host/ and network/ archives side by side: the packet captures are skipped."""
    report = ReadReport()
    folder = datasets_dir / "windows/empire_wmi_dcerpc_wmi_IWbemServices_ExecMethod"
    frame = hspark.read_events(spark, folder, report=report)
    assert frame.count() == 6383 == report.kept == report.read
    assert sorted(report.skipped.values()) == ["packet capture", "packet capture"]


def test_spark_plain_file_with_colliding_keys_and_a_broken_line(
    spark: SparkSession, datasets_dir: Path, tmp_path: Path
) -> None:
    """fodhelper's records hold LogonId and LogonID at the top level (Spark's JSON source
    refuses them); a broken line is dropped with errors="skip", as pandas rejects it."""
    from tests.support.readers_data import FODHELPER

    lines = list(raw_lines(datasets_dir / FODHELPER))
    lines[6] = lines[6][:100] + b"\n"
    path = tmp_path / "empire_uac_shellapi_fodhelper.json"
    path.write_bytes(b"".join(lines))
    report = ReadReport()
    pandas_frame = huntlab.read_events(
        path, errors="skip", rejects=tmp_path / "r.jsonl", report=report
    )
    assert (report.kept, report.rejected) == (4138, 1)
    spark_frame = hspark.read_events(spark, path, errors="skip")
    _assert_same_table(pandas_frame, spark_frame)
    assert "LogonID" not in spark_frame.columns


def test_spark_plain_2019_file(spark: SparkSession, datasets_dir: Path, tmp_path: Path) -> None:
    """A plain 2019 file, whose event_data holds ProcessId and ProcessID."""
    lines = list(raw_lines(datasets_dir / EMPIRE_2019))[:1500]
    assert any(b'"ProcessID"' in line for line in lines)
    assert any(b'"ProcessId"' in line for line in lines)
    path = tmp_path / "empire_invoke_wmi_2019-03-19152813.json"
    path.write_bytes(b"".join(lines))
    _assert_same_table(huntlab.read_events(path), hspark.read_events(spark, path))


def _rejects(path: Path) -> list[dict[str, Any]]:
    import json

    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_spark_plain_file_bad_lines_like_pandas(
    spark: SparkSession, datasets_dir: Path, tmp_path: Path
) -> None:
    """Lines of a plain file that are not JSON: raise names the file and line; skip rejects
    them to the same rejects file as pandas, counts add up, and the rows are pandas' rows."""
    lines = list(raw_lines(datasets_dir / IWBEM_2020))
    lines[9] = lines[9][: len(lines[9]) // 2] + b"\n"  # line 10 cut in the middle
    lines[99] = b"not json at all\n"  # line 100
    path = tmp_path / "empire_wmi_2020-09-21001437.jsonl"
    path.write_bytes(b"".join(lines))

    with pytest.raises(huntlab.DataFormatError) as caught:
        hspark.read_events(spark, path)
    assert caught.value.path == str(path) and caught.value.line == 10
    with pytest.raises(huntlab.DataFormatError) as from_pandas:
        huntlab.read_events(path)
    assert str(caught.value) == str(from_pandas.value)

    pandas_report = ReadReport()
    pandas_frame = huntlab.read_events(
        path, errors="skip", rejects=tmp_path / "pandas.jsonl", report=pandas_report
    )
    report = ReadReport()
    rejects = tmp_path / "spark.jsonl"
    frame = hspark.read_events(spark, path, errors="skip", rejects=rejects, report=report)
    assert (report.read, report.kept, report.rejected) == (6383, 6381, 2)
    assert report.rejects_path == rejects
    entries = _rejects(rejects)
    assert [e["line"] for e in entries] == [10, 100]
    assert entries[1]["raw"] == "not json at all"
    assert entries == _rejects(tmp_path / "pandas.jsonl")
    assert frame.count() == report.kept == pandas_report.kept
    _assert_same_table(pandas_frame, frame)


def test_spark_plain_file_non_objects_with_a_known_schema(
    spark: SparkSession, datasets_dir: Path, tmp_path: Path
) -> None:
    """JSON that is not an object (Spark alone would read an array of objects as rows), a
    first line that is not JSON, and a file in no known format: rejected as pandas does,
    also when ``schema=`` spares the keys pass."""
    lines = list(raw_lines(datasets_dir / IWBEM_2020))[:300]
    clean = tmp_path / "clean" / "empire_wmi.json"
    clean.parent.mkdir()
    clean.write_bytes(b"".join(lines))
    schema = hspark.event_schema(spark, clean)

    folder = tmp_path / "bad"
    folder.mkdir()
    broken = list(lines)
    broken[0] = b"garbage first line\n"
    broken[50] = b"[" + lines[50].rstrip(b"\n") + b"]\n"
    broken[60] = b"42\n"
    (folder / "empire_wmi.json").write_bytes(b"".join(broken))
    (folder / "other.jsonl").write_bytes(b'{"alpha": 1}\n{"alpha": 2}\n')

    with pytest.raises(huntlab.DataFormatError) as caught:
        hspark.read_events(spark, folder, schema=schema)
    assert caught.value.line == 1 and "not a JSON object" in str(caught.value)

    pandas_report = ReadReport()
    pandas_frame = huntlab.read_events(
        folder, errors="skip", rejects=tmp_path / "pandas.jsonl", report=pandas_report
    )
    report = ReadReport()
    rejects = tmp_path / "spark.jsonl"
    frame = hspark.read_events(
        spark, folder, errors="skip", rejects=rejects, report=report, schema=schema
    )
    assert (report.read, report.kept, report.rejected) == (302, 297, 5)
    assert (pandas_report.read, pandas_report.kept, pandas_report.rejected) == (302, 297, 5)
    assert sorted((e["file"], e["line"], e["reason"]) for e in _rejects(rejects)) == sorted(
        (e["file"], e["line"], e["reason"]) for e in _rejects(tmp_path / "pandas.jsonl")
    )
    assert report.files == pandas_report.files
    _assert_same_table(pandas_frame, frame)
