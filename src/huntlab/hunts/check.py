"""Do the playbook's analytics give the same rows on huntlab's tables as on the playbook's own?

Each analytic runs twice on its hunt's recording, per engine:

- **the playbook's way**: the archive's first JSON member read by ``pd.read_json(path,
  lines=True)`` (pandas) or ``spark.read.json(path)`` (Spark), as the playbook's notebooks
  and HELK did; its SQL through plain ``spark.sql``;
- **huntlab's way**: :func:`huntlab.hunts.load.pandas_frame` and
  :func:`~huntlab.hunts.load.spark_table` over the recording's files (``source="files"``) or
  over the events ``huntlab load`` indexed in the lab's Elasticsearch
  (``source="elasticsearch"``: :func:`~huntlab.hunts.load.pandas_frame_es`, ``spark_table``
  with ``es=``); its SQL through :func:`~huntlab.hunts.load.run_sql`. The playbook's way
  reads the files either way: it is the oracle.

pandas code runs as a notebook cell would (``pd``, ``json`` = ``pandas.io.json``, ``df``; the
value of its last expression is the result). Results are compared as multisets of rows over
their columns, values normalised (:func:`normalise`). Each recording is read once per way and
engine, and dropped once the hunts using it are done.
"""

from __future__ import annotations

import ast
import json
import math
import re
import shutil
import tarfile
import tempfile
import warnings
import zipfile
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession

    from huntlab.hunts.playbook import Analytic, Hunt
    from huntlab.settings import Settings

ENGINES = ("pandas", "spark")
# Where huntlab's way reads each hunt's dataset from.
SOURCES = ("files", "elasticsearch")
# Elasticsearch for a dataset it holds, the files for the others (the notebooks' "auto").
AUTO = "auto"
# Above this many rows a result is compared by its count only (it is not brought to Python).
MAX_ROWS = 200_000
# ISO-8601 times with a zone, as the playbook's @timestamp text: compared as instants.
_ISO_TIME = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:?\d{2})"
)


@dataclass(frozen=True)
class Outcome:
    """One analytic on one engine, the playbook's way and huntlab's."""

    hunt: str
    analytic: str
    engine: str  # "pandas" (the analytic's pandas code) or "spark" (its SQL)
    source: str  # the recording it ran on (archive stem), "" when the hunt names none
    playbook_rows: int | None  # None: the playbook's way failed (see why)
    huntlab_rows: int | None  # None: huntlab's way failed
    same: bool | None  # None: nothing to compare (the playbook's way failed, or no query)
    why: str  # what failed, how the rows differ, or what run_sql changed; "" when all is well
    # Where huntlab's way read the events: "files", "elasticsearch", "" when nothing was read.
    read_from: str = ""


class _Failed(Exception):
    """A way that could not load its recording: every analytic on it fails the same."""


# --- values and rows ----------------------------------------------------------------------------


