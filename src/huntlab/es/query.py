"""Elasticsearch to pandas: the canonical event table from a query.

Pages through a point in time with ``search_after`` (sorted by ``_shard_doc``, the cheapest
order), in parallel slices when the result is large. Pages are parsed by orjson and the
rows go straight into the column builder the file readers use, so the table has the same
columns and types (``@timestamp`` UTC, the integer fields Int64, text elsewhere).

Parsing and the column builder hold the GIL, so a large result is read by worker processes,
one per slice: each fetches its slice's pages (the next page in flight while it parses the
current one), builds that slice's columns, and sends them back (distinct values and integer
codes, a fraction of the JSON); the slices' columns are joined in slice order.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from functools import cache
from queue import Queue
from typing import TYPE_CHECKING, Any

from huntlab.es import indices
from huntlab.readers.workers import fork_workers, usable_cores
from huntlab.settings import Settings, load_settings

if TYPE_CHECKING:
    import pandas as pd

    from huntlab.readers.frame import ColumnBuilder

PAGE_SIZE = 5000
SLICE_THRESHOLD = 20_000
# Parsing and the column builder hold the GIL, so the client handles one page at a time:
# two slices keep the next page in flight meanwhile; more only add contention (measured on
# 2 cores: 4 slices about 8% slower than 2, one slice about 25% slower).
MAX_SLICES = 2
KEEP_ALIVE = "2m"
# From this many events on, worker processes build the table (a round figure, not tuned:
# below it the table takes well under a second in this process). One worker per slice; more
# slices than cores keep the node busy while the workers parse (measured on 2 cores, with other
# jobs running: 3 slices 4.1-4.4 s, 2 slices 4.5-4.9 s for 104,148 events).
PROCESS_THRESHOLD = 40_000
WORKER_SLICES = max(2, min(4, usable_cores() + 1))


def _time(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value)


def build_query(
    query: str | Mapping[str, Any] | None, start: Any = None, end: Any = None
) -> dict[str, Any]:
    """The DSL query for a Lucene string or DSL dict, limited to ``[start, end)``."""
    if query is None or query == "" or query == "*":
        clause: dict[str, Any] = {"match_all": {}}
    elif isinstance(query, str):
        clause = {"query_string": {"query": query, "allow_leading_wildcard": True}}
    else:
        clause = dict(query.get("query", query))
    if start is None and end is None:
        return clause
    window: dict[str, Any] = {}
    if start is not None:
        window["gte"] = _time(start)
    if end is not None:
        window["lt"] = _time(end)
    return {"bool": {"must": [clause], "filter": [{"range": {"@timestamp": window}}]}}


def _page_body(
    pit: str,
    query: dict[str, Any],
    source: Any,
    size: int,
    slice_: dict[str, int] | None,
    after: list[Any] | None,
    *,
    by_time: bool,
) -> dict[str, Any]:
    """The search body of one page of a point in time, in ``_shard_doc`` order (the cheapest)
    or, ``by_time``, by ``@timestamp`` first."""
    order: list[Any] = [{"_shard_doc": "asc"}]
    if by_time:
        order.insert(0, {"@timestamp": {"order": "asc", "unmapped_type": "date"}})
    body: dict[str, Any] = {
        "size": size,
        "query": query,
        "pit": {"id": pit, "keep_alive": KEEP_ALIVE},
        "sort": order,
        "_source": source,
        "track_total_hits": False,
    }
    if after is not None:
        body["search_after"] = after
    if slice_ is not None:
        body["slice"] = slice_
    return body


def _pages(
    es: Any,
    pit: str,
    query: dict[str, Any],
    source: Any,
    size: int,
    limit: int | None,
    slice_: dict[str, int] | None,
) -> Iterator[list[dict[str, Any]]]:
    """Pages of ``_source`` dicts of one slice."""
    after: list[Any] | None = None
    taken = 0
    while True:
        want = size if limit is None else min(size, limit - taken)
        if want <= 0:
            return
        # With a limit, the earliest events; otherwise the cheapest order.
        body = _page_body(pit, query, source, want, slice_, after, by_time=limit is not None)
        # No filter_path: with one, the node re-parses every _source to filter the response;
        # without, it copies the stored bytes (measured about 1.5x faster end to end).
        hits = es.search(body=body).body.get("hits", {}).get("hits", [])
        if not hits:
            return
        taken += len(hits)
        after = hits[-1]["sort"]
        yield [hit.get("_source", {}) for hit in hits]
        if len(hits) < want:
            return


def _rows(
    es: Any,
    index: str,
    query: dict[str, Any],
    source: Any,
    limit: int | None,
    slices: int,
    size: int,
) -> Iterator[dict[str, Any]]:
    pit = es.open_point_in_time(index=index, keep_alive=KEEP_ALIVE).body["id"]
    try:
        if slices <= 1:
            for page in _pages(es, pit, query, source, size, limit, None):
                yield from page
            return
        # Slices are read by threads; pages are handed over through a bounded queue so the
        # table is built while the next pages are fetched.
        pages: Queue[list[dict[str, Any]] | BaseException | None] = Queue(maxsize=slices * 2)
        stop = threading.Event()

        def read_slice(n: int) -> None:
            try:
                for page in _pages(es, pit, query, source, size, None, {"id": n, "max": slices}):
                    if stop.is_set():
                        return
                    pages.put(page)
            except BaseException as exc:
                pages.put(exc)
            finally:
                pages.put(None)

        with ThreadPoolExecutor(max_workers=slices, thread_name_prefix="huntlab-slice") as pool:
            for n in range(slices):
                pool.submit(read_slice, n)
            finished = 0
            try:
                while finished < slices:
                    item = pages.get()
                    if item is None:
                        finished += 1
                    elif isinstance(item, BaseException):
                        raise item
                    else:
                        yield from item
            finally:
                stop.set()
                while finished < slices:  # unblock producers waiting on a full queue
                    if pages.get() is None:
                        finished += 1
    finally:
        es.options(ignore_status=404).close_point_in_time(id=pit)


class _RawJson:
    """A serializer that leaves response bodies as bytes: the worker parses pages itself."""

    mimetype = "application/json"

    def __init__(self) -> None:
        from elasticsearch import OrjsonSerializer

        self._json = OrjsonSerializer()

    def dumps(self, data: Any) -> bytes:
        return self._json.dumps(data)

    def loads(self, data: bytes) -> Any:
        return data


@cache
def _worker_client(settings: Settings) -> Any:
    from huntlab.es.client import client

    return client(settings, serializer=_RawJson())


def _last_sort(page: bytes) -> list[Any] | None:
    """The sort values of the last hit of a raw page (None: no hits). ``"sort":[`` cannot occur
    inside a JSON string, and each hit ends with its sort values, after its ``_source``."""
    import orjson

    start = page.rfind(b'"sort":[')
    if start < 0:
        return None
    end = page.index(b"]", start)
    return list(orjson.loads(page[start + 7 : end + 1]))


def _raw_pages(
    es: Any,
    pit: str,
    query: dict[str, Any],
    source: Any,
    size: int,
    slice_: dict[str, int] | None,
) -> Iterator[bytes]:
    """Raw pages (response bytes) of one slice (or of the whole result), in ``_shard_doc``
    order."""
    after: list[Any] | None = None
    while True:
        body = _page_body(pit, query, source, size, slice_, after, by_time=False)
        page = es.search(body=body).body
        after = _last_sort(page)
        if after is None:
            return
        yield page


class SliceError(RuntimeError):
    """Elasticsearch refused a worker's request (picklable: status and Elasticsearch's words)."""

    def __init__(self, status: int | None, reason: str) -> None:
        super().__init__(status, reason)
        self.status = status
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.reason} (status {self.status})"


def _read_slice(
    settings: Settings,
    pit: str,
    query: dict[str, Any],
    source: Any,
    size: int,
    slice_: dict[str, int] | None,
) -> ColumnBuilder:
    """In a worker process: the columns of one slice. A thread fetches the next page (the
    socket read releases the GIL) while this one parses the current page and adds its rows."""
    import orjson
    from elasticsearch import ApiError

    from huntlab.readers.frame import ColumnBuilder

    es = _worker_client(settings)
    builder = ColumnBuilder()
    pages: Queue[bytes | BaseException | None] = Queue(maxsize=1)
    stop = threading.Event()

    def fetch() -> None:
        try:
            for page in _raw_pages(es, pit, query, source, size, slice_):
                if stop.is_set():
                    return
                pages.put(page)
        except BaseException as exc:
            pages.put(exc)
        finally:
            pages.put(None)

    fetcher = threading.Thread(target=fetch, name="huntlab-page-fetch", daemon=True)
    fetcher.start()
    try:
        while (item := pages.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            hits = orjson.loads(item)["hits"]["hits"]
            del item  # the raw page, before the rows are built
            builder.add(hit.get("_source", {}) for hit in hits)
            del hits
    except ApiError as exc:
        body = exc.body
        if isinstance(body, bytes):
            try:
                body = orjson.loads(body)
            except orjson.JSONDecodeError:
                body = body.decode("utf-8", "replace")
        exc.body = body
        raise SliceError(exc.meta.status, _reason(exc)) from None
    except Exception as exc:  # the client's errors do not all cross processes
        raise SliceError(None, f"{type(exc).__name__}: {exc}") from None
    finally:
        stop.set()
        while fetcher.is_alive():  # unblock a fetcher waiting on the full queue
            if pages.get() is None:
                break
        fetcher.join()
    return builder


def _build_in_workers(
    pool: Executor,
    es: Any,
    settings: Settings,
    index: str,
    query: dict[str, Any],
    source: Any,
    slices: int,
    size: int,
) -> ColumnBuilder:
    """The columns of the whole result, each slice read and built by a worker process."""
    from huntlab.readers.frame import ColumnBuilder

    pit = es.open_point_in_time(index=index, keep_alive=KEEP_ALIVE).body["id"]
    try:
        futures = [
            pool.submit(
                _read_slice,
                settings,
                pit,
                query,
                source,
                size,
                {"id": n, "max": slices} if slices > 1 else None,
            )
            for n in range(slices)
        ]
        builder = ColumnBuilder()
        try:
            for future in futures:  # in slice order: the rows keep one order from run to run
                builder.extend(future.result())
        finally:
            for future in futures:
                future.cancel()
        return builder
    finally:
        es.options(ignore_status=404).close_point_in_time(id=pit)


def _reason(exc: Any) -> str:
    """Elasticsearch's own words for a refused request (the root cause's reason)."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        causes = error.get("root_cause") or []
        first = causes[0] if causes and isinstance(causes[0], dict) else error
        return str(first.get("reason") or error.get("reason") or exc)
    return str(exc)


