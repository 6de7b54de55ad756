"""Render the IR as Spark column expressions on the canonical Spark table
(``huntlab.spark.read_events``), with the pandas engine's meaning (see ``ir``).

One pass per logsource source, not per rule: the rows of a source are selected once and every
rule of that source is one boolean expression of the same projection; the indices of the rules
a row satisfies are gathered in an array and exploded into hits. Leaves are null-safe (an
absent field is false, so ``not`` of it is true), as in the pandas engine.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from huntlab.detect import ir
from huntlab.detect.compile import CompiledRule
from huntlab.detect.logsource import Source

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

RULE_COLUMN = "_rule"  # index of the rule in the list given to ``hits``


class Renderer:
    """IR nodes as Columns of one DataFrame (field names resolved as the pandas engine does:
    exact, else case-insensitive)."""

    def __init__(self, frame: DataFrame) -> None:
        from pyspark.sql import functions as F
        from pyspark.sql.types import StringType, TimestampType

        self.F = F
        self._types = {f.name: f.dataType for f in frame.schema.fields}
        self._lower = {name.lower(): name for name in self._types}
        self._string = StringType
        self._timestamp = TimestampType

    def string_columns(self) -> list[str]:
        """The columns a keyword (field-less) search reads: the text ones."""
        return [n for n, kind in self._types.items() if isinstance(kind, self._string)]

    def name(self, field: str) -> str | None:
        if field in self._types:
            return field
        return self._lower.get(field.lower())

    def text(self, name: str) -> Column:
        """The column as the text the pandas engine compares (its ``_text``)."""
        F = self.F
        column = F.col(f"`{name}`")
        kind = self._types[name]
        if isinstance(kind, self._string):
            return column
        if isinstance(kind, self._timestamp):
            return F.date_format(column, "yyyy-MM-dd'T'HH:mm:ss.SSS'Z'")
        return column.cast("string")

    def number(self, name: str) -> Column:
        """Decimal or 0x-hex text as a double (null where it is no number)."""
        F = self.F
        text = F.trim(self.text(name))
        hexa = F.lower(text).rlike("^0x[0-9a-f]+$")
        return F.when(hexa, F.conv(F.substring(text, 3, 1000), 16, 10).cast("double")).otherwise(
            text.cast("double")
        )

    def render(self, node: ir.Node) -> Column:
        F = self.F
        if isinstance(node, ir.And):
            return _balanced([self.render(c) for c in node.children], lambda a, b: a & b)
        if isinstance(node, ir.Or):
            return _balanced([self.render(c) for c in node.children], lambda a, b: a | b)
        if isinstance(node, ir.Not):
            return ~self.render(node.child)
        if isinstance(node, ir.Const):
            return F.lit(node.value)
        if node.field is None:  # keyword: any text column
            parts = [self._leaf(name, node) for name in self.string_columns()]
            return _balanced(parts, lambda a, b: a | b) if parts else F.lit(False)
        return self._leaf(node.field, node)

    def _leaf(self, field: str, node: ir.Leaf) -> Column:
        F = self.F
        if isinstance(node, ir.FieldRef):
            return self._fieldref(node)
        name = self.name(field)
        if name is None:
            return F.lit(isinstance(node, ir.IsNull))
        if isinstance(node, ir.Exists):
            return F.col(f"`{name}`").isNotNull()
        if isinstance(node, ir.IsNull):
            return F.col(f"`{name}`").isNull()
        return F.coalesce(self._value(name, node), F.lit(False))

    def _value(self, name: str, node: ir.Leaf) -> Column:
        F = self.F
        if isinstance(node, ir.Text):
            text = self.text(name) if node.cased else F.lower(self.text(name))
            pattern = tuple(
                p.lower() if isinstance(p, str) and not node.cased else p for p in node.pattern
            )
            return _text_match(text, pattern)
        if isinstance(node, ir.Regex):
            flags = "".join(sorted(node.flags))
            prefix = f"(?{flags})" if flags else ""
            return self.text(name).rlike(prefix + node.pattern)
        if isinstance(node, ir.Number):
            return self.number(name) == float(node.number)
        if isinstance(node, ir.Compare):
            number = self.number(name)
            ops: dict[str, Callable[[Column, float], Column]] = {
                "lt": lambda c, n: c < n,
                "lte": lambda c, n: c <= n,
                "gt": lambda c, n: c > n,
                "gte": lambda c, n: c >= n,
            }
            return ops[node.op](number, float(node.number))
        if isinstance(node, ir.Cidr):
            return _cidr(self.text(name), node.network)
        if isinstance(node, ir.TimePart):
            stamp = F.to_timestamp(F.col(f"`{name}`"))
            part = {
                "minute": F.minute,
                "hour": F.hour,
                "day": F.dayofmonth,
                "week": F.weekofyear,
                "month": F.month,
                "year": F.year,
            }.get(node.part)
            return F.lit(False) if part is None else part(stamp) == node.number
        raise TypeError(f"not a leaf: {node!r}")

    def _fieldref(self, node: ir.FieldRef) -> Column:
        F = self.F
        left, right = self.name(node.field), self.name(node.other)
        if left is None or right is None:
            return F.lit(False)
        a, b = self.text(left), self.text(right)
        if not node.cased:
            a, b = F.lower(a), F.lower(b)
        if node.startswith and node.endswith:
            test = a.contains(b)
        elif node.startswith:
            test = a.startswith(b)
        elif node.endswith:
            test = a.endswith(b)
        else:
            test = a == b
        return F.coalesce(test, F.lit(False))


def _balanced(columns: list[Column], join: Callable[[Column, Column], Column]) -> Column:
    """``columns`` joined as a balanced tree: rules with thousands of alternatives would make
    a chain too deep for Catalyst's recursive analysis."""
    while len(columns) > 1:
        pairs = [join(a, b) for a, b in zip(columns[::2], columns[1::2], strict=False)]
        columns = pairs + ([columns[-1]] if len(columns) % 2 else [])
    return columns[0]