def normalise(value: Any) -> Hashable:
    """A value as compared: null for NaN, None, NaT, NA; a UTC instant (ISO text, ``Z``)
    for timestamps and for text holding an ISO-8601 time with a zone (the playbook's
    ``@timestamp``); ints for ints and integral floats; ``true``/``false`` for booleans;
    compact JSON for lists and objects; text for the rest."""
    import numpy as np
    import pandas as pd

    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return int(value) if value.is_integer() else str(value)
    if isinstance(value, datetime):
        return _instant(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        if _ISO_TIME.fullmatch(value):
            try:
                return _instant(pd.Timestamp(value))
            except ValueError:
                return value
        return value
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    if hasattr(value, "asDict"):  # a Spark Row (a struct column)
        return json.dumps(value.asDict(recursive=True), separators=(",", ":"), default=str)
    return str(value)


def _instant(value: datetime) -> str:
    """UTC ISO text with microseconds; a time without a zone is taken as UTC."""
    import pandas as pd

    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Table:
    """A result as compared: its column names and its normalised rows."""

    columns: list[str]
    rows: list[tuple[Hashable, ...]] | None  # None: over MAX_ROWS, not brought over
    count: int

    def keyed(self) -> tuple[list[str], Counter[tuple[Hashable, ...]]]:
        """Columns sorted by name (a stable order), rows as a multiset in that order."""
        order = sorted(range(len(self.columns)), key=lambda i: (self.columns[i], i))
        rows = Counter(tuple(row[i] for i in order) for row in self.rows or ())
        return [self.columns[i] for i in order], rows


def pandas_table(result: Any) -> Table:
    """The value a pandas cell shows, as a Table (a Series is one column; anything else
    that is not a frame, one value)."""
    import pandas as pd

    if isinstance(result, pd.Series):
        result = result.to_frame()
    if not isinstance(result, pd.DataFrame):
        return Table(["value"], [(normalise(result),)], 1)
    columns = [str(c) for c in result.columns]
    values = [[normalise(v) for v in result.iloc[:, i].tolist()] for i in range(len(columns))]
    rows: list[tuple[Hashable, ...]] = (
        list(zip(*values, strict=True)) if values else [() for _ in range(len(result))]
    )
    return Table(columns, rows, len(result))


def spark_table_rows(frame: DataFrame) -> Table:
    """A Spark result as a Table. Names are compared lower-cased (Spark SQL does not tell
    case apart); timestamps travel as microseconds since the epoch, so no time zone of this
    process or of the session comes into it."""
    import pandas as pd
    from pyspark.sql import functions as F
    from pyspark.sql.types import TimestampNTZType, TimestampType

    names = [name.lower() for name in frame.columns]
    times = [isinstance(f.dataType, TimestampType | TimestampNTZType) for f in frame.schema]
    positional = frame.toDF(*[f"_c{i}" for i in range(len(names))])
    selected = positional.select(
        *[
            F.unix_micros(F.col(f"_c{i}").cast("timestamp")).alias(f"_c{i}")
            if is_time
            else F.col(f"_c{i}")
            for i, is_time in enumerate(times)
        ]
    )
    head = selected.limit(MAX_ROWS + 1).collect()
    if len(head) > MAX_ROWS:
        return Table(names, None, int(selected.count()))
    rows = []
    for row in head:
        values = []
        for value, is_time in zip(row, times, strict=True):
            if is_time and value is not None:
                value = pd.Timestamp(value, unit="us", tz="UTC")
            values.append(normalise(value))
        rows.append(tuple(values))
    return Table(names, rows, len(rows))


def compare(playbook: Table, huntlab: Table) -> tuple[bool, str]:
    """Whether two results hold the same rows, and if not, how they differ."""
    if sorted(playbook.columns) != sorted(huntlab.columns):
        missing = sorted(set(playbook.columns) - set(huntlab.columns))
        extra = sorted(set(huntlab.columns) - set(playbook.columns))
        parts = [f"columns missing under huntlab: {', '.join(missing)}"] if missing else []
        parts += [f"extra columns under huntlab: {', '.join(extra)}"] if extra else []
        if not parts:
            parts = ["the same columns, repeated differently"]
        return False, "; ".join(parts)
    if playbook.rows is None or huntlab.rows is None:
        same = playbook.count == huntlab.count
        return same, f"over {MAX_ROWS} rows: compared by count only"
    columns, left = playbook.keyed()
    _, right = huntlab.keyed()
    if left == right:
        return True, ""
    if _loose_rows(left) == _loose_rows(right):
        # The same events and values; a column differs only in type: the type rule keeps a
        # field one type in every dataset (docs/event-mapping.md, Numbers), while
        # read_json and spark.read.json decide per file.
        kinds = [
            f"{name} ({_kind(_column(left, i))} the playbook's way, "
            f"{_kind(_column(right, i))} huntlab's)"
            for i, name in enumerate(columns)
            if _column(left, i) != _column(right, i)
        ]
        return True, "the same values; type only: " + ", ".join(kinds)
    only_left = sum((left - right).values())
    only_right = sum((right - left).values())
    parts = []
    if only_left:
        parts.append(f"{only_left} rows only the playbook's way")
    if only_right:
        parts.append(f"{only_right} rows only huntlab's way")
    if only_left and only_right:
        # Rows on both sides: say which columns' values differ, and when a column differs
        # only in type (text "3" on one side, the number 3 on the other), which way round.
        described = []
        for i, name in enumerate(columns):
            ours, theirs = _column(right, i), _column(left, i)
            if ours == theirs:
                continue
            if _loose(ours) == _loose(theirs):
                name += f" (type only: {_kind(theirs)} the playbook's way, {_kind(ours)} huntlab's)"
            described.append(name)
        if described:
            shown = ", ".join(described[:4]) + (", ..." if len(described) > 4 else "")
            parts.append(f"values differ in {shown}")
    return False, "; ".join(parts)


def _loose(values: Counter[Hashable]) -> Counter[Hashable]:
    """Values with decimal text read as the number it writes."""
    out: Counter[Hashable] = Counter()
    for value, times in values.items():
        if isinstance(value, str) and re.fullmatch(r"-?\d+", value):
            value = int(value)
        out[value] += times
    return out


def _loose_rows(rows: Counter[tuple[Hashable, ...]]) -> Counter[tuple[Hashable, ...]]:
    """Rows with decimal text read as the number it writes."""
    out: Counter[tuple[Hashable, ...]] = Counter()
    for row, times in rows.items():
        loose = tuple(
            int(v) if isinstance(v, str) and re.fullmatch(r"-?\d+", v) else v for v in row
        )
        out[loose] += times
    return out


def _kind(values: Counter[Hashable]) -> str:
    kinds = {type(v) for v in values if v is not None}
    if kinds == {int}:
        return "numbers"
    return "text" if kinds == {str} else "mixed"


def _column(rows: Counter[tuple[Hashable, ...]], index: int) -> Counter[Hashable]:
    column: Counter[Hashable] = Counter()
    for row, times in rows.items():
        column[row[index]] += times
    return column


def reason(exc: BaseException) -> str:
    """One line naming what went wrong: the exception's class and Spark's error class
    (``AnalysisException INVALID_FORMAT.ESC_IN_THE_MIDDLE``), or the root Java exception
    and its message, or the Python exception and its message."""
    name = type(exc).__name__
    error_class = None
    get_error_class = getattr(exc, "getErrorClass", None)
    if callable(get_error_class):
        try:
            error_class = get_error_class()
        except Exception:  # an old or partial exception object
            error_class = None
    if error_class:
        return f"{name} {error_class}"
    java = getattr(exc, "java_exception", None)
    if java is not None:
        try:
            root = java
            while root.getCause() is not None:
                root = root.getCause()
            message = str(root.getMessage() or "")
            name = str(root.getClass().getSimpleName())
        except Exception:
            message = str(exc)
    else:
        message = str(exc)
    line = message.strip().splitlines()[0] if message.strip() else ""
    line = line if len(line) <= 120 else line[:119] + "…"
    return f"{name}: {line}" if line else name


# --- running analytics --------------------------------------------------------------------------


def run_pandas(code: str, df: pd.DataFrame) -> Any:
    """Run a pandas cell over ``df`` (a shallow copy: a cell adding columns does not change
    it) in a notebook's namespace; the value of its last expression, as Jupyter shows it
    (None when the cell ends with a statement)."""
    import pandas as pd
    from pandas.io import json as pandas_json

    namespace: dict[str, Any] = {"pd": pd, "json": pandas_json, "df": df.copy(deep=False)}
    with warnings.catch_warnings():
        # The playbook writes "\w" in plain strings (invalid escapes) and assigns columns to
        # slices (SettingWithCopyWarning): a notebook's noise, not the check's.
        warnings.simplefilter("ignore")
        tree = ast.parse(code, "<analytic>", "exec")
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body[-1].value)
            tree.body.pop()
        exec(compile(tree, "<analytic>", "exec"), namespace)
        return eval(compile(last, "<analytic>", "eval"), namespace) if last else None


