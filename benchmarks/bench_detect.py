#!/usr/bin/env python3
"""Sigma detection and EVTX reading: huntlab against Zircolite's method and the EVTX parsers.

Detection, on one table of >= --events events (the shared Windows recordings repeated as in
bench_readers.py, in a temporary folder deleted at the end), with every SigmaHQ Windows rule
(``rules/windows``) that both sides can run:

- huntlab: ``huntlab.read_events(folder)`` then ``detect(table, load_rules(...))`` (pandas);
- Zircolite's method (tests/support/detect/zircolite.py): the same events
  (``huntlab.readers.iter_events``, under evtx_dump's System names) in an in-memory SQLite
  table of ``TEXT COLLATE NOCASE`` columns, each rule run as the SQL of pySigma's SQLite
  backend.

Both sides' hits are compared rule by rule, event by event. Goal (issue): detection at least
5x faster.

EVTX reading, on the .evtx files under the shared folder (SigmaHQ's regression samples: one
64 KiB chunk each), their chunks concatenated into one valid .evtx file per round
(--evtx-rounds files):

- huntlab: ``huntlab.read_events(folder)`` (the canonical table);
- python-evtx (pure Python, module ``Evtx``): ``record.xml()`` for every record, the least a
  script using it does; goal at least 20x faster;
- the ``evtx`` package alone: ``PyEvtxParser(path).records_json()`` and ``json.loads`` of each
  record; goal at least 0.7x its speed.

Every side runs in a fresh child process, which reports its own wall time and peak resident
memory (VmHWM).

    python benchmarks/bench_detect.py [--events 500000] [--evtx-rounds 100] [--part all]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import needs
from bench_readers import RECORDINGS, build_input

REPO = Path(__file__).resolve().parent.parent
GOAL_DETECT = 5.0
GOAL_PYTHON_EVTX = 20.0
GOAL_EVTX_JSON = 0.7
# evtx_dump's names (Zircolite's columns) for the System fields the canonical table renames;
# rules name them so (Provider_Name, Computer).
EVTX_DUMP_NAMES = {"SourceName": "Provider_Name", "Hostname": "Computer"}
EVTX_HEADER = 4096
EVTX_CHUNK = 65536


# ---------------------------------------------------------------------------------------
# The rule set: every rule under rules/windows that both huntlab and the SQLite backend run.


def _zircolite() -> Any:
    """The tests' re-implementation of Zircolite's method, importable from the checkout."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from tests.support.detect import zircolite

    return zircolite


def _sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _mapped_source_sql(rule: Any) -> str | None:
    """The rows of the rule's logsource as SQL, from huntlab's logsource map, for the
    logsources that the oracle's own table (thor.yml's Sysmon categories and six services)
    lacks: the PowerShell categories and the other services. None if there is no such map or
    if the map renames fields (Security 4688), which plain SQL on one table cannot do."""
    from huntlab.detect.logsource import Unsupported, sources

    ls = rule.logsource
    try:
        found = sources(ls.product, ls.category, ls.service)
    except Unsupported:
        return None
    parts = []
    for source in found:
        if source.fields:
            return None
        terms = []
        if source.channels:
            terms.append(f"Channel IN ({', '.join(map(_sql_literal, source.channels))})")
        if source.event_ids:
            terms.append(f"EventID IN ({', '.join(map(str, source.event_ids))})")
        for name, values in source.where:
            terms.append(f'"{name}" IN ({", ".join(map(_sql_literal, values))})')
        parts.append(" AND ".join(terms) or "1")
    return " OR ".join(f"({p})" for p in parts)


SYSMON_12 = "Microsoft-Windows-Sysmon/Operational 12"


def explained(category: str, only_ours: Counter[str], only_theirs: Counter[str]) -> str | None:
    """Why the two sides' events differ for a rule, where the cause is that the logsource
    tables differ by design (not the detection); None: no such cause."""
    if category == "process_creation" and not only_theirs and set(only_ours) == {"Security 4688"}:
        return "huntlab's process_creation includes Security 4688, thor.yml's (Sysmon 1) not"
    registry = category in ("registry_add", "registry_delete")
    if registry and not only_ours and set(only_theirs) == {SYSMON_12}:
        return (
            f"thor.yml takes every Sysmon 12 event for {category}; huntlab also checks "
            "EventType (CreateKey; DeleteKey, DeleteValue)"
        )
    return None


