"""Sigma correlation rules on the events their referenced rules match, with one meaning in
pandas and in Spark (docs/detections.md, "Correlation rules").

- Windows: ``timespan`` cuts time into fixed windows aligned on the Unix epoch (UTC), as
  pySigma's SIEM backends do (Splunk's ``bin _time span=``, ES|QL's ``date_trunc``): an alert
  is one (window, group) whose aggregate satisfies the condition.
- ``group-by``: the values of those fields (``aliases`` name one field per referenced rule);
  an event without a value for one of them is in no group. Values compare as text, exactly.
- The aggregate: ``event_count`` the events (an event two referenced rules match counts
  once), ``value_count`` the distinct values of the condition's ``field``, ``temporal`` the
  referenced rules that matched, ``temporal_ordered`` how many of the referenced rules matched
  in the order listed (the longest such prefix, events in time order).
- Condition: ``gt``/``gte``/``lt``/``lte``/``eq``/``neq`` on that aggregate; temporal rules
  without one need all their rules. Only windows with at least one matched event exist, so
  ``lt`` means "some, but fewer than".
- ``generate: false`` (the default): the referenced rules' own hits are not reported.

Each engine hands ``evaluate`` (pandas) or ``evaluate_spark`` one row per (referenced rule,
matched event): ``_rule`` (position in ``Correlation.rules``), ``_event`` (the event's
identity), ``_us`` (its ``@timestamp`` in microseconds), ``_g0``... (its group values as text)
and ``_value`` (value_count's field, as text).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from huntlab.detect.compile import CompiledRule, RuleInfo
from huntlab.detect.logsource import Source, Unsupported, field_aliases

if TYPE_CHECKING:
    from pyspark.sql import DataFrame as SparkFrame
    from sigma.correlations import SigmaCorrelationRule

    from huntlab.detect.pandas_engine import Table

KINDS = ("event_count", "value_count", "temporal", "temporal_ordered")
OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
    "eq": operator.eq,
    "neq": operator.ne,
}
TIME = "@timestamp"
ALERT_COLUMNS = (
    "rule_id", "title", "level", "attack", "author", "correlation", "window_start",
    "window_end", "group", "value", "events", "first", "last",
)  # fmt: skip


@dataclass(frozen=True)
class Correlation:
    """A correlation rule with its referenced rules compiled."""

    info: RuleInfo
    kind: str
    rules: tuple[CompiledRule, ...]
    group_by: tuple[str, ...]
    aliases: tuple[tuple[str, tuple[str, ...]], ...]  # alias -> its field in each rule
    seconds: int
    op: str
    count: float
    field: str | None  # value_count's field (a field or an alias)
    generate: bool

    def column(self, name: str, rule: int, source: Source) -> str:
        """The table's name, in the events of ``source``, of the correlation's field or
        alias ``name`` as referenced rule ``rule`` sees it."""
        fields = dict(self.aliases).get(name)
        if fields is not None:
            name = fields[rule]
        name = field_aliases().get(name, name)
        return dict(source.fields).get(name, name)

    def columns(self) -> list[str]:
        """Every field the correlation reads, in any source of its rules (for an engine that
        must fetch them)."""
        from huntlab.detect import ir

        out = {TIME}
        for k, rule in enumerate(self.rules):
            for branch in rule.branches:
                out |= ir.fields_of(branch.source.condition())
                for name in (*self.group_by, *([self.field] if self.field else [])):
                    out.add(self.column(name, k, branch.source))
        return sorted(out)

    def describe(self) -> str:
        op = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<=", "eq": "=", "neq": "!="}[self.op]
        what = {
            "event_count": "events",
            "value_count": f"distinct {self.field}",
            "temporal": "rules matched",
            "temporal_ordered": "rules matched in order",
        }[self.kind]
        by = f" by {', '.join(self.group_by)}" if self.group_by else ""
        return f"{what} {op} {self.count:g} per {self.seconds} s window{by}"


def from_sigma(
    rule: SigmaCorrelationRule, info: RuleInfo, refs: Sequence[CompiledRule]
) -> Correlation:
    """``rule`` with its references compiled (``refs``, in the rule's order); raises
    Unsupported for what huntlab does not evaluate."""
    from sigma.correlations import SigmaCorrelationCondition

    kind = rule.type.name.lower()
    if kind not in KINDS:
        raise Unsupported(f"correlation type {kind} is not evaluated (only {', '.join(KINDS)})")
    condition = rule.condition
    if not isinstance(condition, SigmaCorrelationCondition):
        raise Unsupported("extended (boolean) correlation conditions are not evaluated")
    field = condition.fieldref
    if isinstance(field, list):
        if len(field) != 1:
            raise Unsupported("a correlation condition on several fields is not evaluated")
        field = field[0]
    if kind == "value_count" and not field:
        raise Unsupported("value_count without a field")
    names = [r.reference for r in rule.rules or []]
    aliases = []
    for alias in rule.aliases.aliases.values():
        by_ref = {ref.reference: value for ref, value in alias.mapping.items()}
        missing = [n for n in names if n not in by_ref]
        if missing:
            raise Unsupported(f"alias {alias.alias} names no field for {', '.join(missing)}")
        aliases.append((alias.alias, tuple(by_ref[n] for n in names)))
    return Correlation(
        info=info,
        kind=kind,
        rules=tuple(refs),
        group_by=tuple(rule.group_by or ()),
        aliases=tuple(aliases),
        seconds=int(rule.timespan.seconds),
        op=condition.op.name.lower(),
        count=float(condition.count),
        field=field,
        generate=bool(rule.generate),
    )


# --- pandas -----------------------------------------------------------------------------


def pandas_rows(
    table: Table, correlation: Correlation, matched: dict[int, np.ndarray]
) -> pd.DataFrame:
    """The input of ``evaluate`` from an event table and the rows each referenced rule
    matched there (positions; ``_event`` is the position)."""
    from huntlab.detect.pandas_engine import Evaluator, _text

    frame = table.frame
    time = table.column(TIME)
    if time is None:
        raise Unsupported(f"the table has no {TIME} column (correlation windows need it)")
    parts: list[pd.DataFrame] = []
    for k, rows in matched.items():
        if not len(rows):
            continue
        evaluator = Evaluator(table, rows)
        for branch in correlation.rules[k].branches:
            selected = rows[evaluator.mask(branch.source.condition())]
            if not len(selected):
                continue
            stamps = pd.DatetimeIndex(pd.to_datetime(frame[time].iloc[selected], utc=True))
            micros = np.where(
                stamps.isna(),
                np.nan,
                stamps.tz_convert(None).as_unit("us").to_numpy().view("int64").astype("float64"),
            )
            part: dict[str, Any] = {"_rule": k, "_event": selected, "_us": micros}
            names = [(f"_g{i}", g) for i, g in enumerate(correlation.group_by)]
            if correlation.field:
                names.append(("_value", correlation.field))
            for out, name in names:
                column = table.column(correlation.column(name, k, branch.source))
                if column is None:
                    part[out] = None
                else:
                    values = frame[column].iloc[selected].astype(object)
                    part[out] = [None if pd.isna(v) else _text(v) for v in values]
            parts.append(pd.DataFrame(part))
    columns = ["_rule", "_event", "_us", *[f"_g{i}" for i in range(len(correlation.group_by))]]
    if correlation.field:
        columns.append("_value")
    if not parts:
        return pd.DataFrame(columns=columns)
    return pd.concat(parts, ignore_index=True)[columns]


def _ordered(rules: np.ndarray) -> int:
    """How many of rules 0, 1, 2... appear in this order (rules in time order)."""
    state = 0
    for r in rules:
        if r == state:
            state += 1
    return state


def evaluate(rows: pd.DataFrame, correlation: Correlation) -> pd.DataFrame:
    """The correlation's alerts (``ALERT_COLUMNS``) from one row per (rule, matched event)."""
    groups = [f"_g{i}" for i in range(len(correlation.group_by))]
    rows = rows.dropna(subset=["_us", *groups])
    if rows.empty:
        return _alerts(
            pd.DataFrame(columns=["_window", *groups, "value", "events", "first", "last"]),
            correlation,
        )
    rows = rows.astype({"_us": "int64", "_rule": "int64"})
    rows = rows.assign(_window=rows["_us"] // (correlation.seconds * 1_000_000))
    rows = rows.sort_values(["_us", "_rule"], kind="stable")
    grouped = rows.groupby(["_window", *groups], sort=True, dropna=True)
    out = grouped.agg(events=("_event", "nunique"), first=("_us", "min"), last=("_us", "max"))
    if correlation.kind == "event_count":
        out["value"] = out["events"]
    elif correlation.kind == "value_count":
        out["value"] = grouped["_value"].nunique()
    elif correlation.kind == "temporal":
        out["value"] = grouped["_rule"].nunique()
    else:
        out["value"] = grouped["_rule"].agg(lambda s: _ordered(s.to_numpy()))
    out = out[OPERATORS[correlation.op](out["value"], correlation.count)]
    return _alerts(out.reset_index(), correlation)


# --- Spark ------------------------------------------------------------------------------


def spark_rows(events: SparkFrame, correlation: Correlation) -> SparkFrame:
    """The input of ``evaluate_spark``: each referenced rule's branches rendered on
    ``events`` (a canonical Spark table), one projection per branch."""
    from pyspark.sql import functions as F

    from huntlab.detect import ir
    from huntlab.detect.spark_engine import Renderer

    renderer = Renderer(events)
    time = renderer.name(TIME)
    if time is None:
        raise Unsupported(f"the table has no {TIME} column (correlation windows need it)")
    numbered = events if "_event" in events.columns else number_events(events)
    parts = []
    for k, rule in enumerate(correlation.rules):
        for branch in rule.branches:
            condition = renderer.render(ir.all_of([branch.source.condition(), branch.condition]))
            columns = [
                F.lit(k).cast("long").alias("_rule"),
                F.col("_event"),
                F.unix_micros(F.col(f"`{time}`")).alias("_us"),
            ]
            names = [(f"_g{i}", g) for i, g in enumerate(correlation.group_by)]
            if correlation.field:
                names.append(("_value", correlation.field))
            for alias, name in names:
                column = renderer.name(correlation.column(name, k, branch.source))
                text = renderer.text(column) if column else F.lit(None).cast("string")
                columns.append(text.alias(alias))
            parts.append(numbered.where(condition).select(*columns))
    out = parts[0]
    for part in parts[1:]:
        out = out.unionByName(part)
    return out


def number_events(events: SparkFrame) -> SparkFrame:
    """``events`` with an ``_event`` identity column; persist the result before reading it
    more than once (the ids are given anew at each evaluation otherwise)."""
    from pyspark.sql import functions as F

    return events.withColumn("_event", F.monotonically_increasing_id())


def evaluate_spark(rows: SparkFrame, correlation: Correlation) -> pd.DataFrame:
    """``evaluate`` in Spark: the windows and groups aggregated by the cluster, only the
    alerts collected."""
    from pyspark.sql import functions as F

    groups = [f"_g{i}" for i in range(len(correlation.group_by))]
    present = rows.where(F.col("_us").isNotNull())
    for g in groups:
        present = present.where(F.col(g).isNotNull())
    span = correlation.seconds * 1_000_000
    present = present.withColumn("_window", F.floor(F.col("_us") / F.lit(span)).cast("long"))
    aggregates = [
        F.countDistinct("_event").alias("events"),
        F.min("_us").alias("first"),
        F.max("_us").alias("last"),
    ]
    if correlation.kind == "event_count":
        aggregates.append(F.countDistinct("_event").alias("value"))
    elif correlation.kind == "value_count":
        aggregates.append(F.countDistinct("_value").alias("value"))
    elif correlation.kind == "temporal":
        aggregates.append(F.countDistinct("_rule").alias("value"))
    else:
        ordered = F.array_sort(F.collect_list(F.struct("_us", "_rule")))
        aggregates.append(
            F.aggregate(
                ordered,
                F.lit(0).cast("long"),
                lambda state, x: F.when(x["_rule"] == state, state + 1).otherwise(state),
            ).alias("value")
        )
    out = present.groupBy("_window", *groups).agg(*aggregates)
    out = out.where(OPERATORS[correlation.op](F.col("value"), F.lit(correlation.count)))
    found = out.toPandas()
    return _alerts(found.sort_values(["_window", *groups], ignore_index=True), correlation)


# --- both -------------------------------------------------------------------------------


def _alerts(found: pd.DataFrame, correlation: Correlation) -> pd.DataFrame:
    """Aggregated (window, group) rows as the alerts table."""
    info = correlation.info
    span = pd.Timedelta(seconds=correlation.seconds)
    start = pd.to_datetime(
        found["_window"].astype("int64") * correlation.seconds, unit="s", utc=True
    )
    groups = [f"_g{i}" for i in range(len(correlation.group_by))]
    labels = [
        ", ".join(f"{name}={value}" for name, value in zip(correlation.group_by, values, strict=True))
        for values in found[groups].itertuples(index=False, name=None)
    ] if groups else [""] * len(found)  # fmt: skip
    out = pd.DataFrame(
        {
            "rule_id": info.id,
            "title": info.title,
            "level": info.level,
            "attack": ",".join(info.attack),
            "author": info.author,
            "correlation": correlation.kind,
            "window_start": start,
            "window_end": start + span,
            "group": labels,
            "value": found["value"].astype("int64"),
            "events": found["events"].astype("int64"),
            "first": pd.to_datetime(found["first"].astype("int64"), unit="us", utc=True),
            "last": pd.to_datetime(found["last"].astype("int64"), unit="us", utc=True),
        },
        columns=list(ALERT_COLUMNS),
    )
    return out.reset_index(drop=True)
