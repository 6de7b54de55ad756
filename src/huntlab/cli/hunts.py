"""``huntlab hunts``: the OTRF ThreatHunter-Playbook's hunts in the lab.

``list`` shows them, ``get`` converts them into notebooks in the workspace. A new command
is one more ``@hunts.command()`` here; ``from_option`` and ``select`` give it the same
``--from DIR`` and the same hunt ids as the others.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from huntlab.cli.options import es_options, format_option, write_records
from huntlab.errors import HuntlabError

if TYPE_CHECKING:
    from huntlab.hunts.playbook import Hunt
    from huntlab.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])

from_option = click.option(
    "--from",
    "source",
    type=click.Path(file_okay=False, path_type=Path),
    help="A copy of the playbook's hunts to use (a checkout's docs/hunts, or any folder of "
    "<id>/notebook.md + metadata.yaml) instead of the copy huntlab downloads and caches "
    "(from $HUNTLAB_PLAYBOOK_URL, default GitHub's archive of the playbook).",
)


def load_hunts(source: Path | None) -> tuple[Path, list[Hunt]]:
    """The playbook's folder (``--from`` or the cached download) and its hunts."""
    from huntlab.hunts.playbook import find_hunts, playbook_dir

    root = playbook_dir(source)
    return root, find_hunts(root)


def select(found: Sequence[Hunt], ids: Sequence[str], root: Path) -> list[Hunt]:
    """The hunts named by ``ids`` (all of them when none is named), in the order given; an
    unknown id is an error naming the ids closest to it."""
    if not ids:
        return list(found)
    by_id = {hunt.id: hunt for hunt in found}
    chosen: list[Hunt] = []
    for wanted in dict.fromkeys(ids):
        hunt = by_id.get(wanted)
        if hunt is None:
            raise HuntlabError(_unknown(wanted, list(by_id), root))
        chosen.append(hunt)
    return chosen


def _unknown(wanted: str, ids: list[str], root: Path) -> str:
    import difflib

    lowered = wanted.lower()
    close = [i for i in ids if lowered in i.lower()]
    close += difflib.get_close_matches(wanted, ids, n=5, cutoff=0.5)
    close = list(dict.fromkeys(close))[:5]
    hint = f"did you mean {', '.join(close)}?" if close else "list them with: huntlab hunts list"
    return f"no hunt {wanted!r} in {root} ({len(ids)} hunts); {hint}"


def _counts(hunt: Hunt) -> tuple[int, int]:
    return (
        sum(a.sql is not None for a in hunt.analytics),
        sum(a.pandas is not None for a in hunt.analytics),
    )


@click.group()
def hunts() -> None:
    """The OTRF ThreatHunter-Playbook's hunts: list them, get them as lab notebooks."""


@hunts.command("list")
@from_option
@format_option("table", default="table")
def list_(source: Path | None, fmt: str) -> None:
    """List the playbook's hunts: id, title, datasets, number of SQL and pandas analytics."""
    from huntlab.hunts.playbook import source_record

    root, found = load_hunts(source)
    records: list[dict[str, Any]] = []
    for hunt in found:
        sql, pandas = _counts(hunt)
        records.append(
            {
                "id": hunt.id,
                "title": hunt.title,
                "datasets": list(hunt.datasets),
                "sql": sql,
                "pandas": pandas,
            }
        )
    if fmt != "table":
        write_records(records, fmt)
        return
    from huntlab.cli.datasets import _table

    rows = [{**r, "datasets": ", ".join(r["datasets"]) or "-"} for r in records]
    click.echo(_table(rows, ["id", "sql", "pandas", "datasets", "title"]))
    record = source_record(root)
    commit = record.get("commit") if record else None
    origin = f"commit {commit[:10]}" if isinstance(commit, str) else str(root)
    click.echo(f"{len(found)} hunts ({origin})", err=True)


def _cells(text: str) -> list[tuple[str, str]] | None:
    """A notebook's cells (type, source): what a user edits. None for a file that is not a
    notebook."""
    try:
        cells = json.loads(text)["cells"]
        return [
            (c["cell_type"], "".join(c["source"]) if isinstance(c["source"], list) else c["source"])
            for c in cells
        ]
    except (ValueError, KeyError, TypeError):
        return None


