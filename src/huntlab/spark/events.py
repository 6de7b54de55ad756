"""Recordings into the canonical event table in Spark (same table as ``huntlab.read_events``).

``read_events`` runs the mapping's compiled rules (``huntlab.readers.mapping.plan``) inside
Spark: each line is parsed by Spark's own JSON parser into a struct of string fields (a fixed
schema: no inference pass, no case-collision failure, every non-string value kept as its JSON
text, as the type rules want), then one projection builds the canonical columns. The output
columns (the schema) come from the keys present in the data, or from ``schema=`` when the
caller already knows them (``event_schema``). Plain JSON-lines files are read by Spark
directly, after one Spark pass that counts their lines and finds bad ones (only files that
have some are then scanned in Python, for line numbers); members of archives (which Spark
cannot open) are validated in Python and handed over as lines.
"""

from __future__ import annotations

import gzip
import io
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from huntlab.errors import DataFormatError
from huntlab.readers import mapping as m
from huntlab.readers.frame import column_order
from huntlab.readers.report import Errors, ReadReport

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession
    from pyspark.sql.types import StructType

    from huntlab.readers.events import Run

# Files Spark reads itself (line-oriented JSON, optionally gzip); archives go through Python.
_SPARK_NATIVE = (".json", ".jsonl", ".ndjson", ".json.gz", ".jsonl.gz")
# A line of a plain file that is not blank, and one that may not be a JSON object (Spark's
# parser is laxer than orjson: it takes NaN, single quotes, trailing text and arrays of
# objects). Java's \s is Python's bytes.strip() set, so blank means the same on both sides.
_NOT_BLANK = r"\S"
_OBJECT_SHAPE = r"(?s)^\s*\{.*\}\s*$"
_STRICT_JSON = {"allowNonNumericNumbers": "false", "allowSingleQuotes": "false"}


@dataclass
class _Group:
    """Lines of one format and dataset, and the keys they hold."""

    fmt: str
    dataset: str
    lines: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)  # files Spark reads itself
    bad_lines: dict[str, list[bytes]] = field(default_factory=dict)  # path -> rejected lines
    top: set[str] = field(default_factory=set)
    nested: dict[str, set[str]] = field(default_factory=dict)

    @property
    def plan(self) -> m.Plan:
        return m.plan(self.fmt)


def _note_keys(group: _Group, data: Mapping[str, Any]) -> None:
    group.top.update(data)
    for key in group.plan.containers:
        value = data.get(key)
        if isinstance(value, dict):
            group.nested.setdefault(key, set()).update(value)


def _sources(group: _Group) -> dict[str, list[tuple[str, ...]]]:
    """Output column -> its raw sources, first wins: ("top", key) or ("obj", object, key).

    The order of ``huntlab.readers.mapping.normaliser``: renamed top-level fields, then
    renamed children of objects such as ``user``, then flattened objects' keys; aliases after
    their canonical spelling.
    """
    plan = group.plan
    skip = plan.drop | plan.containers
    direct: dict[str, list[tuple[str, ...]]] = {}
    objects: dict[str, list[tuple[str, ...]]] = {}
    for key in sorted(group.top):
        if key not in skip:
            direct.setdefault(plan.rename.get(key, key), []).append(("top", key))
    for parent, children in plan.nested_rename.items():
        for child in sorted(group.nested.get(parent, ())):
            target = children.get(child)
            if target is not None:
                direct.setdefault(target, []).append(("obj", parent, child))
        if group.nested.get(parent, set()) - set(children):
            direct.setdefault(parent, []).append(("rest", parent, *sorted(children)))
    for container in plan.flatten:
        for key in sorted(group.nested.get(container, ())):
            objects.setdefault(key, []).append(("obj", container, key))
    sources = {k: list(v) for k, v in direct.items()}
    for key, found in objects.items():
        sources.setdefault(key, []).extend(found)
    for other, canonical in m.aliases().items():
        if other in sources:
            sources.setdefault(canonical, []).extend(sources.pop(other))
    return sources


