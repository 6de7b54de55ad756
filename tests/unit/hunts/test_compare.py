"""huntlab.hunts.check's comparison (values, rows, failures) and huntlab.hunts.load.run_sql:
statements, the scoped parser setting, and the backslashes of the sample hunts' SQL, run on a
real Spark against rows that hold the paths the hunts look for."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest

from huntlab.errors import HuntlabError
from huntlab.hunts.check import (
    Table,
    compare,
    normalise,
    pandas_table,
    reason,
    run_pandas,
    spark_table_rows,
)
from huntlab.hunts.load import ESCAPED_LITERALS, rewrite_sql, run_sql, split_statements
from tests.conftest import shared_dir

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# --- values ------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, math.nan, np.nan, pd.NaT, pd.NA, np.float64("nan")])
def test_missing_values_are_null(value: object) -> None:
    assert normalise(value) is None


def test_numbers_booleans_and_text() -> None:
    assert normalise(np.int64(4624)) == 4624
    assert normalise(3.0) == 3
    assert normalise(np.float64(3.0)) == 3
    assert normalise(2.5) == "2.5"
    assert normalise(True) == "true"
    assert normalise(np.bool_(False)) == "false"
    # Text stays text: the playbook's pd.read_json makes numbers of digit-only text, huntlab's
    # type rule decides for itself, and the check reports where they part.
    assert normalise("3") == "3"
    assert normalise("3") != normalise(3)
    assert normalise({"a": [1, "é"]}) == '{"a":[1,"é"]}'


def test_times_are_utc_instants_whatever_their_form() -> None:
    instant = "2020-09-20T16:16:58.214000Z"
    assert normalise("2020-09-20T16:16:58.214Z") == instant  # the playbook's @timestamp text
    assert normalise(pd.Timestamp("2020-09-20 16:16:58.214", tz="UTC")) == instant  # huntlab's
    eastern = timezone(timedelta(hours=-4))
    assert normalise(datetime(2020, 9, 20, 12, 16, 58, 214000, tzinfo=eastern)) == instant
    assert normalise(datetime(2020, 9, 20, 16, 16, 58, 214000)) == instant  # no zone: UTC
    assert normalise("2020-09-20T12:16:58.214-04:00") == instant
    # Text that is not a zoned ISO time stays text (Sysmon's UtcTime, TimeCreated).
    assert normalise("2020-09-20 16:16:58.214") == "2020-09-20 16:16:58.214"


# --- rows --------------------------------------------------------------------------------------


def test_rows_compare_as_multisets_over_their_columns() -> None:
    playbook = pandas_table(pd.DataFrame({"a": [1, 1, 2], "b": ["x", "x", "y"]}))
    huntlab = pandas_table(pd.DataFrame({"b": ["y", "x", "x"], "a": [2.0, 1.0, 1.0]}))
    assert compare(playbook, huntlab) == (True, "")

    once = pandas_table(pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}))
    same, why = compare(playbook, once)
    assert not same
    assert why == "1 rows only the playbook's way"


def test_differences_name_columns_and_values() -> None:
    playbook = pandas_table(pd.DataFrame({"LogonType": [3], "Host": ["a"]}))
    text = pandas_table(pd.DataFrame({"LogonType": ["3"], "Host": ["a"]}))
    assert compare(playbook, text) == (
        True,
        "the same values; type only: LogonType (numbers the playbook's way, text huntlab's)",
    )
    other = pandas_table(pd.DataFrame({"LogonType": [10], "Host": ["a"]}))
    assert compare(playbook, other) == (
        False,
        "1 rows only the playbook's way; 1 rows only huntlab's way; values differ in LogonType",
    )
    fewer = pandas_table(pd.DataFrame({"Host": ["a"]}))
    assert compare(playbook, fewer) == (False, "columns missing under huntlab: LogonType")
    assert compare(fewer, playbook) == (False, "extra columns under huntlab: LogonType")


def test_series_and_values_are_tables_too() -> None:
    assert pandas_table(pd.Series([1, 2], name="n")).columns == ["n"]
    table = pandas_table(7)
    assert (table.columns, table.rows, table.count) == (["value"], [(7,)], 1)
    big = Table(["a"], None, 10)
    assert compare(big, Table(["a"], None, 10)) == (
        True,
        "over 200000 rows: compared by count only",
    )


def test_pandas_cell_result_is_its_last_expression() -> None:
    df = pd.DataFrame({"EventID": [1, 4624], "Image": ["a", "b"]})
    code = "x = df[df['EventID'] == 1]\nx['New'] = 1\n(\nx[['Image']]\n)"
    result = run_pandas(code, df)
    assert result.to_dict("list") == {"Image": ["a"]}
    assert run_pandas("df['Added'] = 2", df) is None  # ends with a statement: shows nothing
    assert list(df.columns) == ["EventID", "Image"]  # the cell's df is not the caller's
    with pytest.raises(KeyError):
        run_pandas("df['LogonID']", df)


def test_reasons_are_one_line() -> None:
    assert reason(KeyError("LogonID")) == "KeyError: 'LogonID'"
    assert reason(ValueError("bad\nsecond line")) == "ValueError: bad"
    assert reason(RuntimeError()) == "RuntimeError"


# --- splitting and reading literals (no Spark) -------------------------------------------------


def test_statements_split_outside_quotes_and_comments() -> None:
    text = "SET a=b; -- one; two\nSELECT ';' AS s ;\n/* ; */ ; SELECT \"x;y\"\n"
    assert split_statements(text) == ["SET a=b", "-- one; two\nSELECT ';' AS s", 'SELECT "x;y"']
    assert split_statements(" ;\n-- nothing\n") == []


def test_literals_spark_reads_as_meant_are_left_as_written() -> None:
    plain = "SELECT * FROM dataTable WHERE Channel = 'Security' AND x LIKE '%$'"
    assert rewrite_sql(plain) == (plain, [])
    # Spark reads \\\w as \w: the path the hunt means, so nothing to change (200902).
    path = r"SELECT 1 WHERE LOWER(ImageLoaded) IN ('c:\\\windows\\\system32\\\wshom.ocx')"
    assert rewrite_sql(path) == (path, [])


# --- run_sql on Spark --------------------------------------------------------------------------

# Rows holding what the sample hunts look for, as a Windows event holds it.
ROWS = {
    "pipe": r"\PSHost.132444128883419612.3748.DefaultAppDomain.powershell",
    "lsa": r"\REGISTRY\MACHINE\SYSTEM\ControlSet001\Control\Lsa\MSV1_0",
    "mic": r"HKU\S-1-5-21\Software\Microsoft\Windows\CurrentVersion\CapabilityAccessManager"
    r"\ConsentStore\microphone\NonPackaged",
    "iertutil": r"Program Files\Internet Explorer\iertutil.dll",
    "dump": r"C:\Users\pgustavo\AppData\Local\Temp\lsass.DMP",
    "vbscript": r"C:\Windows\System32\vbscript.dll",
}

# (hunt, the column, the test as the hunt writes it, the rows it means, what plain spark.sql
# makes of it: "fails" or the rows it finds)
CASES = [
    ("190610-PwshAlternateHosts", "lower(Value)", r'LIKE "\\\pshost%"', {"pipe"}, "fails"),
    ("191224-RegModExtendedNetNTLMDowngrade", "Value", r'LIKE "%Lsa\MSV1_0"', {"lsa"}, set()),
    (
        "200609-MicrophoneDvcAccess",
        "LOWER(Value)",
        r"RLIKE '.*consentstore\\\\\\\microphone.*'",
        {"mic"},
        "fails",
    ),
    (
        "201009-RemoteDCOMIErtUtilDLLHijack",
        "Value",
        r"LIKE '%Internet Explorer\\\iertutil.dll'",
        {"iertutil"},
        "fails",
    ),
    (
        "191030-RemoteInteractiveTaskMgrLsassDump",
        "lower(Value)",
        r'RLIKE ".*lsass.*\.dmp"',
        {"dump"},
        {"dump"},
    ),
    (
        "200902-RemoteWMIActiveScriptEventConsumers",
        "LOWER(Value)",
        r"IN ('c:\\\windows\\\system32\\\\vbscript.dll')",
        {"vbscript"},
        set(),
    ),
]


@pytest.fixture
def paths(spark: SparkSession) -> SparkSession:
    frame = spark.createDataFrame(list(ROWS.items()), "Name string, Value string")
    frame.createOrReplaceTempView("dataTable")
    return spark


def _names(spark: SparkSession, where: str, *, plain: bool = False) -> set[str]:
    sql = f"SELECT Name FROM dataTable WHERE {where}"
    frame = spark.sql(sql) if plain else run_sql(spark, sql, notes=None)
    return {row.Name for row in frame.collect()}


@pytest.mark.parametrize(
    ("hunt", "column", "test", "meant", "plain"), CASES, ids=[c[0] for c in CASES]
)
def test_backslashes_of_the_sample_hunts(
    paths: SparkSession, hunt: str, column: str, test: str, meant: set[str], plain: object
) -> None:
    """Each test is the hunt's own text. Where plain spark.sql refuses it, run_sql finds the
    rows the hunt's pandas twin means (a backslash path separator); where Spark runs it,
    run_sql runs it as written and finds what Spark finds (the playbook's own answer in
    HELK, even where its pandas twin means otherwise)."""
    notebook = shared_dir() / "threathunter-playbook" / "hunts" / hunt / "notebook.md"
    written = test.removeprefix("IN (").removesuffix(")")
    assert written in notebook.read_text(encoding="utf-8")
    where = f"{column} {test}"
    assert _names(paths, where) == (meant if plain == "fails" else plain)
    if plain == "fails":
        with pytest.raises(Exception) as failure:
            _names(paths, where, plain=True)
        assert reason(failure.value).startswith(
            ("AnalysisException INVALID_FORMAT", "PatternSyntaxException")
        )
    else:
        assert _names(paths, where, plain=True) == plain


def test_split_on_a_lone_backslash(paths: SparkSession) -> None:
    """201009's SPLIT(x, '\\'): Spark cannot even parse it; run_sql splits on a backslash."""
    sql = r"SELECT LOWER(REVERSE(SPLIT(Value, '\'))[0]) AS f FROM dataTable WHERE Name = 'iertutil'"
    assert [r.f for r in run_sql(paths, sql, notes=None).collect()] == ["iertutil.dll"]
    with pytest.raises(Exception) as failure:
        paths.sql(sql)
    assert reason(failure.value).startswith("ParseException")