def first_json_member(archive: Path, dest: Path) -> Path:
    """What the playbook's notebooks read: ``zipFile.namelist()[0]`` of a zip, the first
    JSON file of a tar.gz, extracted into ``dest``; a plain file as it is."""
    name = archive.name.lower()
    if name.endswith(".zip"):
        with zipfile.ZipFile(archive) as zipped:
            return Path(zipped.extract(zipped.namelist()[0], dest))
    if name.endswith((".tar.gz", ".tgz", ".tar")):
        with tarfile.open(archive) as tar:
            for member in tar:
                if member.isfile() and member.name.lower().endswith(".json"):
                    source = tar.extractfile(member)
                    assert source is not None  # a regular file
                    target = dest / Path(member.name).name  # never outside dest
                    with source, target.open("wb") as out:
                        shutil.copyfileobj(source, out)
                    return target
        raise ValueError(f"{archive}: no JSON file in the archive")
    return archive


class _Recording:
    """One recording, read at most once per way and engine; huntlab's way from its files,
    or with ``es`` from the lab's Elasticsearch."""

    def __init__(
        self, stem: str, spark: SparkSession | None, es: Settings | None = None, where: str = ""
    ) -> None:
        self.stem = stem
        self.spark = spark
        self.es = es
        self.read_from = "files" if es is None else "elasticsearch"
        self.where = where  # for source="auto": where huntlab's way reads it, and why
        # What huntlab's way had to say when it loaded the recording, per engine.
        self.notes: dict[str, list[str]] = {}
        self._cache: dict[str, Any] = {}
        self._tmp: Path | None = None

    def get(self, key: str, load: Callable[[], Any]) -> Any:
        if key not in self._cache:
            try:
                self._cache[key] = load()
            except _Failed as exc:
                self._cache[key] = exc
            except Exception as exc:
                self._cache[key] = _Failed(f"load: {reason(exc)}")
        value = self._cache[key]
        if isinstance(value, _Failed):
            raise value
        return value

    def path(self) -> Path:
        from huntlab import datasets

        return self.get("path", lambda: datasets.resolve(self.stem))

    def raw_json(self) -> Path:
        def extract() -> Path:
            self._tmp = Path(tempfile.mkdtemp(prefix="huntlab-hunts-check-"))
            return first_json_member(self.path(), self._tmp)

        return self.get("raw", extract)

    def frame(self, way: str) -> pd.DataFrame:
        import pandas as pd

        from huntlab.hunts.load import pandas_frame, pandas_frame_es

        if way == "playbook":
            return self.get("pandas-playbook", lambda: pd.read_json(self.raw_json(), lines=True))
        if self.es is None:
            return self.get("pandas-huntlab", lambda: pandas_frame(self.path()))
        settings = self.es
        notes = self.notes.setdefault("pandas", [])
        return self.get(
            "pandas-huntlab",
            lambda: pandas_frame_es(self.stem, settings, records=self.path(), notes=notes.append),
        )

    def spark_frame(self, way: str) -> DataFrame:
        from huntlab.hunts.load import spark_table

        assert self.spark is not None
        spark = self.spark

        def load() -> DataFrame:
            if way == "playbook":
                frame = spark.read.json(str(self.raw_json()))
            elif self.es is not None:
                frame = spark_table(spark, self.stem, view=[], es=self.es, notes=None)
            else:
                frame = spark_table(spark, self.path(), view=[], notes=None)
            # Not cached: building Spark's in-memory cache of a wide table (about 200
            # string columns) costs more than parsing it again for each analytic.
            return frame

        return self.get(f"spark-{way}", load)

    def close(self) -> None:
        self._cache.clear()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)


