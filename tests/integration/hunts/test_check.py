"""The playbook's analytics give the same rows on huntlab's tables as the playbook's own way
(pd.read_json / spark.read.json of the recording), for all 17 sample hunts, pandas and Spark:
``huntlab.hunts.check`` run once over ../shared/threathunter-playbook, read in place."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from huntlab.errors import HuntlabError
from huntlab.hunts.check import Outcome, check, compare, spark_table_rows, summary
from huntlab.hunts.load import run_sql, spark_table
from huntlab.hunts.playbook import find_hunts
from tests.conftest import DATASET_ENV
from tests.integration.hunts.conftest import playbook_root
from tests.support.cli import run_huntlab

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from tests.support.fixtures.elasticsearch import Loaded

# Analytics that run the playbook's way but give other rows under huntlab, and why. Shrink it
# as huntlab's tables come closer to what the playbook expects; the test fails on any entry
# that no longer differs, and on any difference not listed.
KNOWN_DIFFERENCES: dict[tuple[str, str, str], str] = {}

# How many analytics run the playbook's way at all, per engine: the other ones fail there
# (the playbook's pandas code has a syntax error or a missing column; spark.read.json refuses
# recordings with fields that differ only in case, COLUMN_ALREADY_EXISTS; Spark rejects the
# SQL's backslashes). These depend on the playbook and its recordings only, not on huntlab.
PLAYBOOK_RUNS = {"pandas": 44, "spark": 24}
HUNTS = 17
ANALYTICS = 47


@pytest.fixture(scope="module")
def outcomes(spark: SparkSession, recordings: dict[str, str]) -> list[Outcome]:
    hunts = find_hunts(playbook_root() / "hunts")
    assert len(hunts) == HUNTS
    return check(hunts, spark=spark)


def _key(outcome: Outcome) -> tuple[str, str, str]:
    return (outcome.hunt, outcome.analytic, outcome.engine)


def test_every_analytic_is_checked_on_both_engines(outcomes: list[Outcome]) -> None:
    assert len(outcomes) == 2 * ANALYTICS
    assert {o.engine for o in outcomes} == {"pandas", "spark"}
    assert all(o.source for o in outcomes)
    counts = summary(outcomes)
    assert {engine: c["playbook_runs"] for engine, c in counts.items()} == PLAYBOOK_RUNS


def test_same_rows_under_huntlab_except_the_known_differences(outcomes: list[Outcome]) -> None:
    differing = {_key(o): o for o in outcomes if o.same is False}
    unexpected = {k: o.why for k, o in differing.items() if k not in KNOWN_DIFFERENCES}
    gone = sorted(k for k in KNOWN_DIFFERENCES if k not in differing)
    assert not unexpected, f"analytics that now differ under huntlab: {unexpected}"
    assert not gone, f"no longer differ (take them off KNOWN_DIFFERENCES): {gone}"


def test_every_sql_analytic_runs_under_run_sql(outcomes: list[Outcome]) -> None:
    failed = {_key(o): o.why for o in outcomes if o.engine == "spark" and o.huntlab_rows is None}
    assert not failed


def test_command_exits_1_on_a_difference(recordings: dict[str, str], tmp_path: Path) -> None:
    """`huntlab hunts check` on a hunt of three analytics: one the same both ways, one that
    cannot be (the table's columns: huntlab adds Dataset), one in Spark SQL, so it prints
    them all and exits 1. With --format jsonl its stdout holds those rows only: the
    Spark driver's own output (Ivy's ":: loading settings ::") goes to stderr."""
    hunt = tmp_path / "hunts" / "000000-Check"
    hunt.mkdir(parents=True)
    link = "https://example.org/covenant_lolbin_wuauclt_createremotethread.zip"
    (hunt / "metadata.yaml").write_text(
        f"title: Check\ndatasets:\n  - dataset: {link}\n", encoding="utf-8"
    )
    (hunt / "notebook.md").write_text(
        "# Check\n\n## Analytics\n\n### Analytic I\n\n#### Pandas Query\n\n"
        "```{code-cell} ipython3\ndf[df['EventID'] == 8][['Hostname', 'TargetImage']]\n```\n\n"
        "### Analytic II\n\n#### Pandas Query\n\n"
        "```{code-cell} ipython3\n'Dataset' in df.columns\n```\n\n"
        "### Analytic III\n\n#### Logic\n\n"
        "```{code-block}\nSELECT Hostname, TargetImage FROM dataTable WHERE EventID = 8\n```\n",
        encoding="utf-8",
    )
    env = {**os.environ, **recordings, "HUNTLAB_HOME": str(tmp_path / "home")}
    for name in DATASET_ENV:
        if name not in recordings:
            env.pop(name, None)
    args = ["hunts", "check", "--from", str(tmp_path / "hunts")]
    # --source json: the notebooks' name for the recording's files, the default
    done = run_huntlab(
        *args, "--format", "jsonl", "--source", "json", "--spark-master", "local[1]", env=env
    )
    assert done.returncode == 1, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(r["analytic"], r["engine"], r["same"]) for r in rows] == [
        ("Analytic I", "pandas", True),
        ("Analytic I", "spark", None),  # no SQL given
        ("Analytic II", "pandas", False),
        ("Analytic II", "spark", None),
        ("Analytic III", "pandas", None),  # no pandas code given
        ("Analytic III", "spark", None),  # the playbook's way cannot read it
    ]
    assert rows[0]["playbook_rows"] == rows[0]["huntlab_rows"] == 1
    # spark.read.json refuses this recording (LogonId and LogonID); huntlab's view reads it.
    assert rows[5]["huntlab_rows"] == 1 and "COLUMN_ALREADY_EXISTS" in rows[5]["why"]
    table = run_huntlab(*args, "--engine", "pandas", env=env)
    assert table.returncode == 1
    assert "HUNT" in table.stdout and "NO" in table.stdout
    assert "1 of them the same under huntlab, 1 not" in table.stderr


def test_the_view_over_elasticsearch_is_the_view_over_the_recording(
    spark: SparkSession, es_loaded_reports: Loaded
) -> None:
    """spark_table(es=...) reads the dataset's events from the lab's index: the same rows for
    the same SQL as the recording read by Spark."""
    settings = es_loaded_reports.settings
    sql = (
        "SELECT `@timestamp`, Hostname, ParentImage, Image, CommandLine FROM dataTable "
        "WHERE Channel = 'Microsoft-Windows-Sysmon/Operational' AND EventID = 1 "
        "AND lower(ParentImage) LIKE '%wmiprvse.exe'"
    )
    files = spark_table(spark, es_loaded_reports.sources["empire_invoke_wmi"], notes=None)
    from_files = spark_table_rows(run_sql(spark, sql, notes=None))
    indexed = spark_table(spark, "empire_invoke_wmi", es=settings, notes=None)
    from_es = spark_table_rows(run_sql(spark, sql, notes=None))
    assert indexed.count() == files.count()
    assert from_es.count > 0
    assert compare(from_files, from_es) == (True, "")
    with pytest.raises(HuntlabError, match="no events of huntlab_no_such_dataset"):
        spark_table(spark, "huntlab_no_such_dataset", es=settings, notes=None)


def test_raw_spellings_of_aliases_are_where_the_recording_had_them(
    recordings: dict[str, str], tmp_path: Path
) -> None:
    """df['LogonID'] (191030's pandas code) holds what pd.read_json puts there: the value on
    the rows whose record spelled it so (Security 4778), null elsewhere (Sysmon's LogonId)."""
    import pandas as pd

    from huntlab.datasets import resolve
    from huntlab.hunts.check import first_json_member
    from huntlab.hunts.load import pandas_frame

    name = "rdp_interactive_taskmanager_lsass_dump"
    df = pandas_frame(name)
    raw = pd.read_json(first_json_member(resolve(name), tmp_path), lines=True)
    assert len(df) == len(raw)
    assert df["LogonID"].notna().sum() == raw["LogonID"].notna().sum() > 0
    assert df["LogonID"].dropna().tolist() == raw["LogonID"].dropna().tolist()
    assert df["LogonId"].notna().sum() > df["LogonID"].notna().sum()  # merged: Sysmon's too
