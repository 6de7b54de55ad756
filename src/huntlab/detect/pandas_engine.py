"""Render the IR as vectorised boolean masks on a pandas event table.

Why it is fast: event tables repeat values (images, channels, command lines), and their
string columns are mostly ``category`` columns. Each leaf of a rule is evaluated once per
*distinct* value of its field and spread to the rows through the column's integer codes;
the per-distinct-value result is cached by leaf, so the many rules that test the same
``Image|endswith`` pay for it once. Rules are grouped by logsource source (Sysmon event 1,
Security 4688, ...): the rows of a source are found once, and each rule is evaluated on
those rows only.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from huntlab.detect import ir

BoolArray = np.ndarray


class View:
    """One column as its distinct values (text) and a code per row (-1: absent)."""

    __slots__ = ("_ips", "_lower", "_lower_index", "_numbers", "_objects", "codes", "values")

    def __init__(self, series: pd.Series) -> None:
        if isinstance(series.dtype, pd.CategoricalDtype):
            self.codes = np.asarray(series.cat.codes.to_numpy(), dtype=np.int64)
            uniques: Any = series.cat.categories
        else:
            codes, uniques = pd.factorize(series, use_na_sentinel=True)
            self.codes = np.asarray(codes, dtype=np.int64)
        self.values: list[str] = [_text(v) for v in uniques]
        self._lower: list[str] | None = None
        self._lower_index: dict[str, list[int]] | None = None
        self._numbers: np.ndarray | None = None
        self._ips: list[Any] | None = None
        self._objects: np.ndarray | None = None

    def text(self, cased: bool) -> list[str]:
        if cased:
            return self.values
        if self._lower is None:
            self._lower = [v.lower() for v in self.values]
        return self._lower

    def positions(self, value: str) -> list[int]:
        """Distinct-value positions whose lower-cased text is ``value``."""
        if self._lower_index is None:
            index: dict[str, list[int]] = {}
            for i, v in enumerate(self.text(cased=False)):
                index.setdefault(v, []).append(i)
            self._lower_index = index
        return self._lower_index.get(value, [])

    def numbers(self) -> np.ndarray:
        if self._numbers is None:
            self._numbers = np.array([_number(v) for v in self.values], dtype=np.float64)
        return self._numbers

    def ips(self) -> list[Any]:
        if self._ips is None:
            self._ips = [_ip(v) for v in self.values]
        return self._ips

    def row_values(self, rows: np.ndarray | None, cased: bool) -> np.ndarray:
        """Per-row text (None where absent), for comparisons between two fields."""
        table = np.empty(len(self.values) + 1, dtype=object)
        table[: len(self.values)] = self.text(cased)
        table[-1] = None
        codes = self.codes if rows is None else self.codes[rows]
        return table[codes]


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _number(text: str) -> float:
    stripped = text.strip()
    try:
        if stripped[:2].lower() == "0x":
            return float(int(stripped, 16))
        return float(stripped)
    except ValueError:
        return float("nan")


def _ip(text: str) -> Any:
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


def _glob_regex(pattern: tuple[ir.Part, ...]) -> re.Pattern[str]:
    return re.compile(ir.glob_regex(pattern), re.DOTALL)


def _lowered(pattern: tuple[ir.Part, ...], cased: bool) -> tuple[ir.Part, ...]:
    if cased:
        return pattern
    return tuple(p.lower() if isinstance(p, str) else p for p in pattern)


def text_matcher(pattern: tuple[ir.Part, ...]) -> Callable[[list[str]], BoolArray]:
    """A function marking which of a list of values match ``pattern`` as a whole."""
    ANY = ir.Wild.ANY
    if (
        len(pattern) == 3
        and pattern[0] is ANY
        and pattern[2] is ANY
        and isinstance(pattern[1], str)
    ):
        needle = pattern[1]
        return lambda values: np.fromiter((needle in v for v in values), bool, len(values))
    if len(pattern) == 2 and pattern[1] is ANY and isinstance(pattern[0], str):
        prefix = pattern[0]
        return lambda values: np.fromiter((v.startswith(prefix) for v in values), bool, len(values))
    if len(pattern) == 2 and pattern[0] is ANY and isinstance(pattern[1], str):
        suffix = pattern[1]
        return lambda values: np.fromiter((v.endswith(suffix) for v in values), bool, len(values))
    if pattern == (ANY,):
        return lambda values: np.ones(len(values), dtype=bool)
    regex = _glob_regex(pattern)
    fullmatch = regex.fullmatch
    return lambda values: np.fromiter((fullmatch(v) is not None for v in values), bool, len(values))


_REGEX_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL}
_TIME_PARTS = ("minute", "hour", "day", "week", "month", "year")


class Table:
    """An event table prepared for evaluation: column views and per-leaf caches."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self.n = len(frame)
        self._views: dict[str, View | None] = {}
        self._distinct: dict[tuple[str, ir.Node], BoolArray] = {}
        self._columns_lower = {str(c).lower(): str(c) for c in frame.columns}
        self._text_columns: list[str] | None = None

    def column(self, field: str) -> str | None:
        """The table's column for a Sigma field (field names are case-insensitive)."""
        if field in self.frame.columns:
            return field
        return self._columns_lower.get(field.lower())

    def view(self, field: str) -> View | None:
        if field not in self._views:
            column = self.column(field)
            self._views[field] = View(self.frame[column]) if column is not None else None
        return self._views[field]

    def text_columns(self) -> list[str]:
        """The columns a keyword (field-less) search reads: the text ones, as in the other
        engines (Elasticsearch cannot search a date or number field for text)."""
        if self._text_columns is None:
            frame = self.frame
            self._text_columns = [
                str(c)
                for c in frame.columns
                if not (
                    pd.api.types.is_numeric_dtype(frame[c].dtype)
                    or pd.api.types.is_datetime64_any_dtype(frame[c].dtype)
                    or pd.api.types.is_bool_dtype(frame[c].dtype)
                )
            ]
        return self._text_columns

    def distinct_mask(self, field: str, leaf: ir.Node, view: View) -> BoolArray:
        """Which distinct values of ``field`` satisfy ``leaf``, with a trailing False slot
        for absent values (code -1)."""
        key = (field, leaf)
        cached = self._distinct.get(key)
        if cached is not None:
            return cached
        result = np.zeros(len(view.values) + 1, dtype=bool)
        result[:-1] = self._evaluate_distinct(leaf, view)
        self._distinct[key] = result
        return result

    def _evaluate_distinct(self, leaf: ir.Node, view: View) -> BoolArray:
        if isinstance(leaf, ir.Text):
            pattern = _lowered(leaf.pattern, leaf.cased)
            literal = None
            if all(isinstance(p, str) for p in pattern):
                literal = "".join(str(p) for p in pattern)
            if literal is not None and not leaf.cased:
                mask = np.zeros(len(view.values), dtype=bool)
                mask[view.positions(literal)] = True
                return mask
            if literal is not None:
                return np.fromiter((v == literal for v in view.values), bool, len(view.values))
            return text_matcher(pattern)(view.text(leaf.cased))
        if isinstance(leaf, ir.Regex):
            flags = 0
            for flag in leaf.flags:
                flags |= _REGEX_FLAGS[flag]
            search = re.compile(leaf.pattern, flags).search
            return np.fromiter((search(v) is not None for v in view.values), bool, len(view.values))
        if isinstance(leaf, ir.Number):
            return view.numbers() == float(leaf.number)
        if isinstance(leaf, ir.Compare):
            numbers = view.numbers()
            with np.errstate(invalid="ignore"):
                if leaf.op == "lt":
                    return numbers < leaf.number
                if leaf.op == "lte":
                    return numbers <= leaf.number
                if leaf.op == "gt":
                    return numbers > leaf.number
                return numbers >= leaf.number
        if isinstance(leaf, ir.Cidr):
            network = ipaddress.ip_network(leaf.network, strict=False)
            return np.fromiter(
                (ip is not None and ip.version == network.version and ip in network
                 for ip in view.ips()),
                bool,
                len(view.values),
            )  # fmt: skip
        raise TypeError(f"not a per-value leaf: {leaf!r}")