def _pandas_way(recording: _Recording, way: str, *, code: str) -> Table:
    return pandas_table(run_pandas(code, recording.frame(way)))


def _spark_way(recording: _Recording, way: str, *, sql: str, views: Sequence[str]) -> Table:
    from huntlab.hunts.load import run_sql

    assert recording.spark is not None
    frame = recording.spark_frame(way)
    for view in views:
        frame.createOrReplaceTempView(view)
    if way == "playbook":
        return spark_table_rows(recording.spark.sql(sql))
    return spark_table_rows(run_sql(recording.spark, sql, notes=None))


def _outcome(
    analytic: Analytic,
    engine: str,
    recording: _Recording,
    run: Callable[[str], Table],
    note: str = "",
) -> Outcome:
    tables: dict[str, Table] = {}
    failures: dict[str, str] = {}
    for way in ("playbook", "huntlab"):
        try:
            tables[way] = run(way)
        except Exception as exc:
            failures[way] = str(exc) if isinstance(exc, _Failed) else reason(exc)
    why = [f"{way}: {text}" for way, text in failures.items()]
    same: bool | None = None
    if not failures:
        same, how = compare(tables["playbook"], tables["huntlab"])
        if how:
            why.append(how)
    elif "playbook" not in failures:
        same = False  # runs the playbook's way, not huntlab's: a difference
    if note:
        why.append(note)
    why += recording.notes.get(engine, [])
    playbook, huntlab = tables.get("playbook"), tables.get("huntlab")
    return Outcome(
        analytic.hunt,
        analytic.name,
        engine,
        recording.stem,
        playbook.count if playbook else None,
        huntlab.count if huntlab else None,
        same,
        "; ".join(why),
        recording.read_from,
    )


