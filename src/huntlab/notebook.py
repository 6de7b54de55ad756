"""Small helpers for the lab's notebooks: parameters, data access, tables and charts.

The notebooks stay short and readable because the plumbing lives here: where the events come
from (a dataset's JSON lines or the lab's Elasticsearch), which Spark master to use, how to
open an archive's JSON lines the way the pandas tutorial does, and how to show a table that a
person reads and a test (or a papermill pipeline) can check. Everything imports lazily, so a
notebook that only uses pandas never starts a JVM or opens a connection.
"""

from __future__ import annotations

import json
import os
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from huntlab.errors import HuntlabError, ServiceError
from huntlab.settings import Settings, load_settings

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from pyspark.sql import DataFrame as SparkDataFrame
    from pyspark.sql import SparkSession

SOURCES = ("json", "elasticsearch")
# "auto": Elasticsearch when it holds the dataset, else the JSON lines, saying why.
AUTO = "auto"

# Machine-readable copy of a table shown by `show`: JupyterLab does not know this type, so a
# person sees the usual table while papermill keeps the rows in the executed notebook.
RESULT_MIME = "application/vnd.huntlab.result+json"

SYSMON = "Microsoft-Windows-Sysmon"
SECURITY = "Microsoft-Windows-Security-Auditing"


@dataclass(frozen=True, repr=False)
class Params:
    """What a notebook reads: the data source, the dataset and the lab's endpoints."""

    source: str
    dataset: str | None
    settings: Settings
    # why the source is what it is, when the notebook asked for "auto"
    note: str = ""

    @property
    def es_url(self) -> str:
        return self.settings.es_url

    @property
    def spark_master(self) -> str:
        return self.settings.spark_master

    def describe(self) -> str:
        what = self.dataset or "every dataset"
        if self.source == "json":
            return f"{what} from its JSON lines (Spark master {self.spark_master})"
        return f"{what} from Elasticsearch at {self.es_url} (Spark master {self.spark_master})"

    def __repr__(self) -> str:  # never the settings: they may hold credentials
        return f"<huntlab notebook parameters: {self.describe()}>"

    def _repr_markdown_(self) -> str:
        return f"Reading {self.describe()}." + (f"\n\n{self.note}" if self.note else "")


def parameters(
    source: str = "json",
    dataset: str | None = "empire_invoke_wmi",
    es_url: str | None = None,
    spark_master: str | None = None,
) -> Params:
    """Check a notebook's parameters; ``None`` means the lab's settings (``HUNTLAB_*``).

    ``source="auto"`` reads Elasticsearch when it answers and holds the dataset's events, and
    the dataset's JSON lines otherwise; ``note`` (shown with the parameters) says which and why.
    """
    if source not in (*SOURCES, AUTO):
        raise HuntlabError(
            f"source={source!r} is not a data source; use one of {', '.join(SOURCES)} or {AUTO}"
        )
    settings = load_settings(es_url=es_url, spark_master=spark_master)
    params = Params(source=source, dataset=dataset or None, settings=settings)
    if source != AUTO:
        return params
    chosen = replace(params, source="elasticsearch")
    try:
        _require_loaded(chosen, _all_index())
    except HuntlabError as exc:
        return replace(
            params,
            source="json",
            note=f"Elasticsearch is not usable here, so this notebook reads the JSON lines "
            f"instead (same table, same results). Why: {exc}",
        )
    return replace(chosen, note=f"Elasticsearch at {settings.es_url} holds {chosen.dataset}.")


# -- the tutorial's way: a dataset archive's JSON lines --------------------------------------


@contextmanager
def open_json_lines(path: str | Path) -> Iterator[IO[bytes]]:
    """Open the JSON-lines file in ``path``: a .tar.gz/.zip holding one .json, or a .json.

    pandas reads an archive of one member itself (``pd.read_json("x.tar.gz", lines=True)``),
    as every Security-Datasets archive is; this helper is for the rest: it picks the one
    JSON member among other files (and says which it found when there is not exactly one),
    and hands it over as a file object.
    """
    path = Path(path)
    name = path.name.lower()
    if name.endswith((".tar.gz", ".tgz", ".tar")):
        with tarfile.open(path) as archive:
            members = [m for m in archive.getmembers() if m.isfile() and _is_json(m.name)]
            stream = archive.extractfile(_only(members, path, lambda m: m.name))
            if stream is None:  # only for non-regular members, excluded above
                raise HuntlabError(f"{path}: cannot read the JSON file inside")
            with stream:
                yield stream
    elif name.endswith(".zip"):
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if _is_json(n)]
            with archive.open(_only(names, path, str)) as stream:
                yield stream
    else:
        with path.open("rb") as stream:
            yield stream


