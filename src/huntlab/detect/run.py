"""Run compiled rules on an event table: the hits table and the per-rule summary."""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from huntlab.detect import correlate, ir
from huntlab.detect.compile import CompiledRule
from huntlab.detect.logsource import Source, Unsupported
from huntlab.detect.pandas_engine import Evaluator, Table
from huntlab.detect.rules import RuleSet, Skipped
from huntlab.errors import HuntlabError
from huntlab.readers.mapping import integer_fields

# The event columns a hit shows, when the table has them ("event" is the row's position).
EVENT_COLUMNS = ("@timestamp", "Hostname", "Channel", "EventID", "RecordNumber", "Dataset")
HIT_COLUMNS = ("rule_id", "title", "level", "attack", "author")
SUMMARY_COLUMNS = (
    "rule_id",
    "title",
    "level",
    "status",
    "author",
    "hits",
    "logsource_events",
    "note",
)


@dataclass
class Detection:
    """What ``detect`` found: one row per (rule, event) hit, one row per rule, and the rules
    that could not be evaluated with their reasons."""

    hits: pd.DataFrame
    summary: pd.DataFrame
    unsupported: list[Skipped] = field(default_factory=list)
    rows: dict[str, np.ndarray] = field(default_factory=dict)  # rule id -> event positions
    # one row per correlation alert (correlate.ALERT_COLUMNS)
    correlations: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=list(correlate.ALERT_COLUMNS))
    )


def rule_rows(
    table: Table, rules: list[CompiledRule], progress: bool | None = None
) -> tuple[dict[int, np.ndarray], dict[int, int]]:
    """Per rule (by position in ``rules``): the positions of the events it matches, and the
    number of events its logsource has in the table. One pass per source, not per rule."""
    by_source: dict[Source, list[tuple[int, int]]] = defaultdict(list)
    for r, rule in enumerate(rules):
        for b, branch in enumerate(rule.branches):
            by_source[branch.source].append((r, b))
    found: dict[int, list[np.ndarray]] = defaultdict(list)
    in_source: dict[int, int] = defaultdict(int)
    bar = None
    if progress or (progress is None and sys.stderr.isatty() and len(rules) > 50):
        from tqdm import tqdm

        bar = tqdm(total=sum(len(v) for v in by_source.values()), desc="rules", leave=False)
    whole = Evaluator(table)
    for source, members in by_source.items():
        rows = np.flatnonzero(whole.mask(source.condition()))
        evaluator = Evaluator(table, rows)
        for r, b in members:
            in_source[r] += len(rows)
            if len(rows):
                mask = evaluator.mask(rules[r].branches[b].condition)
                found[r].append(rows[mask])
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    out = {
        r: (np.unique(np.concatenate(found[r])) if found[r] else np.empty(0, dtype=np.int64))
        for r in range(len(rules))
    }
    return out, dict(in_source)


ENGINES = ("pandas", "spark", "elasticsearch")


def detect(
    events: Any,
    rules: RuleSet,
    progress: bool | None = None,
    engine: str | None = None,
    *,
    settings: Any = None,
    where: dict[str, Any] | None = None,
) -> Detection:
    """Apply ``rules`` to the canonical event table ``events``: a pandas DataFrame (engine
    ``pandas``), a Spark DataFrame from ``huntlab.spark.read_events`` (engine ``spark``), or
    the name of the lab's Elasticsearch indexes, an alias or a pattern such as ``"huntlab"``
    (engine ``elasticsearch``; ``settings``: the cluster, the lab's by default; ``where``: a
    query DSL filter on the events, e.g. ``{"term": {"Dataset": "NAME"}}``). ``engine``
    defaults to the kind of ``events``."""
    from huntlab.detect.spark_engine import is_spark_frame

    spark_frame = is_spark_frame(events)
    default = "spark" if spark_frame else "elasticsearch" if isinstance(events, str) else "pandas"
    engine = engine or default
    if engine not in ENGINES:
        raise HuntlabError(f"unknown detection engine {engine!r}: use one of {', '.join(ENGINES)}")
    if engine != default:
        kind = {
            "spark": "a Spark DataFrame",
            "pandas": "a pandas DataFrame",
            "elasticsearch": "the name of Elasticsearch indexes (str)",
        }[engine]
        raise HuntlabError(f"the {engine} engine takes {kind} of events")
    if engine == "elasticsearch":
        detection = _detect_elasticsearch(events, rules, settings, where, progress)
        return _correlate(detection, rules, lambda c: _es_rows(events, c, settings, where))
    if where is not None:
        raise HuntlabError("where= is for the elasticsearch engine; filter the DataFrame instead")
    if engine == "spark":
        detection = _detect_spark(events, rules)
        if not rules.correlations:
            return detection
        from pyspark import StorageLevel

        # One identity per event for all the correlations' scans of the table.
        numbered = correlate.number_events(events).persist(StorageLevel.MEMORY_AND_DISK)
        try:
            return _correlate(detection, rules, lambda c: (None, correlate.spark_rows(numbered, c)))
        finally:
            numbered.unpersist()
    table = Table(events)
    detection = _detect_pandas(events, rules, progress, table)

    def pandas_rows(c: correlate.Correlation) -> tuple[str | None, Any]:
        matched, _ = rule_rows(table, list(c.rules), progress=False)
        return None, correlate.pandas_rows(table, c, matched)

    return _correlate(detection, rules, pandas_rows)


