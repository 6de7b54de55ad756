"""``huntlab datasets``: the Security-Datasets catalog and the local dataset store."""

from __future__ import annotations

import csv
import io
import json
import textwrap
from collections.abc import Mapping
from typing import Any, ClassVar

import click

from huntlab.cli import HoistingGroup
from huntlab.cli.options import format_option, write_records
from huntlab.dataset_catalog import Dataset

METADATA_ENV = "HUNTLAB_DATASETS_METADATA"


def _metadata(ctx: click.Context) -> str | None:
    value: str | None = (ctx.obj or {}).get("metadata")
    return value


class DatasetsGroup(HoistingGroup):
    # `datasets list --metadata DIR` as well as `datasets --metadata DIR list`.
    hoisted: ClassVar[Mapping[str, str]] = {"--metadata": METADATA_ENV}


@click.group(cls=DatasetsGroup)
@click.option(
    "--metadata",
    type=click.Path(file_okay=False),
    envvar=METADATA_ENV,
    help="Folder of Security-Datasets metadata YAML to build the catalog from "
    "[env HUNTLAB_DATASETS_METADATA].",
)
@click.pass_context
def datasets(ctx: click.Context, metadata: str | None) -> None:
    """List, show, download and import Security-Datasets (Mordor) recordings; show or clear
    the table cache of read_events."""
    ctx.ensure_object(dict)
    ctx.obj["metadata"] = metadata


def _where(state: str, status: dict[str, Any], name: str) -> str:
    """`show`'s words for local_state (the LOCAL column of `list`), with the command to run."""
    if state == "yes":
        return f"yes: stored in {status['store']}"
    if state == "mirror":
        return (f"mirror: in HUNTLAB_DATASETS_MIRROR (read from there; `huntlab datasets get "
                f"{name}` stores it)")  # fmt: skip
    if state == "partial":
        return (f"partial: some files stored in {status['store']} (`huntlab datasets get {name}` "
                "adds the rest)")  # fmt: skip
    return f"no (`huntlab datasets get {name}` downloads it)"


def _row(ds: Dataset, local: str) -> dict[str, Any]:
    return {
        "id": ds.id,
        "name": ds.name,
        "type": ds.type,
        "platforms": ";".join(ds.platforms),
        "techniques": ";".join(ds.techniques),
        "tactics": ";".join(ds.tactics),
        "title": ds.title,
        "created": ds.creation_date,
        "local": "" if local == "no" else local,
    }


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    widths = {c: max([len(c), *(len(str(r[c])) for r in rows)]) for c in columns}
    widths["title"] = min(widths.get("title", 0), 50)
    lines = ["  ".join(c.upper().ljust(widths[c]) for c in columns).rstrip()]
    for row in rows:
        cells = [
            textwrap.shorten(str(row[c]), widths[c], placeholder="…")
            if c == "title"
            else str(row[c])
            for c in columns
        ]
        lines.append(
            "  ".join(v.ljust(widths[c]) for v, c in zip(cells, columns, strict=True)).rstrip()
        )
    return "\n".join(lines)