def _skipped(analytic: Analytic, engine: str, stem: str, why: str) -> Outcome:
    return Outcome(analytic.hunt, analytic.name, engine, stem, None, None, None, why)


def _es_errors() -> tuple[type[Exception], ...]:
    """What reading the lab's Elasticsearch may raise that means "read the files instead"
    for ``source="auto"``: huntlab's own errors and the client's."""
    from elasticsearch import ApiError, TransportError

    from huntlab.errors import HuntlabError

    return (HuntlabError, ApiError, TransportError)


def _usable(es: Settings) -> str:
    """For ``source="auto"``, asked once: why the lab's Elasticsearch cannot be read ("" when
    it answers). A node that does not answer costs one short wait, not one per dataset."""
    from huntlab.es.client import check, client

    try:
        check(client(es).options(request_timeout=15, max_retries=0), es)
    except _es_errors() as exc:
        return str(exc)
    return ""


def _held(stem: str, es: Settings, unusable: str) -> tuple[Settings | None, str]:
    """For ``source="auto"``: the lab's Elasticsearch when it holds the dataset's events, else
    None (the files); and which, with why."""
    from huntlab.hunts.load import NotLoaded, es_dataset_query

    files = "from its files, as Elasticsearch is not usable for it: "
    if unusable:
        return None, files + unusable
    try:
        es_dataset_query(stem, es)
    except NotLoaded:
        return None, f"from its files: no events of it in Elasticsearch at {es.es_url}"
    except _es_errors() as exc:
        return None, files + str(exc)
    return es, f"from Elasticsearch at {es.es_url}"


def _check_hunt(
    hunt: Hunt, recording: _Recording | None, engines: Sequence[str]
) -> Iterable[Outcome]:
    from huntlab.hunts.convert import TABLE, other_tables
    from huntlab.hunts.load import rewrite_sql, split_statements

    views = [TABLE, *other_tables(hunt)]
    stem = recording.stem if recording else ""
    for analytic in hunt.analytics:
        for engine in engines:
            text = analytic.pandas if engine == "pandas" else analytic.sql
            if text is None:
                language = "pandas code" if engine == "pandas" else "SQL"
                yield _skipped(analytic, engine, stem, f"the hunt gives no {language} here")
            elif recording is None:
                yield _skipped(analytic, engine, stem, "the hunt names no recording")
            elif engine == "pandas":
                run = partial(_pandas_way, recording, code=text)
                yield _outcome(analytic, engine, recording, run)
            else:
                changed = sum(len(rewrite_sql(s)[1]) for s in split_statements(text))
                note = f"run_sql read {changed} literal(s) the playbook's way" if changed else ""
                run = partial(_spark_way, recording, sql=text, views=views)
                yield _outcome(analytic, engine, recording, run, note)