def _correlate(
    detection: Detection,
    rules: RuleSet,
    rows_of: Callable[[correlate.Correlation], tuple[str | None, Any]],
) -> Detection:
    """``detection`` with the correlation rules' alerts and summary rows. ``rows_of`` gives a
    correlation's input rows (a pandas or Spark frame, ``correlate``'s shape), or why the
    engine cannot evaluate it."""
    if not rules.correlations:
        return detection
    alerts: list[pd.DataFrame] = []
    summary: list[tuple[Any, ...]] = []
    for c in rules.correlations:
        try:
            problem, rows = rows_of(c)
        except Unsupported as exc:
            problem, rows = str(exc), None
        if problem is not None:
            detection.unsupported.append(Skipped(c.info, problem))
            continue
        if isinstance(rows, pd.DataFrame):
            found = correlate.evaluate(rows, c)
            matched = int(rows["_event"].nunique())
        else:
            from pyspark import StorageLevel

            rows = rows.persist(StorageLevel.MEMORY_AND_DISK)  # two actions read it
            try:
                found = correlate.evaluate_spark(rows, c)
                matched = int(rows.select("_event").distinct().count())
            finally:
                rows.unpersist()
        alerts.append(found)
        note = f"correlation: {c.describe()}; its rules matched {matched} events"
        info = c.info
        summary.append(
            (info.id, info.title, info.level, info.status, info.author, len(found), matched, note)
        )
    if alerts:
        detection.correlations = pd.concat(alerts, ignore_index=True)
    if summary:
        rows_frame = pd.DataFrame(summary, columns=list(SUMMARY_COLUMNS))
        detection.summary = pd.concat([detection.summary, rows_frame], ignore_index=True)
    return detection


def _es_rows(
    index: str, c: correlate.Correlation, settings: Any, where: dict[str, Any] | None
) -> tuple[str | None, pd.DataFrame | None]:
    """A correlation's input from Elasticsearch: each of its rules searched with the fields
    the correlation reads, then grouped as in pandas."""
    found: list[pd.DataFrame] = []
    for k, rule in enumerate(c.rules):
        sub = _detect_elasticsearch(
            index, RuleSet([rule]), settings, where, False, extra_columns=c.columns()
        )
        if sub.unsupported:
            return f"its rule {rule.info.id or rule.info.title}: {sub.unsupported[0].reason}", None
        found.append(sub.hits.drop(columns=list(HIT_COLUMNS)).assign(_rule=k))
    hits = pd.concat(found, ignore_index=True)
    events = hits.drop_duplicates("event_id").drop(columns="_rule").reset_index(drop=True)
    position = pd.Series(np.arange(len(events)), index=events["event_id"])
    table = Table(events)
    matched = {
        k: np.sort(position[hits.loc[hits["_rule"] == k, "event_id"]].to_numpy())
        for k in range(len(c.rules))
    }
    return None, correlate.pandas_rows(table, c, matched)


ES_BATCH = 50  # rules per _msearch request
ES_PAGE = 10_000  # hits per rule in one response (more are scrolled)