def sql_for(path: Path, backend: Any) -> tuple[Any, str]:
    """(SqlRule, "") for the rule in ``path``, or (None, why the SQLite side cannot run it)."""
    from sigma.collection import SigmaCollection
    from sigma.rule import SigmaRule

    zircolite = _zircolite()
    sql = zircolite.sql_rule(path)
    if sql is not None:
        return sql, ""
    [rule] = SigmaCollection.from_yaml(path.read_text(encoding="utf-8")).rules
    if not isinstance(rule, SigmaRule):
        return None, f"{type(rule).__name__}, not a detection rule"
    try:
        queries = backend.convert_rule(rule)
    except Exception as exc:  # the backend's refusal, whatever its class
        return None, f"the SQLite backend refuses it: {str(exc).split(';')[0]}"
    source = _mapped_source_sql(rule)
    if source is None:
        ls = rule.logsource
        what = "/".join(x for x in (ls.category, ls.service) if x) or ls.product
        return None, f"no logsource condition for {what}"
    prefix = "SELECT * FROM logs WHERE "
    conditions = [q[len(prefix) :] for q in queries if q.startswith(prefix)]
    if not conditions or len(conditions) != len(queries):
        return None, "the SQLite backend's query is not one SELECT on logs"
    detection = " OR ".join(f"({c})" for c in conditions)
    return zircolite.SqlRule(str(rule.id), rule.title, f"({source}) AND ({detection})"), ""


def select_rules(rules_dir: Path) -> list[dict[str, str]]:
    """Every rule both sides run (path, id, title, SQL condition), after printing what each
    side cannot run and why."""
    from sigma.backends.sqlite import sqliteBackend

    from huntlab.detect.rules import load_rules

    files = sorted(p for p in rules_dir.rglob("*") if p.suffix in (".yml", ".yaml"))
    start = time.perf_counter()
    ruleset = load_rules(rules_dir)
    ours = {rule.info.path: rule for rule in ruleset.rules}
    compile_seconds = time.perf_counter() - start
    start = time.perf_counter()
    backend = sqliteBackend()
    theirs: dict[str, Any] = {}
    refused: Counter[str] = Counter()
    for path in files:
        sql, why = sql_for(path, backend)
        if sql is None:
            refused[why] += 1
        else:
            theirs[str(path)] = sql
    convert_seconds = time.perf_counter() - start
    both = [p for p in map(str, files) if p in ours and p in theirs]
    print(f"rules: {len(files):,} files under {rules_dir}")
    print(
        f"  huntlab evaluates {len(ours):,} (compiled in {compile_seconds:.1f} s); "
        f"cannot, {len(ruleset.unsupported)}:"
    )
    for why, count in Counter(s.reason for s in ruleset.unsupported).most_common():
        print(f"    {count:4d}  {why}")
    print(
        f"  SQLite runs {len(theirs):,} (converted in {convert_seconds:.1f} s); "
        f"cannot, {sum(refused.values())}:"
    )
    for why, count in refused.most_common():
        print(f"    {count:4d}  {why}")
    print(f"  both run {len(both):,}: the rule set of both sides")
    return [
        {
            "path": p,
            "id": theirs[p].id,
            "title": theirs[p].title,
            "where": theirs[p].where,
            "category": ours[p].info.category or "",
        }
        for p in both
    ]


# ---------------------------------------------------------------------------------------
# The children: each side in a fresh process; what they measure goes back as one JSON line.


def _peak() -> int:
    """This process's peak resident memory, in bytes: VmHWM, which starts anew at exec
    (ru_maxrss keeps the parent's peak from before the fork, here the rule conversion's)."""
    for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@contextmanager
def _profiled(enabled: bool, out: Path) -> Iterator[None]:
    """Under cProfile when ``enabled`` (its overhead lengthens the clock): the top lines by
    cumulative and by own time written to ``out``."""
    if not enabled:
        yield
        return
    import cProfile
    import io
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    try:
        yield
    finally:
        profiler.disable()
        text = io.StringIO()
        stats = pstats.Stats(profiler, stream=text)
        stats.sort_stats("cumulative").print_stats(25)
        stats.sort_stats("tottime").print_stats(15)
        out.write_text(text.getvalue(), encoding="utf-8")