def check(
    hunts: Sequence[Hunt],
    *,
    engines: Sequence[str] = ENGINES,
    spark: SparkSession | None = None,
    progress: Callable[[str], None] | None = None,
    source: str = "files",
    es: Settings | None = None,
) -> list[Outcome]:
    """Every analytic of ``hunts`` on ``engines``, the playbook's way and huntlab's, in the
    order of ``hunts`` and their analytics (see the module's docstring).

    A hunt runs on the first recording it names (the one its notebook downloads). Hunts
    sharing a recording run one after the other, so that it is read once per way and engine
    and dropped afterwards. ``spark`` is needed for the "spark" engine: without it, a local
    session is started, and stopped at the end. ``progress`` is told each hunt as it starts.

    ``source="elasticsearch"``: huntlab's way reads each dataset's events from the lab's
    Elasticsearch (``es``, default the lab's settings), as ``huntlab load NAME`` indexed
    them; a dataset with none there is an error, raised before anything runs, naming the
    ``huntlab load`` to run. ``source="auto"``: Elasticsearch for each dataset it holds, the
    files for the others (a dataset not loaded, a node that does not answer); ``progress``
    says which for each hunt, and each outcome's ``read_from``.
    """
    unknown = [e for e in engines if e not in ENGINES]
    if unknown:
        raise ValueError(f"unknown engine(s) {', '.join(unknown)}; choose from {ENGINES}")
    if source not in (*SOURCES, AUTO):
        raise ValueError(f"unknown source {source!r}; choose from {(*SOURCES, AUTO)}")
    if source in ("elasticsearch", AUTO):
        from huntlab.settings import load_settings

        es = es or load_settings()
        if source == "elasticsearch":
            require_loaded(hunts, es)
    else:
        es = None
    unusable = _usable(es) if source == AUTO and es is not None else ""
    own_session = False
    if "spark" in engines and spark is None:
        from huntlab.spark import session

        spark = session("huntlab-hunts-check", master="local[2]", settings=es)
        own_session = True
    order = sorted(range(len(hunts)), key=lambda i: (hunts[i].datasets[:1], i))
    results: dict[int, list[Outcome]] = {}
    recording: _Recording | None = None
    try:
        for index in order:
            hunt = hunts[index]
            stem = hunt.datasets[0] if hunt.datasets else None
            if recording is not None and recording.stem != stem:
                recording.close()
                recording = None
            if recording is None and stem is not None:
                reads, where = es, ""
                if source == AUTO and es is not None:
                    reads, where = _held(stem, es, unusable)
                recording = _Recording(stem, spark, reads, where)
            if progress is not None:
                where = recording.where if recording is not None and stem is not None else ""
                progress(f"{hunt.id} ({stem or 'no recording'}{', ' if where else ''}{where})")
            results[index] = list(_check_hunt(hunt, recording, engines))
    finally:
        if recording is not None:
            recording.close()
        if own_session and spark is not None:
            spark.stop()
    return [outcome for i in range(len(hunts)) for outcome in results.get(i, [])]


def require_loaded(hunts: Sequence[Hunt], es: Settings) -> None:
    """Fail, naming what to load, when a hunt's dataset has no events in Elasticsearch."""
    from huntlab.errors import HuntlabError
    from huntlab.hunts.load import NotLoaded, es_dataset_query

    missing: list[str] = []
    for stem in dict.fromkeys(hunt.datasets[0] for hunt in hunts if hunt.datasets):
        try:
            es_dataset_query(stem, es)
        except NotLoaded:
            missing.append(stem)
    if missing:
        from huntlab.es.indices import ALIAS

        loads = "; ".join(f"`huntlab load {stem}`" for stem in missing)
        raise HuntlabError(
            f"no events of {', '.join(missing)} in {ALIAS!r} at {es.es_url}, so huntlab's "
            f"way has nothing to read there; load them first ({loads}), or check over the "
            "recordings' files (--source files)"
        )


def summary(outcomes: Iterable[Outcome]) -> dict[str, dict[str, int]]:
    """Per engine: analytics run, running the playbook's way, the same under huntlab,
    different, and running under huntlab."""
    counts: dict[str, dict[str, int]] = {}
    for o in outcomes:
        c = counts.setdefault(
            o.engine,
            {"analytics": 0, "playbook_runs": 0, "same": 0, "differ": 0, "huntlab_runs": 0},
        )
        c["analytics"] += 1
        c["playbook_runs"] += o.playbook_rows is not None
        c["huntlab_runs"] += o.huntlab_rows is not None
        c["same"] += o.same is True
        c["differ"] += o.same is False
    return counts
