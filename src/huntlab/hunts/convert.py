"""A playbook hunt as a Jupyter notebook that runs in the lab.

jupytext reads the hunt's MyST ``notebook.md`` into cells; then three things change, and
nothing else:

- the "Download Dataset" and "Read Dataset" code cells (requests + ZipFile, then
  ``pd.read_json``) give way to a ``parameters`` cell (papermill: ``dataset``, ``source``,
  ``spark_master``) and one cell that loads the recording with ``huntlab.hunts.load``
  (``df``, and the Spark view ``dataTable`` when the hunt has SQL);
- after each analytic's SQL ``{code-block}`` (text only in the playbook) comes a code cell
  that runs it, ``run_sql(spark, r'''<the SQL>''')``, the SQL byte for byte as written;
- a markdown cell at the top says where the hunt came from and what changed.

Every other cell, the analytics' pandas code included, is left as the playbook wrote it. The
notebook is written without outputs, with stable cell ids, so converting again gives the same
bytes.

Two things are added around the playbook's text, not in it: the loading cell turns Spark's
eager evaluation on, so that a SQL cell shows its first rows (a bare ``DataFrame`` would show
its schema and run nothing); and an analytic's pandas cell that is not valid Python (the
playbook has one: a missing parenthesis) is tagged ``raises-exception``, and named in the top
cell, so that running the whole notebook (nbclient, papermill, ``jupyter execute``) goes on
past the one error the playbook wrote. An analytic that parses but fails on its data (a
column no recording has) is not detected here: the converter never reads the recordings.
"""

from __future__ import annotations

import ast
import json
import re
import warnings
from pathlib import Path
from typing import Any

from huntlab.hunts.playbook import HOMEPAGE, LICENSE, Hunt, fences, source_record

# What the playbook's loading cells do; an analytic's code never downloads or reads a file.
_LOADER = re.compile(r"read_json\s*\(|ZipFile\s*\(|requests\.get\s*\(|datasetJSONPath")
SQL_RUNNER = "run_sql"


def notebook_name(hunt: Hunt) -> str:
    return f"{hunt.id}.ipynb"


def _sql_literal(sql: str) -> str:
    """``sql`` as a raw triple-quoted Python string whose text is ``sql`` byte for byte, or
    (for SQL no raw string can hold) an ordinary literal of the same value."""
    trailing_backslashes = len(sql) - len(sql.rstrip("\\"))
    for quote in ("'''", '"""'):
        if quote in sql or sql.endswith(quote[0]) or trailing_backslashes % 2:
            continue
        literal = f"r{quote}{sql}{quote}"
        try:
            if ast.literal_eval(literal) == sql:
                return literal
        except (SyntaxError, ValueError):
            continue
    return repr(sql)


def sql_cell_source(sql: str) -> str:
    """The code cell that runs one analytic's SQL; its result is the cell's output."""
    return f"{SQL_RUNNER}(spark, {_sql_literal(sql)})"


def _parameters_source(hunt: Hunt) -> str:
    stems = hunt.datasets
    lines = [
        "# Parameters: papermill (or you) may override them.",
        f"dataset = {json.dumps(stems[0])}  # the Security-Datasets recording of the hunt"
        if stems
        else 'dataset = ""  # the playbook names no recording for this hunt: name one',
        'source = "json"  # "json": the recording\'s files (store, mirror or download);',
        '# "elasticsearch": its events in the lab\'s Elasticsearch (after `huntlab load <dataset>`);',
        '# "auto": Elasticsearch when it holds them, else the files',
    ]
    if len(stems) > 1:
        lines.append(f"# The hunt also names {', '.join(json.dumps(s) for s in stems[1:])}.")
    if _has_sql(hunt):
        lines.append(
            'spark_master = None  # e.g. "local[2]"; None: the lab\'s (HUNTLAB_SPARK_MASTER)'
        )
    return "\n".join(lines)


def _has_sql(hunt: Hunt) -> bool:
    return any(a.sql is not None for a in hunt.analytics)


# The tag nbclient (papermill, nbconvert, jupyter execute) reads as "this cell's error is
# expected": the run records it and goes on with the next cell.
RAISES = "raises-exception"


def syntax_errors(hunt: Hunt) -> dict[str, tuple[str, str]]:
    """The hunt's pandas analytics that are not valid Python: their code -> (the analytic's
    name, what is wrong: ``"line 4: invalid syntax"``). Checked with ``ast``; nothing runs."""
    broken: dict[str, tuple[str, str]] = {}
    for analytic in hunt.analytics:
        if analytic.pandas is None:
            continue
        try:
            ast.parse(analytic.pandas)
        except (SyntaxError, ValueError) as exc:
            line = getattr(exc, "lineno", None)
            reason = getattr(exc, "msg", None) or str(exc)
            where = f"line {line}: " if line else ""
            broken.setdefault(analytic.pandas, (analytic.name, f"{where}{reason}"))
    return broken