def _import_reader() -> None:
    """Import what ``read_events`` imports on first use (pandas, the frame builder, the evtx
    parser), so that the clocks measure reading, as they do for the other sides."""
    import evtx  # noqa: F401

    import huntlab.readers.frame  # noqa: F401


def child_huntlab_detect(work: Path, profile: bool) -> dict[str, Any]:
    import huntlab
    from huntlab.detect.rules import load_rules
    from huntlab.detect.run import detect

    _import_reader()
    chosen = json.loads((work / "rules.json").read_text(encoding="utf-8"))
    start = time.perf_counter()
    rules = load_rules([c["path"] for c in chosen])
    compile_seconds = time.perf_counter() - start
    start = time.perf_counter()
    table = huntlab.read_events(work / "events", progress=False)
    read_seconds = time.perf_counter() - start
    with _profiled(profile, work / "profile-detect.txt"):
        start = time.perf_counter()
        found = detect(table, rules, progress=False)
        detect_seconds = time.perf_counter() - start
    path_of = {(r.info.id or r.info.path): r.info.path for r in rules.rules}
    hits = {path_of[key]: rows.tolist() for key, rows in found.rows.items() if len(rows)}
    kinds = table["Channel"].astype(str) + " " + table["EventID"].astype(str)
    codes, labels = kinds.factorize()
    (work / "hits-huntlab.json").write_text(json.dumps(hits), encoding="utf-8")
    (work / "kinds.json").write_text(
        json.dumps({"labels": list(labels), "codes": codes.tolist()}), encoding="utf-8"
    )
    return {
        "compile": compile_seconds,
        "read": read_seconds,
        "detect": detect_seconds,
        "peak": _peak(),
        "rows": len(table),
        "columns": table.shape[1],
        "rules": len(rules.rules),
        "unsupported": len(rules.unsupported),
    }


def _add_missing_columns(conn: Any, rules: list[Any]) -> tuple[int, int]:
    """Add the columns the rules name that no event has, empty: SQLite refuses a query that
    names an unknown column ("no such column"; Zircolite then skips the rule), where a Sigma
    engine treats the field as absent. Returns (columns added, rules that needed them)."""
    import re
    import sqlite3

    added: set[str] = set()
    needed = 0
    for rule in rules:
        missing = False
        while True:
            try:
                conn.execute(f"EXPLAIN SELECT row_id FROM logs WHERE {rule.where}")
                break
            except sqlite3.OperationalError as exc:
                match = re.fullmatch(r"no such column: (.+)", str(exc))
                if match is None:
                    raise
                conn.execute(f'ALTER TABLE logs ADD COLUMN "{match[1]}" TEXT COLLATE NOCASE')
                added.add(match[1])
                missing = True
        needed += missing
    return len(added), needed


def child_sqlite_detect(work: Path) -> dict[str, Any]:
    from huntlab.readers import iter_events

    zircolite = _zircolite()
    chosen = json.loads((work / "rules.json").read_text(encoding="utf-8"))
    rules = [zircolite.SqlRule(c["id"], c["title"], c["where"]) for c in chosen]
    start = time.perf_counter()
    rows = [
        {EVTX_DUMP_NAMES.get(k, k): v for k, v in event.items()}
        for event in iter_events(work / "events")
    ]
    read_seconds = time.perf_counter() - start
    count = len(rows)
    start = time.perf_counter()
    conn = zircolite.database(rows)
    del rows
    added, needed = _add_missing_columns(conn, rules)
    load_seconds = time.perf_counter() - start
    start = time.perf_counter()
    hits: dict[str, list[int]] = {}
    for entry, rule in zip(chosen, rules, strict=True):
        matched = zircolite.matching_rows(conn, rule)
        if matched:
            hits[entry["path"]] = matched
    detect_seconds = time.perf_counter() - start
    (work / "hits-sqlite.json").write_text(json.dumps(hits), encoding="utf-8")
    columns = len(conn.execute("SELECT * FROM logs LIMIT 0").description) - 1
    return {
        "read": read_seconds,
        "load": load_seconds,
        "detect": detect_seconds,
        "peak": _peak(),
        "rows": count,
        "columns": columns,
        "added_columns": added,
        "rules_needing_them": needed,
    }


def child_huntlab_evtx(folder: Path, profile: bool) -> dict[str, Any]:
    import huntlab

    _import_reader()
    with _profiled(profile, folder.parent / "profile-evtx.txt"):
        start = time.perf_counter()
        table = huntlab.read_events(folder, progress=False)
        seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "peak": _peak(),
        "records": len(table),
        "columns": table.shape[1],
    }


