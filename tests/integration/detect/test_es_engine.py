"""The Elasticsearch engine means what the pandas engine means: SigmaHQ Windows rules on the
shared recordings loaded in a real node give the same hits, event by event (an event's
document id is its dataset and position: huntlab.es.loader.doc_id), and a rule with a leaf
Elasticsearch cannot evaluate searches for candidates the pandas engine evaluates, and says so.

The rules compared: every rule that has a hit in pandas on a recording, and every eighth of the
others (a search costs Elasticsearch tens of milliseconds per rule on a small node)."""

from __future__ import annotations

from pathlib import Path

import pytest

import huntlab
from huntlab.detect.rules import RuleSet, load_rules
from huntlab.detect.run import detect
from huntlab.es.loader import doc_id
from huntlab.settings import Settings
from tests.support.fixtures.elasticsearch import Loaded


@pytest.fixture(scope="module")
def windows_rules(sigma_dir: Path) -> RuleSet:
    return load_rules([sigma_dir / "rules" / "windows"])


def test_windows_rules_give_the_same_hits_in_elasticsearch_and_pandas(
    es_loaded_reports: Loaded, es_loaded: Settings, windows_rules: RuleSet
) -> None:
    assert len(windows_rules.rules) > 2000
    differ: list[str] = []
    compared = hits_seen = 0
    for dataset, source in es_loaded_reports.sources.items():
        events = huntlab.read_events(source, progress=False)
        pandas_side = detect(events, windows_rules, progress=False)
        hit = set(pandas_side.hits["rule_id"]) if len(pandas_side.hits) else set()
        chosen = RuleSet([r for i, r in enumerate(windows_rules.rules)
                          if r.info.id in hit or i % 8 == 0], [])  # fmt: skip
        assert len(hit) >= 10, hit
        es_side = detect(
            "huntlab", chosen, progress=False, settings=es_loaded,
            where={"term": {"Dataset": dataset}},
        )  # fmt: skip
        # Every rule runs: a leaf Elasticsearch cannot evaluate (Painless-only leaves on the
        # lab's node, regex anchors Lucene lacks, automata it will not build) relaxes the
        # search to candidates, evaluated by the pandas engine, and the summary says why.
        assert not es_side.unsupported, es_side.unsupported
        notes = es_side.summary.set_index("rule_id")["note"]
        relaxed = notes[notes.str.contains("evaluated by the pandas engine")]
        known = ("needs Painless", "Lucene has", "Determinizing", "max_regex_length")
        assert all(any(w in n for w in known) for n in relaxed), relaxed
        es_ids = (
            es_side.hits.groupby("rule_id")["event_id"].apply(set).to_dict()
            if len(es_side.hits) else {}
        )  # fmt: skip
        for rule in chosen.rules:
            rows = pandas_side.rows.get(rule.info.id or rule.info.path)
            want = {doc_id(dataset, int(i)) for i in rows} if rows is not None else set()
            got = es_ids.get(rule.info.id, set())
            compared += 1
            hits_seen += len(want)
            if want != got:
                differ.append(
                    f"{dataset}: {rule.info.title} ({rule.info.id}): pandas {len(want)}, "
                    f"elasticsearch {len(got)}"
                )
        print(f"\n{dataset}: {len(relaxed)} rules through candidates evaluated in pandas")
    assert hits_seen > 0
    print(f"compared {compared} rule runs, {hits_seen} hits")
    assert not differ, "\n".join(differ)


def test_huntlab_detect_on_elasticsearch_from_the_shell(
    es_loaded_reports: Loaded, es_loaded: Settings, sigma_dir: Path
) -> None:
    import json
    import os

    from tests.support.cli import run_huntlab

    env = {k: v for k, v in os.environ.items() if not k.startswith("HUNTLAB_")}
    rules = str(sigma_dir / "rules" / "windows")
    dataset = "empire_invoke_wmi"
    common = ["detect", rules, "--tag", "attack.t1047", "--format", "json"]
    on_file = run_huntlab(*common, str(es_loaded_reports.sources[dataset]), env=env)
    assert on_file.returncode == 0, on_file.stderr
    on_es = run_huntlab(*common, "--engine", "elasticsearch", "--dataset", dataset,
                        "--es-url", es_loaded.es_url, env=env)  # fmt: skip
    assert on_es.returncode == 0, on_es.stderr
    assert "rules on Elasticsearch (huntlab)" in on_es.stderr
    file_hits = json.loads(on_file.stdout)["hits"]
    es_hits = json.loads(on_es.stdout)["hits"]
    assert file_hits, "no WMI rule fired on the WMI recording"
    want = sorted(doc_id(dataset, h["event"]) for h in file_hits)
    assert sorted(h["event_id"] for h in es_hits) == want
    assert {h["title"] for h in es_hits} == {h["title"] for h in file_hits}
    # A dataset the indexes do not hold is an error naming those they do, not "0 hits".
    missing = run_huntlab(*common, "--engine", "elasticsearch", "--dataset", "EMPIRE_INVOKE_WMI",
                          "--es-url", es_loaded.es_url, env=env)  # fmt: skip
    assert missing.returncode == 1, missing.stderr
    assert "no event in 'huntlab' matches" in missing.stderr and dataset in missing.stderr
    # Without the dataset filter on a file SOURCE: one usage line.
    wrong = run_huntlab(*common, "--dataset", dataset, "x.json", env=env)
    assert wrong.returncode == 2 and "--engine elasticsearch" in wrong.stderr