TABLE = "dataTable"
_READS = re.compile(r"\b(?:FROM|JOIN)\s+([A-Za-z_]\w*)\b(?!\s*\()", re.IGNORECASE)
_CTE = re.compile(r"\b([A-Za-z_]\w*)\s+AS\s*\(", re.IGNORECASE)


def other_tables(hunt: Hunt) -> list[str]:
    """The tables the hunt's SQL reads besides dataTable: a few older analytics of the
    playbook name the same events ``sparkTable``. A name the SQL defines itself (``WITH x
    AS (...)``) is not one."""
    names: set[str] = set()
    for analytic in hunt.analytics:
        if analytic.sql is not None:
            defined = {m.lower() for m in _CTE.findall(analytic.sql)}
            names.update(n for n in _READS.findall(analytic.sql) if n.lower() not in defined)
    return sorted(n for n in names if n.lower() != TABLE.lower())


# The events' source the parameters chose: the lab's Elasticsearch, or (None) the files.
_READ_LINES = [
    "if params.note:",
    "    print(params.note)",
    'es = params.settings if params.source == "elasticsearch" else None',
    "df = pandas_frame(dataset, es=es)",
    'print(f"df: {len(df):,} events of {dataset}, from", f"Elasticsearch at {es.es_url}" if es else "its files")',
]


def _loading_source(hunt: Hunt) -> str:
    lines = [
        "# Replaces the playbook's Download Dataset and Read Dataset cells: huntlab finds the",
        "# recording (its store, a mirror, or a verified download) and reads it.",
        "import pandas as pd",
        "",
    ]
    if _has_sql(hunt):
        lines += [
            "from huntlab import notebook as hl",
            f"from huntlab.hunts.load import pandas_frame, {SQL_RUNNER}, spark_table",
            "",
            "params = hl.parameters(source, dataset, spark_master=spark_master)",
            *_READ_LINES,
            f"spark = hl.spark_session(params, app_name={json.dumps('huntlab-hunt-' + hunt.id)})",
            "# Each SQL cell shows its result's first rows, not only its schema.",
            'spark.conf.set("spark.sql.repl.eagerEval.enabled", True)',
        ]
        others = other_tables(hunt)
        if others:
            views = ", ".join(json.dumps(name) for name in [TABLE, *others])
            lines.append("# The view the analytics' SQL reads, under each name it uses.")
            lines.append(f"spark_table(spark, dataset, view=[{views}], es=es)")
        else:
            lines.append(f"spark_table(spark, dataset, es=es)  # the view {TABLE}, read by the SQL")
    else:
        lines += [
            "from huntlab import notebook as hl",
            "from huntlab.hunts.load import pandas_frame",
            "",
            "params = hl.parameters(source, dataset)",
            *_READ_LINES,
        ]
    lines.append("df.shape")
    return "\n".join(lines)


def _provenance_source(hunt: Hunt) -> str:
    record = source_record(hunt.folder) or {}
    commit = record.get("commit") if isinstance(record.get("commit"), str) else None
    ref = commit or "master"
    upstream = f"{HOMEPAGE}/tree/{ref}/docs/hunts/windows/{hunt.id}"
    if record:
        where = f"[`{hunt.id}`]({upstream})" + (f", commit `{commit[:12]}`" if commit else "")
        url = record.get("url")
        if isinstance(url, str) and url:
            where += f", from the archive {url}"
        digest = record.get("sha256")
        if isinstance(digest, str) and digest:
            where += f" (sha256 `{digest}`)"
    else:
        where = (
            f"`{hunt.id}`, from a local copy of the playbook (`--from`); upstream it is "
            f"{HOMEPAGE}, `docs/hunts/windows/{hunt.id}`"
        )
    changed = (
        "a `parameters` cell (`dataset`, `source`) and one cell that loads the recording "
        "with `huntlab.hunts.load` into `df`"
    )
    if _has_sql(hunt):
        changed += " and the Spark view `dataTable`"
    lines = [
        "> **From the OTRF ThreatHunter-Playbook**: hunt " + where + ".",
        f"> Copyright (c) Open Threat Research Forge, {LICENSE} licence ({HOMEPAGE}).",
        ">",
        "> Converted for huntlab (its command hunts get). What changed: the playbook's "
        "*Download Dataset* and *Read Dataset* cells (requests + ZipFile, `pd.read_json`) "
        f"are replaced by {changed}.",
    ]
    if _has_sql(hunt):
        lines.append(
            f"> After each analytic's *Logic* SQL comes a cell that runs it (`{SQL_RUNNER}`), "
            "the SQL exactly as the playbook states it."
        )
    lines.append("> Everything else, the pandas queries included, is the playbook's text.")
    for name, problem in syntax_errors(hunt).values():
        lines += [
            ">",
            f"> Upstream, the pandas code of {name} is not valid Python ({problem}). Its cell "
            f"is kept as written and tagged `{RAISES}`, so that running the whole notebook "
            "goes on past it.",
        ]
    return "\n".join(lines)