def child_evtx_json(folder: Path) -> dict[str, Any]:
    from evtx import PyEvtxParser

    start = time.perf_counter()
    records = []
    for path in sorted(folder.glob("*.evtx")):
        for record in PyEvtxParser(str(path)).records_json():
            if record is not None:  # the parser's type says a record may be missing
                records.append(json.loads(record["data"]))
    return {"seconds": time.perf_counter() - start, "peak": _peak(), "records": len(records)}


def child_python_evtx(folder: Path) -> dict[str, Any]:
    from Evtx.Evtx import Evtx

    start = time.perf_counter()
    records = []
    for path in sorted(folder.glob("*.evtx")):
        with Evtx(str(path)) as log:
            for record in log.records():
                records.append(record.xml())
    return {"seconds": time.perf_counter() - start, "peak": _peak(), "records": len(records)}


CHILDREN = {
    "huntlab-detect": lambda work, profile: child_huntlab_detect(work, profile),
    "sqlite-detect": lambda work, profile: child_sqlite_detect(work),
    "huntlab-evtx": lambda work, profile: child_huntlab_evtx(work, profile),
    "evtx-json": lambda work, profile: child_evtx_json(work),
    "python-evtx": lambda work, profile: child_python_evtx(work),
}


def run_child(name: str, work: Path, profile: bool = False) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", name, str(work)]
    if profile:
        command.append("--profile")
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{name} failed (exit {result.returncode}):\n{result.stderr[-4000:]}")
    measured: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return measured


# ---------------------------------------------------------------------------------------
# The two comparisons.


def _mib(value: float) -> str:
    return f"{value / 2**20:,.0f} MiB"


def compare_hits(work: Path, chosen: list[dict[str, str]]) -> int:
    """Print both sides' hits and every rule whose events differ, with the kinds of the
    events that differ and the reason where it is known; return the number of rules whose
    events differ for no known reason."""
    ours = json.loads((work / "hits-huntlab.json").read_text(encoding="utf-8"))
    theirs = json.loads((work / "hits-sqlite.json").read_text(encoding="utf-8"))
    kinds = json.loads((work / "kinds.json").read_text(encoding="utf-8"))
    labels, codes = kinds["labels"], kinds["codes"]
    title = {c["path"]: c["title"] for c in chosen}
    category = {c["path"]: c["category"] for c in chosen}
    print(
        f"hits: huntlab {sum(map(len, ours.values())):,} (rule, event) pairs from "
        f"{len(ours)} rules; SQLite {sum(map(len, theirs.values())):,} from {len(theirs)} rules"
    )
    by_reason: dict[str, list[str]] = {}
    for path in sorted(set(ours) | set(theirs)):
        a, b = set(ours.get(path, ())), set(theirs.get(path, ()))
        if a == b:
            continue
        only_ours = Counter(labels[codes[r]] for r in a - b)
        only_theirs = Counter(labels[codes[r]] for r in b - a)
        why = explained(category[path], only_ours, only_theirs) or "UNEXPLAINED"
        extra = [
            f"only {side}: " + ", ".join(f"{k} x{n:,}" for k, n in kinds.most_common(3))
            for side, kinds in (("huntlab", only_ours), ("SQLite", only_theirs))
            if kinds
        ]
        by_reason.setdefault(why, []).append(
            f"{title[path]}: huntlab {len(a):,}, SQLite {len(b):,} ({'; '.join(extra)})"
        )
    for why, lines in by_reason.items():
        print(f"  {len(lines)} rules differ, why: {why}")
        for line in lines:
            print(f"    {line}")
    differ = sum(map(len, by_reason.values()))
    unexplained = len(by_reason.get("UNEXPLAINED", ()))
    print(
        f"  rules with the same events on both sides: {len(chosen) - differ:,} of "
        f"{len(chosen):,}; differing by the logsource tables: {differ - unexplained}, "
        f"for no known reason: {unexplained}"
    )
    return unexplained


