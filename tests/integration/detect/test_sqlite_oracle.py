"""An independent oracle for the regression cases: Zircolite's method (the evtx_dump JSON
flattened into SQLite, each rule as the SQL of pySigma's SQLite backend) must match the same
events as huntlab's engine, case by case, record by record."""

from __future__ import annotations

from pathlib import Path

import yaml

import huntlab
from huntlab.detect.rules import RuleSet, load_rules
from huntlab.detect.run import detect
from tests.support.detect import zircolite


def test_regression_cases_match_the_same_events_as_the_sqlite_backend(sigma_dir: Path) -> None:
    ruleset = load_rules(
        [sigma_dir / f for f in ("rules", "rules-threat-hunting", "rules-emerging-threats")]
    )
    by_id = {r.info.id: r for r in ruleset.rules}
    compared = 0
    differ: list[str] = []
    for info_file in sorted((sigma_dir / "regression_data").rglob("info.yml")):
        info = yaml.safe_load(info_file.read_text(encoding="utf-8"))
        if not any(t.get("type") == "evtx" for t in info.get("regression_tests_info") or []):
            continue
        rule = by_id[info["rule_metadata"][0]["id"]]
        sql = zircolite.sql_rule(Path(rule.info.path))
        assert sql is not None, f"{rule.info.path}: the SQLite backend has no SQL for it"
        [sample] = info_file.parent.glob("*.json")
        rows = [zircolite.flatten(r) for r in zircolite.evtx_dump_records(sample)]
        oracle = sorted(
            int(rows[i]["EventRecordID"])
            for i in zircolite.matching_rows(zircolite.database(rows), sql)
        )
        hits = detect(huntlab.read_events(sample, progress=False), RuleSet([rule]), progress=False)
        ours = sorted(hits.hits["RecordNumber"].astype(int)) if len(hits.hits) else []
        compared += 1
        if ours != oracle:
            differ.append(f"{info_file.parent.name}: huntlab {ours}, SQLite {oracle}")
    assert compared == 125
    assert not differ, "\n".join(differ)
