"""The canonical mapping (``huntlab/mapping.json``) and the record normalisers built from it.

The mapping is data so that the Elasticsearch ingest pipeline and the Spark reader can be
generated from the same file; here it becomes one plain Python function per format, built
once, because this is the hot loop of every reader.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any

import orjson

Record = dict[str, Any]
Normaliser = Callable[[Mapping[str, Any]], Record]


@cache
def mapping() -> dict[str, Any]:
    """The parsed ``huntlab/mapping.json``."""
    text = resources.files("huntlab").joinpath("mapping.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def timestamp_field() -> str:
    return str(mapping()["fields"]["timestamp"])


def dataset_field() -> str:
    return str(mapping()["fields"]["dataset"])


def integer_fields() -> tuple[str, ...]:
    """Every integer column: ``EventID`` (32-bit) and the numeric fields (64-bit)."""
    fields = mapping()["fields"]
    return (*fields["integers"], *fields["numbers"])


def number_fields() -> tuple[str, ...]:
    """The numeric event fields (64-bit integers): the type rule of docs/event-mapping.md."""
    return tuple(mapping()["fields"]["numbers"])


def integer_bits(name: str) -> int:
    """The width of integer column ``name``: 32 for ``EventID``, 64 for the numeric fields."""
    return 32 if name in mapping()["fields"]["integers"] else 64


def core_fields() -> tuple[str, ...]:
    return tuple(mapping()["fields"]["core"])


def event_formats() -> tuple[str, ...]:
    return tuple(mapping()["detect_order"])


@cache
def channel_spellings() -> dict[str, str]:
    """Lower-cased channel -> canonical spelling."""
    return {name.lower(): name for name in mapping()["channels"]}


@cache
def aliases() -> dict[str, str]:
    return {k: v for k, v in mapping()["aliases"].items() if not k.startswith("$")}


def _matches(rule: Mapping[str, Any], keys: Mapping[str, Any]) -> bool:
    if any(k not in keys for k in rule.get("all_of", ())):
        return False
    if any(k in keys for k in rule.get("none_of", ())):
        return False
    any_of = rule.get("any_of")
    return not any_of or any(k in keys for k in any_of)


def detect_event_format(record: Mapping[str, Any]) -> str | None:
    """The name of the event format ``record`` is in, or None."""
    formats = mapping()["formats"]
    for name in event_formats():
        if _matches(formats[name]["detect"], record):
            return name
    return None


def detect_table_format(record: Mapping[str, Any]) -> str | None:
    """The table format (Azure exports) of a JSON ``record``, or None."""
    for name, spec in mapping()["tables"].items():
        if name.startswith("$") or "first_line_prefix" in spec["detect"]:
            continue
        if _matches(spec["detect"], record):
            return name
    return None


def dataset_name_from_file(name: str) -> str:
    """``empire_invoke_wmi_2019-03-19152813.json`` -> ``empire_invoke_wmi``."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    lowered = base.lower()
    for ext in (
        ".tar.gz",
        ".tgz",
        ".jsonl.gz",
        ".json.gz",
        ".zip",
        ".json",
        ".jsonl",
        ".ndjson",
        ".gz",
        ".tar",
        ".log",
    ):
        if lowered.endswith(ext):
            base = base[: -len(ext)]
            break
    return re.sub(mapping()["dataset"]["strip_suffix_regex"], "", base) or base


# What a canonical column can hold, whichever reader fills it: pandas' nanosecond timestamps
# span the years 1677-2262, Elasticsearch maps EventID as a 32-bit integer and the numeric
# fields as 64-bit ones.
_FIRST_YEAR, _LAST_YEAR = 1678, 2261
_INT_RANGE = {32: (-(2**31), 2**31 - 1), 64: (-(2**63), 2**63 - 1)}
# A number written as text: ASCII digits, an optional sign (what Java's Long.parseLong takes
# in the ingest pipeline; Python's int() would also take "1_000", " 7" and other digits).
_DECIMAL = re.compile(r"[+-]?[0-9]+")


class RecordError(ValueError):
    """A record that cannot be normalised (the reason goes to the error or rejects file)."""


