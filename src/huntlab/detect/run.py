"""Run compiled rules on an event table: the hits table and the per-rule summary."""

from __future__ import annotations

import sys
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from huntlab.detect.compile import CompiledRule
from huntlab.detect.logsource import Source
from huntlab.detect.pandas_engine import Evaluator, Table
from huntlab.detect.rules import RuleSet, Skipped

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


def detect(events: pd.DataFrame, rules: RuleSet, progress: bool | None = None) -> Detection:
    """Apply ``rules`` to the canonical event table ``events`` (pandas engine)."""
    table = Table(events)
    matched, in_source = rule_rows(table, rules.rules, progress)
    hit_parts: list[pd.DataFrame] = []
    summary_rows = []
    event_columns = [c for c in EVENT_COLUMNS if c in events.columns]
    rows_by_id: dict[str, np.ndarray] = {}
    for r, rule in enumerate(rules.rules):
        info = rule.info
        rows = matched[r]
        rows_by_id[info.id or info.path] = rows
        events_here = in_source.get(r, 0)
        note = "" if events_here else "no events of this logsource in the table"
        summary_rows.append(
            (
                info.id,
                info.title,
                info.level,
                info.status,
                info.author,
                len(rows),
                events_here,
                note,
            )
        )
        if len(rows):
            part = events.iloc[rows][event_columns].reset_index(drop=True)
            part.insert(0, "event", rows)
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
        hits = pd.DataFrame(columns=[*HIT_COLUMNS, "event", *event_columns])
    summary = pd.DataFrame(summary_rows, columns=list(SUMMARY_COLUMNS))
    return Detection(hits, summary, list(rules.unsupported), rows_by_id)
