#!/usr/bin/env python3
"""huntlab's pandas reader vs the HELK tutorial's way, and a second read from the table cache,
on the same >= 500,000 events.

The input is the shared Windows recordings (../shared/datasets), each repeated into its own
JSON-lines file in a temporary folder until there are at least --events events; the folder
(and the table cache the reads use, HUNTLAB_CACHE in it) is deleted at the end. Each read runs
in a fresh child process, so its time and peak memory (ru_maxrss) are its own.

``--part reader`` (issue 2): huntlab at least 5x faster and at most 0.5x the peak memory:

- tutorial: per file ``pd.read_json(lines=True)``, then ``to_json``, ``json.loads`` and
  ``pd.json_normalize`` (to flatten the 2019 files' event_data), then one ``pd.concat``;
- huntlab: ``huntlab.read_events(folder, cache=False)``: the canonical table of
  docs/event-mapping.md, parsed (the table cache is the other part).

``--part cache`` (the performance issue): the second ``read_events(folder)`` of the recording,
from the table cache, at least 20x faster than the first (which parses and writes the cache);
a read with the cache off (HUNTLAB_TABLE_CACHE=0) shows what writing it costs. These children
import pandas and pyarrow before the clock; each prints a hash of its table: all must agree.

    python benchmarks/bench_readers.py [--events 500000] [--part all|reader|cache]
                                       [--datasets ../shared/datasets]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import needs

REPO = Path(__file__).resolve().parent.parent
RECORDINGS = [
    "windows/empire_invoke_wmi/empire_invoke_wmi.tar.gz",
    "windows/empire_wmi_dcerpc_wmi_IWbemServices_ExecMethod/host/"
    "empire_wmi_dcerpc_wmi_IWbemServices_ExecMethod.zip",
    "windows/empire_launcher_vbs/empire_launcher_vbs.zip",
    "windows/empire_uac_shellapi_fodhelper/empire_uac_shellapi_fodhelper.zip",
    "windows/psh_lsass_memory_dump_comsvcs/psh_lsass_memory_dump_comsvcs.zip",
]

TUTORIAL = """
import json, resource, sys, time
from pathlib import Path
import pandas as pd
start = time.perf_counter()
frames = []
for path in sorted(Path(sys.argv[1]).glob("*.json")):
    df = pd.read_json(path, lines=True)
    records = json.loads(df.to_json(orient="records"))
    del df
    frames.append(pd.json_normalize(records))
    del records
table = pd.concat(frames, ignore_index=True)
del frames
elapsed = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"seconds": elapsed, "peak": peak, "rows": len(table), "columns": table.shape[1]}))
"""

HUNTLAB = """
import json, resource, sys, time
import huntlab
start = time.perf_counter()
table = huntlab.read_events(sys.argv[1], progress=False, cache=False)
elapsed = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"seconds": elapsed, "peak": peak, "rows": len(table), "columns": table.shape[1]}))
"""

# One read_events with the table cache (HUNTLAB_CACHE set by the parent): its time, whether the
# cache held the table before it, and a hash of the table (taken after the clock stops).
CACHED = """
import json, resource, sys, time
import pandas as pd, pyarrow
import huntlab
from huntlab.readers import cache
held = cache.usage().tables
start = time.perf_counter()
table = huntlab.read_events(sys.argv[1], progress=False)
elapsed = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
digest = int(pd.util.hash_pandas_object(table, index=True).sum())
print(json.dumps({"seconds": elapsed, "peak": peak, "rows": len(table), "columns": table.shape[1],
                  "held": held, "tables": cache.usage().tables, "bytes": cache.usage().bytes,
                  "hash": digest}))