def test_rewrites_are_told(paths: SparkSession) -> None:
    told: list[str] = []
    run_sql(paths, r"SELECT 1 WHERE 'a' LIKE '%Internet Explorer\\\iertutil.dll'", notes=told.append)
    assert told == [
        r"huntlab: read '%Internet Explorer\\\iertutil.dll' as '%Internet Explorer\\\\iertutil.dll' "
        "(backslashes as Windows path separators, as the playbook means them)"
    ]
    run_sql(paths, "SELECT 1 WHERE 'a' LIKE '%a'", notes=told.append)
    run_sql(paths, r'SELECT 1 WHERE "a" LIKE "%Lsa\MSV1_0"', notes=told.append)
    assert len(told) == 1  # Spark runs those as written: nothing changed, nothing said


def test_statements_run_in_turn_the_last_one_returned(spark: SparkSession) -> None:
    block = (
        "CREATE OR REPLACE TEMP VIEW huntlab_steps AS SELECT 'a;b' AS s, 1 AS n;\n"
        "-- a comment; with a semicolon\n"
        "SELECT s, n + 1 AS m FROM huntlab_steps;\n"
    )
    assert [tuple(r) for r in run_sql(spark, block, notes=None).collect()] == [("a;b", 2)]
    with pytest.raises(HuntlabError, match="no SQL statement"):
        run_sql(spark, " ; -- nothing\n", notes=None)