def _assume_keys(group: _Group, names: Iterable[str]) -> None:
    """With a known schema, take every raw key that could feed one of its columns (a key
    absent from a record reads as null), so no pass over the data is needed."""
    plan = group.plan
    wanted = set(names)
    wanted.update(other for other, canonical in m.aliases().items() if canonical in wanted)
    group.top.update(wanted)
    group.top.update(k for k, v in plan.rename.items() if v in wanted)
    group.top.update(plan.containers)
    for container in plan.flatten:
        group.nested.setdefault(container, set()).update(wanted)
    for parent, children in plan.nested_rename.items():
        group.nested.setdefault(parent, set()).update(c for c, t in children.items() if t in wanted)


def _schema(names: Iterable[str]) -> StructType:
    from pyspark.sql.types import IntegerType, StringType, StructField, StructType, TimestampType

    ints = set(m.integer_fields())
    ts = m.timestamp_field()
    fields = []
    for name in column_order(names):
        kind = TimestampType() if name == ts else IntegerType() if name in ints else StringType()
        fields.append(StructField(name, kind, True))
    return StructType(fields)


def _parse_schemas(group: _Group) -> tuple[StructType, StructType, list[str], list[str]]:
    """The struct a raw line is parsed into (the keys of the data, every value a string), the
    same struct with positional names, its top-level keys and its object keys."""
    from pyspark.sql.types import StringType, StructField, StructType

    objects = sorted(k for k in group.plan.containers if group.nested.get(k))
    top = sorted(group.top - set(objects))
    real, safe = [], []
    for i, key in enumerate(top):
        real.append(StructField(key, StringType()))
        safe.append(StructField(f"t{i}", StringType()))
    for j, key in enumerate(objects):
        children = sorted(group.nested[key])
        real.append(StructField(key, StructType([StructField(c, StringType()) for c in children])))
        safe.append(
            StructField(
                f"o{j}",
                StructType([StructField(f"e{k}", StringType()) for k in range(len(children))]),
            )
        )
    return StructType(real), StructType(safe), top, objects


def _case_collisions(struct: StructType) -> bool:
    """Whether two names of ``struct`` (or of a struct inside it) differ only in case."""
    from pyspark.sql.types import StructType

    lowered = [f.name.lower() for f in struct.fields]
    if len(set(lowered)) != len(lowered):
        return True
    return any(
        _case_collisions(f.dataType) for f in struct.fields if isinstance(f.dataType, StructType)
    )


def _parsed(spark: SparkSession, group: _Group) -> list[DataFrame]:
    """The group's records as one struct column ``r`` with positional field names.

    Spark's JSON parser fills a struct of the data's keys; a non-string value is kept as its
    JSON text, as the type rules want. The struct gets positional names (``t0``, ``o0.e0``):
    the 2019 records hold ProcessId and ProcessID, which a case-insensitive Spark cannot tell
    apart by name, but can by position. Lines from archives were checked in Python already,
    and so were the bad lines of plain files (``_check_plain``): clean files go to Spark's
    JSON source; files with rejected lines are read as text, without those lines.
    """
    import pandas as pd
    from pyspark.sql import functions as F

    real, safe, _, _ = _parse_schemas(group)
    frames: list[DataFrame] = []
    clean = [p for p in group.paths if p not in group.bad_lines]
    if clean and not _case_collisions(real):
        # Spark's JSON source, faster than from_json over text, when no keys collide (it
        # refuses colliding names, top-level or nested, even with a schema given).
        source = spark.read.schema(real).option("mode", "PERMISSIVE").json(clean)
        raw = source.toDF(*safe.fieldNames())
        fields = [
            F.col(f.name).cast(f.dataType) if f.name.startswith("o") else F.col(f.name)
            for f in safe.fields
        ]
        frames.append(raw.select(F.struct(*fields).alias("r")))
        clean = []
    as_text = clean + [p for p in group.paths if p in group.bad_lines]
    if as_text:
        text = spark.read.text(as_text).where(F.col("value").rlike(_NOT_BLANK))
        rejected = sorted({line for lines in group.bad_lines.values() for line in lines})
        if rejected:
            # The lines rejected in Python, by their bytes (they may not be UTF-8): a line
            # that is not JSON is so wherever it appears, so this drops exactly them.
            drop = spark.createDataFrame(pd.DataFrame({"raw": rejected}), "raw binary")
            same = F.col("value").cast("binary") == drop["raw"]
            text = text.join(F.broadcast(drop), same, "left_anti")
        frames.append(text.select(F.from_json("value", real).cast(safe).alias("r")))
    if group.lines:
        text = spark.createDataFrame(pd.DataFrame({"value": group.lines}), "value string")
        frames.append(text.select(F.from_json("value", real).cast(safe).alias("r")))
    return frames


