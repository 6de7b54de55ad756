#!/usr/bin/env python3
"""huntlab's pandas reader vs the HELK tutorial's way, on the same >= 500,000 events.

The input is the shared Windows recordings (../shared/datasets), each repeated into its own
JSON-lines file in a temporary folder until there are at least --events events; the folder is
deleted at the end. Each side runs in a fresh child process, so its peak memory (ru_maxrss)
is its own:

- tutorial: per file ``pd.read_json(lines=True)``, then ``to_json``, ``json.loads`` and
  ``pd.json_normalize`` (to flatten the 2019 files' event_data), then one ``pd.concat``;
- huntlab: ``huntlab.read_events(folder)``: the canonical table of docs/event-mapping.md.

Goal (issue 2): huntlab at least 5x faster and at most 0.5x the peak memory.

    python benchmarks/bench_readers.py [--events 500000] [--datasets ../shared/datasets]
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
table = huntlab.read_events(sys.argv[1], progress=False)
elapsed = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"seconds": elapsed, "peak": peak, "rows": len(table), "columns": table.shape[1]}))
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


def run(code: str, folder: Path) -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, "-c", code, str(folder)], check=True, capture_output=True, text=True
    )
    measured: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    return measured


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=500_000)
    shared = Path(os.environ.get("HUNTLAB_SHARED", REPO.parent / "shared"))
    parser.add_argument("--datasets", type=Path, default=shared / "datasets")
    parser.add_argument("--tmp", type=Path, default=None, help="where the input is generated")
    args = parser.parse_args()
    needs.datasets(args.datasets, *RECORDINGS)

    folder = Path(tempfile.mkdtemp(prefix="huntlab-bench-", dir=args.tmp))
    try:
        total = build_input(args.datasets, args.events, folder)
        size = sum(p.stat().st_size for p in folder.iterdir())
        print(f"input: {total:,} events, {size / 2**20:,.0f} MiB of JSON lines in {folder}")
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
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    speed = theirs["seconds"] / ours["seconds"]
    memory = ours["peak"] / theirs["peak"]
    print(f"speed-up: {speed:.1f}x (goal >= 5x)   peak memory: {memory:.2f}x (goal <= 0.5x)")
    return 0 if speed >= 5 and memory <= 0.5 else 1


if __name__ == "__main__":
    sys.exit(main())