def _detect_elasticsearch(
    index: str, rules: RuleSet, settings: Any, where: dict[str, Any] | None,
    progress: bool | None, extra_columns: Sequence[str] = (),
) -> Detection:  # fmt: skip
    """Each rule one search on ``index`` (batched in _msearch); the sources' event counts
    one search each. A rule the engine cannot express, or that Elasticsearch refuses, is
    listed in ``unsupported`` with why (never counted as no hits)."""
    from elasticsearch import ApiError, helpers

    from huntlab.detect import es_engine
    from huntlab.detect.logsource import Unsupported
    from huntlab.es.client import check, client
    from huntlab.settings import load_settings

    settings = settings or load_settings()
    es = client(settings)
    check(es, settings)
    fields = es_engine.index_fields(es, index)
    # The lab's indexes exist, mapped by their templates, before anything is loaded: an
    # index without events would give every rule no hits, silently.
    if not fields.types or not int(es.count(index=index)["count"]):
        raise HuntlabError(
            f"no index {index!r} with events in Elasticsearch at {settings.es_url}: load some "
            "(`huntlab load NAME`) or name the indexes that hold them"
        )
    columns = [c for c in EVENT_COLUMNS if c in fields.types]
    for wanted_column in extra_columns:  # field names are case-insensitive, as elsewhere
        named = fields.name(wanted_column)
        if named is not None and named not in columns:
            columns.append(named)
    base = [where] if where else []
    if where is not None:
        _check_where(es, index, where)

    # An event with a value longer than a keyword's ignore_above has that value unindexed
    # (listed in its _ignored field): the rules see such events through the pandas engine
    # (below), and the searches leave them out.
    not_ignored = {"bool": {"must_not": [{"exists": {"field": "_ignored"}}]}}

    def search_body(renderer: Any, node: Any, size: int) -> dict[str, Any]:
        query = {
            "bool": {"filter": [renderer.render(node), *base, *([not_ignored] if size else [])]}
        }
        body: dict[str, Any] = {"query": query, "size": size, "track_total_hits": True}
        if renderer.runtime:
            body["runtime_mappings"] = renderer.runtime
        if size:
            body["_source"] = columns
        return body

    from huntlab.es.indices import ALIAS, PATTERN, indexes

    # Restricting a rule to its channels' indexes is right only when the lab's per-family
    # indexes are all there is (no hunter's own index, no other prefix under the pattern).
    lab_layout = set(fields.by_index) <= set(indexes())

    # Each source's events first: for the summary (a rule whose source has none says so), and
    # so that a rule is searched for on the sources that have events only.
    every_source = sorted({b.source for rule in rules.rules for b in rule.branches},
                          key=lambda s: s.name)  # fmt: skip
    source_counts: dict[Source, int] = {}
    source_problems: dict[Source, str] = {}  # a source the engine cannot select, and why
    for source in every_source:
        try:
            body = search_body(es_engine.Renderer(fields), source.condition(), 0)
        except Unsupported as exc:
            source_problems[source] = f"its logsource ({source.name}): {exc}"
            continue
        answer = es.search(index=index, **body)
        source_counts[source] = int(answer["hits"]["total"]["value"])
    skipped = list(rules.unsupported)
    kept: list[CompiledRule] = []
    bodies: list[dict[str, Any] | None] = []  # None: no source of the rule has events
    targets: list[str] = []  # the indexes each rule searches
    # Rules with a leaf Elasticsearch cannot evaluate: the candidates their relaxed query
    # selects, evaluated by the pandas engine (rule position -> (query, why)).
    candidates: dict[int, tuple[dict[str, Any], str]] = {}
    nodes: list[ir.Node] = []
    for rule in rules.rules:
        wanted = _rule_indexes(rule)
        renderer = es_engine.Renderer(fields, wanted)
        live = [b for b in rule.branches if source_counts.get(b.source)]
        node = ir.any_of([ir.all_of([b.source.condition(), b.condition]) for b in live])
        try:
            for branch in rule.branches:
                if branch.source in source_problems:
                    raise Unsupported(source_problems[branch.source])
            try:
                renderer.render(rule.condition())  # can the engine express it at all?
                bodies.append(search_body(renderer, node, ES_PAGE) if live else None)
            except Unsupported as exc:
                relaxed = es_engine.Renderer(fields, wanted, relax=True)
                relaxed.render(rule.condition())  # raises what relaxing cannot help
                if live:
                    query = _candidate_query(relaxed, relaxed.render(node), base)
                    candidates[len(kept)] = (query, str(exc))
                bodies.append(None)
        except Unsupported as exc:
            skipped.append(Skipped(rule.info, f"elasticsearch engine: {exc}"))
            continue
        nodes.append(node)
        # On the lab's alias or pattern, a rule searches only the indexes of its channels
        # (one per channel family): fewer shards, the same events.
        known = sorted(i for i in wanted or () if i in fields.by_index)
        if index in (ALIAS, PATTERN) and wanted is not None and lab_layout:
            targets.append(",".join(known) if known else "")
        else:
            targets.append(index)
        kept.append(rule)
    bar = None
    if progress or (progress is None and sys.stderr.isatty() and len(kept) > 50):
        from tqdm import tqdm

        bar = tqdm(total=len(kept), desc="rules", leave=False)
    parts: dict[int, pd.DataFrame] = {}
    refused: set[int] = set()
    notes: dict[int, str] = {}
    for start in range(0, len(kept), ES_BATCH):
        batch = list(range(start, min(start + ES_BATCH, len(kept))))
        searches: list[dict[str, Any]] = []
        # No index of its channels, or no events of its sources: nothing to search.
        asked = [r for r in batch if targets[r] and bodies[r] is not None]
        for r in asked:
            header = {"index": targets[r], "allow_partial_search_results": False}
            searches += [header, bodies[r] or {}]
        responses = es.msearch(searches=searches)["responses"] if searches else []
        for r, response in zip(asked, responses, strict=True):
            problem = _response_problem(response)
            if problem is not None and any(w in problem for w in _AUTOMATON):
                # A regex Lucene will not build: its candidates without the regexes.
                relaxed = es_engine.Renderer(fields, _rule_indexes(kept[r]), relax=True,
                                             relax_regex=True)  # fmt: skip
                query = relaxed.render(nodes[r])
                candidates[r] = (_candidate_query(relaxed, query, base), problem)
                continue
            if problem is not None:
                skipped.append(Skipped(kept[r].info, problem))
                refused.add(r)
                continue
            hits = response["hits"]["hits"]
            if int(response["hits"]["total"]["value"]) > len(hits):
                scan_body = dict(bodies[r] or {})
                scan_body.pop("size", None)
                scan_body.pop("track_total_hits", None)
                hits = list(helpers.scan(es, index=index, query=scan_body, size=ES_PAGE))
            if hits:
                rows = [{"event_id": h["_id"], **{c: h["_source"].get(c) for c in columns}}
                        for h in hits]  # fmt: skip
                frame = pd.DataFrame(rows, columns=["event_id", *columns])
                if "@timestamp" in frame:
                    frame["@timestamp"] = pd.to_datetime(frame["@timestamp"], utc=True)
                parts[r] = frame.sort_values("event_id", ignore_index=True)
        if bar is not None:
            bar.update(len(batch))
    if bar is not None:
        bar.close()
    for r, (query, why) in candidates.items():
        try:
            found = _candidate_hits(es, targets[r] or index, query, [kept[r]], columns).get(0)
        except (ApiError, helpers.ScanError) as exc:
            skipped.append(Skipped(kept[r].info, f"elasticsearch refused its candidates: {exc}"))
            refused.add(r)
            continue
        if found is not None:
            parts[r] = found.sort_values("event_id", ignore_index=True)
        notes[r] = f"candidates selected by Elasticsearch, evaluated by the pandas engine ({why})"
    checked = [rule for r, rule in enumerate(kept) if r not in candidates]
    positions = [r for r in range(len(kept)) if r not in candidates]
    ignored = _ignored_hits(es, index, base, checked, columns)
    for r, frame in ((positions[i], f) for i, f in ignored.items()):
        if r in refused:
            continue
        both = pd.concat([parts[r], frame]) if r in parts else frame
        parts[r] = both.sort_values("event_id", ignore_index=True)
    evaluated = [rule for r, rule in enumerate(kept) if r not in refused]
    renumber = {r: i for i, r in enumerate(r for r in range(len(kept)) if r not in refused)}
    in_source = {
        renumber[r]: sum(source_counts.get(b.source, 0) for b in rule.branches)
        for r, rule in enumerate(kept) if r not in refused
    }  # fmt: skip
    parts = {renumber[r]: part for r, part in parts.items()}
    notes = {renumber[r]: note for r, note in notes.items() if r in renumber}
    return _assemble(RuleSet(evaluated, skipped), parts, in_source, ["event_id", *columns], notes)