def bench_detect(args: argparse.Namespace, work: Path) -> bool:
    chosen = select_rules(args.sigma / "rules" / "windows")
    (work / "rules.json").write_text(json.dumps(chosen), encoding="utf-8")
    (work / "events").mkdir()
    total = build_input(args.datasets, args.events, work / "events")
    size = sum(p.stat().st_size for p in (work / "events").iterdir())
    print(f"input: {total:,} events, {size / 2**20:,.0f} MiB of JSON lines")
    print(f"load average before: {os.getloadavg()[0]:.1f}")
    ours = run_child("huntlab-detect", work, args.profile)
    print(
        f"huntlab: read_events {ours['read']:.1f} s ({ours['rows']:,} rows x "
        f"{ours['columns']} columns), load_rules {ours['compile']:.1f} s, "
        f"detect {ours['detect']:.1f} s, peak {_mib(ours['peak'])}"
    )
    theirs = run_child("sqlite-detect", work)
    print(
        f"SQLite : events {theirs['read']:.1f} s ({theirs['rows']:,} rows), table "
        f"{theirs['load']:.1f} s ({theirs['columns']} columns, {theirs['added_columns']} of "
        f"them added empty for {theirs['rules_needing_them']} rules), rules "
        f"{theirs['detect']:.1f} s, peak {_mib(theirs['peak'])}"
    )
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    if ours["rows"] != theirs["rows"]:
        print(f"the two tables differ: {ours['rows']:,} rows against {theirs['rows']:,}")
        return False
    differ = compare_hits(work, chosen)
    speed = theirs["detect"] / ours["detect"]
    whole = (theirs["load"] + theirs["detect"]) / (ours["read"] + ours["detect"])
    print(
        f"detection ({len(chosen):,} rules on {ours['rows']:,} events): huntlab "
        f"{ours['detect']:.1f} s, SQLite {theirs['detect']:.1f} s: {speed:.1f}x faster "
        f"(goal >= {GOAL_DETECT:g}x)"
    )
    print(
        f"with the tables built (huntlab read_events + detect, SQLite table + rules): "
        f"{whole:.1f}x faster"
    )
    if args.profile:
        print("huntlab's detect under cProfile:")
        print((work / "profile-detect.txt").read_text(encoding="utf-8"))
    return speed >= GOAL_DETECT and differ == 0


def build_evtx(files: list[Path], rounds: int, folder: Path) -> int:
    """One .evtx file per round in ``folder``, each holding every chunk of ``files`` (the
    first file's header, with the chunk count and its checksum rewritten); returns the
    number of chunks per file."""
    chunks: list[bytes] = []
    for path in files:
        data = path.read_bytes()
        count = struct.unpack_from("<H", data, 42)[0]
        chunks += [
            data[EVTX_HEADER + i * EVTX_CHUNK : EVTX_HEADER + (i + 1) * EVTX_CHUNK]
            for i in range(count)
        ]
    header = bytearray(files[0].read_bytes()[:EVTX_HEADER])
    struct.pack_into("<QQ", header, 8, 0, len(chunks) - 1)  # first and last chunk number
    struct.pack_into("<H", header, 42, len(chunks))
    struct.pack_into("<I", header, 124, zlib.crc32(bytes(header[:120])))
    body = b"".join(chunks)
    for number in range(rounds):
        with (folder / f"round-{number:04d}.evtx").open("wb") as out:
            out.write(header)
            out.write(body)
    return len(chunks)


