"""The intermediate form every detection engine renders: a small typed tree.

pySigma parses a rule and applies its modifiers; ``huntlab.detect.compile`` lowers the result
to this tree, with the logsource already resolved to the canonical table's ``Channel`` and
``EventID`` and the field names already mapped. A renderer (pandas masks today; Spark columns
and Elasticsearch query DSL next) only has to give each node below one meaning.

Semantics every renderer must keep (the Sigma specification's):

- a field absent from an event is null: every match on it is false, ``IsNull`` is true;
- ``Text`` compares case-insensitively (both sides lower-cased) unless ``cased``; its
  ``pattern`` is literal text and ``ANY``/``ONE`` wildcards (``*``/``?``), matched against
  the whole value;
- ``Regex`` is a search (not anchored) with Python ``re`` flags ``i``, ``m``, ``s``;
- a ``field`` of None is a keyword: true when any field of the event matches.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum
from typing import TypeAlias


class Wild(Enum):
    """Wildcards inside a ``Text`` pattern."""

    ANY = "*"  # any run of characters, possibly empty
    ONE = "?"  # exactly one character


Part: TypeAlias = str | Wild


@dataclass(frozen=True, slots=True)
class Text:
    """``field`` matches ``pattern`` as a whole value (see the module notes)."""

    field: str | None
    pattern: tuple[Part, ...]
    cased: bool = False

    def literal(self) -> str | None:
        """The pattern as plain text when it has no wildcard."""
        if all(isinstance(p, str) for p in self.pattern):
            return "".join(p for p in self.pattern if isinstance(p, str))
        return None


@dataclass(frozen=True, slots=True)
class Regex:
    field: str | None
    pattern: str
    flags: frozenset[str] = frozenset()  # subset of {"i", "m", "s"}


@dataclass(frozen=True, slots=True)
class Number:
    """``field`` equals the number (decimal or 0x-hex text of the same value)."""

    field: str
    number: int | float


@dataclass(frozen=True, slots=True)
class Compare:
    """``field`` as a number ``op`` ``number``; text that is no number never matches."""

    field: str
    op: str  # "lt" | "lte" | "gt" | "gte"
    number: int | float


@dataclass(frozen=True, slots=True)
class Cidr:
    field: str
    network: str  # "10.0.0.0/8", "fe80::/10"


@dataclass(frozen=True, slots=True)
class Exists:
    field: str


@dataclass(frozen=True, slots=True)
class IsNull:
    field: str


@dataclass(frozen=True, slots=True)
class FieldRef:
    """``field`` equals (or starts/ends with, or contains) the value of ``other`` in the
    same event, case-insensitively unless ``cased``."""

    field: str
    other: str
    startswith: bool = False  # the value starts with other's (a wildcard after it)
    endswith: bool = False
    cased: bool = False


@dataclass(frozen=True, slots=True)
class TimePart:
    """A part of a timestamp field (minute, hour, day, week, month, year) equals ``number``."""

    field: str
    part: str
    number: int


@dataclass(frozen=True, slots=True)
class Const:
    value: bool


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    child: Node


Leaf: TypeAlias = Text | Regex | Number | Compare | Cidr | Exists | IsNull | FieldRef | TimePart
Node: TypeAlias = Leaf | Const | And | Or | Not


def glob_regex(pattern: tuple[Part, ...]) -> str:
    """A ``Text`` pattern as regex text (for a whole-value match, with DOTALL); Python's
    escapes are also valid in Java's regexes, so the Spark renderer uses it too."""
    import re

    out = []
    for part in pattern:
        if part is Wild.ANY:
            out.append(".*")
        elif part is Wild.ONE:
            out.append(".")
        else:
            out.append(re.escape(str(part)))
    return "".join(out)


def _joined(kind: type[And] | type[Or], children: list[Node]) -> Node:
    """``kind`` of ``children``, flattened and with constants folded."""
    neutral = Const(kind is And)  # true in an And, false in an Or: dropped
    absorbing = Const(kind is not And)  # false in an And, true in an Or: decides
    flat: list[Node] = []
    for child in children:
        if isinstance(child, kind):
            flat.extend(child.children)
        elif child == absorbing:
            return absorbing
        elif child != neutral:
            flat.append(child)
    if not flat:
        return neutral
    return flat[0] if len(flat) == 1 else kind(tuple(flat))


def all_of(children: list[Node]) -> Node:
    return _joined(And, children)


def any_of(children: list[Node]) -> Node:
    return _joined(Or, children)


def fields_of(node: Node) -> set[str]:
    """Every field a condition reads (keywords read all fields: not listed)."""
    if isinstance(node, And | Or):
        out: set[str] = set()
        for child in node.children:
            out |= fields_of(child)
        return out
    if isinstance(node, Not):
        return fields_of(node.child)
    if isinstance(node, Const):
        return set()
    names = {node.field} if node.field is not None else set()
    if isinstance(node, FieldRef):
        names.add(node.other)
    return names


def rename_fields(node: Node, names: dict[str, str]) -> Node:
    """``node`` with its fields renamed (all at once: a -> b and b -> c do not chain)."""
    if not names:
        return node
    if isinstance(node, And):
        return And(tuple(rename_fields(c, names) for c in node.children))
    if isinstance(node, Or):
        return Or(tuple(rename_fields(c, names) for c in node.children))
    if isinstance(node, Not):
        return Not(rename_fields(node.child, names))
    if isinstance(node, Const) or node.field is None:
        return node
    if isinstance(node, FieldRef):
        return replace(
            node,
            field=names.get(node.field, node.field),
            other=names.get(node.other, node.other),
        )
    return replace(node, field=names.get(node.field, node.field))
