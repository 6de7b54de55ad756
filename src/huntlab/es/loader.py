"""The bulk loader: canonical events into the huntlab indexes, fast, idempotent, resumable.

- Events come from ``huntlab.readers.iter_events`` (the canonical table), serialised once
  with orjson straight into NDJSON chunks; a few threads keep bulk requests in flight while
  the main thread reads and serialises the next chunk.
- Document ids are derived from the dataset and the event's position in it, so loading the
  same dataset again (or after a crash) overwrites instead of duplicating.
- While it loads, the target indexes do not refresh (``refresh_interval: -1``, Elastic's
  "tune for indexing speed"): fewer, larger segments and less merging. The previous value is
  put back afterwards, also when the load fails; one refresh at the end makes the events
  searchable.
- Whole requests are retried with bounded exponential backoff on 429, 5xx and lost
  connections; documents answered 429 are resent; any other per-document error (a field of a
  conflicting type, say) is counted as rejected with its reason.
"""

from __future__ import annotations

import base64
import hashlib
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from huntlab.errors import ServiceError
from huntlab.es import indices
from huntlab.readers.sources import MAX_DECOMPRESSION_RATIO, MAX_RECORD_BYTES
from huntlab.settings import Settings, load_settings

CHUNK_DOCS = 1000
CHUNK_BYTES = 8 * 1024 * 1024
# Three requests in flight keep both write threads of a 2-core node busy while the next
# request crosses the wire (measured: 2 threads about 20% slower).
THREADS = 3
MAX_RETRIES = 8
BACKOFF_BASE = 0.5
BACKOFF_MAX = 30.0
KEEP_REJECTS = 1000
RETRY_STATUSES = frozenset({429, 502, 503, 504})
BULK_FILTER = "errors,items.*.status,items.*.error"


@dataclass(frozen=True)
class Rejected:
    """A document Elasticsearch refused, and why."""

    id: str
    index: str
    status: int
    reason: str


@dataclass
class LoadReport:
    """What one load did: ``read == indexed + rejected`` once it has finished."""

    read: int = 0
    indexed: int = 0
    rejected: int = 0
    retries: int = 0
    seconds: float = 0.0
    by_index: Counter[str] = field(default_factory=Counter)
    rejects: list[Rejected] = field(default_factory=list)
    reader_rejects_path: Path | None = None

    def summary(self) -> str:
        return f"read {self.read} = indexed {self.indexed} + rejected {self.rejected}"


def doc_id(dataset: str, ordinal: int) -> str:
    """Deterministic id of the ``ordinal``-th event (0-based) of ``dataset``."""
    digest = hashlib.blake2b(f"{dataset}\0{ordinal}".encode(), digest_size=15).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii")


@dataclass
class _Chunk:
    ids: list[str]
    indexes: list[str]
    lines: list[bytes]  # action line + source line, per document


def _reason(error: Any) -> str:
    if not isinstance(error, dict):
        return str(error)
    text = f"{error.get('type')}: {error.get('reason')}"
    cause = error.get("caused_by")
    if isinstance(cause, dict):
        text += f" (caused by {cause.get('type')}: {cause.get('reason')})"
    return text


