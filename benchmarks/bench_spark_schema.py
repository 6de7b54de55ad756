#!/usr/bin/env python3
"""Spark: huntlab's reader with a known schema vs ``spark.read.json`` with schema inference.

The input is the shared 2020 recordings (NXLog format, flat records; ../shared/datasets)
repeated into one JSON-lines file in a temporary folder until there are at least --events
events; the folder is deleted at the end. Both sides read the same file in the same local
Spark session and are forced to produce every column (``write.format("noop")``); each is run
--repeat times and the best time counts:

- inference: ``spark.read.json(path)`` (one pass to infer the schema, one to read); with
  Spark's default case-insensitive analysis it refuses these files (``LogonId`` and
  ``LogonID``), so it is timed with ``spark.sql.caseSensitive=true``;
- known schema: ``huntlab.spark.read_events(spark, path, schema=schema)``, where ``schema``
  came from ``huntlab.spark.event_schema`` beforehand (as a notebook would keep it);
- for information, huntlab without a schema (one pass to collect the keys, one to read);
- for information, the floor: huntlab's Spark parse and projection alone, the keep/reject
  decision and the keys taken beforehand, untimed. However cheap a check added to this
  parse, the read takes at least this long; its ratio to inference is the most the known
  schema could reach with it (private functions of ``huntlab.spark.events``, used here only
  to measure; benchmarks/README.md has the other Spark routes measured beside it).

It also shows inference failing on the 2019 file (``ProcessId``/``ProcessID``), which huntlab
reads. Goal (the performance issue): the known schema at least 1.5x faster than inference.
``figures()`` runs it all and returns the figures (bench_all.py calls it).

    python benchmarks/bench_spark_schema.py [--events 200000] [--master local[2]]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import needs

REPO = Path(__file__).resolve().parent.parent
RECORDINGS_2020 = [
    "windows/empire_wmi_dcerpc_wmi_IWbemServices_ExecMethod/host/"
    "empire_wmi_dcerpc_wmi_IWbemServices_ExecMethod.zip",
    "windows/empire_launcher_vbs/empire_launcher_vbs.zip",
    "windows/empire_uac_shellapi_fodhelper/empire_uac_shellapi_fodhelper.zip",
]
RECORDING_2019 = "windows/empire_invoke_wmi/empire_invoke_wmi.tar.gz"
GOAL = 1.5  # inference / known schema, at least


def _zip_text(archive: Path) -> bytes:
    with zipfile.ZipFile(archive) as zipped:
        return zipped.read(zipped.namelist()[0])


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:160]


def _timed(action: Callable[[], object], repeat: int) -> float:
    """The best of ``repeat`` runs: the machine may be shared, the minimum is the least
    disturbed figure."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - start)
    return best


def _parse_alone(spark: Any, path: Path, schema: Any) -> Callable[[], Any]:
    """A DataFrame maker for huntlab's Spark parse and projection of ``path`` without the
    Python pass: the pass runs here once, untimed, for the groups (formats, keys) it gives."""
    from huntlab.readers import Limits, ReadReport
    from huntlab.spark import events as spark_events

    args = {"errors": "raise", "rejects": None, "report": ReadReport()}
    groups, bound = spark_events._read(spark, path, args, None, Limits(), quiet=False)

    def frame() -> Any:
        frames = [
            spark_events._canonical(parsed, group, schema)
            for group in groups
            for parsed in spark_events._parsed(spark, group, bound)
        ]
        result = frames[0]
        for other in frames[1:]:
            result = result.union(other)
        return result

    return frame


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--repeat", type=int, default=3, help="runs per side; the best counts")
    shared = Path(os.environ.get("HUNTLAB_SHARED", REPO.parent / "shared"))
    parser.add_argument("--datasets", type=Path, default=shared / "datasets")
    parser.add_argument("--tmp", type=Path, default=None, help="where the input is generated")
    args = parser.parse_args()
    figures(args.datasets, args.events, args.master, args.repeat, args.tmp)
    return 0