"""


def _lines(archive: Path) -> bytes:
    if archive.name.endswith(".tar.gz"):
        with tarfile.open(archive) as tar:
            for info in tar:
                stream = tar.extractfile(info) if info.isfile() else None
                if stream is not None:
                    return stream.read()
    with zipfile.ZipFile(archive) as zipped:
        return zipped.read(zipped.namelist()[0])
    raise SystemExit(f"{archive}: no JSON file inside")


def build_input(datasets: Path, events: int, folder: Path) -> int:
    """Repeat every recording into folder/<name>.json until there are >= events events."""
    data = [(Path(rel).name.split(".")[0], _lines(datasets / rel)) for rel in RECORDINGS]
    per_round = sum(d.count(b"\n") for _, d in data)
    rounds = -(-events // per_round)
    total = 0
    for name, text in data:
        with (folder / f"{name}.json").open("wb") as out:
            for _ in range(rounds):
                out.write(text)
        total += text.count(b"\n") * rounds
    return total


def run(code: str, folder: Path, env: dict[str, str] | None = None) -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, "-c", code, str(folder)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    measured: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    return measured


def reader(folder: Path) -> bool:
    """huntlab's parse vs the tutorial; whether the goals are met."""
    ours = run(HUNTLAB, folder)
    print(
        f"huntlab : {ours['seconds']:8.1f} s  peak {ours['peak'] / 2**20:8,.0f} MiB  "
        f"{int(ours['rows']):,} rows x {int(ours['columns'])} columns"
    )
    theirs = run(TUTORIAL, folder)
    print(
        f"tutorial: {theirs['seconds']:8.1f} s  peak {theirs['peak'] / 2**20:8,.0f} MiB  "
        f"{int(theirs['rows']):,} rows x {int(theirs['columns'])} columns"
    )
    speed = theirs["seconds"] / ours["seconds"]
    memory = ours["peak"] / theirs["peak"]
    print(f"speed-up: {speed:.1f}x (goal >= 5x)   peak memory: {memory:.2f}x (goal <= 0.5x)")
    return speed >= 5 and memory <= 0.5


def table_cache(folder: Path, cache: Path) -> bool:
    """A read without the cache, the first read_events with it (parses, writes the cache) and
    the second (from the cache), each in a fresh process; whether the goal is met."""
    env = {**os.environ, "HUNTLAB_CACHE": str(cache)}
    env.pop("HUNTLAB_TABLE_CACHE", None)
    without = run(CACHED, folder, {**env, "HUNTLAB_TABLE_CACHE": "0"})
    first = run(CACHED, folder, env)
    second = run(CACHED, folder, env)
    for name, read in (("without cache", without), ("first read", first), ("second read", second)):
        print(
            f"{name:13}: {read['seconds']:8.2f} s  peak {read['peak'] / 2**20:8,.0f} MiB  "
            f"{int(read['rows']):,} rows x {int(read['columns'])} columns"
        )
    if without["tables"] or first["held"] or not first["tables"] or not second["held"]:
        raise SystemExit(f"the reads did not go as planned: {without} {first} {second}")
    if not without["hash"] == first["hash"] == second["hash"]:
        raise SystemExit("the table read from the cache is not the table parsed")
    speed = first["seconds"] / second["seconds"]
    print(
        f"second read from the table cache ({first['bytes'] / 2**20:,.1f} MiB): {speed:.1f}x "
        f"faster than the first (goal >= 20x); the same table (hash)\n"
        f"first read minus the read without the cache: "
        f"{first['seconds'] - without['seconds']:+.1f} s (the cost of writing it, within the "
        "spread of single runs)"
    )
    return speed >= 20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=500_000)
    shared = Path(os.environ.get("HUNTLAB_SHARED", REPO.parent / "shared"))
    parser.add_argument("--datasets", type=Path, default=shared / "datasets")
    parser.add_argument("--tmp", type=Path, default=None, help="where the input is generated")
    parser.add_argument("--part", choices=("all", "reader", "cache"), default="all")
    args = parser.parse_args()
    needs.datasets(args.datasets, *RECORDINGS)

    folder = Path(tempfile.mkdtemp(prefix="huntlab-bench-", dir=args.tmp))
    met = True
    try:
        data = folder / "input"
        data.mkdir()
        total = build_input(args.datasets, args.events, data)
        size = sum(p.stat().st_size for p in data.iterdir())
        print(f"input: {total:,} events, {size / 2**20:,.0f} MiB of JSON lines in {data}")
        if args.part in ("all", "reader"):
            met = reader(data)
        if args.part in ("all", "cache"):
            met = table_cache(data, folder / "cache") and met
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
