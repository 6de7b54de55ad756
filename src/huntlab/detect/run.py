"""Run compiled rules on an event table: the hits table and the per-rule summary."""

from __future__ import annotations

import sys
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from huntlab.detect.compile import CompiledRule
from huntlab.detect.logsource import Source
from huntlab.detect.pandas_engine import Evaluator, Table
from huntlab.detect.rules import RuleSet, Skipped
from huntlab.errors import HuntlabError

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


ENGINES = ("pandas", "spark")


def detect(
    events: Any, rules: RuleSet, progress: bool | None = None, engine: str | None = None
) -> Detection:
    """Apply ``rules`` to the canonical event table ``events``: a pandas DataFrame (engine
    ``pandas``) or a Spark DataFrame from ``huntlab.spark.read_events`` (engine ``spark``).
    ``engine`` defaults to the kind of ``events``."""
    from huntlab.detect.spark_engine import is_spark_frame

    spark_frame = is_spark_frame(events)
    engine = engine or ("spark" if spark_frame else "pandas")
    if engine not in ENGINES:
        raise HuntlabError(f"unknown detection engine {engine!r}: use one of {', '.join(ENGINES)}")
    if (engine == "spark") != spark_frame:
        kind = "a Spark DataFrame" if engine == "spark" else "a pandas DataFrame"
        raise HuntlabError(f"the {engine} engine takes {kind} of events")
    if engine == "spark":
        return _detect_spark(events, rules)
    return _detect_pandas(events, rules, progress)


def _detect_pandas(events: pd.DataFrame, rules: RuleSet, progress: bool | None) -> Detection:
    table = Table(events)
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
        for r, group in every.groupby(spark_engine.RULE_COLUMN, sort=True):
            parts[int(str(r))] = group.drop(columns=spark_engine.RULE_COLUMN).reset_index(drop=True)
    in_source = {
        r: sum(counts.get(b.source, 0) for b in rule.branches) for r, rule in enumerate(rules.rules)
    }
    return _assemble(rules, parts, in_source, event_columns)


def _assemble(
    rules: RuleSet, parts: dict[int, pd.DataFrame], in_source: dict[int, int], columns: list[str]
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
    summary = pd.DataFrame(summary_rows, columns=list(SUMMARY_COLUMNS))
    return Detection(hits, summary, list(rules.unsupported))