def _detect_pandas(
    events: pd.DataFrame, rules: RuleSet, progress: bool | None, table: Table
) -> Detection:
    matched, in_source = rule_rows(table, rules.rules, progress)
    event_columns = [c for c in EVENT_COLUMNS if c in events.columns]
    parts: dict[int, pd.DataFrame] = {}
    for r, rows in matched.items():
        if len(rows):
            part = events.iloc[rows][event_columns].reset_index(drop=True)
            part.insert(0, "event", rows)
            parts[r] = part
    rows_by_id = {
        (rule.info.id or rule.info.path): matched[r] for r, rule in enumerate(rules.rules)
    }
    detection = _assemble(rules, parts, in_source, ["event", *event_columns])
    detection.rows = rows_by_id
    return detection


def _detect_spark(events: Any, rules: RuleSet) -> Detection:
    from huntlab.detect import spark_engine

    event_columns = [c for c in EVENT_COLUMNS if c in events.columns]
    found: list[pd.DataFrame] = []
    counts: dict[Source, int] = {}
    for source, total, frames in spark_engine.source_hits(events, rules.rules, event_columns):
        counts[source] = total
        found.extend(frame.toPandas() for frame in frames)
    parts: dict[int, pd.DataFrame] = {}
    if found:
        every = pd.concat(found, ignore_index=True)
        stamps = every.get("@timestamp")
        if stamps is not None and getattr(stamps.dtype, "tz", None) is None:
            # toPandas gives times in the session's zone (UTC) without the zone
            every["@timestamp"] = pd.to_datetime(stamps).dt.tz_localize("UTC")
        for r, group in every.groupby(spark_engine.RULE_COLUMN, sort=True):
            parts[int(str(r))] = group.drop(columns=spark_engine.RULE_COLUMN).reset_index(drop=True)
    in_source = {
        r: sum(counts.get(b.source, 0) for b in rule.branches) for r, rule in enumerate(rules.rules)
    }
    return _assemble(rules, parts, in_source, event_columns)