class _Sender:
    """Sends chunks with bounded retries; thread-safe counting into one report."""

    def __init__(self, es: Any, settings: Settings, report: LoadReport, max_retries: int) -> None:
        self.es = es
        self.url = settings.es_url
        self.report = report
        self.max_retries = max_retries
        self.lock = threading.Lock()

    def _backoff(self, attempt: int, why: str) -> None:
        if attempt >= self.max_retries:
            raise ServiceError(
                f"bulk request to {self.url} still failing after {attempt} retries ({why}); "
                "check the node (huntlab es status, its log) and rerun the same load: "
                "document ids are deterministic, nothing is duplicated"
            )
        with self.lock:
            self.report.retries += 1
        delay = min(BACKOFF_MAX, BACKOFF_BASE * 2**attempt)
        time.sleep(delay * (0.5 + random.random() / 2))  # jitter: threads do not retry in step

    def _post(self, body: bytes, attempt: int) -> tuple[dict[str, Any], int]:
        from elastic_transport import ConnectionError as TransportConnectionError
        from elastic_transport import ConnectionTimeout
        from elasticsearch import ApiError

        while True:
            try:
                response = self.es.bulk(operations=body, filter_path=BULK_FILTER)
                return dict(response.body), attempt
            except ApiError as exc:
                if exc.meta.status not in RETRY_STATUSES and exc.meta.status < 500:
                    raise ServiceError(
                        f"bulk request to {self.url} refused: {exc.meta.status} {exc.message}"
                    ) from exc
                self._backoff(attempt, f"HTTP {exc.meta.status}")
            except (TransportConnectionError, ConnectionTimeout) as exc:
                self._backoff(attempt, f"{type(exc).__name__}: {exc}")
            attempt += 1

    def send(self, chunk: _Chunk) -> None:
        attempt = 0
        pending = chunk
        while pending.ids:
            response, attempt = self._post(b"".join(pending.lines), attempt)
            items = response.get("items") or []
            indexed: Counter[str] = Counter()
            retry = _Chunk([], [], [])
            rejected: list[Rejected] = []
            if not response.get("errors"):
                indexed.update(pending.indexes)
            else:
                for i, item in enumerate(items):
                    result = next(iter(item.values()))
                    status = int(result.get("status", 0))
                    if status < 300:
                        indexed[pending.indexes[i]] += 1
                    elif status == 429:
                        retry.ids.append(pending.ids[i])
                        retry.indexes.append(pending.indexes[i])
                        retry.lines.append(pending.lines[i])
                    else:
                        rejected.append(
                            Rejected(
                                pending.ids[i],
                                pending.indexes[i],
                                status,
                                _reason(result.get("error")),
                            )
                        )
            with self.lock:
                self.report.indexed += sum(indexed.values())
                self.report.by_index.update(indexed)
                self.report.rejected += len(rejected)
                room = KEEP_REJECTS - len(self.report.rejects)
                self.report.rejects.extend(rejected[: max(room, 0)])
            if retry.ids:
                self._backoff(attempt, f"{len(retry.ids)} documents answered 429")
                attempt += 1
            pending = retry


class _NoRefresh:
    """Turns periodic refresh off on the existing target indexes, and back on afterwards.

    Indexes whose ``refresh_interval`` already is ``-1`` are left alone: the user chose it,
    or another load is running and will put its own value back. Users allowed to write but
    not to manage the indexes (403) load without the tuning.
    """

    def __init__(self, es: Any, names: Iterable[str], url: str) -> None:
        self.es = es
        self.url = url
        self.previous: dict[str, Any] = {}
        found = es.options(ignore_status=(403, 404)).indices.get_settings(
            index=",".join(names),
            name="index.refresh_interval",
            ignore_unavailable=True,
            allow_no_indices=True,
            flat_settings=True,
            include_defaults=True,  # else indexes without an explicit value are left out
        )
        for name, body in dict(found.body if found.meta.status == 200 else {}).items():
            value = body.get("settings", {}).get("index.refresh_interval")
            if str(value) != "-1":
                self.previous[name] = value  # None: the default, restored by setting null

    def __enter__(self) -> _NoRefresh:
        if self.previous:
            done = self.es.options(ignore_status=403).indices.put_settings(
                index=",".join(self.previous), settings={"index.refresh_interval": "-1"}
            )
            if done.meta.status == 403:
                self.previous = {}
        return self

    def __exit__(self, *exc: object) -> None:
        failed = []
        for name, value in self.previous.items():
            try:
                self.es.indices.put_settings(index=name, settings={"index.refresh_interval": value})
            except Exception as error:  # reported below, with the fix
                failed.append(f"{name} ({error})")
        if not failed:
            return
        message = (
            f"could not restore refresh_interval at {self.url} on {', '.join(failed)}; "
            "new events stay unsearchable until you run "
            '`PUT <index>/_settings {"index.refresh_interval": null}`'
        )
        if isinstance(exc[1], BaseException):
            exc[1].add_note(message)  # the load's own failure comes first
            return
        raise ServiceError(message)


def _chunks(
    events: Iterable[dict[str, Any]],
    index_prefix: str,
    chunk_docs: int,
    chunk_bytes: int,
    counted: Callable[[int], None],
) -> Iterator[_Chunk]:
    dumps = orjson.dumps
    index_for = indices.index_for
    ordinals: Counter[str] = Counter()
    chunk = _Chunk([], [], [])
    size = 0
    for event in events:
        dataset = str(event.get("Dataset") or "")
        ordinal = ordinals[dataset]
        ordinals[dataset] = ordinal + 1
        _id = doc_id(dataset, ordinal)
        index = index_for(event.get("Channel"), index_prefix)
        line = b'{"index":{"_index":"%s","_id":"%s"}}\n%s\n' % (
            index.encode(),
            _id.encode(),
            dumps(event),
        )
        chunk.ids.append(_id)
        chunk.indexes.append(index)
        chunk.lines.append(line)
        size += len(line)
        if len(chunk.ids) >= chunk_docs or size >= chunk_bytes:
            counted(len(chunk.ids))
            yield chunk
            chunk = _Chunk([], [], [])
            size = 0
    if chunk.ids:
        counted(len(chunk.ids))
        yield chunk


