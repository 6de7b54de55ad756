"""``huntlab detect``: Sigma rules on an event file, dataset or folder (pandas engine), or on
the lab's Elasticsearch indexes (``--engine elasticsearch``)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from huntlab.cli.options import errors_option, es_options
from huntlab.errors import HuntlabError

if TYPE_CHECKING:
    from huntlab.detect.rules import RuleSet

_LEVELS = ("informational", "low", "medium", "high", "critical")


def _placeholders(path: Path | None) -> dict[str, list[str]] | None:
    if path is None:
        return None
    import yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise HuntlabError(f"{path}: expected a YAML mapping of placeholder name -> values")
    return {
        str(k): [str(v) for v in (vs if isinstance(vs, list) else [vs])] for k, vs in data.items()
    }


def _echo_unsupported(rules: RuleSet) -> None:
    for skipped in rules.unsupported:
        info = skipped.info
        click.echo(f"{info.path}\t{info.id or '-'}\t{info.title}\t{skipped.reason}")


@click.command("detect")
@click.argument("rules", type=click.Path(exists=True, path_type=Path))
@click.argument("source", required=False)
@click.option(
    "--check", is_flag=True, help="Only list the rules that cannot be evaluated, and why."
)
@click.option(
    "--level",
    multiple=True,
    type=click.Choice(_LEVELS),
    help="Keep rules of this level (repeatable).",
)
@click.option(
    "--status",
    multiple=True,
    help="Keep rules of this status: stable, test, experimental... (repeatable).",
)
@click.option(
    "--tag",
    "tags",
    multiple=True,
    help="Keep rules with this tag or below it, e.g. attack.t1047 (repeatable).",
)
@click.option(
    "--category", multiple=True, help="Keep rules of this logsource category (repeatable)."
)
@click.option("--service", multiple=True, help="Keep rules of this logsource service (repeatable).")
@click.option(
    "--placeholders",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="YAML file: placeholder name -> values, for rules using |expand.",
)
@click.option(
    "--format",
    "out_format",
    type=click.Choice(["table", "json", "jsonl"]),
    default="table",
    show_default=True,
    help="table: summary and first hits; json: one document; jsonl: one hit per line (summary on stderr).",
)
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=50,
    show_default=True,
    help="Hits shown by --format table.",
)
@click.option(
    "--engine",
    type=click.Choice(["pandas", "elasticsearch"]),
    default="pandas",
    show_default=True,
    help="pandas: SOURCE read into memory; elasticsearch: the rules as searches on the indexes "
    "SOURCE names (default: huntlab, every index of the lab).",
)
@click.option(
    "--dataset",
    "datasets",
    multiple=True,
    help="With --engine elasticsearch: only the events of this dataset (repeatable).",
)
@click.option(
    "--alerts",
    is_flag=True,
    help="Also write the hits and correlation alerts to the huntlab-alerts index of the "
    "lab's Elasticsearch (the same hit again rewrites its document).",
)
@errors_option
@es_options
def detect(
    rules: Path,
    source: str | None,
    check: bool,
    level: tuple[str, ...],
    status: tuple[str, ...],
    tags: tuple[str, ...],
    category: tuple[str, ...],
    service: tuple[str, ...],
    placeholders: Path | None,
    out_format: str,
    limit: int,
    engine: str,
    datasets: tuple[str, ...],
    alerts: bool,
    errors: str,
    settings: Any,
) -> None:
    """Apply the Sigma RULES (a rule file, a folder, or a SigmaHQ release .zip) to SOURCE (a
    dataset, archive, event file, .evtx, or folder) and print the hits.

    Rule authors are shown with every hit: SigmaHQ rules are under the Detection Rule
    License, which asks for attribution."""
    from huntlab.detect.rules import Filters, load_rules

    filters = Filters(status=status, level=level, tags=tags, category=category, service=service)
    ruleset = load_rules(rules, filters, _placeholders(placeholders))
    if check:
        _echo_unsupported(ruleset)
        click.echo(
            f"huntlab detect: {len(ruleset.rules):,} rules and "
            f"{len(ruleset.correlations):,} correlations supported, "
            f"{len(ruleset.unsupported):,} not",
            err=True,
        )
        return
    from huntlab.detect.run import detect as run_detect

    if engine == "elasticsearch":
        if datasets and len(datasets) == 1:
            where: dict[str, Any] | None = {"term": {"Dataset": datasets[0]}}
        else:
            where = {"terms": {"Dataset": list(datasets)}} if datasets else None
        result = run_detect(source or "huntlab", ruleset, settings=settings, where=where)
        _print(result, out_format, limit)
        _write_alerts(result, alerts, engine, settings)
        fired = int((result.summary["hits"] > 0).sum())
        not_run = len(result.unsupported) - len(ruleset.unsupported)
        click.echo(
            f"huntlab detect: {len(ruleset.rules) - not_run:,} rules on Elasticsearch "
            f"({source or 'huntlab'}), {fired:,} fired, {len(result.hits):,} hits"
            f"{_alerts_note(result)}; "
            f"{len(ruleset.unsupported):,} rules not supported (see --check), {not_run:,} "
            "not run by this engine (listed with --format json)",
            err=True,
        )
        return
    if datasets:
        raise click.UsageError("--dataset goes with --engine elasticsearch; name the SOURCE")
    if source is None:
        raise click.UsageError("give the SOURCE to run the rules on (or --check)")
    from huntlab.readers import read_events

    events = read_events(source, errors=errors)  # type: ignore[arg-type]
    result = run_detect(events, ruleset)
    _print(result, out_format, limit)
    _write_alerts(result, alerts, engine, settings)
    fired = int((result.summary["hits"] > 0).sum())
    click.echo(
        f"huntlab detect: {len(events):,} events, {len(ruleset.rules):,} rules"
        f"{f' and {len(ruleset.correlations):,} correlations' if ruleset.correlations else ''}, "
        f"{fired:,} fired, {len(result.hits):,} hits{_alerts_note(result)}; "
        f"{len(ruleset.unsupported):,} rules not supported (see --check)",
        err=True,
    )


def _write_alerts(result: Any, alerts: bool, engine: str, settings: Any) -> None:
    if not alerts:
        return
    from huntlab.detect.alerts import write_alerts

    click.echo(
        f"huntlab detect: {write_alerts(result, settings, engine=engine).summary()}", err=True
    )


def _alerts_note(result: Any) -> str:
    """The correlation part of the closing line ("" when no correlation rule ran)."""
    ran = int(result.summary["note"].str.startswith("correlation:").sum())
    return f", {len(result.correlations):,} correlation alerts" if ran else ""


def _print(result: Any, out_format: str, limit: int) -> None:
    import orjson

    hits = result.hits
    summary = result.summary
    alerts = result.correlations
    if out_format == "jsonl":  # hits, then correlation alerts (they have a "correlation" key)
        out = sys.stdout.buffer
        for frame in (hits, alerts):
            if frame.empty:
                continue
            lines = frame.to_json(orient="records", lines=True, date_format="iso")
            for line in lines.splitlines():
                out.write(line.encode("utf-8") + b"\n")
        out.flush()
        return
    if out_format == "json":
        document = {
            "hits": orjson.loads(hits.to_json(orient="records", date_format="iso")),
            "correlations": orjson.loads(alerts.to_json(orient="records", date_format="iso")),
            "summary": orjson.loads(summary.to_json(orient="records")),
            "unsupported": [
                {"id": s.info.id, "title": s.info.title, "path": s.info.path, "reason": s.reason}
                for s in result.unsupported
            ],
        }
        sys.stdout.buffer.write(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")
        return
    fired = summary[summary["hits"] > 0].copy()
    if fired.empty:
        click.echo("no rule fired")
        return
    order = {name: i for i, name in enumerate(reversed(_LEVELS))}
    fired["_order"] = fired["level"].map(order)
    fired = fired.sort_values(["_order", "hits"], ascending=[True, False])
    click.echo(
        fired[["level", "hits", "title", "author", "rule_id"]].to_string(
            index=False, max_colwidth=60
        )
    )
    click.echo("")
    columns = [
        c
        for c in (
            "@timestamp",
            "Hostname",
            "EventID",
            "level",
            "title",
            "attack",
            "event",
            "event_id",
        )
        if c in hits.columns
    ]
    if len(hits):
        click.echo(hits[columns].head(limit).to_string(index=False, max_colwidth=50))
    if len(hits) > limit:
        click.echo(
            f"... {len(hits) - limit:,} more hits (--limit, or --format jsonl for all)", err=True
        )
    if len(alerts):
        click.echo("")
        shown = ["window_start", "level", "title", "group", "value", "events"]
        click.echo(alerts[shown].head(limit).to_string(index=False, max_colwidth=50))
        if len(alerts) > limit:
            click.echo(f"... {len(alerts) - limit:,} more correlation alerts", err=True)