class Evaluator:
    """Masks of IR nodes on some rows (``rows``: positions in the table; None: all)."""

    def __init__(self, table: Table, rows: np.ndarray | None = None) -> None:
        self.table = table
        self.rows = rows
        self.n = table.n if rows is None else len(rows)
        self._codes: dict[str, np.ndarray] = {}

    def codes(self, field: str, view: View) -> np.ndarray:
        codes = self._codes.get(field)
        if codes is None:
            codes = view.codes if self.rows is None else view.codes[self.rows]
            self._codes[field] = codes
        return codes

    def mask(self, node: ir.Node) -> BoolArray:
        if isinstance(node, ir.And):
            out = self.mask(node.children[0])
            for child in node.children[1:]:
                if not out.any():
                    break
                out = out & self.mask(child)
            return out
        if isinstance(node, ir.Or):
            out = self.mask(node.children[0])
            for child in node.children[1:]:
                out = out | self.mask(child)
            return out
        if isinstance(node, ir.Not):
            return ~self.mask(node.child)
        if isinstance(node, ir.Const):
            return np.full(self.n, node.value, dtype=bool)
        if node.field is None:
            return self._keyword(node)
        return self._leaf(node.field, node)

    def _leaf(self, field: str, node: ir.Node) -> BoolArray:
        table = self.table
        if isinstance(node, ir.Exists | ir.IsNull):
            view = table.view(field)
            if view is None:
                return np.full(self.n, isinstance(node, ir.IsNull), dtype=bool)
            present = self.codes(field, view) >= 0
            return present if isinstance(node, ir.Exists) else ~present
        if isinstance(node, ir.FieldRef):
            return self._fieldref(node)
        if isinstance(node, ir.TimePart):
            return self._timepart(node)
        view = table.view(field)
        if view is None:
            return np.zeros(self.n, dtype=bool)
        return table.distinct_mask(field, node, view)[self.codes(field, view)]

    def _keyword(self, node: ir.Node) -> BoolArray:
        out = np.zeros(self.n, dtype=bool)
        for column in self.table.text_columns():
            out |= self._leaf(column, node)
        return out

    def _fieldref(self, node: ir.FieldRef) -> BoolArray:
        left, right = self.table.view(node.field), self.table.view(node.other)
        if left is None or right is None:
            return np.zeros(self.n, dtype=bool)
        a = left.row_values(self.rows, node.cased)
        b = right.row_values(self.rows, node.cased)
        if node.startswith and node.endswith:
            test: Callable[[str, str], bool] = lambda x, y: y in x  # noqa: E731
        elif node.startswith:
            test = str.startswith
        elif node.endswith:
            test = str.endswith
        else:
            test = str.__eq__
        return np.fromiter(
            (x is not None and y is not None and test(x, y) for x, y in zip(a, b, strict=True)),
            bool,
            self.n,
        )

    def _timepart(self, node: ir.TimePart) -> BoolArray:
        column = self.table.column(node.field)
        if column is None or node.part not in _TIME_PARTS:
            return np.zeros(self.n, dtype=bool)
        series = self.table.frame[column]
        if self.rows is not None:
            series = series.iloc[self.rows]
        stamps = pd.to_datetime(series, utc=True, errors="coerce")
        if node.part == "week":
            values = stamps.dt.isocalendar().week
        else:
            values = getattr(stamps.dt, node.part)
        return np.asarray((values == node.number).fillna(False), dtype=bool)
