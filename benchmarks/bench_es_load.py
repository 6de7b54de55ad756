"""Bulk loading into Elasticsearch: huntlab's loader vs. what users copy today, and vs. the limit.

One run, one node, the same events (the two Empire WMI datasets, repeated under distinct
dataset names to reach --events), each method into freshly created indexes:

- huntlab.es.load_events (threads, orjson, large chunks, deterministic ids, periodic refresh
  off on the target indexes while it loads)
- elasticsearch.helpers.bulk with a default client (one thread, 500-document chunks)
- the same events pre-serialised as NDJSON (not timed) posted straight to _bulk

Goals: at least 2x helpers.bulk, at least 1.0x the pre-serialised NDJSON (the performance
issue; it was 0.8x). ``figures()`` measures on a running node and returns the figures
(bench_all.py calls it).

    python benchmarks/bench_es_load.py                  # starts its own node on a free port
    python benchmarks/bench_es_load.py --es-url URL     # a disposable cluster you run
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import needs
from huntlab.lab.processes import free_ports

REPO = Path(__file__).resolve().parent.parent
DATASETS = Path(os.environ.get("HUNTLAB_SHARED", REPO.parent / "shared")) / "datasets"
SOURCES = [
    "windows/empire_invoke_wmi/empire_invoke_wmi.tar.gz",
    "windows/empire_wmi_dcerpc_wmi_IWbemServices_ExecMethod/host/"
    "empire_wmi_dcerpc_wmi_IWbemServices_ExecMethod.zip",
]
GOAL_BULK = 2.0  # huntlab.es.load_events vs helpers.bulk, at least
GOAL_NDJSON = 1.0  # huntlab.es.load_events vs the pre-serialised NDJSON, at least


@contextlib.contextmanager
def node(es_url: str | None, heap: str = "1g") -> Iterator[Any]:
    """Settings of the cluster to measure: the given URL, or a native node of our own."""
    from huntlab.java import find_java
    from huntlab.lab.native import elasticsearch
    from huntlab.settings import load_settings

    if es_url:
        yield load_settings(es_url=es_url)
        return
    with tempfile.TemporaryDirectory(prefix="huntlab-bench-") as home:
        settings = load_settings(home=home, es_port=free_ports(1)[0], es_heap=heap)
        print(f"starting a native node on {settings.es_url} ...", file=sys.stderr)
        elasticsearch.start(settings, find_java(), progress=False)
        try:
            yield settings
        finally:
            elasticsearch.stop(settings)


def events(target: int) -> list[dict[str, Any]]:
    """At least ``target`` canonical events: the sample datasets, copied under new names."""
    from huntlab.readers import iter_events

    folder = needs.datasets(DATASETS, *SOURCES)
    base = [e for rel in SOURCES for e in iter_events(folder / rel)]
    out: list[dict[str, Any]] = []
    copy = 0
    while len(out) < target:
        suffix = f"-copy{copy}" if copy else ""
        out.extend({**e, "Dataset": f"{e['Dataset']}{suffix}"} for e in base)
        copy += 1
    return out


def fresh_indexes(settings: Any) -> None:
    from huntlab.es import indices
    from huntlab.es.client import client
    from huntlab.es.setup import setup

    es = client(settings)
    es.options(ignore_status=404).indices.delete(
        index=",".join(indices.ALL_INDEXES), ignore_unavailable=True
    )
    setup(settings, es=es)


def with_ids(docs: list[dict[str, Any]]) -> list[tuple[str, str, dict[str, Any]]]:
    from collections import Counter

    from huntlab.es.indices import index_for
    from huntlab.es.loader import doc_id

    seen: Counter[str] = Counter()
    out = []
    for doc in docs:
        dataset = doc["Dataset"]
        out.append((index_for(doc.get("Channel")), doc_id(dataset, seen[dataset]), doc))
        seen[dataset] += 1
    return out


def refresh_and_count(settings: Any) -> int:
    from huntlab.es import indices
    from huntlab.es.client import client

    es = client(settings)
    es.indices.refresh(index=indices.PATTERN)
    return int(es.count(index=indices.PATTERN)["count"])


def run_huntlab(settings: Any, docs: list[dict[str, Any]]) -> None:
    from huntlab.es.loader import load_events

    load_events(docs, settings, progress=False, refresh=False)


def run_helpers_bulk(settings: Any, docs: list[dict[str, Any]]) -> None:
    from elasticsearch import Elasticsearch, helpers

    es = Elasticsearch(settings.es_url, request_timeout=120)
    actions = ({"_index": i, "_id": d, "_source": doc} for i, d, doc in with_ids(docs))
    helpers.bulk(es, actions)


def ndjson_chunks(docs: list[dict[str, Any]], size: int) -> list[bytes]:
    import orjson

    chunks = []
    rows = with_ids(docs)
    for start in range(0, len(rows), size):
        lines = [
            b'{"index":{"_index":"%s","_id":"%s"}}\n%s\n'
            % (i.encode(), d.encode(), orjson.dumps(doc))
            for i, d, doc in rows[start : start + size]
        ]
        chunks.append(b"".join(lines))
    return chunks


def run_ndjson(settings: Any, chunks: list[bytes]) -> None:
    import urllib3

    http = urllib3.PoolManager()
    for body in chunks:
        response = http.request(
            "POST",
            f"{settings.es_url}/_bulk?filter_path=errors",
            body=body,
            headers={"Content-Type": "application/x-ndjson"},
        )
        if response.status != 200 or b'"errors":true' in response.data:
            raise RuntimeError(f"_bulk failed: {response.status} {response.data[:300]!r}")


def measure(name: str, settings: Any, expected: int, work: Any) -> float:
    fresh_indexes(settings)
    started = time.perf_counter()
    work()
    count = refresh_and_count(settings)
    seconds = time.perf_counter() - started
    if count != expected:
        raise RuntimeError(f"{name}: {count} documents indexed, expected {expected}")
    print(f"{name:<28} {seconds:7.2f} s  {expected / seconds:9.0f} docs/s")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--es-url", help="measure against this (disposable) cluster")
    parser.add_argument("--events", type=int, default=40_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    needs.datasets(DATASETS, *SOURCES)
    docs = events(args.events)
    print(f"{len(docs)} events", file=sys.stderr)
    with node(args.es_url) as settings:
        figures(settings, docs, args.repeat)
    return 0


def figures(settings: Any, docs: list[dict[str, Any]], repeat: int = 3) -> dict[str, float]:
    """Load ``docs`` (``events()``) into the node of ``settings`` each way, once to warm up,
    then ``repeat`` times (indexes recreated each time); the best times, the ratios and
    whether the goals are met."""
    from huntlab.es.loader import CHUNK_DOCS

    chunks = ndjson_chunks(docs, CHUNK_DOCS)
    methods = (
        ("huntlab.es.load_events", lambda: run_huntlab(settings, docs)),
        ("helpers.bulk (1 thread)", lambda: run_helpers_bulk(settings, docs)),
        ("pre-serialised NDJSON", lambda: run_ndjson(settings, chunks)),
    )
    # Warm the node up (JIT: a fresh node indexes about 2x slower in its first minute)
    # with every method once, so that none pays for being first; the machine may be
    # shared, so each method then runs --repeat times, alternating; best time kept.
    for name, work in methods:
        measure(f"warm-up ({name})", settings, len(docs), work)
    best: dict[str, float] = {}
    for _ in range(repeat):
        for name, work in methods:
            seconds = measure(name, settings, len(docs), work)
            best[name] = min(seconds, best.get(name, seconds))
    ours = best["huntlab.es.load_events"]
    baseline = best["helpers.bulk (1 thread)"]
    limit = best["pre-serialised NDJSON"]
    print(f"best of {repeat}:")
    print(f"huntlab vs helpers.bulk:        {baseline / ours:5.2f}x  (goal >= {GOAL_BULK:g}x)")
    print(f"huntlab vs pre-serialised bulk: {limit / ours:5.2f}x  (goal >= {GOAL_NDJSON:.1f}x)")
    return {
        "seconds": ours,
        "bulk_seconds": baseline,
        "baseline_seconds": limit,
        "events": len(docs),
        "speed": limit / ours,
        "speed_bulk": baseline / ours,
        "met": limit / ours >= GOAL_NDJSON,
        "met_bulk": baseline / ours >= GOAL_BULK,
    }


if __name__ == "__main__":
    sys.path.insert(0, str(REPO / "src"))
    raise SystemExit(main())
