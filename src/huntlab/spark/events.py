"""Recordings into the canonical event table in Spark (same table as ``huntlab.read_events``).

``read_events`` runs the mapping's compiled rules (``huntlab.readers.mapping.plan``) inside
Spark: each line is parsed by Spark's own JSON parser into a struct of string fields (a fixed
schema: no inference pass, no case-collision failure, every non-string value kept as its JSON
text, as the type rules want), then one projection builds the canonical columns.

Which records are kept is decided once, in Python, by the pandas reader's own loop
(``huntlab.readers.records_of_files`` then ``normalised``): the same bounds (record size,
decompression), the same rejects for the same reasons, the same errors, and the keys that
make the output columns. Plain JSON-lines files are then read by Spark directly, without the
lines that loop rejected (and with Hadoop's line-length bound at the record bound, so an
over-long line is never held); records of archives, .evtx files and evtx_dump JSON (which
Spark cannot open) are handed over as lines, in batches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from huntlab.errors import DataFormatError
from huntlab.readers import (
    MAX_DECOMPRESSION_RATIO,
    MAX_RECORD_BYTES,
    Errors,
    Limits,
    ReadReport,
    Run,
    evtx_file_kind,
    list_files,
    normalised,
    records_of_files,
    resolve_source,
)
from huntlab.readers import mapping as m
from huntlab.readers.frame import column_order

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession
    from pyspark.sql.types import StructType

# Files Spark reads itself (line-oriented JSON, optionally gzip); archives go through Python.
_SPARK_NATIVE = (".json", ".jsonl", ".ndjson", ".json.gz", ".jsonl.gz")
# A line that is not blank (Java's \s is Python's bytes.strip() set).
_NOT_BLANK = r"\S"
# Hadoop's LineRecordReader skips a line of this many bytes or more (line ending included).
_MAX_LINE = "mapreduce.input.linerecordreader.line.maxlength"
# Records handed over from Python per DataFrame: bounds what Python holds at once.
_BATCH = 50_000


@dataclass
class _Group:
    """Records of one format and dataset, and the keys they hold."""

    fmt: str
    dataset: str
    lines: list[str] = field(default_factory=list)  # the batch not yet handed to Spark
    batches: list[DataFrame] = field(default_factory=list)  # lines handed over
    paths: list[str] = field(default_factory=list)  # files Spark reads itself
    bad_lines: dict[str, list[bytes]] = field(default_factory=dict)  # path -> rejected lines
    columns: set[str] = field(default_factory=set)  # the canonical events' keys
    top: set[str] = field(default_factory=set)
    nested: dict[str, set[str]] = field(default_factory=dict)
    mixed: set[str] = field(default_factory=set)  # containers also seen holding a non-object

    @property
    def plan(self) -> m.Plan:
        return m.plan(self.fmt)

    def flush(self, spark: SparkSession) -> None:
        import pandas as pd

        if self.lines:
            frame = pd.DataFrame({"value": self.lines})
            self.batches.append(spark.createDataFrame(frame, "value string"))
            self.lines = []


class _Run(Run):
    """A read that also keeps the rejected lines of the files Spark reads itself (to drop
    them there); ``quiet`` counts and raises nothing (``event_schema``)."""

    def __init__(
        self,
        source: str,
        errors: Errors,
        rejects: str | Path | None,
        report: ReadReport,
        limits: Limits,
        native: set[str],
        quiet: bool = False,
    ) -> None:
        super().__init__(source, "raise" if quiet else errors, rejects, report, limits)
        self.native = native
        self.quiet = quiet
        self.dropped: dict[str, list[bytes]] = {}

    def reject(
        self,
        file: str,
        line: int | None,
        reason: str,
        raw: bytes,
        hint: str = "",
        size: int | None = None,
    ) -> None:
        if not self.quiet:
            super().reject(file, line, reason, raw, hint, size)
        # Over-long lines (size given) never reach Spark: Hadoop's bound skips them.
        if file in self.native and size is None and raw.strip():
            self.dropped.setdefault(file, []).append(raw.removesuffix(b"\n"))


def _note_keys(group: _Group, data: Mapping[str, Any]) -> None:
    group.top.update(data)
    for key in group.plan.containers:
        value = data.get(key)
        if isinstance(value, dict):
            group.nested.setdefault(key, set()).update(value)
        elif value is not None:  # kept as text under its own name, as the normaliser does
            group.mixed.add(key)


def _sources(group: _Group) -> dict[str, list[tuple[str, ...]]]:
    """Output column -> its raw sources, first wins: ("top", key), ("obj", object, key),
    ("rest", object, mapped keys...) or ("text", container) (a container's value when it
    is not an object).

    The order of ``huntlab.readers.mapping.normaliser``: renamed top-level fields, then
    renamed children of objects such as ``user``, then flattened objects' keys; aliases after
    their canonical spelling.
    """
    plan = group.plan
    skip = plan.drop | plan.containers
    direct: dict[str, list[tuple[str, ...]]] = {}
    objects: dict[str, list[tuple[str, ...]]] = {}
    for key in sorted(group.top):
        if key in group.mixed and key not in plan.drop:
            direct.setdefault(plan.rename.get(key, key), []).append(("text", key))
        elif key not in skip:
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


def _schema(names: Iterable[str]) -> StructType:
    from pyspark.sql.types import (
        DataType,
        IntegerType,
        LongType,
        StringType,
        StructField,
        StructType,
        TimestampType,
    )

    ints = set(m.integer_fields())
    ts = m.timestamp_field()
    fields = []
    for name in column_order(names):
        kind: DataType
        if name == ts:
            kind = TimestampType()
        elif name in ints:
            kind = IntegerType() if m.integer_bits(name) == 32 else LongType()
        else:
            kind = StringType()
        fields.append(StructField(name, kind, True))
    return StructType(fields)


@dataclass
class _Layout:
    """How a raw line is parsed: into ``real`` (the data's keys, every value a string, the
    containers that only ever hold objects as structs), whose fields are then renamed by
    position (``names``), then ``r``: top-level keys as ``t0``..., objects as ``o0``...
    with children ``e0``... (a container also seen holding something else is parsed as
    text, ``t``, and its object read from that text)."""

    real: StructType
    names: list[str]
    top: list[str]
    objects: list[str]
    children: dict[str, list[str]]
    mixed: set[str]

    def r(self, field_of: Callable[[str], Column]) -> Column:
        """The ``r`` struct from the positional fields (``field_of(name)``)."""
        from pyspark.sql import functions as F
        from pyspark.sql.types import StringType, StructField, StructType

        fields = [field_of(f"t{i}").alias(f"t{i}") for i in range(len(self.top))]
        for j, key in enumerate(self.objects):
            children = self.children[key]
            safe = StructType([StructField(f"e{k}", StringType()) for k in range(len(children))])
            if key in self.mixed:
                text = field_of(f"t{self.top.index(key)}")
                real = StructType([StructField(c, StringType()) for c in children])
                value = F.from_json(F.when(text.startswith("{"), text), real).cast(safe)
            else:
                value = field_of(f"o{j}").cast(safe)
            fields.append(value.alias(f"o{j}"))
        return F.struct(*fields).alias("r")


def _layout(group: _Group) -> _Layout:
    from pyspark.sql.types import StringType, StructField, StructType

    objects = sorted(k for k in group.plan.containers if group.nested.get(k))
    mixed = group.mixed & set(objects)
    top = sorted((group.top - set(objects)) | mixed)
    children = {key: sorted(group.nested[key]) for key in objects}
    real, names = [], []
    for i, key in enumerate(top):
        real.append(StructField(key, StringType()))
        names.append(f"t{i}")
    for j, key in enumerate(objects):
        if key not in mixed:
            struct = StructType([StructField(c, StringType()) for c in children[key]])
            real.append(StructField(key, struct))
            names.append(f"o{j}")
    return _Layout(StructType(real), names, top, objects, children, mixed)


def _case_collisions(struct: StructType) -> bool:
    """Whether two names of ``struct`` (or of a struct inside it) differ only in case."""
    from pyspark.sql.types import StructType

    lowered = [f.name.lower() for f in struct.fields]
    if len(set(lowered)) != len(lowered):
        return True
    return any(
        _case_collisions(f.dataType) for f in struct.fields if isinstance(f.dataType, StructType)
    )


def _parsed(spark: SparkSession, group: _Group, max_record_bytes: int) -> list[DataFrame]:
    """The group's records as one struct column ``r`` with positional field names.

    Spark's JSON parser fills a struct of the data's keys; a non-string value is kept as its
    JSON text, as the type rules want. The struct gets positional names (``t0``, ``o0.e0``):
    the 2019 records hold ProcessId and ProcessID, which a case-insensitive Spark cannot tell
    apart by name, but can by position. Clean plain files go to Spark's JSON source; files
    with rejected lines are read as text, without those lines. Both skip a line over the
    record bound, which the Python pass rejected.
    """
    import pandas as pd
    from pyspark.sql import functions as F
    from pyspark.sql.types import StructField, StructType

    layout = _layout(group)
    real = layout.real
    positional = StructType(
        [StructField(n, f.dataType) for n, f in zip(layout.names, real.fields, strict=True)]
    )
    # Hadoop skips a line of maxlength bytes or more, line ending included; the readers
    # reject one of more than max_record_bytes. Lines end at "\n" only, as in Python
    # (Hadoop's default also ends one at a lone "\r", which would make two of one record).
    bound = {_MAX_LINE: str(max_record_bytes + 1), "lineSep": "\n"}

    def from_text(text: DataFrame) -> DataFrame:
        # The parse in a projection of its own: ``layout.r`` reads it once per field, and in
        # one projection that could parse the line once per field.
        parsed = text.select(F.from_json("value", real).cast(positional).alias("p"))
        return parsed.select(layout.r(lambda name: F.col("p")[name]))

    frames: list[DataFrame] = []
    clean = [p for p in group.paths if p not in group.bad_lines]
    if clean and not _case_collisions(real):
        # Spark's JSON source, faster than from_json over text, when no keys collide (it
        # refuses colliding names, top-level or nested, even with a schema given).
        source = spark.read.schema(real).options(**bound).option("mode", "PERMISSIVE")
        raw = source.json(clean).toDF(*layout.names)
        frames.append(raw.select(layout.r(F.col)))
        clean = []
    as_text = clean + [p for p in group.paths if p in group.bad_lines]
    if as_text:
        text = spark.read.options(**bound).text(as_text).where(F.col("value").rlike(_NOT_BLANK))
        rejected = sorted({line for lines in group.bad_lines.values() for line in lines})
        if rejected:
            # The lines rejected in Python, by their bytes (Spark's text source keeps them
            # as read, even when not UTF-8, a "\r" before the "\n" included): a line rejected for its content is rejected
            # wherever it appears, so this drops exactly them.
            drop = spark.createDataFrame(pd.DataFrame({"raw": rejected}), "raw binary")
            same = F.col("value").cast("binary") == drop["raw"]
            text = text.join(F.broadcast(drop), same, "left_anti")
        frames.append(from_text(text))
    frames.extend(from_text(batch) for batch in group.batches)
    return frames


def _canonical(frame: DataFrame, group: _Group, schema: StructType) -> DataFrame:
    from pyspark.sql import functions as F

    layout = _layout(group)
    top, objects = layout.top, layout.objects
    r = F.col("r")
    top_index = {key: i for i, key in enumerate(top)}
    object_index = {key: j for j, key in enumerate(objects)}
    child_index = {key: {c: k for k, c in enumerate(layout.children[key])} for key in objects}

    def child(parent: str, key: str) -> Column:
        return r[f"o{object_index[parent]}"][f"e{child_index[parent][key]}"]

    def expr(source: tuple[str, ...]) -> Column:
        if source[0] == "top":
            return r[f"t{top_index[source[1]]}"]
        if source[0] == "text":  # a container's value when it is not an object
            text = r[f"t{top_index[source[1]]}"]
            return F.when(~text.startswith("{"), text)
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
        # Milliseconds, as the readers keep them (evtx times carry microseconds).
        stamps.append(F.date_trunc("millisecond", value.cast("timestamp")))
    columns[ts_name] = F.coalesce(*stamps) if stamps else F.lit(None)
    columns[m.dataset_field()] = F.lit(group.dataset)
    return frame.select(
        *[columns.get(f.name, F.lit(None)).cast(f.dataType).alias(f.name) for f in schema.fields]
    )


def _groups(
    spark: SparkSession, run: _Run, path: Path, files: list[Path], dataset: str | None
) -> list[_Group]:
    """The groups of ``files``, read once in Python by the pandas reader's loop (one run
    for all files: one rejects file, one report, as in ``huntlab.read_events``)."""
    groups: dict[tuple[str, str], _Group] = {}
    native = run.native
    report = run.report
    for record, event in normalised(run, records_of_files(run, files, dataset, str(path))):
        report.kept += 1
        key = (record.format, record.dataset)
        group = groups.get(key)
        if group is None:
            group = groups[key] = _Group(record.format, record.dataset)
        _note_keys(group, record.data)
        group.columns.update(event)
        if record.file in native:
            if not group.paths or group.paths[-1] != record.file:
                group.paths.append(record.file)
        else:
            group.lines.append(record.raw.decode("utf-8"))
            if len(group.lines) >= _BATCH:
                group.flush(spark)
    if not groups:
        raise DataFormatError(
            str(path),
            None,
            "no Windows event file here",
            "read tables with huntlab.readers.read_table",
        )
    for group in groups.values():
        group.flush(spark)
        group.bad_lines = {p: run.dropped[p] for p in group.paths if p in run.dropped}
    return list(groups.values())


def _read(
    spark: SparkSession,
    source: str | Path,
    run_args: dict[str, Any],
    dataset: str | None,
    limits: Limits,
    quiet: bool,
) -> tuple[list[_Group], int]:
    path, name = resolve_source(source)
    files = list_files(path)
    native = {
        str(f) for f in files if f.name.lower().endswith(_SPARK_NATIVE) and not evtx_file_kind(f)
    }
    run = _Run(str(source), limits=limits, native=native, quiet=quiet, **run_args)
    try:
        return _groups(spark, run, path, files, dataset or name), limits.max_record_bytes
    finally:
        run.close()


def _from_table_cache(
    spark: SparkSession,
    source: str | Path,
    errors: Errors,
    dataset: str | None,
    limits: Limits,
    schema: StructType | None,
    report: ReadReport,
) -> DataFrame | None:
    """The table of ``source`` from the table cache, as the pandas reader left it (its
    categorical or its plain read: the same values), or None."""
    from pyspark.sql import functions as F

    from huntlab.readers import cache as table_cache
    from huntlab.readers.events import _check_errors

    _check_errors(errors)
    if not table_cache.enabled():
        return None
    table_cache.max_bytes()  # a bound that is not a size: said before anything is read
    if not table_cache.trusted(table_cache.tables_dir()):
        return None
    entry = table_cache.prepare(
        source, dataset=dataset, categorical=True, limits=limits, errors=errors
    )
    if entry is None:
        return None
    for categorical in (True, False):
        params = {**entry.params, "categorical": categorical}
        found = table_cache.spark_copy(
            table_cache.Entry(entry.source, entry.path, entry.dataset, entry.files, params)
        )
        if found is not None:
            break
    else:
        table_cache.remember(entry)
        return None
    path, names, counts = found
    wanted = schema if schema is not None else _schema(names)
    position = {name: i for i, name in enumerate(names)}
    frame = spark.read.parquet(str(path))
    counts.add_to(report)
    dataset_name = m.dataset_field()

    def column(name: str) -> Column:
        if name not in position:
            return F.lit(None)
        # By position: names that differ only in case (ProcessId, processid) are two columns.
        found = F.col(f"c{position[name]}")
        # Every event has its dataset: not nullable, as in a parse (a literal per group).
        return F.coalesce(found, F.lit("")) if name == dataset_name else found

    return frame.select(*[column(f.name).cast(f.dataType).alias(f.name) for f in wanted.fields])


def event_schema(
    spark: SparkSession,
    source: str | Path,
    *,
    dataset: str | None = None,
    max_record_bytes: int = MAX_RECORD_BYTES,
    max_decompression_ratio: int = MAX_DECOMPRESSION_RATIO,
) -> StructType:
    """The canonical schema of ``source`` (columns from the keys of the records kept; bad
    records are left out, not reported)."""
    limits = Limits(max_record_bytes, max_decompression_ratio)
    args: dict[str, Any] = {"errors": "raise", "rejects": None, "report": ReadReport()}
    groups, _ = _read(spark, source, args, dataset, limits, quiet=True)
    return _schema({name for group in groups for name in group.columns})


def read_events(
    spark: SparkSession,
    source: str | Path,
    *,
    errors: Errors = "raise",
    rejects: str | Path | None = None,
    report: ReadReport | None = None,
    dataset: str | None = None,
    schema: StructType | None = None,
    max_record_bytes: int = MAX_RECORD_BYTES,
    max_decompression_ratio: int = MAX_DECOMPRESSION_RATIO,
    cache: bool = True,
) -> DataFrame:
    """The canonical event table of ``source`` as a Spark DataFrame: the same columns, types
    and values as ``huntlab.read_events`` (docs/event-mapping.md).

    ``source``: as for ``huntlab.read_events`` (archives, JSON-lines files, folders, .evtx
    files and evtx_dump JSON). ``schema``: the output columns when already known
    (``event_schema``). ``errors``/``rejects``/``report``, ``max_record_bytes`` and
    ``max_decompression_ratio`` work as in ``huntlab.read_events``, and the same records are
    kept or rejected for the same reasons: ``errors="raise"`` raises ``DataFormatError``
    with the file and line before any Spark job runs on the rows; ``"skip"`` writes bad
    records to ``rejects`` and leaves them out. The report is filled when this returns
    (``read == kept + rejected``).

    When ``huntlab.read_events`` (pandas) has read the same files with the same parameters,
    the table comes from the table cache (docs/datasets.md, "Table cache"): a Parquet copy of
    the cached table, which Spark reads itself, with the counts of the read that made it.
    ``cache=False`` (or ``HUNTLAB_TABLE_CACHE=0``) always parses.
    """
    limits = Limits(max_record_bytes, max_decompression_ratio)
    report = report if report is not None else ReadReport()
    if cache:
        cached = _from_table_cache(spark, source, errors, dataset, limits, schema, report)
        if cached is not None:
            return cached
    args: dict[str, Any] = {"errors": errors, "rejects": rejects, "report": report}
    groups, bound = _read(spark, source, args, dataset, limits, quiet=False)
    if schema is None:
        schema = _schema({name for group in groups for name in group.columns})
    frames: list[DataFrame] = []
    for group in groups:
        frames.extend(_canonical(p, group, schema) for p in _parsed(spark, group, bound))
    result = frames[0]
    for other in frames[1:]:
        # By position: every frame has the schema's columns in its order, and names that
        # differ only in case (ProcessId, processid) would trip unionByName.
        result = result.union(other)
    return result
