"""The Elasticsearch side against a real node: engine, setup, loader, search, CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from huntlab.es import indices
from tests.support.fixtures.elasticsearch import Loaded

WMI_CHILD = "EventID:1 AND ParentImage:*WmiPrvSE.exe"


def _es(settings: Any) -> Any:
    from huntlab.es.client import client

    return client(settings)


def _reader_events(path: Path) -> list[dict[str, Any]]:
    from huntlab.readers import iter_events

    return list(iter_events(path))


def _count(settings: Any, index: str, query: dict[str, Any] | None = None) -> int:
    body = {"query": query} if query else {}
    return int(_es(settings).count(index=index, **body)["count"])


def test_node_answers_status_and_root(es_settings: Any) -> None:
    from huntlab import versions
    from huntlab.lab.native import elasticsearch

    state = elasticsearch.status(es_settings)
    assert state.running and state.pid
    assert state.version == versions.elastic_version()
    assert state.health in ("green", "yellow")
    # GET / (the huntlab-root plugin): what the Spark connector and Logstash ask first.
    info = _es(es_settings).info()
    assert info["version"]["number"] == versions.elastic_version()
    assert info["cluster_name"] == "huntlab"


def test_setup_is_idempotent(es_settings: Any) -> None:
    from huntlab.es.setup import setup

    again = setup(es_settings)
    assert again.created_indexes == []
    assert set(again.component_templates) == {"huntlab-settings", "huntlab-mappings"}
    es = _es(es_settings)
    mapping = es.indices.get_mapping(index=indices.SYSMON_INDEX)[indices.SYSMON_INDEX]
    props = mapping["mappings"]["properties"]
    assert props["@timestamp"]["type"] == "date"
    assert props["EventID"]["type"] == "integer"
    aliases = es.indices.get_alias(name=indices.ALIAS)
    assert set(aliases) == set(indices.ALL_INDEXES)


def test_counts_equal_the_reader(es_loaded_reports: Loaded) -> None:
    settings = es_loaded_reports.settings
    for name, path in es_loaded_reports.sources.items():
        events = _reader_events(path)
        report = es_loaded_reports.reports[name]
        assert report.read == len(events)
        assert report.indexed == len(events) and report.rejected == 0
        assert report.summary() == f"read {len(events)} = indexed {len(events)} + rejected 0"
        in_dataset = {"term": {"Dataset": name}}
        assert _count(settings, indices.ALIAS, in_dataset) == len(events)
        families = Counter(indices.index_for(e.get("Channel")) for e in events)
        for index in indices.ALL_INDEXES:
            assert _count(settings, index, in_dataset) == families.get(index, 0), index


def test_loading_again_changes_nothing(es_loaded_reports: Loaded) -> None:
    from huntlab.es.loader import load

    settings = es_loaded_reports.settings
    before = {index: _count(settings, index) for index in indices.ALL_INDEXES}
    for name, path in es_loaded_reports.sources.items():
        again = load(path, settings, progress=False)
        assert again.indexed == es_loaded_reports.reports[name].indexed
    after = {index: _count(settings, index) for index in indices.ALL_INDEXES}
    assert after == before


def test_wmi_child_query_through_search(es_loaded_reports: Loaded) -> None:
    from huntlab.es import search
    from huntlab.readers import read_events

    settings = es_loaded_reports.settings
    found = search(WMI_CHILD, index=indices.ALIAS, settings=settings)
    assert sorted(found["Dataset"]) == sorted(es_loaded_reports.sources)
    assert str(found["@timestamp"].dtype) == "datetime64[ns, UTC]"
    assert str(found["EventID"].dtype) == "Int64"
    # The row from Elasticsearch is the reader's row, field for field.
    for name, path in es_loaded_reports.sources.items():
        frame = read_events(path)
        expected = frame[
            (frame["EventID"] == 1)
            & frame["ParentImage"].astype("string").str.endswith("WmiPrvSE.exe", na=False)
        ]
        assert len(expected) == 1
        got = found[found["Dataset"] == name].iloc[0]
        want = expected.iloc[0]
        for column in frame.columns:
            if pd.isna(want[column]):
                assert column not in found.columns or pd.isna(got[column]), column
            else:
                assert got[column] == want[column], column


def test_search_returns_the_reader_table(es_loaded_reports: Loaded) -> None:
    """A whole dataset back from Elasticsearch equals the file read by huntlab.read_events."""
    from huntlab.es import search
    from huntlab.readers import read_events

    settings = es_loaded_reports.settings
    name = "empire_invoke_wmi"
    # slices=2 exercises the parallel sliced point-in-time path on a small index.
    got = search(f"Dataset:{name}", index=indices.PATTERN, settings=settings, slices=2)
    want = read_events(es_loaded_reports.sources[name])
    assert set(got.columns) == set(want.columns)
    assert len(got) == len(want)

    def canonical(frame: pd.DataFrame) -> pd.DataFrame:
        text = frame[sorted(frame.columns)].astype("string").fillna("<null>")
        return text.sort_values(list(text.columns)).reset_index(drop=True)

    pd.testing.assert_frame_equal(canonical(got), canonical(want))


def test_search_limit_fields_and_window(es_loaded: Any) -> None:
    from huntlab.es import search

    first = search(
        "EventID:*",
        index=indices.SYSMON_INDEX,
        fields=["@timestamp", "Image"],
        limit=5,
        settings=es_loaded,
    )
    assert list(first.columns) == ["@timestamp", "Image"] and len(first) == 5
    everything = search(None, index=indices.SYSMON_INDEX, settings=es_loaded)
    assert len(everything) > 1000
    assert list(first["@timestamp"]) == list(everything["@timestamp"].iloc[:5])
    start = everything["@timestamp"].iloc[100]
    end = everything["@timestamp"].iloc[200]
    window = search(None, index=indices.SYSMON_INDEX, start=start, end=end, settings=es_loaded)
    expected = everything[(everything["@timestamp"] >= start) & (everything["@timestamp"] < end)]
    assert len(window) == len(expected) > 0


def _cli(
    *args: str, settings: Any, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    import os

    env = dict(os.environ, HUNTLAB_HOME=str(settings.home), **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "huntlab", *args, "--es-url", settings.es_url],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_wmi_child_query_through_cli(es_loaded_reports: Loaded) -> None:
    settings = es_loaded_reports.settings
    done = _cli("query", WMI_CHILD, "--index", indices.ALIAS, "--format", "jsonl", settings=settings)
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    assert Counter(row["Dataset"] for row in rows) == Counter(list(es_loaded_reports.sources))
    assert all(row["EventID"] == 1 and row["ParentImage"].endswith("WmiPrvSE.exe") for row in rows)
    table = _cli("query", WMI_CHILD, settings=settings)
    assert table.returncode == 0 and "empire_invoke_wmi" in table.stdout


def test_cli_load_prints_the_balance(es_loaded_reports: Loaded) -> None:
    settings = es_loaded_reports.settings
    path = es_loaded_reports.sources["empire_invoke_wmi"]
    done = _cli("load", str(path), settings=settings)
    assert done.returncode == 0, done.stderr
    n = es_loaded_reports.reports["empire_invoke_wmi"].read
    assert done.stdout.strip().splitlines()[-1] == f"read {n} = indexed {n} + rejected 0"


def test_reload_in_new_processes_with_other_hash_seeds_adds_nothing(
    es_loaded_reports: Loaded,
) -> None:
    # Document ids must not depend on anything per-process (Python's hash() of a str is
    # salted per process): a reload in another process would then double every event.
    settings = es_loaded_reports.settings
    name = "empire_invoke_wmi"
    in_dataset = {"term": {"Dataset": name}}
    before = _count(settings, indices.ALIAS, in_dataset)
    assert before == es_loaded_reports.reports[name].indexed > 0
    for seed in ("1", "2"):
        done = _cli(
            "load",
            str(es_loaded_reports.sources[name]),
            settings=settings,
            env={"PYTHONHASHSEED": seed},
        )
        assert done.returncode == 0, done.stderr
        assert _count(settings, indices.ALIAS, in_dataset) == before


def test_known_events_have_their_pinned_ids(es_loaded_reports: Loaded) -> None:
    from tests.support.readers_data import raw_records

    source = es_loaded_reports.sources["empire_invoke_wmi"]
    raw = raw_records(source)
    pinned = {"ZhbERTuxK0q4mLIU_2T3": raw[0], "-I4eZn1YQvM0BO05bGem": raw[-1]}
    found = _es(es_loaded_reports.settings).search(
        index=indices.ALIAS, query={"ids": {"values": list(pinned)}}, size=10
    )
    hits = {hit["_id"]: hit["_source"] for hit in found["hits"]["hits"]}
    assert set(hits) == set(pinned)
    for _id, record in pinned.items():
        assert hits[_id]["Dataset"] == "empire_invoke_wmi"
        assert hits[_id]["RecordNumber"] == int(record["record_number"])  # a number field
        assert hits[_id]["Hostname"] == record["computer_name"]


def _bad_records(lines: list[bytes]) -> tuple[list[bytes], int]:
    """Real lines with one bad record of each kind the readers reject; and how many."""
    first = json.loads(lines[0])
    body = json.dumps(first)[:-1].encode()
    bad = {
        2: body + b', "Message": "' + b"x" * 40000 + b'"}\n',  # over 32768 bytes
        4: body + b', "Deep": ' + b"[" * 300 + b"]" * 300 + b"}\n",  # too deep to write back
        6: body + b', "EventID": 1e400}\n',  # not an integer
        8: b"{oops\n",  # not JSON
        10: b"[1, 2]\n",  # not an object
        12: lines[12][:40] + b"\xff" + lines[12][40:],  # not UTF-8
        14: body + b', "@timestamp": "9999-12-31T23:59:59.999Z"}\n',  # no table holds it
        16: body + b', "Image": "\\ud800"}\n',  # a lone surrogate
        18: body + b', "EventID": 99999999999}\n',  # beyond the integer column
    }
    out = [bad.get(i, line) for i, line in enumerate(lines)]
    return out, len(bad)


def test_load_balances_every_kind_of_bad_record(
    es_settings: Any, datasets_dir: Path, tmp_path: Path
) -> None:
    from huntlab.es.loader import load
    from tests.support.readers_data import IWBEM_2020, raw_lines

    lines, bad = _bad_records(list(raw_lines(datasets_dir / IWBEM_2020))[:30])
    path = tmp_path / "bad_input_mix.json"
    path.write_bytes(b"".join(lines))
    expected = f"read 30 = indexed {30 - bad} + rejected {bad}"

    strict = _cli("load", str(path), "--max-record-bytes", "32768", settings=es_settings)
    assert strict.returncode == 1 and "Traceback" not in strict.stderr
    assert f"{path}, line 3" in strict.stderr

    done = _cli(
        "load", str(path), "--errors", "skip", "--max-record-bytes", "32768", settings=es_settings
    )
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert done.stdout.strip().splitlines()[-1] == expected

    report = load(path, es_settings, errors="skip", max_record_bytes=32768, progress=False)
    assert report.summary() == expected
    assert report.read == report.indexed + report.rejected
    in_dataset = {"term": {"Dataset": "bad_input_mix"}}
    assert _count(es_settings, indices.ALIAS, in_dataset) == report.indexed


def test_cli_reports_a_node_that_is_down(tmp_path: Path) -> None:
    from tests.support.fixtures.elasticsearch import free_port

    settings_url = f"http://127.0.0.1:{free_port()}"
    done = subprocess.run(
        [sys.executable, "-m", "huntlab", "query", "*", "--es-url", settings_url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"HUNTLAB_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 1
    assert "does not answer" in done.stderr and "Traceback" not in done.stderr


def test_conflicting_type_is_rejected_with_reason(es_settings: Any) -> None:
    from huntlab.es.loader import load_events

    prefix = "huntlab-conflict"
    base = {
        "@timestamp": "2019-03-19T19:31:15.524Z",
        "Channel": "Microsoft-Windows-Sysmon/Operational",
        "Dataset": "type-conflict-test",
    }
    events = [
        {**base, "EventID": 1, "Image": "C:\\Windows\\System32\\cmd.exe"},
        {**base, "EventID": 1, "Image": {"nested": "not text"}},
        {**base, "EventID": "not-a-number", "Image": "C:\\x.exe"},
    ]
    try:
        report = load_events(events, es_settings, index_prefix=prefix, progress=False)
        assert report.summary() == "read 3 = indexed 1 + rejected 2"
        reasons = sorted(r.reason for r in report.rejects)
        assert any("[EventID]" in r and "integer" in r for r in reasons), reasons
        assert any("[Image]" in r for r in reasons), reasons
        assert all(r.status == 400 for r in report.rejects)
        assert _count(es_settings, f"{prefix}-sysmon") == 1
    finally:
        _es(es_settings).options(ignore_status=404).indices.delete(index=f"{prefix}-sysmon")


def test_node_killed_during_a_load_then_rerun(
    tmp_path_factory: pytest.TempPathFactory, datasets_dir: Path
) -> None:
    """SIGKILL the node mid-load, start it again, rerun the load: exact count, no duplicate."""
    import threading
    import time

    from huntlab.errors import ServiceError
    from huntlab.es.loader import LoadReport, load, load_events
    from huntlab.es.setup import setup
    from huntlab.java import find_java
    from huntlab.lab.native import elasticsearch
    from huntlab.readers import iter_events
    from tests.support.es_node import kill_node
    from tests.support.fixtures.elasticsearch import node_settings

    settings = node_settings(tmp_path_factory.mktemp("es-crash-home"), heap="512m")
    # The smallest of the sample datasets that still takes several bulk requests.
    source = datasets_dir / "windows/empire_launcher_vbs/empire_launcher_vbs.zip"
    expected = sum(1 for _ in iter_events(source))
    # The source pauses after 600 events until the node is dead: the kill lands mid-load
    # however fast the machine is.
    node_killed = threading.Event()
    elasticsearch.start(settings, find_java(), progress=False)
    try:
        setup(settings)
        report = LoadReport()
        failure: list[BaseException] = []

        def paused_events() -> Any:
            for n, event in enumerate(iter_events(source)):
                if n == 600:
                    node_killed.wait(timeout=120)
                yield event

        def run() -> None:
            try:
                load_events(
                    paused_events(),
                    settings,
                    report=report,
                    threads=1,
                    chunk_docs=100,
                    max_retries=2,
                    progress=False,
                )
            except BaseException as exc:
                failure.append(exc)

        loading = threading.Thread(target=run)
        loading.start()
        deadline = time.monotonic() + 120
        while report.indexed < 500 and loading.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert elasticsearch.running(settings) is not None and 500 <= report.indexed < expected
        kill_node(settings)
        node_killed.set()
        loading.join(timeout=180)
        assert not loading.is_alive()
        assert failure and isinstance(failure[0], ServiceError), failure
        assert "rerun" in str(failure[0])

        elasticsearch.start(settings, find_java(), progress=False)
        rerun = load(source, settings, progress=False)
        assert rerun.summary() == f"read {expected} = indexed {expected} + rejected 0"
        assert _count(settings, indices.PATTERN) == expected
        hits = _es(settings).search(index=indices.PATTERN, size=10_000, source=False)
        ids = [hit["_id"] for hit in hits["hits"]["hits"]]
        assert len(ids) == len(set(ids)) == expected
    finally:
        node_killed.set()
        elasticsearch.stop(settings)


def test_load_backs_off_when_the_node_answers_429(tmp_path: Path, datasets_dir: Path) -> None:
    """A node whose indexing-pressure limit (1 MB) is below what four loader threads send at
    once (256 KB requests) answers 429 to some of them: the loader backs off and resends, and
    every event lands exactly once."""
    from huntlab.es.loader import load
    from huntlab.es.setup import setup
    from huntlab.lab.native import elasticsearch
    from tests.support.es_node import start_node
    from tests.support.fixtures.elasticsearch import DATASETS, node_settings

    settings = node_settings(tmp_path / "home", heap="512m")
    start_node(settings, extra_config={"indexing_pressure.memory.limit": "1mb"})
    try:
        setup(settings)
        source = datasets_dir / DATASETS["empire_invoke_wmi"]
        expected = len(_reader_events(source))
        report = load(source, settings, progress=False, threads=4, chunk_bytes=256 * 1024)
        assert report.summary() == f"read {expected} = indexed {expected} + rejected 0"
        assert _count(settings, indices.ALIAS) == expected
        stats = _es(settings).nodes.stats(metric="indexing_pressure")["nodes"]
        (node,) = stats.values()
        assert node["indexing_pressure"]["memory"]["total"]["coordinating_rejections"] > 0
        assert report.retries > 0
    finally:
        elasticsearch.stop(settings)


def test_ingest_pipeline_makes_the_reader_documents(es_settings: Any, datasets_dir: Path) -> None:
    """Raw records through the ingest pipeline == canonical events from the Python readers."""
    from elasticsearch import helpers

    from huntlab.es.loader import doc_id
    from huntlab.es.setup import missing_processors, resource_files
    from huntlab.readers import iter_events, iter_raw
    from tests.support.fixtures.elasticsearch import DATASETS

    es = _es(es_settings)
    (path,) = [p for p in resource_files("ingest-pipelines") if p.stem == "huntlab-mordor"]
    missing = missing_processors(es, json.loads(path.read_text(encoding="utf-8")))
    if missing:
        pytest.skip(
            f"this Elasticsearch lacks the {', '.join(sorted(missing))} processor(s): Elastic's "
            "integ-test-zip has no ingest-common/lang-painless module (tests/integration/es/test_es_pipeline.py "
            "runs the pipeline on 7.10.2 instead); set HUNTLAB_TEST_ES_URL to a disposable "
            "full-distribution 8.x cluster to run this test"
        )
    prefix = "pipeline-check"
    try:
        for name, relative in DATASETS.items():
            source = datasets_dir / relative
            actions = (
                {
                    "_index": prefix,
                    "_id": doc_id(name, n),
                    "pipeline": "huntlab-mordor",
                    "_source": {**raw, "Dataset": name},
                }
                for n, raw in enumerate(iter_raw(source))
            )
            ok, errors = helpers.bulk(es, actions, raise_on_error=False, chunk_size=1000)
            assert not errors, errors[:3]
            es.indices.refresh(index=f"{prefix}-*")
            expected = {doc_id(name, n): event for n, event in enumerate(iter_events(source))}
            assert ok == len(expected)
            got = {
                hit["_id"]: (hit["_index"], hit["_source"])
                for hit in helpers.scan(
                    es, index=f"{prefix}-*", query={"query": {"term": {"Dataset": name}}}
                )
            }
            assert set(got) == set(expected)
            for _id, event in expected.items():
                index, document = got[_id]
                assert document == event, _id
                assert index == indices.index_for(event.get("Channel"), prefix)
    finally:
        # The node refuses wildcard deletes (action.destructive_requires_name): name them.
        names = ",".join(f"{prefix}-{family}" for family in indices.FAMILIES)
        es.options(ignore_status=404).indices.delete(index=names, ignore_unavailable=True)