def to_text(value: Any) -> str:
    """The canonical text of a non-string JSON value (see ``types`` in mapping.json)."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int | float):
        return str(value)
    return orjson.dumps(value).decode("utf-8")


def _iso_utc(value: Any, fmt: str) -> str:
    """Canonical ``yyyy-MM-ddTHH:mm:ss.SSSZ`` text of a timestamp in ``fmt``."""
    if not isinstance(value, str):
        raise RecordError(f"timestamp {value!r} is not text")
    # The common case, already canonical: 2019-03-19T19:31:15.524Z (still checked: a table
    # column must be able to hold it)
    canonical = len(value) == 24 and value[10] == "T" and value[23] == "Z" and value[19] == "."
    try:
        if fmt == "iso8601" or canonical:
            parsed = datetime.fromisoformat(value)
        else:  # "yyyy-MM-dd HH:mm:ss.SSS" (Sysmon UtcTime), UTC
            parsed = datetime.fromisoformat(value.replace(" ", "T"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        parsed = parsed.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise RecordError(f"timestamp {value!r} is not {fmt}") from exc
    if not _FIRST_YEAR <= parsed.year <= _LAST_YEAR:
        raise RecordError(
            f"timestamp {value!r} is outside the years {_FIRST_YEAR}-{_LAST_YEAR} "
            "a table's @timestamp column holds"
        )
    if canonical:
        return value
    return parsed.strftime("%Y-%m-%dT%H:%M:%S.") + f"{parsed.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class Plan:
    """The rules of one format, compiled from mapping.json: what the normaliser (and the Spark
    reader, which runs the same rules as a projection) drops, renames and flattens."""

    drop: frozenset[str]
    rename: dict[str, str]  # top-level field -> canonical name
    nested_rename: dict[str, dict[str, str]]  # object -> {child: canonical name}
    flatten: tuple[str, ...]  # objects whose keys become columns, in mapping order
    time_sources: tuple[tuple[str, str], ...]  # (field, format), first present wins

    @property
    def containers(self) -> frozenset[str]:
        """The objects whose children become columns: flattened or with renamed children."""
        return frozenset(self.flatten).union(self.nested_rename)


def split_renames(fmt: str) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """The renames of format ``fmt``: top-level ``{field: name}``, and nested
    ``{object: {field: name}}`` for the dotted ones (``user.name`` -> ``AccountName``)."""
    rename: dict[str, str] = {}
    nested: dict[str, dict[str, str]] = {}
    for source, target in mapping()["formats"][fmt]["rename"].items():
        parent, dot, child = source.partition(".")
        if dot:
            nested.setdefault(parent, {})[child] = target
        else:
            rename[source] = target
    return rename, nested


@cache
def plan(fmt: str) -> Plan:
    """The compiled rules of format ``fmt``."""
    spec = mapping()["formats"][fmt]
    rename, nested = split_renames(fmt)
    return Plan(
        drop=frozenset(spec["drop"]),
        rename=rename,
        nested_rename=nested,
        flatten=tuple(spec["flatten"]),
        time_sources=tuple((t["field"], t["format"]) for t in spec["timestamp"]),
    )


@cache
def normaliser(fmt: str) -> Normaliser:
    """A function turning one raw record of format ``fmt`` into a canonical event dict.

    ``Dataset`` is not set here (the caller knows it). Raises RecordError for a record that
    breaks the type rules (an EventID that is not an integer, an unreadable timestamp).
    """
    rules = plan(fmt)
    drop, rename, nested = rules.drop, rules.rename, rules.nested_rename
    flatten = frozenset(rules.flatten)
    alias = aliases()
    channels = channel_spellings()
    ts_name = timestamp_field()
    # The integer columns, each with its range and its rank (mapping order: when several of
    # an event's fields break the rule, the first of them in that order is the reason given).
    int_ranges = {name: _INT_RANGE[integer_bits(name)] for name in integer_fields()}
    int_names = frozenset(int_ranges)
    int_rank = {name: rank for rank, name in enumerate(int_ranges)}.__getitem__
    time_sources = rules.time_sources
    str_, int_ = str, int

    def put(out: Record, key: str, value: Any) -> None:
        if value is None:
            return
        if type(value) is not str_:
            value = to_text(value)
        out[key] = value

    flat = not (rename or nested or flatten)

    def normalise(raw: Mapping[str, Any]) -> Record:
        objects: list[dict[str, Any]] = []
        if flat:  # the 2020 formats: nothing to rename or flatten, one pass in C
            # An integer of an integer column stays one (to_text then int() would give it
            # back); _finish checks its range.
            out: Record = {
                k: v if type(v) is str_ or (type(v) is int_ and k in int_names) else to_text(v)
                for k, v in raw.items()
                if v is not None and k not in drop
            }
        else:
            out = _restructure(raw, objects)
        for obj in objects:
            for key, value in obj.items():
                if value is not None and key not in out:
                    out[key] = value if type(value) is str_ else to_text(value)
        return _finish(out, raw)

    def _restructure(raw: Mapping[str, Any], objects: list[dict[str, Any]]) -> Record:
        out: Record = {}
        for key, value in raw.items():
            if value is None or key in drop:
                continue
            if key in flatten and type(value) is dict:
                objects.append(value)
                continue
            sub = nested.get(key)
            if sub is not None and type(value) is dict:
                rest = {}
                for k2, v2 in value.items():
                    target = sub.get(k2)
                    if target is None:
                        if v2 is not None:
                            rest[k2] = v2
                    else:
                        put(out, target, v2)
                if rest:
                    put(out, key, rest)
                continue
            name = rename.get(key, key)
            if type(value) is str_:
                out[name] = value
            else:
                put(out, name, value)
        return out

    def _finish(out: Record, raw: Mapping[str, Any]) -> Record:
        for other, canonical in alias.items():
            if other in out:
                value = out.pop(other)
                if canonical not in out:
                    out[canonical] = value
        channel = out.get("Channel")
        if channel is not None:
            out["Channel"] = channels.get(channel.lower(), channel)
        stamp = None
        for field_name, fmt_name in time_sources:
            value = raw.get(field_name) if field_name == ts_name else out.get(field_name)
            if value is not None:
                stamp = _iso_utc(value, fmt_name)
                break
        if stamp is None:
            out.pop(ts_name, None)
        else:
            out[ts_name] = stamp
        # Only the integer fields the event has (a set intersection in C, not a look-up per
        # integer column: there are over a hundred of them and an event holds a few).
        present = int_names.intersection(out)
        for name in sorted(present, key=int_rank) if len(present) > 1 else present:
            value = out[name]
            if value is None:
                continue
            low, high = int_ranges[name]
            if type(value) is not int:
                if type(value) is not str_ or not _DECIMAL.fullmatch(value):
                    raise RecordError(f"{name} {value!r} is not an integer")
                value = out[name] = int(value)
            if not low <= value <= high:
                bits = 32 if high < 2**32 else 64
                raise RecordError(f"{name} {value!r} is outside the {bits}-bit integer range")
        return out

    return normalise