def _text_match(text: Column, pattern: tuple[ir.Part, ...]) -> Column:

    ANY = ir.Wild.ANY
    if all(isinstance(p, str) for p in pattern):
        return text == "".join(str(p) for p in pattern)
    if (
        len(pattern) == 3
        and pattern[0] is ANY
        and pattern[2] is ANY
        and isinstance(pattern[1], str)
    ):
        return text.contains(pattern[1])
    if len(pattern) == 2 and pattern[1] is ANY and isinstance(pattern[0], str):
        return text.startswith(pattern[0])
    if len(pattern) == 2 and pattern[0] is ANY and isinstance(pattern[1], str):
        return text.endswith(pattern[1])
    if pattern == (ANY,):
        return text.isNotNull()
    return text.rlike("(?s)^" + ir.glob_regex(pattern) + "$")


def _cidr(text: Column, network: str) -> Column:
    """IPv4 networks natively (the dotted quad as a number); IPv6 through a Python UDF."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import BooleanType

    net = ipaddress.ip_network(network, strict=False)
    value = F.trim(text)
    if net.version == 4:
        quad = r"^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$"
        octets = [F.regexp_extract(value, quad, i).cast("long") for i in range(1, 5)]
        valid = value.rlike(quad)
        for octet in octets:
            valid = valid & (octet <= 255)
        number = octets[0] * 16777216 + octets[1] * 65536 + octets[2] * 256 + octets[3]
        low, high = int(net.network_address), int(net.broadcast_address)
        return valid & (number >= low) & (number <= high)

    def inside(v: str | None) -> bool:
        if v is None:
            return False
        try:
            ip = ipaddress.ip_address(v.strip().strip("[]"))
        except ValueError:
            return False
        return ip.version == net.version and ip in net

    return F.udf(inside, BooleanType())(value)


CHUNK_RULES = 100  # rules per projection: larger plans exhaust the driver's memory


def _members(rules: list[CompiledRule]) -> dict[Source, list[tuple[int, int]]]:
    by_source: dict[Source, list[tuple[int, int]]] = defaultdict(list)
    for r, rule in enumerate(rules):
        for b, branch in enumerate(rule.branches):
            by_source[branch.source].append((r, b))
    return by_source


def _has_keyword(node: ir.Node) -> bool:
    if isinstance(node, ir.And | ir.Or):
        return any(_has_keyword(c) for c in node.children)
    if isinstance(node, ir.Not):
        return _has_keyword(node.child)
    return not isinstance(node, ir.Const) and node.field is None


def source_hits(
    events: DataFrame,
    rules: list[CompiledRule],
    keep: list[str],
    chunk: int = CHUNK_RULES,
) -> Iterator[tuple[Source, int, list[DataFrame]]]:
    """Per logsource source: its number of events and its hits, as DataFrames of at most
    ``chunk`` rules each (``RULE_COLUMN`` and the ``keep`` columns). The source's rows are
    selected once, narrowed to the columns its rules read, and persisted while its chunks
    are collected; the caller collects them before asking for the next source. The events
    themselves are persisted for the run (unless the caller cached them): each source's
    selection then scans them, not the files they are parsed from."""
    from pyspark import StorageLevel

    mine = not events.is_cached
    if mine:
        events = events.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        yield from _source_hits(events, rules, keep, chunk)
    finally:
        if mine:
            events.unpersist()


def _source_hits(
    events: DataFrame, rules: list[CompiledRule], keep: list[str], chunk: int
) -> Iterator[tuple[Source, int, list[DataFrame]]]:
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    whole = Renderer(events)
    for source, members in _members(rules).items():
        conditions = [rules[r].branches[b].condition for r, b in members]
        read: set[str] = set(keep)
        for condition in conditions:
            read |= {n for f in ir.fields_of(condition) if (n := whole.name(f)) is not None}
        keyword = any(_has_keyword(c) for c in conditions)
        if keyword:
            read |= set(whole.string_columns())
        selected = events.where(whole.render(source.condition()))
        rows = selected.select(*[F.col(f"`{c}`") for c in events.columns if c in read])
        rows = rows.persist(StorageLevel.MEMORY_AND_DISK)
        try:
            total = rows.count()
            if total == 0:
                yield source, 0, []
                continue
            if keyword:  # keyword searches need only the columns this source fills
                present = rows.select(
                    *[F.count(F.col(f"`{c}`")).alias(c) for c in rows.columns]
                ).first()
                assert present is not None
                narrowed = [c for c in rows.columns if c in keep or present[c]]
                renderer = Renderer(rows.select(*[F.col(f"`{c}`") for c in narrowed]))
            else:
                renderer = Renderer(rows)
            keep_cols = [F.col(f"`{c}`") for c in keep]
            frames = []
            for start in range(0, len(members), chunk):
                part = members[start : start + chunk]
                matched = F.array(
                    *[
                        F.when(renderer.render(rules[r].branches[b].condition), F.lit(r))
                        for r, b in part
                    ]
                )
                found = rows.select(
                    *keep_cols, F.filter(matched, lambda x: x.isNotNull()).alias("_m")
                )
                found = found.where(F.size("_m") > 0)
                frames.append(found.select(*keep_cols, F.explode("_m").alias(RULE_COLUMN)))
            yield source, total, frames
        finally:
            rows.unpersist()


def hits(events: DataFrame, rules: list[CompiledRule], keep: list[str]) -> DataFrame:
    """One row per (rule, event): ``RULE_COLUMN`` (index into ``rules``) and the ``keep``
    columns of the event, as one lazy DataFrame (small rule sets; ``source_hits`` collects
    large ones source by source). The sources of one rule never share a row (distinct
    channels or event IDs), so a row is a hit of a rule at most once, as in pandas."""
    from pyspark.sql import functions as F

    renderer = Renderer(events)
    keep_cols = [F.col(f"`{c}`") for c in keep]
    parts: list[DataFrame] = []
    for source, members in _members(rules).items():
        rows = events.where(renderer.render(source.condition()))
        matched = F.array(
            *[F.when(renderer.render(rules[r].branches[b].condition), F.lit(r)) for r, b in members]
        )
        found = rows.select(*keep_cols, F.filter(matched, lambda x: x.isNotNull()).alias("_m"))
        found = found.where(F.size("_m") > 0)
        parts.append(found.select(*keep_cols, F.explode("_m").alias(RULE_COLUMN)))
    if not parts:
        return events.limit(0).select(*keep_cols, F.lit(0).alias(RULE_COLUMN))
    out = parts[0]
    for part in parts[1:]:
        out = out.unionByName(part)
    return out


def is_spark_frame(value: Any) -> bool:
    module = type(value).__module__
    return module.startswith("pyspark.sql") and type(value).__name__ == "DataFrame"