def _canonical(frame: DataFrame, group: _Group, schema: StructType) -> DataFrame:
    from pyspark.sql import functions as F

    _, _, top, objects = _parse_schemas(group)
    r = F.col("r")
    top_index = {key: i for i, key in enumerate(top)}
    object_index = {key: j for j, key in enumerate(objects)}
    child_index = {key: {c: k for k, c in enumerate(sorted(group.nested[key]))} for key in objects}

    def child(parent: str, key: str) -> Column:
        return r[f"o{object_index[parent]}"][f"e{child_index[parent][key]}"]

    def expr(source: tuple[str, ...]) -> Column:
        if source[0] == "top":
            return r[f"t{top_index[source[1]]}"]
        if source[0] == "obj":
            return child(source[1], source[2])
        # ("rest", parent, mapped...): the object's other keys, as JSON text
        parent, mapped = source[1], set(source[2:])
        rest = F.to_json(
            F.struct(*[child(parent, c).alias(c) for c in child_index[parent] if c not in mapped])
        )
        return F.when(rest != "{}", rest)

    sources = _sources(group)
    columns: dict[str, Column] = {
        name: F.coalesce(*[expr(s) for s in found]) if len(found) > 1 else expr(found[0])
        for name, found in sources.items()
    }
    channels = m.channel_spellings()
    if "Channel" in columns:
        known = F.create_map(*[F.lit(x) for pair in channels.items() for x in pair])
        columns["Channel"] = F.coalesce(known[F.lower(columns["Channel"])], columns["Channel"])
    ts_name = m.timestamp_field()
    stamps = []
    for field_name, fmt in group.plan.time_sources:
        if field_name == ts_name:
            value = r[f"t{top_index[field_name]}"] if field_name in top_index else None
        else:
            value = columns.get(field_name)
        if value is None:
            continue
        if fmt != "iso8601":  # "yyyy-MM-dd HH:mm:ss.SSS" in UTC: make the zone explicit
            value = F.concat(F.regexp_replace(value, " ", "T"), F.lit("Z"))
        stamps.append(value.cast("timestamp"))
    columns[ts_name] = F.coalesce(*stamps) if stamps else F.lit(None)
    columns[m.dataset_field()] = F.lit(group.dataset)
    return frame.select(
        *[columns.get(f.name, F.lit(None)).cast(f.dataType).alias(f.name) for f in schema.fields]
    )


def _open_plain(path: Path) -> io.BufferedIOBase:
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else path.open("rb")


def _first_record(run: Run, path: Path) -> tuple[int, dict[str, Any]] | None:
    """The line number and record of the first JSON object of ``path``, or None when it has
    none. A line before it that is not one raises as in ``huntlab.read_events``; with
    ``errors="skip"`` it is left to ``_check_plain``, which rejects it with the others."""
    import orjson

    with _open_plain(path) as stream:
        for number, line in enumerate(stream, 1):
            if not line.strip():
                continue
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                record = None
            if isinstance(record, dict):
                return number, record
            if run.errors == "raise":
                run.reject(str(path), number, "not a JSON object", line)
    return None


def _reject_lines(run: Run, path: str, first: int) -> tuple[int, list[bytes]]:
    """Scan a plain file that Spark found bad lines in: reject each line that is not a JSON
    object, as ``huntlab.read_events`` does (``errors="raise"`` raises at the first). Returns
    the number of non-blank lines and the rejected ones (without their line ending)."""
    import orjson

    lines, rejected = 0, []
    with _open_plain(Path(path)) as stream:
        for number, line in enumerate(stream, 1):
            if not line.strip():
                continue
            lines += 1
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                # Before the file's first record, pandas does not try it as JSON yet.
                reason = "not a JSON object" if number < first else f"not JSON ({exc})"
            else:
                if type(record) is dict:
                    continue
                reason = "not a JSON object"
            run.reject(path, number, reason, line)
            rejected.append(line.rstrip(b"\r\n"))
    return lines, rejected


def _prefixer(prefix: str) -> Callable[[Column], Column]:
    from pyspark.sql import functions as F

    return lambda key: F.concat(F.lit(prefix), key)