def _response_problem(response: dict[str, Any]) -> str | None:
    """Why one _msearch answer cannot be taken as the rule's hits (None: it can)."""
    if "error" in response:
        error = response["error"]
        reason = str(error)
        if isinstance(error, dict):
            cause = (error.get("root_cause") or [error])[0]
            reason = str(cause.get("reason", error)) if isinstance(cause, dict) else str(cause)
        return f"elasticsearch refused the rule: {reason}"
    shards = response.get("_shards", {})
    if response.get("timed_out") or shards.get("failed"):
        return (
            f"elasticsearch answered in part ({shards.get('failed', 0)} of "
            f"{shards.get('total', '?')} shards failed, timed out: "
            f"{bool(response.get('timed_out'))}): run the rule again"
        )
    return None


def _check_where(es: Any, index: str, where: dict[str, Any]) -> None:
    """A filter that selects no event is an error that says what there is (a misspelled
    dataset would otherwise give every rule no hits)."""
    answer = es.search(index=index, size=0, query=where, track_total_hits=True)
    if int(answer["hits"]["total"]["value"]):
        return
    every = es.search(index=index, size=0, aggs={"datasets": {"terms": {"field": "Dataset",
                                                                        "size": 50}}})  # fmt: skip
    names = [b["key"] for b in every["aggregations"]["datasets"]["buckets"]]
    raise HuntlabError(
        f"no event in {index!r} matches {where}: the datasets there are "
        f"{', '.join(names) or 'none'} (names are case-sensitive)"
    )


def _rule_indexes(rule: CompiledRule) -> set[str] | None:
    """The lab's indexes the rule's events can be in (one per channel family), or None when
    a branch takes any channel."""
    from huntlab.es.indices import index_for

    out: set[str] = set()
    for branch in rule.branches:
        if not branch.source.channels:
            return None
        out |= {index_for(channel) for channel in branch.source.channels}
    return out


def _candidate_query(
    renderer: Any, query: dict[str, Any], base: list[dict[str, Any]]
) -> dict[str, Any]:
    """A search body for the events ``query`` selects (with the runtime fields it needs)."""
    body: dict[str, Any] = {"query": {"bool": {"filter": [query, *base]}}}
    if renderer.runtime:
        body["runtime_mappings"] = renderer.runtime
    return body