def bench_evtx(args: argparse.Namespace, files: list[Path], work: Path) -> bool:
    folder = work / "evtx"
    folder.mkdir()
    chunks = build_evtx(files, args.evtx_rounds, folder)
    size = sum(p.stat().st_size for p in folder.iterdir())
    print(
        f"input: {len(files)} .evtx files under {args.shared}, their {chunks} chunks in each of "
        f"{args.evtx_rounds} files ({size / 2**20:,.0f} MiB)"
    )
    os.sync()  # the files just written are on disk: no side competes with their flush
    print(f"load average before: {os.getloadavg()[0]:.1f}")
    # The two fast sides alternate --repeat times, each keeping its best run (one side's
    # time would otherwise carry whatever else the machine did during it).
    ours: dict[str, Any] = {}
    bare: dict[str, Any] = {}
    for n in range(args.repeat):
        run = run_child("huntlab-evtx", folder, args.profile and n == 0)
        if not ours or run["seconds"] < ours["seconds"]:
            ours = run
        run = run_child("evtx-json", folder)
        if not bare or run["seconds"] < bare["seconds"]:
            bare = run
    print(
        f"huntlab     : {ours['seconds']:8.1f} s  peak {_mib(ours['peak']):>10}  "
        f"{ours['records']:,} events x {ours['columns']} columns (best of {args.repeat})"
    )
    print(
        f"evtx JSON   : {bare['seconds']:8.1f} s  peak {_mib(bare['peak']):>10}  "
        f"{bare['records']:,} records (best of {args.repeat})"
    )
    pure = run_child("python-evtx", folder)
    print(
        f"python-evtx : {pure['seconds']:8.1f} s  peak {_mib(pure['peak']):>10}  "
        f"{pure['records']:,} records"
    )
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    if args.profile:
        print("huntlab's read_events under cProfile:")
        print((work / "profile-evtx.txt").read_text(encoding="utf-8"))
    same = ours["records"] == bare["records"] == pure["records"]
    if not same:
        print("the three sides read different numbers of records")
    vs_pure = pure["seconds"] / ours["seconds"]
    vs_bare = bare["seconds"] / ours["seconds"]
    print(
        f"huntlab vs python-evtx: {vs_pure:.1f}x faster (goal >= {GOAL_PYTHON_EVTX:g}x)   "
        f"vs evtx JSON: {vs_bare:.2f}x (goal >= {GOAL_EVTX_JSON:g}x)"
    )
    return same and vs_pure >= GOAL_PYTHON_EVTX and vs_bare >= GOAL_EVTX_JSON


def _need_sigma(folder: Path) -> None:
    """The SigmaHQ folder, with rules/windows; otherwise say so (as needs.py does), exit 2."""
    if (folder / "rules" / "windows").is_dir():
        return
    print(
        f"{Path(sys.argv[0]).name}: {folder} has no rules/windows folder. The benchmark reads "
        "SigmaHQ's rules laid out as the shared sigma folder beside the checkout "
        "(../shared/sigma: rules/, regression_data/); give another with --sigma DIR (or "
        "HUNTLAB_SHARED).",
        file=sys.stderr,
    )
    raise SystemExit(2)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Reads ../shared (or $HUNTLAB_SHARED): datasets/ and sigma/.",
    )
    shared = Path(os.environ.get("HUNTLAB_SHARED", REPO.parent / "shared"))
    parser.add_argument("--events", type=int, default=500_000, help="detection table size")
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs of huntlab's and the evtx package's EVTX "
        "sides, alternating; the best of each counts",
    )
    parser.add_argument(
        "--evtx-rounds", type=int, default=100, help=".evtx files, each with every sample chunk"
    )
    parser.add_argument("--part", choices=("all", "detect", "evtx"), default="all")
    parser.add_argument("--datasets", type=Path, default=shared / "datasets")
    parser.add_argument("--sigma", type=Path, default=shared / "sigma")
    parser.add_argument(
        "--shared", type=Path, default=shared, help="where the .evtx files are looked for"
    )
    parser.add_argument("--tmp", type=Path, default=None, help="where the input is generated")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="print cProfile's top lines of huntlab's side (detect, read_events of .evtx)",
    )
    parser.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    parser.add_argument("work", nargs="?", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(CHILDREN[args.child](args.work, args.profile)))
        return 0

    if args.part in ("all", "detect"):
        needs.datasets(args.datasets, *RECORDINGS)
        _need_sigma(args.sigma)
    evtx_files: list[Path] = []
    if args.part in ("all", "evtx"):
        evtx_files = sorted(args.shared.rglob("*.evtx")) if args.shared.is_dir() else []
        if not evtx_files:
            print(
                f"{Path(sys.argv[0]).name}: no .evtx file under {args.shared}: they are looked "
                "for under the shared folder beside the checkout (../shared, where "
                "sigma/regression_data holds SigmaHQ's samples); give another with --shared DIR "
                "(or HUNTLAB_SHARED), or measure detection only with --part detect.",
                file=sys.stderr,
            )
            return 2
    met = True
    work = Path(tempfile.mkdtemp(prefix="huntlab-bench-", dir=args.tmp))
    try:
        if args.part in ("all", "detect"):
            print("== Sigma detection: huntlab (pandas) vs Zircolite's method (SQLite)")
            met = bench_detect(args, work) and met
        if args.part in ("all", "evtx"):
            print("== EVTX reading: huntlab vs python-evtx vs the evtx package's JSON")
            met = bench_evtx(args, evtx_files, work) and met
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
