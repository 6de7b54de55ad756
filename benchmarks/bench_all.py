#!/usr/bin/env python3
"""Every benchmark of the performance issue in one run, and one summary table of its figures.

It calls the other scripts' functions (nothing is measured here that they do not measure):

| row | script, function | goal |
|---|---|---|
| large | bench_readers.measure, part large: the 2020 recordings, about 24,000 events | >= 5x, <= 0.25x memory |
| mix | bench_readers.measure, part reader: the recordings repeated to --events | >= 10x |
| es-search | bench_es_search.figures: huntlab.es.search vs helpers.scan + json_normalize | >= 3x |
| es-load | bench_es_load.figures: load_events vs pre-serialised NDJSON posted to _bulk | >= 1.0x |
| spark | bench_spark_schema.figures: read_events, known schema vs spark.read.json inference | >= 1.5x |
| cache | bench_readers.measure, part cache: second read_events (table cache) vs first | >= 20x |

The readers' rows share one input (mix and cache); the Elasticsearch rows one native node of
their own (started as bench_es_search.py starts it, in a temporary home on a free port, and
stopped at the end), or the disposable cluster given with --es-url. A row that fails is
reported as an error and the others still run. The load average is printed before and after.

    python benchmarks/bench_all.py                  # the full sizes: takes a long while
    python benchmarks/bench_all.py --quick          # smaller inputs, one run each: a smoke test
    python benchmarks/bench_all.py --skip es,spark  # rows or groups (readers, es) to leave out

Exit status 0 when every row ran and met its goal, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_es_load
import bench_es_search
import bench_readers
import bench_spark_schema
import needs

REPO = Path(__file__).resolve().parent.parent
# name, what it measures, goal (as printed)
ROWS = [
    ("large", "readers, large events (2020 recordings, 24,000+ events)", ">= 5x, <= 0.25x memory"),
    ("mix", "readers, {events}-event mix", ">= 10x (at 500,000 events)"),
    ("es-search", "huntlab.es.search vs helpers.scan + json_normalize", ">= 3x"),
    ("es-load", "load_events vs pre-serialised NDJSON _bulk", ">= 1.0x"),
    ("spark", "Spark read_events, known schema vs spark.read.json inference", ">= 1.5x"),
    ("cache", "second read_events (table cache) vs first", ">= 20x"),
]
GROUPS = {"readers": {"large", "mix", "cache"}, "es": {"es-search", "es-load"}}
# (full, --quick) sizes
SIZES = {
    "events": (500_000, 50_000),
    "es_search_events": (100_000, 20_000),
    "es_load_events": (40_000, 10_000),
    "spark_events": (200_000, 20_000),
    "repeat": (3, 1),
}


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def mib(value: float) -> str:
    return f"{value / 2**20:,.0f} MiB"


def cells(name: str, figures: dict[str, float]) -> tuple[str, str, str, bool]:
    """ours, baseline, ratio and whether the goal is met, for the summary table."""
    if name in ("large", "mix"):
        ours = f"{figures['seconds']:.2f} s, {mib(figures['peak'])}"
        if figures.get("workers"):
            ours += f" ({int(figures['workers'])} worker processes, counted in)"
        theirs = f"{figures['baseline_seconds']:.2f} s, {mib(figures['baseline_peak'])}"
        ratio = f"{figures['speed']:.2f}x, {figures['memory']:.2f}x memory"
        # the goal for the mix is the speed-up alone (the script also checks memory)
        met = figures["speed"] >= bench_readers.GOAL_READER[0] if name == "mix" else figures["met"]
        return ours, theirs, ratio, bool(met)
    if name == "cache":
        ours = f"{figures['seconds']:.2f} s (second read)"
        theirs = f"{figures['baseline_seconds']:.2f} s (first read)"
        return ours, theirs, f"{figures['speed']:.1f}x", bool(figures["met"])
    ours = f"{figures['seconds']:.2f} s"
    theirs = f"{figures['baseline_seconds']:.2f} s"
    return ours, theirs, f"{figures['speed']:.2f}x", bool(figures["met"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller inputs, one run each")
    parser.add_argument(
        "--skip",
        default="",
        help="rows or groups to leave out, comma-separated: "
        + ", ".join([name for name, _, _ in ROWS] + sorted(GROUPS)),
    )
    for key, (full, quick) in SIZES.items():
        parser.add_argument(
            f"--{key.replace('_', '-')}",
            type=int,
            default=None,
            help=f"default {full:,} ({quick:,} with --quick)",
        )
    shared = Path(os.environ.get("HUNTLAB_SHARED", REPO.parent / "shared"))
    parser.add_argument("--datasets", type=Path, default=shared / "datasets")
    parser.add_argument("--tmp", type=Path, default=None, help="where inputs are generated")
    parser.add_argument("--es-url", help="measure against this (disposable) cluster")
    parser.add_argument("--master", default="local[2]", help="Spark master")
    args = parser.parse_args()
    # Every recording any row reads, checked before anything starts: one clear line.
    needs.datasets(
        args.datasets,
        *bench_readers.RECORDINGS,
        *bench_spark_schema.RECORDINGS_2020,
        bench_spark_schema.RECORDING_2019,
    )
    needs.datasets(bench_es_load.DATASETS, *bench_es_load.SOURCES)

    names = {name for name, _, _ in ROWS}
    skip: set[str] = set()
    for word in filter(None, (w.strip() for w in args.skip.split(","))):
        if word not in names and word not in GROUPS:
            parser.error(f"--skip: unknown row or group {word!r}")
        skip |= GROUPS.get(word, {word})
    size = {
        key: getattr(args, key) if getattr(args, key) is not None else sizes[args.quick]
        for key, sizes in SIZES.items()
    }
    repeat = size["repeat"]

    results: dict[str, dict[str, float]] = {}
    errors: dict[str, str] = {}

    def attempt(rows: list[str], work: Callable[[], dict[str, dict[str, float]]]) -> None:
        """Run one group of rows; a failure is recorded against each of them."""
        rows = [r for r in rows if r not in skip]
        if not rows:
            return
        print(f"\n=== {', '.join(rows)} (load average {loadavg()})", flush=True)
        try:
            results.update(work())
        except (Exception, SystemExit) as exc:
            traceback.print_exc()
            for row in rows:
                errors[row] = f"{type(exc).__name__}: {str(exc).strip()[:80]}"

    started = time.perf_counter()
    before = loadavg()
    print(
        f"bench_all: load average {before} at the start; "
        + ", ".join(f"{k}={v:,}" for k, v in size.items())
        + (f"; skipping {', '.join(sorted(skip))}" if skip else ""),
        flush=True,
    )

    def readers() -> dict[str, dict[str, float]]:
        parts = {"large": "large", "mix": "reader", "cache": "cache"}
        wanted = ",".join(part for row, part in parts.items() if row not in skip)
        figures = bench_readers.measure(args.datasets, size["events"], wanted, args.tmp)
        return {row: figures[part] for row, part in parts.items() if part in figures}

    def elasticsearch() -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        with bench_es_load.node(args.es_url, heap="2g") as settings:
            if "es-search" not in skip:
                out["es-search"] = bench_es_search.figures(
                    settings, size["es_search_events"], repeat
                )
            if "es-load" not in skip:
                docs = bench_es_load.events(size["es_load_events"])
                out["es-load"] = bench_es_load.figures(settings, docs, repeat)
        return out

    def spark() -> dict[str, dict[str, float]]:
        figures = bench_spark_schema.figures(
            args.datasets, size["spark_events"], args.master, repeat, args.tmp
        )
        return {"spark": figures}

    attempt(["large", "mix", "cache"], readers)
    attempt(["es-search", "es-load"], elasticsearch)
    attempt(["spark"], spark)

    after = loadavg()
    header = ("row", "events", "ours", "baseline", "ratio", "goal", "met")
    table = []
    all_met = True
    for name, what, goal in ROWS:
        label = what.format(events=f"{size['events']:,}")
        if name in skip:
            table.append((label, "", "", "", "", goal, "skipped"))
            continue
        if name in errors:
            all_met = False
            table.append((label, "", "", "", "", goal, f"error ({errors[name]})"))
            continue
        figures = results[name]
        ours, theirs, ratio, met = cells(name, figures)
        all_met = all_met and met
        table.append(
            (
                label,
                f"{int(figures['events']):,}",
                ours,
                theirs,
                ratio,
                goal,
                "yes" if met else "NO",
            )
        )
    print(
        f"\nsummary ({'--quick inputs, ' if args.quick else ''}best of {repeat} where a "
        f"script repeats; {time.perf_counter() - started:,.0f} s in all; "
        f"load average {before} at the start, {after} at the end):\n"
    )
    widths = [max(len(str(row[i])) for row in [header, *table]) for i in range(len(header))]
    for i, row in enumerate([header, *table]):
        print("| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
        if i == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    if args.quick:
        print("\n--quick: smaller inputs than the goals are set for; a smoke test, not a result.")
    return 0 if all_met else 1


if __name__ == "__main__":
    sys.path.insert(0, str(REPO / "src"))
    raise SystemExit(main())