def search(
    query: str | Mapping[str, Any] | None = None,
    *,
    index: str = indices.ALIAS,
    fields: list[str] | None = None,
    start: Any = None,
    end: Any = None,
    limit: int | None = None,
    settings: Settings | None = None,
    es: Any = None,
    slices: int | None = None,
    page_size: int = PAGE_SIZE,
    categorical: bool = True,
    processes: bool | None = None,
) -> pd.DataFrame:
    """Events matching ``query`` (Lucene string or DSL dict) as the canonical pandas table.

    ``index``: an index, pattern or alias (default ``huntlab``: everything); ``fields``: the
    columns to return (default all); ``start``/``end``: an ``@timestamp`` window
    (``start <= t < end``); ``limit``: at most this many events. Rows are ordered by
    ``@timestamp``. ``processes``: build the table in forked worker processes (True), or
    when at least ``PROCESS_THRESHOLD`` events match (None, the default; False: never),
    without a ``limit`` and when ``es`` is not given (the workers connect with
    ``settings``); the table is the same either way (measured on 2 cores, quiet: 104,148
    events in 3.35 s with them, 3.64 s without; benchmarks/README.md).
    """
    from elasticsearch import AuthorizationException, BadRequestError, NotFoundError

    from huntlab.errors import HuntlabError
    from huntlab.es.client import check, client, forbidden
    from huntlab.readers.frame import build_frame

    settings = settings or load_settings()
    own_client = es is None
    es = es if es is not None else client(settings)
    check(es, settings)
    dsl = build_query(query, start, end)
    source: Any = list(fields) if fields else True
    try:
        # Worker processes read with the caller's settings: not for a client passed in.
        workers = processes is not False and limit is None and own_client
        pool: ProcessPoolExecutor | None = None
        if slices is None:
            total = int(es.count(index=index, query=dsl).body["count"])
            wanted = total if limit is None else min(total, limit)
            if workers and (processes or wanted >= PROCESS_THRESHOLD):
                pool = fork_workers(WORKER_SLICES)
            if pool is not None:
                slices = WORKER_SLICES
            else:
                slices = min(MAX_SLICES, max(1, wanted // SLICE_THRESHOLD)) if limit is None else 1
        elif workers and processes:
            pool = fork_workers(slices)
        if pool is not None:
            try:
                builder = _build_in_workers(
                    pool, es, settings, index, dsl, source, slices, page_size
                )
            finally:
                pool.shutdown(cancel_futures=True)
            frame = builder.frame(categorical=categorical)
        else:
            frame = build_frame(
                _rows(es, index, dsl, source, limit, slices, page_size),
                categorical=categorical,
                progress=False,
            )
    except (SliceError, BrokenProcessPool) as exc:
        raise HuntlabError(
            f"reading {index!r} from Elasticsearch at {settings.es_url} failed in a worker "
            f"process: {exc}; check that the node is up, then search again"
        ) from exc
    except AuthorizationException as exc:
        raise forbidden(exc, settings) from exc
    except NotFoundError as exc:
        raise HuntlabError(
            f"index {index!r} not found at {settings.es_url}; load data first "
            "(huntlab load DATASET) or name an existing index"
        ) from exc
    except BadRequestError as exc:
        raise HuntlabError(
            f"Elasticsearch at {settings.es_url} refused the query {query!r} (400): "
            f"{_reason(exc)}; check the Lucene syntax (quotes, parentheses, AND/OR/NOT)"
        ) from exc
    if "@timestamp" in frame.columns:
        frame = frame.sort_values("@timestamp", kind="stable").reset_index(drop=True)
    if fields:
        # The column builder always adds the core columns; keep only what was asked for.
        frame = frame[[name for name in fields if name in frame.columns]]
    return frame
