"""Elasticsearch to pandas: huntlab.es.search vs. helpers.scan + pandas.json_normalize.

One run, one node: at least --events documents (the two Empire WMI datasets copied under
distinct dataset names, loaded by huntlab's loader, not timed), then the whole index read
into a DataFrame both ways. Goal: at least 3x. ``figures()`` measures on a running node and
returns the figures (bench_all.py calls it).

    python benchmarks/bench_es_search.py                  # starts its own node
    python benchmarks/bench_es_search.py --es-url URL     # a disposable cluster you run
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import needs
from bench_es_load import DATASETS, SOURCES, events, fresh_indexes, node, refresh_and_count


def scan_normalize(settings: Any, index: str) -> Any:
    import pandas as pd
    from elasticsearch import Elasticsearch, helpers

    es = Elasticsearch(settings.es_url, request_timeout=120)
    hits = helpers.scan(es, index=index, query={"query": {"match_all": {}}})
    return pd.json_normalize([hit["_source"] for hit in hits])


# huntlab.es.search's worker processes: its default (None: from PROCESS_THRESHOLD events on);
# --no-processes: never (False).
PROCESSES: bool | None = None
GOAL = 3.0  # huntlab.es.search at least 3x faster than helpers.scan + json_normalize


def ours(settings: Any, index: str) -> Any:
    from huntlab.es import search

    return search(None, index=index, settings=settings, processes=PROCESSES)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--es-url", help="measure against this (disposable) cluster")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--no-processes",
        action="store_true",
        help="huntlab's search without its worker processes (its default uses them)",
    )
    args = parser.parse_args()
    needs.datasets(DATASETS, *SOURCES)
    with node(args.es_url, heap="2g") as settings:
        figures(settings, args.events, args.repeat, False if args.no_processes else None)
    return 0


def figures(
    settings: Any, target: int = 100_000, repeat: int = 3, processes: bool | None = None
) -> dict[str, float]:
    """On the node of ``settings`` (its huntlab indexes recreated): at least ``target`` events
    loaded, then read both ways ``repeat`` times; the best times, their ratio and whether the
    goal is met. ``processes``: huntlab.es.search's (None: its worker processes)."""
    global PROCESSES
    PROCESSES = processes
    from huntlab.es import indices
    from huntlab.es.loader import load_events

    docs = events(target)
    fresh_indexes(settings)
    print(f"loading {len(docs)} events (not timed) ...", file=sys.stderr)
    load_events(docs, settings, progress=False)
    total = refresh_and_count(settings)
    del docs
    print(f"{total} documents", file=sys.stderr)
    # The machine is shared: each method runs --repeat times, alternating; best time kept.
    methods = (
        ("helpers.scan + json_normalize", scan_normalize),
        ("huntlab.es.search", ours),
    )
    timings: dict[str, float] = {}
    # Warm-up (JIT, caches), and proof that both sides build the same table: the same
    # columns, each with the same number of values (not timed).
    counts = {name: run(settings, indices.ALIAS).count() for name, run in methods}
    theirs, mine = (dict(counts[name].items()) for name, _ in methods)
    differ = sorted(n for n in theirs.keys() | mine.keys() if theirs.get(n) != mine.get(n))
    if differ:
        raise RuntimeError(
            "the two tables differ in columns (values counted, scan vs huntlab): "
            + ", ".join(f"{n} ({theirs.get(n)} vs {mine.get(n)})" for n in differ[:10])
        )
    for _ in range(repeat):
        for name, run in methods:
            started = time.perf_counter()
            frame = run(settings, indices.ALIAS)
            seconds = time.perf_counter() - started
            timings[name] = min(seconds, timings.get(name, seconds))
            if len(frame) != total:
                raise RuntimeError(f"{name}: {len(frame)} rows, expected {total}")
            print(
                f"{name:<32} {seconds:7.2f} s  {total / seconds:9.0f} docs/s "
                f"({frame.shape[1]} columns)"
            )
            del frame
    ratio = timings["helpers.scan + json_normalize"] / timings["huntlab.es.search"]
    print(
        f"best of {repeat}: huntlab.es.search vs helpers.scan + json_normalize: "
        f"{ratio:5.2f}x  (goal >= {GOAL:g}x)"
    )
    return {
        "seconds": timings["huntlab.es.search"],
        "baseline_seconds": timings["helpers.scan + json_normalize"],
        "events": total,
        "speed": ratio,
        "met": ratio >= GOAL,
    }


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
    raise SystemExit(main())