def _local_path(uri: str) -> str:
    """A path as ``input_file_name()`` gives it (``file:///...``), as ``os.path.realpath``."""
    parts = urlsplit(uri)
    return os.path.realpath(unquote(parts.path) if parts.scheme else uri)


def _unreadable(paths: list[str], exc: Exception) -> DataFormatError:
    """The error for plain files Spark could not read (a damaged .gz, typically)."""
    where = paths[0] if len(paths) == 1 else f"{paths[0]} (or one of {len(paths) - 1} more)"
    cause = re.search(r"java\.[\w.$]+(?:Exception|Error)[^\n]*", str(exc))
    return DataFormatError(
        where,
        None,
        f"Spark could not read it ({cause.group(0) if cause else type(exc).__name__})",
        "a damaged or truncated file? huntlab.read_events names the file and line",
    )


def _scan_plain(spark: SparkSession, group: _Group, keys: bool) -> dict[str, tuple[int, int]]:
    """One Spark job over the files Spark reads itself: per file, its non-blank lines and
    those that may not be JSON objects; with ``keys``, the keys of the good lines too."""
    from py4j.protocol import Py4JJavaError
    from pyspark.sql import functions as F

    empty = F.array().cast("array<string>")
    value = F.col("value")
    parsed = F.from_json(value, "map<string,string>", _STRICT_JSON)
    if keys:
        unparsable = parsed.isNull()
    else:
        # Cheaper when the keys are not wanted: a struct that keeps only the failures.
        options = {**_STRICT_JSON, "columnNameOfCorruptRecord": "_corrupt"}
        check = F.from_json(value, "struct<_unused:string,_corrupt:string>", options)
        unparsable = check["_corrupt"].isNotNull()
    not_blank = value.rlike(_NOT_BLANK)
    bad = not_blank & (unparsable | ~value.rlike(_OBJECT_SHAPE))
    # One marker per line ("\0ok\t<file>", "\0bad\t<file>"), counted with the keys.
    marker = F.concat(F.when(bad, F.lit("\0bad\t")).otherwise(F.lit("\0ok\t")), F.input_file_name())
    found = [F.when(not_blank, F.array(marker)).otherwise(empty)]
    if keys:
        good = F.when(~bad, parsed)
        found.append(F.transform(F.map_keys(good), lambda k: F.concat(F.lit("\t"), k)))
        for name in sorted(group.plan.containers):
            obj = F.from_json(good[name], "map<string,string>")
            found.append(F.transform(F.map_keys(obj), _prefixer(name + "\t")))
    every = F.flatten(F.array(*[F.coalesce(k, empty) for k in found]))
    rows = spark.read.text(group.paths).select(F.explode(every).alias("k"))
    try:
        found_rows = rows.groupBy("k").count().collect()
    except Py4JJavaError as exc:
        raise _unreadable(group.paths, exc) from exc
    counts: dict[str, list[int]] = {os.path.realpath(p): [0, 0] for p in group.paths}
    for key, count in found_rows:
        if key.startswith("\0"):
            kind, _, uri = key[1:].partition("\t")
            tally = counts.get(_local_path(uri))
            if tally is None:  # would lose lines from the counts: better to say so
                raise RuntimeError(f"Spark read {uri}, which is none of {group.paths}")
            tally[0] += count
            if kind == "bad":
                tally[1] += count
            continue
        parent, _, child = key.partition("\t")
        if parent:
            group.nested.setdefault(parent, set()).add(child)
        else:
            group.top.add(child)
    return {
        p: (counts[os.path.realpath(p)][0], counts[os.path.realpath(p)][1]) for p in group.paths
    }


def _check_plain(
    spark: SparkSession, group: _Group, run: Run | None, firsts: Mapping[str, int], keys: bool
) -> None:
    """Count the lines of the group's plain files and, in the few files Spark found bad lines
    in, find them in Python: raise at the first (``errors="raise"``) or reject them all, as
    ``huntlab.read_events`` does. Clean files cost one Spark job, folded into the keys pass."""
    for path, (lines, suspect) in _scan_plain(spark, group, keys).items():
        if run is None:
            continue
        if suspect:
            lines, rejected = _reject_lines(run, path, firsts[path])
            if rejected:
                group.bad_lines[path] = rejected
            lines -= len(rejected)
        run.report.read += lines
        run.report.kept += lines