@datasets.command("list")
@click.option("--technique", help="ATT&CK technique, e.g. T1047 (also matches T1047.xxx).")
@click.option("--tactic", help="ATT&CK tactic id or name, e.g. TA0008 or lateral-movement.")
@click.option("--platform", help="windows, linux, aws, azure, ...")
@click.option("--type", "ds_type", type=click.Choice(["atomic", "compound"]))
@click.option(
    "-q",
    "--query",
    "words",
    multiple=True,
    help="Words to find in id, name, title, description, tags (all must occur).",
)
@format_option("table", "csv", default="table")
@click.option("--refresh", is_flag=True, help="Download the upstream metadata again first.")
@click.pass_context
def list_(
    ctx: click.Context,
    technique: str | None,
    tactic: str | None,
    platform: str | None,
    ds_type: str | None,
    words: tuple[str, ...],
    fmt: str,
    refresh: bool,
) -> None:
    """List the datasets of the catalog, filtered."""
    from huntlab.dataset_catalog import catalog, tactic_id
    from huntlab.datasets import local_state, mirror_file_names, stored_names
    from huntlab.errors import HuntlabError

    if tactic and tactic_id(tactic) is None:
        raise HuntlabError(
            f"unknown ATT&CK tactic {tactic!r}: give an id (TA0008) or a name (lateral-movement)"
        )
    cat = catalog(_metadata(ctx), refresh=refresh)
    found = cat.filter(
        technique=technique,
        tactic=tactic,
        platform=platform,
        type=ds_type,
        text=" ".join(words) or None,
    )
    stored = stored_names()
    mirrored = mirror_file_names()
    local = {ds.id: local_state(ds, stored, mirrored) for ds in found}
    if fmt in ("json", "jsonl"):
        write_records(({**ds.to_dict(), "local": local[ds.id]} for ds in found), fmt)
        return
    rows = [_row(ds, local[ds.id]) for ds in found]
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(
            buffer, fieldnames=list(_row(cat.datasets[0], "no")), lineterminator="\n"
        )
        writer.writeheader()
        writer.writerows(rows)
        click.echo(buffer.getvalue(), nl=False)
        return
    if rows:
        click.echo(
            _table(rows, ["id", "name", "type", "platforms", "techniques", "local", "title"])
        )
    source = f" (metadata commit {cat.commit[:10]})" if cat.commit else ""
    click.echo(f"{len(rows)} of {len(cat)} datasets{source}", err=True)


@datasets.command()
@click.argument("dataset")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.pass_context
def show(ctx: click.Context, dataset: str, fmt: str) -> None:
    """Everything the catalog knows about DATASET (id or name), and whether it is local."""
    from huntlab.dataset_catalog import catalog
    from huntlab.datasets import local_state, local_status, locate
    from huntlab.errors import DatasetNotFound

    try:
        ds = catalog(_metadata(ctx)).get(dataset)
    except DatasetNotFound:
        found = locate(dataset)
        if found is None:
            raise
        # Some recordings (the 2019 empire_invoke_wmi tarball) are no longer in the metadata.
        click.echo(f"{'name:':15} {dataset}")
        click.echo(f"{'catalog:':15} not described by the dataset metadata")
        click.echo(f"{'local:':15} {found}")
        return
    status = local_status(ds)
    if fmt == "json":
        click.echo(json.dumps({**ds.to_dict(), "local": status}, indent=1))
        return
    tactics = [f"{t} {n}" for t, n in zip(ds.tactics, ds.tactic_names, strict=True)]
    fields = [
        ("id", ds.id),
        ("name", ds.name),
        ("title", ds.title),
        ("type", ds.type),
        ("platform", ", ".join(ds.platforms)),
        ("techniques", ", ".join(ds.techniques)),
        ("tactics", ", ".join(tactics)),
        ("tags", ", ".join(ds.tags)),
        ("contributors", ", ".join(ds.contributors)),
        ("created", ds.creation_date),
        ("modified", ds.modification_date),
        ("also found as", ", ".join(ds.aliases)),
        ("metadata", ds.metadata_file),
        ("local", _where(local_state(ds), status, ds.name)),
    ]
    for label, value in fields:
        if value:
            click.echo(f"{label + ':':15} {value}")
    click.echo("description:")
    click.echo(textwrap.indent(textwrap.fill(ds.description, 96), "  "))
    click.echo("files:")
    for file in status["files"]:
        click.echo(f"  {file['kind']:8} {file['url']}")
        if file["stored"]:
            click.echo(f"           stored {file['stored']} sha256 {file['sha256']}")
        elif file["mirror"]:
            click.echo(f"           in mirror {file['mirror']}")
    for ref in ds.references:
        click.echo(f"reference:      {ref}")


