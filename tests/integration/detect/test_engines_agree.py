"""The three engines agree on the five shared Windows recordings (WMI lateral movement, a VBS
launcher, a UAC bypass, LSASS dumping), every SigmaHQ Windows rule, event by event: pandas runs
them all; Spark and Elasticsearch run every rule that fires in pandas and a sample of the
others (every 16th: a rule costs Spark and Elasticsearch tens of milliseconds each on this
machine, whatever it matches; HUNTLAB_TEST_ALL_RULES=1 runs every rule in every engine). The
rules --check lists are the ETW-only ones, with why."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pytest

import huntlab
from huntlab.detect.rules import RuleSet, load_rules
from huntlab.detect.run import detect
from huntlab.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

RECORDINGS = [
    "windows/empire_invoke_wmi/empire_invoke_wmi.tar.gz",
    "windows/empire_wmi_dcerpc_wmi_IWbemServices_ExecMethod/host/"
    "empire_wmi_dcerpc_wmi_IWbemServices_ExecMethod.zip",
    "windows/empire_launcher_vbs/empire_launcher_vbs.zip",
    "windows/empire_uac_shellapi_fodhelper/empire_uac_shellapi_fodhelper.zip",
    "windows/psh_lsass_memory_dump_comsvcs/psh_lsass_memory_dump_comsvcs.zip",
]
PREFIX = "huntlab-agree"  # indexes of their own, under the lab's templates
KEYS = ["rule_id", "Dataset", "Hostname", "Channel", "EventID", "RecordNumber", "@timestamp"]


def _pairs(hits: pd.DataFrame) -> Counter[tuple[str, ...]]:
    """(rule, event) pairs; an event is named by what identifies it in every engine."""
    rows = hits[KEYS].itertuples(index=False)
    return Counter(tuple(str(v) for v in row) for row in rows)


@pytest.fixture(scope="module")
def recordings(datasets_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("recordings")
    for rel in RECORDINGS:
        (folder / Path(rel).name).symlink_to(datasets_dir / rel)
    return folder


@pytest.fixture(scope="module")
def pandas_side(recordings: Path, sigma_dir: Path) -> tuple[RuleSet, pd.DataFrame, RuleSet]:
    """Every Windows rule in pandas, and the rules the other engines run."""
    rules = load_rules(sigma_dir / "rules" / "windows")
    # --check's list: only rules whose events no event log channel holds (ETW providers).
    reasons = {s.info.category: s.reason for s in rules.unsupported}
    assert set(reasons) <= {"file_access", "file_rename"} and len(rules.unsupported) <= 8, reasons
    assert all("ETW" in r for r in reasons.values()), reasons
    events = huntlab.read_events(recordings, progress=False)
    assert events["Dataset"].nunique() == len(RECORDINGS)
    hits = detect(events, rules, progress=False).hits
    fired = set(hits["rule_id"])
    assert len(fired) >= 30, fired
    every = 1 if os.environ.get("HUNTLAB_TEST_ALL_RULES") == "1" else 16
    chosen = RuleSet([r for i, r in enumerate(rules.rules) if r.info.id in fired or i % every == 0])
    return rules, hits, chosen


def test_spark_gives_the_hits_of_pandas(
    recordings: Path, pandas_side: tuple[RuleSet, pd.DataFrame, RuleSet], spark: SparkSession
) -> None:
    from huntlab.spark import read_events

    _, hits, chosen = pandas_side
    result = detect(read_events(spark, recordings), chosen)
    assert not result.unsupported, result.unsupported
    want = _pairs(hits[hits["rule_id"].isin({r.info.id for r in chosen.rules})])
    got = _pairs(result.hits)
    assert got == want, (got - want, want - got)
    print(f"\nspark: {len(chosen.rules)} rules, {sum(want.values())} hits, all the same")


def test_elasticsearch_gives_the_hits_of_pandas(
    recordings: Path, pandas_side: tuple[RuleSet, pd.DataFrame, RuleSet], es_settings: Settings
) -> None:
    from huntlab.es.client import client
    from huntlab.es.indices import indexes
    from huntlab.es.loader import load

    _, hits, chosen = pandas_side
    report = load(recordings, es_settings, index_prefix=PREFIX, progress=False)
    try:
        assert not report.rejects
        result = detect(f"{PREFIX}-*", chosen, progress=False, settings=es_settings)
        assert not result.unsupported, result.unsupported
        ran = {r.info.id for r in chosen.rules}
        want = _pairs(hits[hits["rule_id"].isin(ran)])
        got = _pairs(result.hits)
        assert got == want, (got - want, want - got)
        print(f"\nelasticsearch: {len(ran)} rules, {sum(want.values())} hits, all the same")
    finally:
        names = ",".join(indexes(PREFIX))
        client(es_settings).indices.delete(index=names, ignore_unavailable=True)
