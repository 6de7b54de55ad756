"""What a converted playbook hunt calls to load its recording and run its SQL.

- :func:`pandas_frame`: the canonical table (``huntlab.read_events``) as ``df``, plus each
  merged alias under the raw spelling the playbook's pandas code uses (``df['LogonID']``);
- :func:`spark_table`: the view ``dataTable`` over the canonical table in Spark (or over the
  lab's Elasticsearch), one column per case-insensitive name;
- :func:`run_sql`: the playbook's SQL, written for HELK's Spark 2.4, run on Spark 3.5 (see
  :func:`rewrite_sql` for what is read differently, and why).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from huntlab.errors import HuntlabError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession

    from huntlab.settings import Settings

VIEW = "dataTable"
ESCAPED_LITERALS = "spark.sql.parser.escapedStringLiterals"
CASE_SENSITIVE = "spark.sql.caseSensitive"
# The connector turns Spark's filters into Elasticsearch queries that do not match as Spark
# does: LIKE '%LMCompatibilityLevel' finds nothing among keywords holding backslashes (the
# playbook's registry paths). Spark filters the dataset's events itself instead.
NO_PUSHDOWN = {"es.internal.spark.sql.pushdown": "false"}


# --- pandas -------------------------------------------------------------------------------------


def pandas_frame(dataset: str | Path, *, es: Settings | None = None) -> pd.DataFrame:
    """The canonical event table of ``dataset`` (a name, id, file or folder), with each alias
    of mapping.json (``LogonID`` -> ``LogonId``) also under its raw spelling, on the rows
    whose record held that spelling, so that the playbook's ``df['LogonID']`` finds what
    ``pd.read_json`` would have put there. Spark SQL needs no such column: it resolves names
    case-insensitively. With ``es`` (the lab's settings): the events of the lab's
    Elasticsearch instead (:func:`pandas_frame_es`)."""
    import pandas as pd

    import huntlab

    if es is not None:
        return pandas_frame_es(dataset, es)

    # Plain object columns, not the reader's category columns: the playbook's code calls
    # .apply and .map, which on a category column run over every category of the column,
    # not over the rows (`.apply(int)` meets the hex ProcessId of another event and fails).
    frame = huntlab.read_events(dataset, categorical=False)
    wanted = _raw_spellings_wanted(frame)
    if not wanted:
        return frame
    held = _rows_holding(dataset, list(wanted), len(frame))
    # The canonical column's value on those rows: the raw value, or the canonical spelling's
    # where a record held both (the reader kept that one).
    added = {raw: frame[canon].where(held[raw]) for raw, canon in wanted.items() if held[raw].any()}
    if not added:
        return frame
    return pd.concat([frame, pd.DataFrame(added, index=frame.index)], axis=1)


def _raw_spellings_wanted(frame: pd.DataFrame) -> dict[str, str]:
    """Raw spelling -> canonical column, for the merged aliases the table has a column of
    under the canonical spelling only."""
    return {
        raw: canon
        for raw, canon in _aliases().items()
        if canon in frame.columns and raw not in frame.columns
    }


def _aliases() -> dict[str, str]:
    from huntlab.readers import mapping

    return mapping.aliases()


def _rows_holding(
    dataset: str | Path, keys: Sequence[str], rows: int
) -> dict[str, npt.NDArray[np.bool_]]:
    """For each key, which rows' records held it (at the top level or in an object the
    mapping flattens, where the reader takes fields from).

    Why a second pass over the records: "the recording holds LogonID" is a fact about each
    record, not about the table, where the reader merged it into LogonId (a LogonId column
    says nothing about which spelling a row had: Sysmon writes LogonId, Security's 4778
    LogonID). Parsing the records again costs a fifth of the read (orjson, no
    normalising), and it reads the same files in the same order as ``read_events``, so the
    n-th record is the n-th row; a count that differs is an error, never a guess.
    """
    import numpy as np

    from huntlab.readers import iter_records
    from huntlab.readers import mapping as m

    formats = m.mapping()["formats"]
    flat: dict[str, tuple[str, ...]] = {}
    masks = {key: np.zeros(rows, dtype=bool) for key in keys}
    count = 0
    for record in iter_records(dataset):
        if count < rows:
            data = record.data
            containers = flat.get(record.format)
            if containers is None:
                containers = tuple(formats.get(record.format, {}).get("flatten", ()))
                flat[record.format] = containers
            for key in keys:
                if key in data or any(
                    isinstance(data.get(c), dict) and key in data[c] for c in containers
                ):
                    masks[key][count] = True
        count += 1
    if count != rows:
        raise HuntlabError(
            f"{dataset}: {count} records but {rows} rows in the table, so huntlab cannot tell "
            f"which rows held {', '.join(keys)}; read it with huntlab.read_events and use the "
            "canonical columns (" + ", ".join(_aliases()[k] for k in keys) + ")"
        )
    return masks


# --- Spark --------------------------------------------------------------------------------------


def spark_table(
    spark: SparkSession,
    dataset: str | Path,
    *,
    view: str | Sequence[str] = VIEW,
    es: Settings | None = None,
    notes: Callable[[str], None] | None = print,
) -> DataFrame:
    """Register the view ``view`` (one name or several) over the canonical table of
    ``dataset`` and return its DataFrame: read by Spark from the recording
    (``huntlab.spark.read_events``) or, with ``es`` (the lab's settings), from the lab's
    Elasticsearch (the events whose ``Dataset`` is the dataset's name, as ``huntlab load``
    wrote them).

    Spark SQL resolves names case-insensitively, so a table holding two columns whose names
    differ only in case (Sysmon writes ``SourceProcessGuid`` in event 8 and
    ``SourceProcessGUID`` in event 10) cannot be queried by either name
    (AMBIGUOUS_REFERENCE). The view holds them as one column, under the first spelling, the
    first non-null value of each row; ``notes`` is told which.
    """
    if es is None:
        from huntlab.spark import read_events

        frame = read_events(spark, dataset)
    else:
        frame = _read_es(spark, dataset, es)
    frame, merged = one_column_per_name(frame)
    if notes is not None:
        for names in merged:
            notes(
                f"huntlab: columns {', '.join(names)} differ only in case, which Spark SQL "
                f"cannot tell apart; the view holds them as one column, {names[0]}"
            )
    for name in [view] if isinstance(view, str) else view:
        frame.createOrReplaceTempView(name)
    return frame


def one_column_per_name(frame: DataFrame) -> tuple[DataFrame, list[list[str]]]:
    """``frame`` with columns whose names differ only in case merged into one (the first
    spelling; ``coalesce`` of them, as text when their types differ), and the groups
    merged."""
    from pyspark.sql import functions as F

    groups: dict[str, list[int]] = {}
    for index, name in enumerate(frame.columns):
        groups.setdefault(name.lower(), []).append(index)
    if all(len(g) == 1 for g in groups.values()):
        return frame, []
    names = frame.columns
    types = [f.dataType for f in frame.schema.fields]
    # Positional names first: the clashing names cannot be referred to by name.
    positional = frame.toDF(*[f"_c{i}" for i in range(len(names))])
    columns = []
    merged: list[list[str]] = []
    for indexes in groups.values():
        first = names[indexes[0]]
        if len(indexes) == 1:
            columns.append(F.col(f"_c{indexes[0]}").alias(first))
            continue
        same_type = len({types[i].simpleString() for i in indexes}) == 1
        parts = [F.col(f"_c{i}") if same_type else F.col(f"_c{i}").cast("string") for i in indexes]
        columns.append(F.coalesce(*parts).alias(first))
        merged.append([names[i] for i in indexes])
    return positional.select(*columns), merged


class NotLoaded(HuntlabError):
    """A dataset with no events in the lab's Elasticsearch."""


def _read_es(spark: SparkSession, dataset: str | Path, settings: Settings) -> DataFrame:
    """The dataset's events through the connector, with the columns of the fields its
    events hold, as its recording read by Spark has.

    The connector's schema is the mapping of every index of the alias: every field of every
    dataset loaded (null columns the recording does not have), and, once one held them both,
    names that differ only in case (``SourceProcessGuid``, ``SourceProcessGUID``), which
    Spark refuses at load time (COLUMN_ALREADY_EXISTS) unless told to tell case apart. So
    the read asks for this dataset's fields only, case-sensitively; :func:`spark_table` then
    merges what differs only in case, as over the files.
    """
    from huntlab.spark import read_es

    index, query = es_dataset_query(dataset, settings)
    fields = _fields_held(index, query, settings)
    previous = spark.conf.get(CASE_SENSITIVE, "false")
    spark.conf.set(CASE_SENSITIVE, "true")
    try:
        return read_es(spark, index, query=query, settings=settings, fields=fields, **NO_PUSHDOWN)
    finally:
        spark.conf.set(CASE_SENSITIVE, previous if previous is not None else "false")


def _fields_held(index: str, query: dict[str, Any], settings: Settings) -> list[str]:
    """The mapped fields that at least one event matching ``query`` holds: one request, a
    filter per field of the indexes' mappings."""
    from huntlab.es.client import client

    es = client(settings)
    mappings = es.indices.get_mapping(index=index).body
    names = sorted(
        {name for m in mappings.values() for name in m["mappings"].get("properties", {})}
    )
    # A keyword over ignore_above is not indexed, so not found by exists: _ignored names it.
    filters = {
        f"f{i}": {"bool": {"should": [{"exists": {"field": name}}, {"term": {"_ignored": name}}]}}
        for i, name in enumerate(names)
    }
    body = es.search(
        index=index, query=query, size=0, aggs={"held": {"filters": {"filters": filters}}}
    ).body
    buckets = body["aggregations"]["held"]["buckets"]
    return [name for i, name in enumerate(names) if buckets[f"f{i}"]["doc_count"] > 0]


def es_dataset_query(dataset: str | Path, settings: Settings) -> tuple[str, dict[str, Any]]:
    """The index and query of ``dataset``'s events in the lab's Elasticsearch (those whose
    ``Dataset`` is its name, as ``huntlab load`` wrote them); none there is an error that
    says to load them, never an empty table."""
    from huntlab.es.client import check, client
    from huntlab.es.indices import ALIAS
    from huntlab.readers.mapping import dataset_field

    name = es_dataset_name(dataset)
    query: dict[str, Any] = {"bool": {"filter": [{"term": {dataset_field(): name}}]}}
    es = client(settings)
    check(es, settings)
    found = es.options(ignore_status=404).count(index=ALIAS, query=query)
    if int(found.body.get("count", 0)) == 0:
        raise NotLoaded(
            f"no events of {name} in {ALIAS!r} at {settings.es_url}; load them with "
            f"`huntlab load {name}`, or read the recording (without es=)"
        )
    return ALIAS, query


def es_dataset_name(dataset: str | Path) -> str:
    """The ``Dataset`` value of ``dataset`` (a name, or a file named after it)."""
    from huntlab.readers.mapping import dataset_name_from_file

    text = str(dataset)
    return dataset_name_from_file(Path(text).name) if ("/" in text or "." in text) else text


def pandas_frame_es(
    dataset: str | Path,
    settings: Settings,
    *,
    records: str | Path | None = None,
    notes: Callable[[str], None] | None = print,
) -> pd.DataFrame:
    """:func:`pandas_frame` over the lab's Elasticsearch: the canonical table of
    ``dataset``'s events there (``huntlab.es.search``, plain object columns), with each
    alias also under its raw spelling (``LogonID``) on the rows whose record held it.

    Which record spelled ``LogonID`` rather than ``LogonId`` is a fact of the records that
    the index does not keep (it holds the canonical names only). So, when the table has an
    aliased column, huntlab reads the spellings from the recording (``records``, default
    ``dataset`` itself: a name, id, file or folder), as :func:`pandas_frame` does, and asks
    Elasticsearch for the events of those records by their ids (the n-th record of a
    dataset is its n-th document, ``huntlab.es.loader.doc_id``). Without the recording the
    raw spellings are left out, and ``notes`` is told why.
    """
    import pandas as pd

    from huntlab.es import search
    from huntlab.es.loader import doc_id
    from huntlab.readers.frame import column_order

    index, query = es_dataset_query(dataset, settings)
    frame = search(query, index=index, settings=settings, categorical=False)
    wanted = _raw_spellings_wanted(frame)
    if not wanted:
        return frame
    source = dataset if records is None else records
    try:
        held = _rows_holding(source, list(wanted), len(frame))
    except (HuntlabError, OSError) as exc:
        if notes is not None:
            notes(
                f"huntlab: no {', '.join(wanted)} columns (the raw spellings of "
                f"{', '.join(wanted.values())}): which events spelled them so is in the "
                f"recording's records, not in Elasticsearch, and reading them failed: {exc}"
            )
        return frame
    # Records by the raw spellings they held; the documents of each group fetched by id.
    groups: dict[tuple[str, ...], list[int]] = {}
    for ordinal in range(len(frame)):
        keys = tuple(raw for raw in wanted if held[raw][ordinal])
        if keys:
            groups.setdefault(keys, []).append(ordinal)
    if not groups:
        return frame
    del frame
    name = es_dataset_name(dataset)

    def ids(ordinals: list[int]) -> dict[str, Any]:
        return {"ids": {"values": [doc_id(name, n) for n in ordinals]}}

    every = [n for ordinals in groups.values() for n in ordinals]
    rest = {"bool": {"filter": query["bool"]["filter"], "must_not": [ids(every)]}}
    parts = [search(rest, index=index, settings=settings, categorical=False)]
    for keys, ordinals in groups.items():
        only = {"bool": {"filter": [*query["bool"]["filter"], ids(ordinals)]}}
        part = search(only, index=index, settings=settings, categorical=False)
        if len(part) != len(ordinals):
            raise HuntlabError(
                f"{name}: {len(ordinals)} records spelled {', '.join(keys)} but "
                f"{len(part)} of their events are in {index!r} at {settings.es_url}; the "
                f"index holds another load of the recording: load it again with "
                f"`huntlab load {name}`"
            )
        parts.append(part.assign(**{raw: part[wanted[raw]] for raw in keys}))
    # The raw columns hold their canonical column's type, null where a record lacked them.
    for i, part in enumerate(parts):
        nothing = pd.Series(False, index=part.index)
        missing = {
            raw: part[canon].where(nothing)
            for raw, canon in wanted.items()
            if raw not in part.columns and canon in part.columns
        }
        if missing:
            parts[i] = part.assign(**missing)
    table = pd.concat(parts, ignore_index=True)
    table = table[column_order(table.columns)]
    return table.sort_values("@timestamp", kind="stable").reset_index(drop=True)


# --- the playbook's SQL -------------------------------------------------------------------------


@dataclass(frozen=True)
class Rewrite:
    """One string literal of a query read the playbook's way (see :func:`rewrite_sql`)."""

    written: str  # the literal as written, quotes included
    runs_as: str  # the Spark 3.5 literal that replaces it


# Functions whose second argument is a Java regular expression.
_REGEX_FUNCTIONS = frozenset(
    {
        "split",
        "rlike",
        "regexp",
        "regexp_like",
        "regexp_extract",
        "regexp_extract_all",
        "regexp_replace",
        "regexp_count",
        "regexp_instr",
        "regexp_substr",
    }
)
_WORD = re.compile(r"[A-Za-z_][A-Za-z_0-9]*")


@dataclass
class _Token:
    kind: str  # "string", "word", "open", "close", "comma", "semicolon", "space", "other"
    text: str


def _tokens(text: str) -> Iterable[_Token]:
    r"""The SQL's tokens, as far as splitting and literals need them. A string literal ends
    at the next quote of its kind: a backslash never escapes it (the playbook writes
    Windows paths, never escaped quotes: ``SPLIT(x, '\')`` is one backslash)."""
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in "'\"":
            end = text.find(c, i + 1)
            end = n if end < 0 else end + 1
            yield _Token("string", text[i:end])
            i = end
        elif text.startswith("--", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
            yield _Token("space", text[i:end])
            i = end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            yield _Token("space", text[i:end])
            i = end
        elif c == "`":
            end = text.find("`", i + 1)
            end = n if end < 0 else end + 1
            yield _Token("other", text[i:end])
            i = end
        elif c.isspace():
            j = i
            while j < n and text[j].isspace():
                j += 1
            yield _Token("space", text[i:j])
            i = j
        elif match := _WORD.match(text, i):
            yield _Token("word", match.group())
            i = match.end()
        else:
            kind = {"(": "open", ")": "close", ",": "comma", ";": "semicolon"}.get(c, "other")
            yield _Token(kind, c)
            i += 1


def split_statements(text: str) -> list[str]:
    """The statements of ``text``, split at each ``;`` outside quotes and comments; blank
    statements (only spaces and comments) are left out."""
    statements: list[str] = []
    current: list[str] = []
    meaningful = False
    for token in _tokens(text):
        if token.kind == "semicolon":
            if meaningful:
                statements.append("".join(current).strip())
            current, meaningful = [], False
            continue
        current.append(token.text)
        meaningful = meaningful or token.kind != "space"
    if meaningful:
        statements.append("".join(current).strip())
    return statements


def _value(body: str, context: str) -> str:
    """What the playbook means by a literal's text ``body``, as the text Spark must see:
    the value (``plain``), the LIKE pattern (``like``) or the regular expression
    (``regex``)."""
    out: list[str] = []
    i, n = 0, len(body)
    while i < n:
        c = body[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        j = i
        while j < n and body[j] == "\\":
            j += 1
        run, following = j - i, body[j] if j < n else ""
        if (
            run == 1
            and following
            and ((context == "like" and following in "%_") or context == "regex")
        ):
            out.append("\\" + following)  # a LIKE or regex escape, as written: \% \. \d
            i = j + 1
            continue
        # Any other run of backslashes is one path separator: a literal backslash.
        out.append("\\" if context == "plain" else "\\\\")
        i = j
    return "".join(out)


_SPARK_ESCAPES = {"0": "\0", "'": "'", '"': '"', "b": "\b", "n": "\n", "r": "\r", "t": "\t"}
_SPARK_ESCAPES.update({"Z": "\x1a", "\\": "\\", "%": "\\%", "_": "\\_"})


def spark_unescape(body: str) -> str:
    r"""What Spark (``escapedStringLiterals`` off, 2.4 and 3.5 alike) makes of a literal's
    text ``body`` (``ParserUtils.unescapeSQLString``): ``\n`` a newline, ``\%`` kept for
    LIKE, ``\uXXXX`` and octal ``\ddd`` characters, a backslash before any other
    character dropped."""
    out: list[str] = []
    i, n = 0, len(body)
    while i < n:
        c = body[i]
        if c != "\\" or i + 1 >= n:
            out.append(c)
            i += 1
            continue
        unicode = re.match(r"u([0-9A-Fa-f]{4})", body[i + 1 : i + 6])
        octal = re.match(r"[0-3][0-7]{2}", body[i + 1 : i + 4])
        if unicode:
            out.append(chr(int(unicode.group(1), 16)))
            i += 6
        elif octal:
            out.append(chr(int(octal.group(), 8)))
            i += 4
        else:
            out.append(_SPARK_ESCAPES.get(body[i + 1], body[i + 1]))
            i += 2
    return "".join(out)


def _spark_literal(value: str, quote: str) -> str:
    escaped = value.replace("\\", "\\\\").replace(quote, "\\" + quote)
    return f"{quote}{escaped}{quote}"


def like_ok(pattern: str) -> bool:
    """Whether Spark runs LIKE ``pattern`` (its escape character ``\\`` must precede ``%``,
    ``_`` or itself: anything else is INVALID_FORMAT.ESC_IN_THE_MIDDLE / ESC_AT_THE_END)."""
    i, n = 0, len(pattern)
    while i < n:
        if pattern[i] == "\\":
            if i + 1 >= n or pattern[i + 1] not in "%_\\":
                return False
            i += 2
        else:
            i += 1
    return True


def python_regex_ok(pattern: str) -> bool:
    """Whether ``pattern`` compiles (Python's ``re``: close to Java's on escapes; ``run_sql``
    asks the JVM itself)."""
    try:
        re.compile(pattern)
    except re.error:
        return False
    return True


def rewrite_sql(
    text: str, *, regex_ok: Callable[[str], bool] = python_regex_ok
) -> tuple[str, list[Rewrite]]:
    r"""``text`` with its string literals read as the playbook means them, for Spark 3.5
    with ``escapedStringLiterals`` off, and the literals changed.

    The playbook's SQL writes Windows paths with runs of backslashes that no Spark reads as
    meant: ``LIKE '%Internet Explorer\\\iertutil.dll'`` (Spark: the escape character
    before ``i``, INVALID_FORMAT.ESC_IN_THE_MIDDLE, as Spark 2.4 did), ``LIKE
    "%Lsa\MSV1_0"`` (Spark: ``LsaMSV1_0``, no backslash, so nothing matches), ``RLIKE
    '.*consentstore\\\\\\\microphone.*'`` (an invalid regex), ``SPLIT(x, '\')``
    (unparseable). Their pandas twins are the oracle: a backslash path separator. So, in
    each literal holding a backslash:

    - a run of backslashes is one literal backslash, except
    - a single backslash before ``%`` or ``_`` in a LIKE pattern, or before any character
      in a regular expression (RLIKE, REGEXP, split, regexp_*), which keeps its escaping
      meaning (``\.`` a dot, ``\d`` a digit);
    - a literal ends at the next quote of its kind (a backslash does not escape it).

    Only literals Spark cannot run are changed: one it cannot parse (``'\'``), a LIKE
    pattern it refuses, a regular expression that does not compile (``regex_ok``). A
    literal Spark runs is left as written, even where it reads it otherwise than the pandas
    twin (``"%Lsa\MSV1_0"`` is ``%LsaMSV1_0`` to Spark, 2.4 and 3.5 alike): the query then
    gives the answer it gave in HELK, the playbook's own.
    """
    tokens = list(_tokens(text))
    rewrites: list[Rewrite] = []
    calls: list[tuple[str, int]] = []  # open parentheses: (function or "", argument index)
    previous: list[str] = []  # the last two significant tokens, lower-cased
    out: list[str] = []
    for token in tokens:
        kind = token.kind
        if kind == "open":
            name = previous[-1] if previous and _WORD.fullmatch(previous[-1]) else ""
            calls.append((name, 0))
        elif kind == "close" and calls:
            calls.pop()
        elif kind == "comma" and calls:
            name, index = calls[-1]
            calls[-1] = (name, index + 1)
        if kind == "string" and "\\" in token.text:
            quote = token.text[0]
            body = token.text[1:-1] if len(token.text) > 1 and token.text.endswith(quote) else ""
            context = "plain"
            before = previous[-1] if previous else ""
            if before in ("rlike", "regexp"):
                context = "regex"
            elif before in ("like", "ilike"):
                context = "like"
            elif calls and calls[-1][0] in _REGEX_FUNCTIONS and calls[-1][1] == 1:
                context = "regex"
            value = _value(body, context)
            trailing = len(body) - len(body.rstrip("\\"))
            as_read = spark_unescape(body)
            runs = trailing % 2 == 0 and (
                context == "plain"
                or (context == "like" and like_ok(as_read))
                or (context == "regex" and regex_ok(as_read))
            )
            if runs or as_read == value:
                out.append(token.text)  # Spark runs it: left as written
            else:
                literal = _spark_literal(value, quote)
                rewrites.append(Rewrite(token.text, literal))
                out.append(literal)
        else:
            out.append(token.text)
        if kind != "space":
            previous = [*previous[-1:], token.text.lower()]
    return "".join(out), rewrites


def run_sql(
    spark: SparkSession,
    text: str,
    *,
    notes: Callable[[str], None] | None = print,
) -> DataFrame:
    """Run the playbook's SQL ``text`` as its author meant it, on this Spark: each statement
    of a block in turn (split at ``;`` outside quotes), the last one's result returned.

    String literals are read the playbook's way (:func:`rewrite_sql`); ``notes`` is told
    each literal that changed, one line each, so what ran is never a surprise. The session's
    ``escapedStringLiterals``, which the rewritten literals rely on being off, is set for
    this call only and restored afterwards, whatever happens.
    """
    statements = split_statements(text)
    if not statements:
        raise HuntlabError("no SQL statement to run (the text is empty or only comments)")
    previous = spark.conf.get(ESCAPED_LITERALS, "false")
    spark.conf.set(ESCAPED_LITERALS, "false")
    try:
        result: DataFrame | None = None
        for statement in statements:
            query, rewrites = rewrite_sql(statement, regex_ok=lambda p: _java_regex_ok(spark, p))
            if notes is not None:
                for change in rewrites:
                    notes(
                        f"huntlab: read {change.written} as {change.runs_as} (backslashes "
                        "as Windows path separators, as the playbook means them)"
                    )
            result = spark.sql(query)
        assert result is not None
        return result
    finally:
        spark.conf.set(ESCAPED_LITERALS, previous if previous is not None else "false")


def _java_regex_ok(spark: SparkSession, pattern: str) -> bool:
    """Whether the JVM's java.util.regex compiles ``pattern`` (what RLIKE runs)."""
    try:
        spark.sparkContext._jvm.java.util.regex.Pattern.compile(pattern)  # type: ignore[union-attr]
    except Exception:  # py4j's Py4JJavaError: PatternSyntaxException
        return False
    return True


def note_to_stderr(line: str) -> None:
    """A ``notes`` callback for command-line use: the line on stderr."""
    print(line, file=sys.stderr)