def _groups(
    source: str | Path, run: Run, dataset: str | None, firsts: dict[str, int]
) -> list[_Group]:
    """The groups of ``source``; ``firsts`` receives the line of each plain file's first
    record. Archives, and plain files whose first record is in no known format (or that hold
    no JSON object at all), are read in Python, with the errors, rejects and report of
    ``huntlab.read_events``."""
    from huntlab.readers.events import records_of_files
    from huntlab.readers.sources import list_files, resolve_source

    report = run.report
    path, name = resolve_source(source)
    dataset = dataset or name
    groups: dict[tuple[str, str], _Group] = {}
    in_python: list[Path] = []
    for file in list_files(path):
        first = _first_record(run, file) if file.name.lower().endswith(_SPARK_NATIVE) else None
        fmt = m.detect_event_format(first[1]) if first else None
        if first is None or fmt is None:
            if first and m.detect_table_format(first[1]):
                report.skipped[str(file)] = "table: read it with huntlab.readers.read_table"
            else:
                in_python.append(file)
            continue
        ds = dataset or m.dataset_name_from_file(file.name)
        group = groups.setdefault((fmt, ds), _Group(fmt, ds))
        group.paths.append(str(file))
        firsts[str(file)] = first[0]
        report.files[str(file)] = fmt
    # One run for all files: one rejects file, one report, as in huntlab.read_events.
    for record in records_of_files(run, in_python, dataset, str(path)):
        key = (record.format, record.dataset)
        group = groups.setdefault(key, _Group(record.format, record.dataset))
        group.lines.append(record.raw.decode("utf-8"))
        _note_keys(group, record.data)
        report.kept += 1
    if not groups:
        raise DataFormatError(
            str(path),
            None,
            "no Windows event file here",
            "read tables with huntlab.readers.read_table",
        )
    return list(groups.values())


def event_schema(
    spark: SparkSession, source: str | Path, *, dataset: str | None = None
) -> StructType:
    """The canonical schema of ``source`` (columns from the keys present in the data; lines
    of plain files that are not JSON objects are left out, not reported)."""
    from huntlab.readers.events import Run

    names: set[str] = set()
    run = Run(str(source), "raise", None, ReadReport())
    firsts: dict[str, int] = {}
    for group in _groups(source, run, dataset, firsts):
        if group.paths:
            _check_plain(spark, group, None, firsts, keys=True)
        names.update(_sources(group))
    return _schema(names)


def read_events(
    spark: SparkSession,
    source: str | Path,
    *,
    errors: Errors = "raise",
    rejects: str | Path | None = None,
    report: ReadReport | None = None,
    dataset: str | None = None,
    schema: StructType | None = None,
) -> DataFrame:
    """The canonical event table of ``source`` as a Spark DataFrame: the same columns, types
    and values as ``huntlab.read_events`` (docs/event-mapping.md).

    ``schema``: the output columns when already known (``event_schema``), which makes the
    pass over plain JSON files count and check their lines only, not collect their keys.
    ``errors``/``rejects``/``report`` work as in ``huntlab.read_events``, for archives and
    plain files alike: ``errors="raise"`` raises ``DataFormatError`` with the file and line
    before any Spark job runs on the rows; ``"skip"`` writes bad lines to ``rejects`` and
    leaves them out. The report is filled when this returns (``read == kept + rejected``).
    """
    from huntlab.readers.events import Run

    report = report if report is not None else ReadReport()
    run = Run(str(source), errors, rejects, report)
    firsts: dict[str, int] = {}
    try:
        groups = _groups(source, run, dataset, firsts)
        for group in groups:
            if group.paths:
                _check_plain(spark, group, run, firsts, keys=schema is None)
    finally:
        run.close()
    if schema is None:
        names: set[str] = set()
        for group in groups:
            names.update(_sources(group))
        schema = _schema(names)
    else:
        for group in groups:
            if group.paths:
                _assume_keys(group, schema.fieldNames())
    frames: list[DataFrame] = []
    for group in groups:
        frames.extend(_canonical(p, group, schema) for p in _parsed(spark, group))
    result = frames[0]
    for other in frames[1:]:
        result = result.unionByName(other)
    return result
