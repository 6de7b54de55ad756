"""Readers: Security-Datasets (Mordor) recordings into one canonical event table.

- ``iter_events(source, ...)``: canonical events as flat dicts, streamed;
- ``iter_raw(source, ...)``: the parsed JSON objects untouched (ingest-pipeline path);
- ``read_events(source, ...)``: a pandas DataFrame (kept in the table cache: ``cache``);
- ``read_table(source)`` / ``read_tables(source)``: Azure exports, Zeek and auditd logs as
  tables of their own.

For readers built on these (the Spark reader, ``huntlab.spark.read_events``), the one loop
they share, with the same bounds, counts, rejects and errors:

- ``resolve_source(source)`` -> (path, dataset name or None); ``list_files(path)``;
- ``Run(source, errors, rejects, report, Limits(max_record_bytes, max_decompression_ratio))``:
  the state of one read (``reject``, ``close``);
- ``records_of_files(run, files, dataset, where)``: every ``RawRecord`` of those files,
  archives, evtx and evtx_dump JSON included, bad lines rejected through ``run``;
- ``normalised(run, records)``: each record with its canonical event, records that cannot
  be normalised rejected;
- ``evtx_file_kind(path)``: whether a file is a .evtx file or evtx_dump JSON (read by
  ``records_of_files`` into flat records, not line by line).

The mapping is ``huntlab/mapping.json``, explained in docs/event-mapping.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from huntlab.readers.events import (
    RawRecord,
    Run,
    _check_errors,
    iter_events,
    iter_raw,
    iter_records,
    normalised,
    records_of_files,
)
from huntlab.readers.evtx import file_kind as evtx_file_kind
from huntlab.readers.report import Errors, ReadReport
from huntlab.readers.sources import (
    MAX_DECOMPRESSION_RATIO,
    MAX_RECORD_BYTES,
    Limits,
    list_files,
    resolve_source,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "MAX_DECOMPRESSION_RATIO",
    "MAX_RECORD_BYTES",
    "Errors",
    "Limits",
    "RawRecord",
    "ReadReport",
    "Run",
    "evtx_file_kind",
    "iter_events",
    "iter_raw",
    "iter_records",
    "list_files",
    "normalised",
    "read_events",
    "read_table",
    "read_tables",
    "records_of_files",
    "resolve_source",
]


def read_events(
    source: str | Path,
    *,
    errors: Errors = "raise",
    rejects: str | Path | None = None,
    report: ReadReport | None = None,
    dataset: str | None = None,
    categorical: bool = True,
    progress: bool | None = None,
    max_record_bytes: int = MAX_RECORD_BYTES,
    max_decompression_ratio: int = MAX_DECOMPRESSION_RATIO,
    cache: bool = True,
) -> pd.DataFrame:
    """The canonical event table of ``source`` as a pandas DataFrame.

    ``source``: a dataset name or id, an archive (.zip/.tar.gz), a JSON-lines file or a folder.
    ``errors="skip"`` sets bad lines aside in ``rejects`` (a JSON-lines file) instead of
    raising; ``report`` receives the counts. String columns whose values repeat are
    ``category`` columns unless ``categorical=False``. A line longer than
    ``max_record_bytes`` (16 MiB) is a bad line; a compressed member that expands beyond
    ``max_decompression_ratio`` (200) times its size stops the read (docs/event-mapping.md,
    "Limits").

    The table of a read that completed without rejects is kept in the table cache
    (docs/datasets.md, "Table cache"), keyed by the files' SHA-256, the mapping, the code and
    these parameters; a later read of the same files comes from it, with the same report.
    ``cache=False`` reads without it, and so does every read while the environment variable
    ``HUNTLAB_TABLE_CACHE`` is 0.
    """
    if cache:
        from huntlab.readers import cache as table_cache

        if not table_cache.enabled():
            cache = False
    if cache:
        return table_cache.read_events(
            source,
            errors=errors,
            rejects=rejects,
            report=report,
            dataset=dataset,
            categorical=categorical,
            progress=progress,
            limits=Limits(max_record_bytes, max_decompression_ratio),
        )
    from huntlab.readers.parallel import read_frame

    _check_errors(errors)
    return read_frame(
        source,
        errors=errors,
        rejects=rejects,
        report=report,
        dataset=dataset,
        categorical=categorical,
        progress=progress,
        limits=Limits(max_record_bytes, max_decompression_ratio),
    )


def read_table(source: str | Path, name: str | None = None) -> pd.DataFrame:
    """One non-event table (Azure export, Zeek or auditd log) of ``source``."""
    from huntlab.readers.tables import read_table as _read_table

    return _read_table(source, name)


def read_tables(source: str | Path) -> dict[str, pd.DataFrame]:
    """Every non-event table of ``source``, keyed by file."""
    from huntlab.readers.tables import read_tables as _read_tables

    return _read_tables(source)