def _is_json(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return not base.startswith(".") and base.lower().endswith((".json", ".jsonl"))


def _only(items: Sequence[Any], path: Path, label: Callable[[Any], str]) -> Any:
    if len(items) != 1:
        found = ", ".join(label(i) for i in items) or "none"
        raise HuntlabError(
            f"{path}: expected one JSON file inside, found {found}; "
            "extract the one you want and pass its path"
        )
    return items[0]


# -- the same events through huntlab: pandas ------------------------------------------------


def events(
    params: Params,
    *,
    source_name: str | None = None,
    event_ids: Sequence[int] | None = None,
    limit: int | None = None,
) -> pd.DataFrame:
    """The canonical event table of ``params.dataset`` as pandas, from JSON or Elasticsearch.

    ``source_name`` and ``event_ids`` narrow it down; on Elasticsearch they become the query,
    so only the matching events travel.
    """
    if params.source == "json":
        import huntlab

        if params.dataset is None:
            raise HuntlabError("source='json' needs a dataset name or id")
        frame = huntlab.read_events(params.dataset)
        if source_name is not None:
            frame = frame[frame["SourceName"] == source_name]
        if event_ids is not None:
            frame = frame[frame["EventID"].isin(list(event_ids))]
        return frame.reset_index(drop=True)

    from huntlab.es import search

    _require_loaded(params, _all_index())
    return search(
        es_query(params.dataset, source_name=source_name, event_ids=event_ids),
        index=_all_index(),
        limit=limit,
        settings=params.settings,
    )


def _require_loaded(params: Params, index: str) -> None:
    """Fail early, and say what to do, when the dataset is not in Elasticsearch."""
    from huntlab.es.client import check, client

    es = client(params.settings)
    check(es, params.settings)
    found = es.options(ignore_status=404).count(index=index, query=es_query(params.dataset))
    if int(found.body.get("count", 0)) == 0:
        what = f"no events of {params.dataset}" if params.dataset else "no events"
        raise HuntlabError(
            f"{what} in {index!r} at {params.es_url}; load them with "
            f"`huntlab load {params.dataset or '<dataset>'}`, or use source='json'"
        )


def es_query(
    dataset: str | None,
    *,
    source_name: str | None = None,
    event_ids: Sequence[int] | None = None,
) -> dict[str, Any]:
    """The Elasticsearch query (query DSL) for one dataset, a source and event ids."""
    filters: list[dict[str, Any]] = []
    if dataset is not None:
        filters.append({"term": {"Dataset": dataset}})
    if source_name is not None:
        filters.append({"term": {"SourceName": source_name}})
    if event_ids is not None:
        filters.append({"terms": {"EventID": [int(e) for e in event_ids]}})
    return {"bool": {"filter": filters}} if filters else {"match_all": {}}


def _all_index() -> str:
    from huntlab.es.indices import ALIAS

    return ALIAS


# -- the same events through huntlab: Spark -------------------------------------------------


def spark_session(params: Params, app_name: str = "huntlab-notebook") -> SparkSession:
    """The lab's Spark session (master and Elasticsearch connector from the parameters).

    The driver JVM's own output (dependency resolution, log4j warnings) goes to
    ``$HUNTLAB_HOME/logs/<app_name>.log`` instead of the notebook; a failed start names it.
    """
    from huntlab.spark import session

    log = _log_dir(params.settings) / f"{app_name}.log"
    try:
        with _process_output_to(log):
            spark = session(app_name=app_name, master=params.spark_master, settings=params.settings)
    except Exception as exc:
        raise ServiceError(
            f"Spark did not start ({exc}); read {log} for the driver's output"
        ) from exc
    spark.sparkContext.setLogLevel("ERROR")
    print(f"Spark {spark.version} on {spark.sparkContext.master}; driver log: {log}")
    return spark


def _log_dir(settings: Settings) -> Path:
    """``$HUNTLAB_HOME/logs``, or a temporary folder when the home is read-only."""
    for folder in (settings.home / "logs", Path(tempfile.gettempdir()) / "huntlab-logs"):
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(folder, os.W_OK):
            return folder
    raise ServiceError(f"no writable folder for the Spark driver's log under {settings.home}")


@contextmanager
def _process_output_to(log: Path) -> Iterator[None]:
    """Point this process's stdout/stderr file descriptors at ``log`` for a while.

    A child started meanwhile (the Spark driver JVM) keeps writing there for its lifetime;
    the kernel's own output is restored on exit.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        with log.open("ab") as target:
            os.dup2(target.fileno(), 1)
            os.dup2(target.fileno(), 2)
            yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)


def spark_events(
    spark: SparkSession,
    params: Params,
    *,
    index: str | None = None,
    event_ids: Sequence[int] | None = None,
) -> SparkDataFrame:
    """The canonical event table as a Spark DataFrame, from JSON or from Elasticsearch.

    On Elasticsearch ``index`` picks one data-source family (``huntlab-sysmon``, ...); the
    default is every huntlab index, narrowed to ``params.dataset`` by the query.
    ``event_ids`` keeps only those events (on Elasticsearch, in the query itself).
    """
    if params.source == "json":
        from pyspark.sql import functions as F

        from huntlab.spark import read_events

        if params.dataset is None:
            raise HuntlabError("source='json' needs a dataset name or id")
        frame = read_events(spark, params.dataset)
        if event_ids is not None:
            frame = frame.where(F.col("EventID").isin([int(e) for e in event_ids]))
        return frame

    from huntlab.spark import read_es

    index = index or _all_index()
    _require_loaded(params, index)
    query = es_query(params.dataset, event_ids=event_ids)
    return read_es(spark, index, query=query, settings=params.settings)


# -- showing results ------------------------------------------------------------------------


def _as_pandas(frame: Any, limit: int) -> tuple[pd.DataFrame, int]:
    import pandas as pd

    if isinstance(frame, pd.DataFrame):
        return frame.head(limit), len(frame)
    if isinstance(frame, pd.Series):
        return frame.head(limit).to_frame(), len(frame)
    # a Spark DataFrame: bring a bounded head to the driver; count only when it overflows
    head = frame.limit(limit + 1).toPandas()
    if len(head) <= limit:
        return head, len(head)
    return head.head(limit), int(frame.count())


def show(frame: Any, name: str, *, limit: int = 50) -> None:
    """Display a pandas or Spark table (at most ``limit`` rows), with a machine-readable copy.

    The copy (``RESULT_MIME``: name, row count, rows as JSON) lets tests and papermill
    pipelines check a result without parsing HTML.
    """
    from IPython.core.getipython import get_ipython
    from IPython.display import display

    head, count = _as_pandas(frame, limit)
    rows = json.loads(head.to_json(orient="records", date_format="iso"))
    result = {"name": name, "count": count, "columns": [str(c) for c in head.columns], "rows": rows}
    shell = get_ipython()
    formatter = shell.display_formatter if shell is not None else None
    if formatter is None:  # plain Python, outside a notebook: just print
        print(f"{name}: {count} rows")
        print(head.to_string())
        return
    bundle, metadata = formatter.format(head)
    bundle[RESULT_MIME] = result
    display(bundle, metadata=metadata, raw=True)


def bar_chart(counts: pd.Series, title: str, *, xlabel: str = "events", ylabel: str = "") -> Axes:
    """A horizontal bar chart of counts (e.g. ``groupby(...).size()``).

    Horizontal, because the labels are long Windows paths; the largest count comes on top.
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    ordered = counts.sort_values()
    fig, ax = plt.subplots(figsize=(10, 1.5 + 0.4 * len(ordered)))
    ordered.plot(kind="barh", ax=ax, color="#3b75af")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # counts: no 0.25 ticks
    fig.tight_layout()
    return ax


# -- hunt helpers ---------------------------------------------------------------------------


def children_of(processes: pd.DataFrame, parent_image: str) -> pd.DataFrame:
    """Sysmon process-creation rows whose parent image ends with ``parent_image``.

    Case-insensitive: Windows paths vary in casing between events (``WmiPrvSE.exe``,
    ``wmiprvse.exe``).
    """
    parents = _text(processes["ParentImage"]).str.lower()
    return processes[parents.str.endswith(parent_image.lower())]


def descendants(processes: pd.DataFrame, roots: pd.DataFrame) -> pd.DataFrame:
    """Every process created, directly or not, by the processes in ``roots`` (by ProcessGuid)."""
    import pandas as pd

    seen: set[str] = set()
    frontier = set(_text(roots["ProcessGuid"]).str.upper()) - {""}
    found = []
    by_parent = processes.assign(_parent=_text(processes["ParentProcessGuid"]).str.upper())
    while frontier:
        seen |= frontier
        level = by_parent[by_parent["_parent"].isin(frontier)]
        found.append(level)
        frontier = set(_text(level["ProcessGuid"]).str.upper()) - seen - {""}
    if not found:
        return processes.iloc[0:0]
    return pd.concat(found).drop(columns="_parent").drop_duplicates()


def _text(column: pd.Series) -> pd.Series:
    """A column as plain strings, missing values as "" (the reader returns categoricals)."""
    return column.astype("string").fillna("")


def results_in(notebook: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The tables an executed notebook showed with ``show``, by name (for tests and pipelines)."""
    found: dict[str, dict[str, Any]] = {}
    for cell in notebook.get("cells", []):
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if RESULT_MIME in data:
                result = data[RESULT_MIME]
                found[result["name"]] = result
    return found


def completions(code: str) -> list[str]:
    """What Tab would offer at the end of ``code``, in this kernel (names, attributes, paths)."""
    from IPython.core.completer import provisionalcompleter
    from IPython.core.getipython import get_ipython

    shell = get_ipython()
    if shell is None:
        raise HuntlabError("completions() needs an IPython kernel (a notebook or `ipython`)")
    with provisionalcompleter():
        return sorted({c.text for c in shell.Completer.completions(code, len(code))})
