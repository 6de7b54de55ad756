"""SigmaHQ's regression cases in the Spark and Elasticsearch engines: each rule matches
``match_count`` events of its own sample (the same count as in test_sigma_regression.py, which
checks the pandas engine), from the .evtx and from evtx_dump's .json, and the same records
as pandas.

All samples are read at once (Spark: one table of every sample; Elasticsearch: every sample
loaded in indexes of their own, each its own dataset), and every rule runs once on the whole:
a rule's hits in its own sample are unaffected by the other samples."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pytest
import yaml

import huntlab
from huntlab.detect.rules import RuleSet, load_rules
from huntlab.detect.run import detect
from huntlab.settings import Settings
from tests.integration.detect.test_sigma_regression import UPSTREAM_COUNT_DISPUTED

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

PREFIX = "huntlab-regression"  # indexes of their own, under the lab's templates


@dataclass(frozen=True)
class Case:
    name: str  # the sample's dataset name, without its suffix letter
    rule_id: str
    expected: int


@dataclass(frozen=True)
class Cases:
    cases: list[Case]
    folder: Path  # every sample, as NAME-e.evtx and NAME-j.json
    rules: RuleSet
    pandas: dict[str, list[int]]  # dataset -> records pandas matches
    hits: pd.DataFrame  # every hit of pandas on every sample (each its own dataset)


def _records(hits: pd.DataFrame, dataset: str, rule_id: str) -> list[int]:
    if not len(hits):
        return []
    mine = hits[(hits["Dataset"] == dataset) & (hits["rule_id"] == rule_id)]
    return sorted(mine["RecordNumber"].astype(int))


@pytest.fixture(scope="module")
def cases(sigma_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Cases:
    ruleset = load_rules(
        [sigma_dir / f for f in ("rules", "rules-threat-hunting", "rules-emerging-threats")]
    )
    by_id = {r.info.id: r for r in ruleset.rules}
    folder = tmp_path_factory.mktemp("regression-samples")
    found: list[Case] = []
    for n, info_file in enumerate(sorted((sigma_dir / "regression_data").rglob("info.yml"))):
        info = yaml.safe_load(info_file.read_text(encoding="utf-8"))
        tests = [t for t in info.get("regression_tests_info") or [] if t.get("type") == "evtx"]
        if not tests:
            continue
        rule_id = info["rule_metadata"][0]["id"]
        expected = int(tests[0].get("match_count", 1))
        expected = UPSTREAM_COUNT_DISPUTED.get(rule_id, (expected, ""))[0]
        name = f"case{n:03d}"
        for suffix, letter in ((".evtx", "e"), (".json", "j")):
            [sample] = info_file.parent.glob(f"*{suffix}")
            (folder / f"{name}-{letter}{suffix}").symlink_to(sample)
        found.append(Case(name, rule_id, expected))
    assert len(found) == 125
    rules = RuleSet([by_id[c.rule_id] for c in found])
    events = huntlab.read_events(folder, progress=False)
    hits = detect(events, rules, progress=False).hits
    pandas_side = {
        f"{c.name}-{x}": _records(hits, f"{c.name}-{x}", c.rule_id) for c in found for x in "ej"
    }
    return Cases(found, folder, rules, pandas_side, hits)


def _check(cases: Cases, hits: pd.DataFrame, engine: str) -> None:
    """Each case's count and records, from the .evtx and the .json, as in pandas."""
    problems = []
    for case in cases.cases:
        for x in "ej":
            dataset = f"{case.name}-{x}"
            got = _records(hits, dataset, case.rule_id)
            want = cases.pandas[dataset]
            if len(got) != case.expected or got != want:
                problems.append(
                    f"{dataset} (rule {case.rule_id}): expected {case.expected}, {engine} "
                    f"matched records {got}, pandas {want}"
                )
    assert not problems, "\n".join(problems)


def test_regression_cases_in_the_pandas_engine_read_together(cases: Cases) -> None:
    """The union read gives each sample's count (the premise of the two tests below)."""
    wrong = [
        f"{c.name}-{x}: {len(cases.pandas[f'{c.name}-{x}'])}, expected {c.expected}"
        for c in cases.cases for x in "ej"
        if len(cases.pandas[f"{c.name}-{x}"]) != c.expected
    ]  # fmt: skip
    assert not wrong, wrong


def test_regression_cases_in_spark(cases: Cases, spark: SparkSession) -> None:
    """Spark matches the same (rule, event) pairs as pandas on the same samples, so each case
    gets its count there too (checked per case in pandas above). The samples are read as one
    dataset here: Spark's reader makes one DataFrame per (format, dataset), and a union of 250
    of them costs minutes of planning for one table of 288 events."""
    from huntlab.spark import read_events

    result = detect(read_events(spark, cases.folder, dataset="regression"), cases.rules)
    assert not result.unsupported, result.unsupported
    events = huntlab.read_events(cases.folder, dataset="regression", progress=False)
    pandas_side = detect(events, cases.rules, progress=False).hits

    def pairs(hits: pd.DataFrame) -> Counter[tuple[str, ...]]:
        keys = ["rule_id", "Hostname", "Channel", "EventID", "RecordNumber", "@timestamp"]
        return Counter(tuple(str(v) for v in row) for row in hits[keys].itertuples(index=False))

    spark_pairs, pandas_pairs = pairs(result.hits), pairs(pandas_side)
    # Read as one dataset, the samples give pandas the hits they give read one by one.
    assert pandas_pairs == pairs(cases.hits) and sum(pandas_pairs.values()) > 250
    assert spark_pairs == pandas_pairs, (spark_pairs - pandas_pairs, pandas_pairs - spark_pairs)


def test_regression_cases_in_elasticsearch(cases: Cases, es_settings: Settings) -> None:
    from huntlab.es.client import client
    from huntlab.es.indices import indexes
    from huntlab.es.loader import load

    report = load(cases.folder, es_settings, index_prefix=PREFIX, progress=False)
    try:
        assert not report.rejects
        result = detect(f"{PREFIX}-*", cases.rules, progress=False, settings=es_settings)
        # Every rule runs: a leaf Elasticsearch cannot evaluate (Painless on the lab's native
        # node, a regex Lucene will not build) relaxes the search to candidates, which the
        # pandas engine evaluates; the summary says so.
        assert not result.unsupported, result.unsupported
        _check(cases, result.hits, "elasticsearch")
        notes = result.summary["note"]
        relaxed = int(notes.str.contains("evaluated by the pandas engine").sum())
        assert relaxed >= 3, result.summary[["title", "note"]]
        print(f"\nelasticsearch: all {len(cases.cases)} cases, {relaxed} through candidates")
    finally:
        names = ",".join(indexes(PREFIX))
        client(es_settings).indices.delete(index=names, ignore_unavailable=True)