def load_events(
    events: Iterable[dict[str, Any]],
    settings: Settings | None = None,
    *,
    es: Any = None,
    index_prefix: str = indices.PREFIX,
    threads: int = THREADS,
    chunk_docs: int = CHUNK_DOCS,
    chunk_bytes: int = CHUNK_BYTES,
    max_retries: int = MAX_RETRIES,
    refresh: bool = True,
    progress: bool = True,
    report: LoadReport | None = None,
) -> LoadReport:
    """Index canonical event dicts (as ``huntlab.readers.iter_events`` yields them)."""
    from tqdm import tqdm

    from huntlab.es.client import check, client

    settings = settings or load_settings()
    es = es if es is not None else client(settings)
    check(es, settings)
    report = report if report is not None else LoadReport()
    sender = _Sender(es, settings, report, max_retries)
    started = time.perf_counter()
    bar = tqdm(desc="load", unit=" ev", unit_scale=True, disable=not progress)
    in_flight: list[Future[None]] = []
    # At most threads + 1 chunks wait at once: memory stays bounded whatever the source size.
    slots = threading.BoundedSemaphore(threads + 1)

    def counted(n: int) -> None:
        report.read += n
        bar.update(n)

    def run(chunk: _Chunk) -> None:
        try:
            sender.send(chunk)
        finally:
            slots.release()

    # The pool is shut down (inner block) before refresh is turned back on (outer block).
    with _NoRefresh(es, indices.indexes(index_prefix), settings.es_url):
        pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="huntlab-bulk")
        try:
            for chunk in _chunks(events, index_prefix, chunk_docs, chunk_bytes, counted):
                slots.acquire()
                for future in in_flight:
                    if future.done():
                        future.result()  # raise the first failure now, not at the end
                in_flight = [f for f in in_flight if not f.done()]
                in_flight.append(pool.submit(run, chunk))
            for future in in_flight:
                future.result()
        finally:
            # On failure, drop the chunks not yet sent; a rerun loads them (same ids).
            pool.shutdown(wait=True, cancel_futures=True)
            bar.close()
    if refresh and report.by_index:
        # Credentials allowed to write but not to refresh (no `maintenance` privilege): the
        # events become searchable at the next periodic refresh (restored above) instead.
        es.options(ignore_status=403).indices.refresh(index=",".join(sorted(report.by_index)))
    report.seconds += time.perf_counter() - started
    return report


def load(
    source: str | Path,
    settings: Settings | None = None,
    *,
    dataset: str | None = None,
    errors: str = "raise",
    es: Any = None,
    index_prefix: str = indices.PREFIX,
    threads: int = THREADS,
    chunk_docs: int = CHUNK_DOCS,
    chunk_bytes: int = CHUNK_BYTES,
    max_retries: int = MAX_RETRIES,
    refresh: bool = True,
    progress: bool = True,
    max_record_bytes: int = MAX_RECORD_BYTES,
    max_decompression_ratio: int = MAX_DECOMPRESSION_RATIO,
) -> LoadReport:
    """Load a dataset (id or name), archive, JSON-lines file or folder into Elasticsearch.

    ``read`` counts every record of the source, ``rejected`` both the lines the reader set
    aside (``errors="skip"``) and the documents Elasticsearch refused.
    ``max_record_bytes`` and ``max_decompression_ratio`` bound the input as in
    ``huntlab.read_events``.
    """
    from huntlab.readers import ReadReport, iter_events

    read = ReadReport()
    report = LoadReport()
    events = iter_events(
        source,
        errors=errors,  # type: ignore[arg-type]
        report=read,
        dataset=dataset,
        max_record_bytes=max_record_bytes,
        max_decompression_ratio=max_decompression_ratio,
    )
    load_events(
        events,
        settings,
        es=es,
        index_prefix=index_prefix,
        threads=threads,
        chunk_docs=chunk_docs,
        chunk_bytes=chunk_bytes,
        max_retries=max_retries,
        refresh=refresh,
        progress=progress,
        report=report,
    )
    report.read = read.read  # every record of the source, not only the events sent
    report.rejected += read.rejected
    report.reader_rejects_path = read.rejects_path
    return report
