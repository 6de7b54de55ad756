"""Build the canonical pandas table from streamed events, column by column.

Why it is fast and lean: recordings repeat the same values over and over (host names,
channels, images, even whole command lines), so each column keeps one copy of every distinct
value and an integer code per row, appended to compact arrays as events stream by; no
per-row dict or per-row string copy is ever held. At the end each column becomes a
``category`` (values repeat) or an ``object`` column sharing those copies (values are unique).
``@timestamp`` is parsed once per distinct value.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from huntlab.readers import mapping as m

_PROGRESS_EVERY = 20_000


# Codes are 16-bit while a column has fewer distinct values than this (nearly every column:
# half the memory of its codes), 32-bit from then on.
_NARROW_LIMIT = 2**15 - 1


class _Column:
    __slots__ = ("codes", "index", "rows")

    def __init__(self) -> None:
        self.index: dict[Any, int] = {}
        self.rows = array("i")
        self.codes = array("h")

    def widen(self) -> None:
        """32-bit codes from now on (the column reached ``_NARROW_LIMIT`` distinct values)."""
        if self.codes.typecode == "h":
            self.codes = array("i", self.codes)

    def code_array(self) -> np.ndarray:
        return np.frombuffer(self.codes, dtype=np.int16 if self.codes.typecode == "h" else np.int32)


def _ordered(names: Iterable[str]) -> list[str]:
    """Core columns first, in their documented order, then the rest alphabetically."""
    core = list(m.core_fields())
    rest = sorted((n for n in names if n not in core), key=lambda n: (n.lower(), n))
    return core + rest


def column_order(names: Iterable[str]) -> list[str]:
    return _ordered(names)


def _codes(column: _Column, n: int) -> np.ndarray:
    codes = np.full(n, -1, dtype=np.int32)
    if len(column.rows):
        codes[np.frombuffer(column.rows, dtype=np.int32)] = column.code_array()
    return codes


def _values(column: _Column | None) -> list[Any]:
    return list(column.index) if column is not None else []


def _string_series(column: _Column | None, n: int, categorical: bool) -> pd.Series:
    values = _values(column)
    codes = _codes(column, n) if column is not None else np.full(n, -1, dtype=np.int32)
    present = int((codes >= 0).sum())
    if categorical and values and len(values) * 2 <= present:
        cats = pd.Index(np.array(values, dtype=object), dtype=object)
        categorical_values = pd.Categorical.from_codes(codes, categories=cats)  # type: ignore[arg-type]
        return pd.Series(categorical_values)
    table = np.empty(len(values) + 1, dtype=object)
    table[: len(values)] = values
    table[-1] = None  # code -1 (absent) picks the last slot
    return pd.Series(table[codes], dtype=object)


def _timestamp_series(column: _Column | None, n: int) -> pd.Series:
    values = _values(column)
    parsed = pd.to_datetime(pd.Series(values, dtype=object), utc=True, format="ISO8601")
    table = np.empty(len(values) + 1, dtype="datetime64[ns]")
    table[: len(values)] = parsed.dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
    table[-1] = np.datetime64("NaT")
    codes = _codes(column, n) if column is not None else np.full(n, -1, dtype=np.int32)
    return pd.Series(table[codes]).dt.tz_localize("UTC")


def _integer_series(column: _Column | None, n: int) -> pd.Series:
    values = _values(column)
    codes = _codes(column, n) if column is not None else np.full(n, -1, dtype=np.int32)
    table = np.zeros(len(values) + 1, dtype=np.int64)
    table[: len(values)] = np.array(values, dtype=np.int64) if values else []
    return pd.Series(pd.arrays.IntegerArray(table[codes], codes < 0))


def _json_text(value: Any) -> str:
    import orjson

    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS, default=str).decode("utf-8")


class ColumnBuilder:
    """Columns under construction: rows are appended with ``add``; builders filled apart
    (by worker processes, say) are joined in order with ``extend``; ``frame`` makes the
    table. A builder pickles (values, row and code arrays), so it can cross processes."""

    def __init__(self) -> None:
        self.columns: dict[str, _Column] = {}
        self.rows = 0

    def add(self, events: Iterable[dict[str, Any]], bar: Any = None) -> None:
        """Append ``events`` (dicts as ``iter_events`` yields them) as the next rows."""
        columns = self.columns
        # Per column: its value index and the bound appends, so the hot loop does no
        # attribute lookups (this loop runs once per field of every event).
        hot: dict[str, tuple[dict[Any, int], Any, Any]] = {
            key: (column.index, column.rows.append, column.codes.append)
            for key, column in columns.items()
        }
        get = hot.get
        first = self.rows
        row = first - 1
        shown = first
        for row, event in enumerate(events, first):
            for key, value in event.items():
                entry = get(key)
                if entry is None:
                    if value is None:  # no column for a null alone, as for an absent key
                        continue
                    new = columns[key] = _Column()
                    entry = hot[key] = (new.index, new.rows.append, new.codes.append)
                index, add_row, add_code = entry
                try:
                    code = index.get(value)
                except TypeError:  # an object or array (documents of other indexes): JSON text
                    value = _json_text(value)
                    code = index.get(value)
                if code is None:
                    if value is None:  # a JSON null: absent, as the normaliser makes it
                        continue
                    code = index[value] = len(index)
                    if code == _NARROW_LIMIT:  # no longer fits 16 bits: 32-bit codes
                        column = columns[key]
                        column.widen()
                        add_code = column.codes.append
                        hot[key] = (index, add_row, add_code)
                add_row(row)
                add_code(code)
            if bar is not None and row - shown >= _PROGRESS_EVERY:
                bar.update(row - shown)
                shown = row
        hot.clear()
        if bar is not None:
            bar.update(row + 1 - shown)
        self.rows = row + 1

    def extend(self, other: ColumnBuilder) -> None:
        """Append the rows of ``other`` after these (``other`` is emptied)."""
        offset = self.rows
        for key, theirs in other.columns.items():
            mine = self.columns.get(key)
            if mine is None:
                mine = self.columns[key] = _Column()
            index = mine.index
            # Their code -> ours: values new to this column are appended in their order, as if
            # their rows had been added here one by one.
            remap = np.fromiter(
                (index.setdefault(value, len(index)) for value in theirs.index),
                dtype=np.int32,
                count=len(theirs.index),
            )
            rows = np.frombuffer(theirs.rows, dtype=np.int32) + np.int32(offset)
            mine.rows.frombytes(rows.astype(np.int32, copy=False).tobytes())
            if len(index) > _NARROW_LIMIT:
                mine.widen()
            codes = remap[theirs.code_array()]
            mine.codes.frombytes(codes.astype(mine.code_array().dtype, copy=False).tobytes())
        self.rows += other.rows
        other.columns.clear()
        other.rows = 0

    def frame(self, *, categorical: bool = True) -> pd.DataFrame:
        """The canonical DataFrame of the rows added so far (the builder is emptied)."""
        columns = self.columns
        n = self.rows
        ts_name = m.timestamp_field()
        ints = set(m.integer_fields())
        data: dict[str, pd.Series] = {}
        for name in _ordered(columns):
            column = columns.pop(name, None)  # free each column's arrays as soon as it is built
            if name == ts_name:
                data[name] = _timestamp_series(column, n)
            elif name in ints:
                data[name] = _integer_series(column, n)
            else:
                data[name] = _string_series(column, n, categorical)
        self.rows = 0
        return pd.DataFrame(data, copy=False)


def build_frame(
    events: Iterable[dict[str, Any]], *, categorical: bool = True, progress: bool | None = None
) -> pd.DataFrame:
    """The canonical DataFrame of ``events`` (dicts as ``iter_events`` yields them)."""
    bar = None
    if progress or (progress is None and sys.stderr.isatty()):
        from tqdm import tqdm

        bar = tqdm(desc="events", unit=" ev", unit_scale=True, leave=False)
    builder = ColumnBuilder()
    try:
        builder.add(events, bar)
    finally:
        if bar is not None:
            bar.close()
    return builder.frame(categorical=categorical)