@hunts.command()
@click.argument("ids", nargs=-1)
@from_option
@click.option(
    "--dest",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to write the notebooks (default: hunts/playbook/ in the lab's workspace, "
    "$HUNTLAB_HOME/workspace).",
)
@click.option("--force", is_flag=True, help="Replace notebooks changed since they were written.")
def get(ids: tuple[str, ...], source: Path | None, dest: Path | None, force: bool) -> None:
    """Convert the hunts IDS (default: all) into notebooks that load their dataset with
    huntlab; print each notebook's path. A notebook changed since huntlab wrote it (its
    cells, not its outputs) is kept unless --force."""
    from huntlab.files import atomic_write
    from huntlab.hunts.convert import notebook_name, render

    root, found = load_hunts(source)
    chosen = select(found, ids, root)
    if dest is None:
        from huntlab.lab.workspace import workspace_dir
        from huntlab.settings import home_dir

        dest = workspace_dir(home_dir()) / "hunts" / "playbook"
    written = unchanged = 0
    kept: list[str] = []
    for hunt in chosen:
        target = dest / notebook_name(hunt)
        text = render(hunt)
        if target.is_file():
            current = _cells(target.read_text(encoding="utf-8", errors="replace"))
            if current == _cells(text):
                unchanged += 1
                click.echo(f"{target}\tunchanged")
                continue
            if not force:
                kept.append(hunt.id)
                click.echo(f"{target}\tkept (changed since it was written)")
                continue
        atomic_write(target, text)
        written += 1
        click.echo(f"{target}\twritten")
    summary = f"huntlab: {written} notebooks written, {unchanged} unchanged"
    if kept:
        summary += f", {len(kept)} kept as changed (rerun with --force to replace them)"
    click.echo(f"{summary}, in {dest}", err=True)


@hunts.command()
@click.argument("ids", nargs=-1)
@from_option
@click.option(
    "--engine",
    "engines",
    type=click.Choice(["pandas", "spark"]),
    multiple=True,
    help="Run the analytics' pandas code, or their SQL on Spark (repeatable; default both).",
)
@click.option(
    "--spark-master",
    default="local[2]",
    show_default=True,
    help="The Spark master for the SQL (the check reads the recordings itself).",
)
@click.option(
    "--source",
    "events_source",
    type=click.Choice(["files", "json", "elasticsearch", "auto"]),
    default="files",
    show_default=True,
    help="Where huntlab's way reads each hunt's dataset: the recording's files (json, as "
    "the notebooks' source parameter says), the events indexed in the lab's "
    "Elasticsearch by huntlab load (the --es-* options), or auto: Elasticsearch for a "
    "dataset it holds, the files for the others (each hunt's line says which). The "
    "playbook's way always reads the files.",
)
@es_options
@format_option("table", default="table")
def check(
    ids: tuple[str, ...],
    source: Path | None,
    engines: tuple[str, ...],
    spark_master: str,
    events_source: str,
    settings: Settings,
    fmt: str,
) -> None:
    """Run the hunts IDS' analytics (default: all) the playbook's way (pd.read_json,
    spark.read.json of the recording) and huntlab's (its tables over the files or the lab's
    Elasticsearch, run_sql), and compare the rows. Exits 1 when an analytic that runs the
    playbook's way gives other rows under huntlab."""
    from huntlab.cli.datasets import _table
    from huntlab.hunts.check import ENGINES, summary
    from huntlab.hunts.check import check as run_check

    root, found = load_hunts(source)
    chosen = select(found, ids, root)
    engines = engines or ENGINES
    if events_source == "json":  # the notebooks' name for the files
        events_source = "files"
    es = settings if events_source in ("elasticsearch", "auto") else None
    if events_source == "elasticsearch":
        # Before Spark starts: a dataset not loaded is a quick error, not a slow one.
        from huntlab.hunts.check import require_loaded

        require_loaded(chosen, settings)
    spark = None
    if "spark" in engines:
        from huntlab.spark import session

        spark = session("huntlab-hunts-check", master=spark_master, settings=settings)
    try:
        outcomes = run_check(
            chosen,
            engines=engines,
            spark=spark,
            progress=lambda text: click.echo(f"huntlab: checking {text}", err=True),
            source=events_source,
            es=es,
        )
    finally:
        if spark is not None:
            spark.stop()
    records: list[dict[str, Any]] = [
        {
            "hunt": o.hunt,
            "analytic": o.analytic,
            "engine": o.engine,
            "source": o.source,
            "read_from": o.read_from,
            "playbook_rows": o.playbook_rows,
            "huntlab_rows": o.huntlab_rows,
            "same": o.same,
            "why": o.why,
        }
        for o in outcomes
    ]
    if fmt != "table":
        write_records(records, fmt)
    else:
        rows = [
            {
                **r,
                "playbook_rows": "-" if r["playbook_rows"] is None else r["playbook_rows"],
                "huntlab_rows": "-" if r["huntlab_rows"] is None else r["huntlab_rows"],
                "same": {True: "yes", False: "NO", None: "-"}[r["same"]],
                "why": r["why"] or "",
            }
            for r in records
        ]
        columns = ["hunt", "analytic", "engine", "playbook_rows", "huntlab_rows", "same", "why"]
        click.echo(_table(rows, columns))
    for engine, c in summary(outcomes).items():
        click.echo(
            f"huntlab: {engine}: {c['analytics']} analytics, {c['playbook_runs']} run the "
            f"playbook's way, {c['same']} of them the same under huntlab, {c['differ']} not",
            err=True,
        )
    if any(o.same is False for o in outcomes):
        raise SystemExit(1)
