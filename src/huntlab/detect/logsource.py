"""Sigma logsources to rows of the canonical event table (``logsources.yaml``)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

from huntlab.detect import ir


class Unsupported(Exception):
    """A rule (or part of one) that huntlab cannot evaluate; the message says why."""


@dataclass(frozen=True, slots=True)
class Source:
    """One kind of event a logsource means: its channel, event IDs and extra field values,
    and the table names of the fields Sigma names after Sysmon."""

    channels: tuple[str, ...]  # empty: any channel
    event_ids: tuple[int, ...]  # empty: any event
    where: tuple[tuple[str, tuple[str, ...]], ...] = ()
    fields: tuple[tuple[str, str], ...] = ()

    @property
    def name(self) -> str:
        channel = "|".join(self.channels) or "any channel"
        ids = ",".join(str(i) for i in self.event_ids)
        return f"{channel} {ids}".strip()

    def condition(self) -> ir.Node:
        """The rows of this source."""
        parts: list[ir.Node] = []
        if self.channels:
            parts.append(ir.any_of([_equals("Channel", c) for c in self.channels]))
        if self.event_ids:
            parts.append(ir.any_of([ir.Number("EventID", i) for i in self.event_ids]))
        for name, values in self.where:
            parts.append(ir.any_of([_equals(name, v) for v in values]))
        return ir.all_of(parts)


def _equals(field: str, value: str) -> ir.Node:
    return ir.Text(field, (value,))


@cache
def logsource_map() -> dict[str, Any]:
    text = resources.files("huntlab.detect").joinpath("logsources.yaml").read_text("utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def field_aliases() -> dict[str, str]:
    return dict(logsource_map()["aliases"])


def _source(spec: dict[str, Any]) -> Source:
    where = tuple(
        (name, tuple(str(v) for v in values)) for name, values in spec.get("where", {}).items()
    )
    return Source(
        channels=(spec["channel"],),
        event_ids=tuple(int(i) for i in spec.get("event_ids", ())),
        where=where,
        fields=tuple(spec.get("fields", {}).items()),
    )


def sources(product: str | None, category: str | None, service: str | None) -> list[Source]:
    """The sources a Sigma logsource means, or Unsupported saying why it has none here."""
    data = logsource_map()
    described = ", ".join(
        f"{k}: {v}"
        for k, v in (("product", product), ("category", category), ("service", service))
        if v
    )
    for key in (category, service):
        if key and key in data["unsupported"]:
            raise Unsupported(f"logsource {described}: {data['unsupported'][key]}")
    if product != "windows":
        raise Unsupported(
            f"logsource {described or 'none'}: huntlab's event table holds Windows event "
            "logs (product: windows)"
        )
    found: list[Source] = []
    if category:
        specs = data["categories"].get(category)
        if specs is None:
            raise Unsupported(f"logsource {described}: category {category!r} is not mapped")
        found = [_source(s) for s in specs]
    if service:
        channels = data["services"].get(service)
        if channels is None:
            raise Unsupported(f"logsource {described}: service {service!r} is not mapped")
        if found:  # both: the category's sources restricted to the service's channels
            wanted = {c.lower() for c in channels}
            found = [s for s in found if {c.lower() for c in s.channels} & wanted]
            if not found:
                raise Unsupported(f"logsource {described}: no channel has both")
        else:
            found = [Source(tuple(channels), ())]
    if not found:
        found = [Source((), ())]  # product windows alone: every event
    return found


def markdown_tables() -> str:
    """The logsource map as the Markdown tables docs/detections.md shows (a test keeps the
    two the same)."""
    data = logsource_map()
    lines = [
        "| category | Channel | EventID | also | field names (Sigma → table) |",
        "|---|---|---|---|---|",
    ]
    for category, specs in data["categories"].items():
        for spec in specs:
            where = ", ".join(f"{k} {'/'.join(v)}" for k, v in spec.get("where", {}).items())
            names = ", ".join(f"{k} → {v}" for k, v in spec.get("fields", {}).items())
            ids = ", ".join(str(i) for i in spec.get("event_ids", []))
            lines.append(f"| {category} | {spec['channel']} | {ids} | {where} | {names} |")
    lines += ["", "| service | Channel(s) |", "|---|---|"]
    for service, channels in data["services"].items():
        lines.append(f"| {service} | {'; '.join(channels)} |")
    lines += ["", "| not supported | why |", "|---|---|"]
    for name, why in data["unsupported"].items():
        lines.append(f"| {name} | {why} |")
    return "\n".join(lines) + "\n"
