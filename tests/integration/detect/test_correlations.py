"""Correlation rules mean the same in the three engines: on the shared recordings, pandas,
Spark and Elasticsearch (the recordings loaded in a real node) give the same alerts, window by
window and group by group, and an event_count correlation gives what a plain pandas group-by
of the same events gives."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import yaml

import huntlab
from huntlab.detect.rules import load_rules
from huntlab.detect.run import detect
from tests.support.fixtures.elasticsearch import Loaded

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

SYSMON = "Microsoft-Windows-Sysmon/Operational"


def _base(name: str, category: str, detection: dict[str, Any]) -> dict[str, Any]:
    return {
        "title": f"{name} (correlation input)",
        "name": name,
        "status": "test",
        "level": "informational",
        "logsource": {"product": "windows", "category": category},
        "detection": {"selection": detection, "condition": "selection"},
    }


def _correlation(title: str, kind: str, rules: list[str], **settings: Any) -> dict[str, Any]:
    return {
        "title": title,
        "status": "test",
        "level": "medium",
        "author": "huntlab tests",
        "correlation": {"type": kind, "rules": rules, **settings},
    }


RULES = [
    _base("access", "process_access", {"SourceImage|endswith": ".exe"}),
    _base("connection", "network_connection", {"Image|endswith": ".exe"}),
    _base("registry", "registry_set", {"TargetObject|contains": "\\"}),
    _correlation(
        "process access burst", "event_count", ["access"],
        **{"group-by": ["Computer", "SourceImage"], "timespan": "1m", "condition": {"gte": 5}},
    ),
    _correlation(
        "one image, many destinations", "value_count", ["connection"],
        **{"group-by": ["Image"], "timespan": "5m",
           "condition": {"gte": 2, "field": "DestinationIp"}},
    ),
    _correlation(
        "one process accesses another and connects", "temporal", ["access", "connection"],
        **{"group-by": ["process"], "timespan": "2m",
           "aliases": {"process": {"access": "SourceProcessGUID", "connection": "ProcessGuid"}}},
    ),
    _correlation(
        "registry then access", "temporal_ordered", ["registry", "access"],
        **{"group-by": ["Computer"], "timespan": "1m"},
    ),
]  # fmt: skip
COMPARED = ["title", "window_start", "group", "value", "events", "first", "last"]


def _alerts(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[COMPARED].sort_values(COMPARED[:3], ignore_index=True)


def test_correlations_give_the_same_alerts_in_pandas_spark_and_elasticsearch(
    es_loaded_reports: Loaded, spark: SparkSession, tmp_path: Path
) -> None:
    from huntlab.spark import read_events

    path = tmp_path / "correlations.yml"
    path.write_text(yaml.safe_dump_all(RULES), encoding="utf-8")
    rules = load_rules(path)
    assert not rules.unsupported, rules.unsupported
    assert len(rules.correlations) == 4 and not rules.rules
    fired: set[str] = set()
    for dataset, source in es_loaded_reports.sources.items():
        events = huntlab.read_events(source, progress=False)
        pandas_side = detect(events, rules, progress=False)
        spark_side = detect(read_events(spark, source), rules)
        es_side = detect(
            "huntlab", rules, progress=False, settings=es_loaded_reports.settings,
            where={"term": {"Dataset": dataset}},
        )  # fmt: skip
        assert not spark_side.unsupported and not es_side.unsupported
        expected = _alerts(pandas_side.correlations)
        pd.testing.assert_frame_equal(_alerts(spark_side.correlations), expected, obj="spark")
        pd.testing.assert_frame_equal(_alerts(es_side.correlations), expected, obj="es")
        for side in (spark_side, es_side):
            columns = ["title", "hits", "logsource_events"]
            pd.testing.assert_frame_equal(side.summary[columns], pandas_side.summary[columns])
        fired |= set(expected["title"])

        # The event_count rule, computed without huntlab's detection code.
        access = events[
            (events["Channel"] == SYSMON)
            & (events["EventID"].astype(int) == 10)
            & events["SourceImage"].astype(str).str.lower().str.endswith(".exe")
        ]
        counts = access.groupby(
            [access["@timestamp"].dt.floor("60s"), "Hostname", "SourceImage"], observed=True
        ).size()
        counts = counts[counts >= 5]
        want = sorted(
            (start, f"Computer={host}, SourceImage={image}", n)
            for (start, host, image), n in counts.items()
        )
        burst = expected[expected["title"] == "process access burst"]
        got = sorted(zip(burst["window_start"], burst["group"], burst["value"], strict=True))
        assert got == want, dataset
    # Every kind fires on these recordings (a test that can fail: alerts, not just agreement).
    assert fired == {r["title"] for r in RULES if "correlation" in r}, fired