def _report(results: list[Any]) -> None:
    for item in results:
        note = f" ({item.fetched} bytes fetched)" if item.fetched else ""
        click.echo(f"{item.origin:8} {item.sha256}  {item.path}{note}")
    fetched = [item for item in results if item.origin in ("download", "mirror")]
    unverified = [item for item in fetched if not item.verified]
    for item in fetched:
        if item.verified:
            click.echo(f"verified {item.path.name}: {item.verified}", err=True)
    if unverified:
        # Upstream publishes no hashes: say so rather than call the files checked.
        click.echo(
            f"no published hash for {len(unverified)} file(s), their SHA-256 is only recorded: "
            + ", ".join(item.path.name for item in unverified),
            err=True,
        )


@datasets.command()
@click.argument("dataset", nargs=-1, required=True)
@click.option(
    "--kind",
    "kinds",
    multiple=True,
    help="Only files of this kind (host, network, cloud); repeatable.",
)
@click.option("--verify", is_flag=True, help="Re-hash files already in the store.")
@click.pass_context
def get(ctx: click.Context, dataset: tuple[str, ...], kinds: tuple[str, ...], verify: bool) -> None:
    """Download DATASET (ids or names) into the local store (resumable, checksummed).

    With HUNTLAB_DATASETS_MIRROR set, files are taken from that folder instead.
    """
    from huntlab.datasets import get as get_dataset

    for item in dataset:
        _report(get_dataset(item, kinds=kinds or None, verify=verify, metadata=_metadata(ctx)))


@datasets.command("import")
@click.argument("path", type=click.Path(exists=True))
@click.option("--name", help="Store the file under this dataset name (default: its stem).")
@click.option("--force", is_flag=True, help="Replace a different file already in the store.")
@click.pass_context
def import_(ctx: click.Context, path: str, name: str | None, force: bool) -> None:
    """Put a local .zip/.tar.gz/.json/.jsonl file, or a mirror folder, into the store."""
    from huntlab.datasets import import_path

    _report(import_path(path, name=name, force=force, metadata=_metadata(ctx)))


@datasets.command()
@click.argument("dataset")
@click.pass_context
def path(ctx: click.Context, dataset: str) -> None:
    """Print the path huntlab reads for DATASET (fetching it into the store if needed)."""
    from huntlab.datasets import resolve

    click.echo(str(resolve(dataset, metadata=_metadata(ctx))))


def _size(count: int) -> str:
    if count < 1024:
        return f"{count} B"
    value = count / 1024
    for unit in ("KiB", "MiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


@datasets.command()
@click.option(
    "--clear",
    is_flag=True,
    help="Remove every cached table; the next read of each recording parses it again.",
)
def cache(clear: bool) -> None:
    """Show or clear the table cache of read_events.

    Without options: where the cache is, how many tables it holds and their size. The first
    read of a recording keeps its event table there; later reads of the same files come from
    it (docs/datasets.md, "Table cache"). HUNTLAB_TABLE_CACHE=0 turns it off;
    HUNTLAB_TABLE_CACHE_MAX (default 10G) is the size it keeps to.
    """
    from huntlab.readers import cache as table_cache

    if clear:
        held = table_cache.clear()
        click.echo(f"cleared {held.path}: {held.tables} table(s), {_size(held.bytes)} freed")
        return
    usage = table_cache.usage()
    state = "on" if table_cache.enabled() else f"off ({table_cache.ENV}=0)"
    click.echo(f"{'table cache:':15} {usage.path}")
    click.echo(f"{'tables:':15} {usage.tables}")
    click.echo(f"{'size:':15} {_size(usage.bytes)}")
    limit = _size(table_cache.max_bytes())
    click.echo(f"{'keeps to:':15} {limit} ({table_cache.MAX_ENV}; least recently used go first)")
    click.echo(f"{'reads use it:':15} {state}")