def _split_sql(source: str, sqls: set[str]) -> list[tuple[str, str]]:
    """A markdown cell as (kind, source) pieces: after each analytic SQL code-block, a code
    cell running it; the markdown around it unchanged."""
    pieces: list[tuple[str, str]] = []
    start = 0
    for fence in fences(source):
        if fence.directive == "code-block" and fence.body in sqls:
            pieces.append(("markdown", source[start : fence.end].rstrip("\n")))
            pieces.append(("code", sql_cell_source(fence.body)))
            start = fence.end
    rest = source[start:]
    if not pieces:
        return [("markdown", source)]
    if rest.strip():
        pieces.append(("markdown", rest.lstrip("\n")))
    return pieces


def build(hunt: Hunt) -> Any:
    """The hunt as an ``nbformat`` notebook (no outputs)."""
    import jupytext
    import nbformat

    text = hunt.notebook.read_text(encoding="utf-8", errors="replace")
    with warnings.catch_warnings():
        # The playbook writes its code cells' lexer as both "ipython3" and "Ipython3".
        warnings.simplefilter("ignore", UserWarning)
        parsed = jupytext.reads(text, fmt="md:myst")
    pandas = {a.pandas for a in hunt.analytics if a.pandas is not None}
    sqls = {a.sql for a in hunt.analytics if a.sql is not None}

    loaders = [
        index
        for index, cell in enumerate(parsed.cells)
        if cell.cell_type == "code" and cell.source not in pandas and _LOADER.search(cell.source)
    ]
    broken = syntax_errors(hunt)
    parameters = ("parameters", _parameters_source(hunt))
    loading = ("code", _loading_source(hunt))
    pieces: list[tuple[str, str]] = [("markdown", _provenance_source(hunt))]
    if not loaders:
        # No loading cells to replace: load first, after the hunt's opening text.
        first = parsed.cells[:1] if parsed.cells and parsed.cells[0].cell_type == "markdown" else []
        pieces += [(cell.cell_type, cell.source) for cell in first]
        pieces += [parameters, loading]
        cells = parsed.cells[len(first) :]
    else:
        cells = parsed.cells
    for index, cell in enumerate(cells):
        if loaders and index == loaders[0]:
            pieces.append(parameters)
        if loaders and index == loaders[-1]:
            pieces.append(loading)
        if loaders and index in loaders:
            continue
        if cell.cell_type == "markdown":
            pieces += _split_sql(cell.source, sqls)
        else:
            pieces.append((cell.cell_type, cell.source))

    notebook = nbformat.v4.new_notebook()
    metadata = {key: value for key, value in parsed.metadata.items() if key != "jupytext"}
    metadata.setdefault(
        "kernelspec", {"display_name": "Python 3", "language": "python", "name": "python3"}
    )
    metadata["language_info"] = {"name": "python"}
    metadata["title"] = hunt.title
    metadata["huntlab"] = {
        "playbook_hunt": hunt.id,
        "datasets": list(hunt.datasets),
        "dataset_links": list(hunt.dataset_links),
    }
    notebook.metadata.update(metadata)
    for number, (kind, source) in enumerate(pieces):
        cell_id = f"hunt-{number:02d}"
        if kind == "markdown":
            cell = nbformat.v4.new_markdown_cell(source, id=cell_id)
        elif kind == "raw":
            cell = nbformat.v4.new_raw_cell(source, id=cell_id)
        else:
            cell = nbformat.v4.new_code_cell(source, id=cell_id)
            if kind == "parameters":
                cell.metadata["tags"] = ["parameters"]
            elif source in broken:
                cell.metadata["tags"] = [RAISES]
        notebook.cells.append(cell)
    nbformat.validate(notebook)
    return notebook


def render(hunt: Hunt) -> str:
    """The notebook's text, as written to disk."""
    import nbformat

    return nbformat.writes(build(hunt))


def to_notebook(hunt: Hunt, dest: Path) -> Path:
    """Write ``hunt`` as ``dest/<id>.ipynb`` (replacing one there); returns its path."""
    from huntlab.files import atomic_write

    return atomic_write(dest / notebook_name(hunt), render(hunt))