@pytest.mark.parametrize("setting", ["true", "false"])
def test_parser_setting_is_scoped_to_the_call(paths: SparkSession, setting: str) -> None:
    paths.conf.set(ESCAPED_LITERALS, setting)
    try:
        iertutil = r"Value LIKE '%Internet Explorer\\\iertutil.dll'"
        assert _names(paths, iertutil) == {"iertutil"}  # the same either way
        assert paths.conf.get(ESCAPED_LITERALS) == setting
        with pytest.raises(Exception, match="TABLE_OR_VIEW_NOT_FOUND"):
            run_sql(paths, "SELECT 1; SELECT * FROM huntlab_no_such_view", notes=None)
        assert paths.conf.get(ESCAPED_LITERALS) == setting  # restored after a failure too
    finally:
        paths.conf.set(ESCAPED_LITERALS, "false")


def test_spark_times_are_instants_whatever_the_zones(spark: SparkSession) -> None:
    frame = spark.sql("SELECT TIMESTAMP '2020-09-20 16:16:58.214 UTC' AS t, 'x' AS S")
    table = spark_table_rows(frame)
    assert table.columns == ["t", "s"]  # Spark SQL names compare lower-cased
    assert table.rows == [("2020-09-20T16:16:58.214000Z", "x")]
    assert normalise(datetime(2020, 9, 20, 16, 16, 58, 214000, tzinfo=UTC)) == table.rows[0][0]


def test_names_differing_only_in_case_become_one_column(spark: SparkSession) -> None:
    """Sysmon's SourceProcessGuid (event 8) and SourceProcessGUID (event 10): Spark SQL can
    query neither while both are there; the view holds one, the first non-null value."""
    from huntlab.hunts.load import one_column_per_name

    frame = spark.createDataFrame(
        [(8, "{a}", None), (10, None, "{b}"), (1, None, None)],
        "EventID int, SourceProcessGuid string, SourceProcessGUID string",
    )
    merged, groups = one_column_per_name(frame)
    assert groups == [["SourceProcessGuid", "SourceProcessGUID"]]
    assert merged.columns == ["EventID", "SourceProcessGuid"]
    merged.createOrReplaceTempView("huntlab_cases")
    rows = spark.sql("SELECT EventID, sourceprocessguid AS g FROM huntlab_cases").collect()
    assert sorted((r.EventID, r.g) for r in rows) == [(1, None), (8, "{a}"), (10, "{b}")]
    assert one_column_per_name(merged) == (merged, [])
