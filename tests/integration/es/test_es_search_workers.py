"""``huntlab.es.search`` in worker processes builds the same table as a plain reading.

The reference is the straightforward way: every ``_source`` of the index by
``elasticsearch.helpers.scan``, put through the canonical column builder in this process
(``build_frame``), ordered by ``@timestamp``. The worker path must give the same columns in
the same order, the same dtypes (category, object, Int64, UTC timestamps) and the same values,
column by column.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import pandas as pd
import pytest

from huntlab.es import indices


def _scan_sources(settings: Any, index: str, query: dict[str, Any] | None = None) -> list[Any]:
    from elasticsearch import helpers

    from huntlab.es.client import client

    es = client(settings)
    body = {"query": query or {"match_all": {}}}
    return [hit["_source"] for hit in helpers.scan(es, index=index, query=body)]


def _reference(settings: Any, index: str, query: dict[str, Any] | None = None) -> pd.DataFrame:
    from huntlab.readers.frame import build_frame

    frame = build_frame(_scan_sources(settings, index, query), progress=False)
    return frame.sort_values("@timestamp", kind="stable").reset_index(drop=True)


def _row_order(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows in one order whatever order they came in (ties in @timestamp included)."""
    text = frame.astype("string").fillna("\0")
    order = text.sort_values(list(text.columns), kind="stable").index
    return frame.loc[order].reset_index(drop=True)


def assert_same_table(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert list(got.columns) == list(want.columns)
    assert len(got) == len(want) > 0
    got, want = _row_order(got), _row_order(want)
    for name in want.columns:
        mine, theirs = got[name], want[name]
        if isinstance(theirs.dtype, pd.CategoricalDtype):
            # Categories keep the order values first came in, which depends on the order
            # Elasticsearch returns documents in (scroll vs slices): compared as sets.
            assert isinstance(mine.dtype, pd.CategoricalDtype), name
            assert set(mine.cat.categories) == set(theirs.cat.categories), name
            assert mine.cat.categories.dtype == theirs.cat.categories.dtype, name
            mine, theirs = mine.astype(object), theirs.astype(object)
        else:
            assert mine.dtype == theirs.dtype, (name, mine.dtype, theirs.dtype)
        pd.testing.assert_series_equal(mine, theirs, check_names=True, obj=name)


@pytest.mark.parametrize("slices", [2, 3])
def test_workers_build_the_reference_table(es_loaded: Any, slices: int) -> None:
    from huntlab.es import search
    from huntlab.readers import mapping

    got = search(None, index=indices.PATTERN, settings=es_loaded, processes=True, slices=slices)
    want = _reference(es_loaded, indices.PATTERN)
    assert_same_table(got, want)
    # The table has every kind of column the canonical table has.
    assert str(got["@timestamp"].dtype) == "datetime64[ns, UTC]"
    assert str(got["EventID"].dtype) == "Int64"
    numbers = [n for n in mapping.number_fields() if n in got.columns]
    assert numbers and all(str(got[n].dtype) == "Int64" for n in numbers)
    assert any(isinstance(got[n].dtype, pd.CategoricalDtype) for n in got.columns)


def test_workers_and_this_process_agree_on_queries_and_fields(es_loaded: Any) -> None:
    from huntlab.es import search

    query = "EventID:1 OR EventID:4688 OR Channel:*PowerShell*"
    mine = search(query, index=indices.PATTERN, settings=es_loaded, processes=True)
    here = search(query, index=indices.PATTERN, settings=es_loaded, processes=False)
    assert_same_table(mine, here)
    fields = ["@timestamp", "Image", "EventID", "CommandLine"]
    mine = search(None, fields=fields, settings=es_loaded, processes=True, slices=2)
    here = search(None, fields=fields, settings=es_loaded, processes=False)
    assert list(mine.columns) == fields
    assert_same_table(mine, here)


def test_column_builders_joined_equal_one_builder(es_loaded: Any) -> None:
    """Builders filled apart (as the workers do) and joined give exactly the table of one
    builder over all the rows: same category order, same row order."""
    from huntlab.readers.frame import ColumnBuilder, build_frame

    rows = _scan_sources(es_loaded, indices.PATTERN)
    # Odd cuts, so that columns appear in one part only and values repeat across parts.
    cuts = [0, 1, len(rows) // 3, len(rows) // 3 + 7, len(rows)]
    joined = ColumnBuilder()
    for lo, hi in pairwise(cuts):
        part = ColumnBuilder()
        part.add(rows[lo:hi])
        joined.extend(part)
    pd.testing.assert_frame_equal(joined.frame(), build_frame(rows, progress=False))


def test_documents_with_nulls_are_searched_both_ways(es_settings: Any) -> None:
    """Another tool's index holds JSON nulls: a null is an absent value in the table, in this
    process and in the workers (it failed with "Categorical categories cannot be null")."""
    from elasticsearch import helpers

    from huntlab.es import search
    from huntlab.es.client import client

    index = "scratch-nulls"
    es = client(es_settings)
    es.options(ignore_status=404).indices.delete(index=index)
    docs = [
        {
            "@timestamp": f"2020-01-01T00:00:{n % 60:02d}.000Z",
            "Image": None if n % 3 else "C:\\Windows\\System32\\cmd.exe",
            "EventID": None if n % 5 == 0 else 1,
            "Hostname": "ws01",
        }
        for n in range(400)
    ]
    helpers.bulk(es, ({"_index": index, "_source": doc} for doc in docs), refresh=True)
    try:
        for processes in (False, True):
            got = search(None, index=index, settings=es_settings, processes=processes, slices=2)
            assert len(got) == 400
            assert int(got["Image"].notna().sum()) == sum(1 for d in docs if d["Image"])
            assert int(got["EventID"].isna().sum()) == sum(1 for d in docs if d["EventID"] is None)
            assert str(got["EventID"].dtype) == "Int64"
            assert_same_table(got, _reference(es_settings, index))
    finally:
        es.options(ignore_status=404).indices.delete(index=index)