# Elasticsearch's words for a regex it will not turn into an automaton, or whose automata
# exceed the node's memory (its circuit breaker: keyword searches over many fields).
_AUTOMATON = (
    "Determinizing", "max_regex_length", "too_complex", "TooComplexToDeterminize",
    "Data too large", "larger than the limit",
)  # fmt: skip


def _ignored_hits(
    es: Any, index: str, base: list[dict[str, Any]], rules: list[CompiledRule], columns: list[str]
) -> dict[int, pd.DataFrame]:
    """The hits of ``rules`` among the events Elasticsearch indexed only in part (a keyword
    value over ignore_above, named in _ignored), so that a long command line or script block
    matches as it does in the other engines."""
    body = {"query": {"bool": {"filter": [{"exists": {"field": "_ignored"}}, *base]}}}
    return _candidate_hits(es, index, body, rules, columns)


IGNORED_PAGE = 5_000  # candidate events evaluated in pandas at a time


def _candidate_hits(
    es: Any, index: str, body: dict[str, Any], rules: list[CompiledRule], columns: list[str]
) -> dict[int, pd.DataFrame]:
    """The hits of ``rules`` (by position) among the events ``body`` selects: their _source
    read back page by page and evaluated by the pandas engine. Memory: one page at a time."""
    from elasticsearch import helpers

    found: dict[int, list[pd.DataFrame]] = defaultdict(list)
    page: list[dict[str, Any]] = []
    ids: list[str] = []

    def evaluate() -> None:
        frame = pd.DataFrame(page)
        if "@timestamp" in frame:
            frame["@timestamp"] = pd.to_datetime(frame["@timestamp"], utc=True, errors="coerce")
        matched, _ = rule_rows(Table(frame), rules, progress=False)
        for r, rows in matched.items():
            if len(rows):
                part = frame.iloc[rows].reindex(columns=columns).reset_index(drop=True)
                part.insert(0, "event_id", [ids[i] for i in rows])
                found[r].append(part)
        page.clear()
        ids.clear()

    for hit in helpers.scan(es, index=index, query=body, size=IGNORED_PAGE):
        page.append(hit["_source"])
        ids.append(hit["_id"])
        if len(page) >= IGNORED_PAGE:
            evaluate()
    if page:
        evaluate()
    return {r: pd.concat(frames, ignore_index=True) for r, frames in found.items()}


def _assemble(
    rules: RuleSet,
    parts: dict[int, pd.DataFrame],
    in_source: dict[int, int],
    columns: list[str],
    notes: dict[int, str] | None = None,
) -> Detection:
    """The hits table (rule columns, then ``columns`` of each event) and the summary, from the
    events each rule matched (``parts``, by position in ``rules.rules``)."""
    hit_parts: list[pd.DataFrame] = []
    summary_rows = []
    for r, rule in enumerate(rules.rules):
        info = rule.info
        part = parts.get(r)
        events_here = in_source.get(r, 0)
        note = "" if events_here else "no events of this logsource in the table"
        if notes and r in notes:
            note = f"{note}; {notes[r]}" if note else notes[r]
        summary_rows.append(
            (
                info.id,
                info.title,
                info.level,
                info.status,
                info.author,
                0 if part is None else len(part),
                events_here,
                note,
            )
        )
        if part is not None and len(part):
            part = part.copy()
            for i, (name, value) in enumerate(
                zip(
                    HIT_COLUMNS,
                    (info.id, info.title, info.level, ",".join(info.attack), info.author),
                    strict=True,
                )
            ):
                part.insert(i, name, value)
            hit_parts.append(part)
    if hit_parts:
        hits = pd.concat(hit_parts, ignore_index=True)
    else:
        hits = pd.DataFrame(columns=[*HIT_COLUMNS, *columns])
    # The table's integer columns as the table holds them, whichever engine found the events
    # (Spark hands a number column with gaps over as floats, Elasticsearch as objects).
    for name in set(integer_fields()) & set(hits.columns):
        if str(hits[name].dtype) != "Int64":
            values = [None if pd.isna(v) else int(v) for v in hits[name].tolist()]
            hits[name] = pd.array(values, dtype="Int64")
    summary = pd.DataFrame(summary_rows, columns=list(SUMMARY_COLUMNS))
    return Detection(hits, summary, list(rules.unsupported))