def figures(
    datasets: Path,
    events: int = 200_000,
    master: str = "local[2]",
    repeat: int = 3,
    tmp: Path | None = None,
) -> dict[str, float]:
    """The whole benchmark in a local Spark session of its own (stopped at the end): the best
    times, the ratio inference / known schema and whether the goal is met."""
    needs.datasets(datasets, *RECORDINGS_2020, RECORDING_2019)

    from huntlab.spark import event_schema, read_events, session

    folder = Path(tempfile.mkdtemp(prefix="huntlab-bench-spark-", dir=tmp))
    spark = session("huntlab-bench", master=master, config={"spark.ui.enabled": "false"})
    # The table cache in the temporary folder (after the session: the connector stays in the
    # usual cache): the parses below never use it (cache=False); the last row reads what a
    # pandas read left there.
    saved = {name: os.environ.pop(name, None) for name in ("HUNTLAB_CACHE", "HUNTLAB_TABLE_CACHE")}
    os.environ["HUNTLAB_CACHE"] = str(folder / "cache")
    spark.sparkContext.setLogLevel("ERROR")
    try:
        text = b"".join(_zip_text(datasets / rel) for rel in RECORDINGS_2020)
        per_round = text.count(b"\n")
        rounds = -(-events // per_round)
        path = folder / "security_datasets_2020.json"
        with path.open("wb") as out:
            for _ in range(rounds):
                out.write(text)
        print(
            f"input: {per_round * rounds:,} events, {path.stat().st_size / 2**20:,.0f} MiB, "
            f"Spark {spark.version}, master {master}"
        )
        schema = event_schema(spark, path)
        try:
            spark.read.json(str(path)).limit(1).collect()
            print("inference, default settings: reads")
        except Exception as exc:  # the failure is one of the findings printed
            print(f"inference, default settings: fails: {_first_line(exc)}")
        # Spark can only infer these files case-sensitively (LogonId and LogonID, ...).
        spark.conf.set("spark.sql.caseSensitive", "true")
        # Warm the JVM (class loading, code generation) so neither side pays for it.
        spark.read.json(str(path)).limit(10).collect()
        inferred = _timed(
            lambda: spark.read.json(str(path)).write.format("noop").mode("overwrite").save(),
            repeat,
        )
        spark.conf.set("spark.sql.caseSensitive", "false")
        read_events(spark, path, schema=schema, cache=False).limit(10).collect()
        known = _timed(
            lambda: (
                read_events(spark, path, schema=schema, cache=False)
                .write.format("noop")
                .mode("overwrite")
                .save()
            ),
            repeat,
        )
        discovered = _timed(
            lambda: (
                read_events(spark, path, cache=False).write.format("noop").mode("overwrite").save()
            ),
            repeat,
        )
        alone = _parse_alone(spark, path, schema)
        floor = _timed(
            lambda: alone().write.format("noop").mode("overwrite").save(),
            repeat,
        )
        # Later reads: the table a pandas read of the file left in the table cache (untimed).
        import huntlab

        huntlab.read_events(path, progress=False)
        from_cache = read_events(spark, path, schema=schema)
        assert all(f.endswith(".parquet") for f in from_cache.inputFiles()), "not from the cache"
        cached = _timed(
            lambda: (
                read_events(spark, path, schema=schema)
                .write.format("noop")
                .mode("overwrite")
                .save()
            ),
            repeat,
        )
        print(f"spark.read.json, inference (case-sensitive): {inferred:7.1f} s")
        print(
            f"huntlab read_events, known schema          : {known:7.1f} s ({len(schema)} columns)"
        )
        print(f"huntlab read_events, keys pass, no schema   : {discovered:7.1f} s")
        print(
            f"floor: the parse and projection alone        : {floor:7.1f} s "
            f"({inferred / floor:.2f}x inference: the most any check could leave)"
        )
        print(
            f"huntlab read_events, from the table cache   : {cached:7.1f} s "
            f"({inferred / cached:.2f}x inference; after a pandas read_events of the file)"
        )
        print(f"ratio inference / known schema: {inferred / known:.2f}x (goal >= {GOAL:g}x)")

        old = folder / "empire_invoke_wmi_2019.json"
        with tarfile.open(datasets / RECORDING_2019) as tar:
            member = next(m for m in tar if m.isfile())
            stream = tar.extractfile(member)
            assert stream is not None
            old.write_bytes(stream.read())
        try:
            spark.read.json(str(old)).select("event_data.*").limit(1).collect()
            print("2019 file with inference: read (no case collision here)")
        except Exception as exc:  # the failure is the point being shown
            print(f"2019 file with inference: fails: {_first_line(exc)}")
        rows = read_events(spark, old).count()
        print(f"2019 file with huntlab: {rows:,} events")
    finally:
        spark.stop()
        shutil.rmtree(folder, ignore_errors=True)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return {
        "seconds": known,
        "baseline_seconds": inferred,
        "discovered_seconds": discovered,
        "floor_seconds": floor,
        "cached_seconds": cached,
        "events": per_round * rounds,
        "speed": inferred / known,
        "met": inferred / known >= GOAL,
    }


if __name__ == "__main__":
    sys.exit(main())
