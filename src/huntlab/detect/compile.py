"""Lower a rule parsed by pySigma (modifiers already applied) to huntlab's IR.

pySigma gives, per condition, a tree of AND/OR/NOT over ``field = value`` and keyword items
whose values carry the modifiers' effect (wildcards added by ``contains``, expansions from
``windash`` and ``base64offset``, regex flags, ...). Each becomes one IR node; anything this
module does not know raises ``Unsupported`` with the reason, so no rule is dropped silently.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.modifiers import SigmaWideModifier, modifier_mapping
from sigma.rule import SigmaRule
from sigma.types import (
    CompareOperators,
    Placeholder,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaExpansion,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SigmaTimestampPart,
    SigmaType,
    SpecialChars,
)

from huntlab.detect import ir
from huntlab.detect.logsource import Source, Unsupported, field_aliases, sources

_FLAGS = {
    SigmaRegularExpressionFlag.IGNORECASE: "i",
    SigmaRegularExpressionFlag.MULTILINE: "m",
    SigmaRegularExpressionFlag.DOTALL: "s",
}
_COMPARE = {
    CompareOperators.LT: "lt",
    CompareOperators.LTE: "lte",
    CompareOperators.GT: "gt",
    CompareOperators.GTE: "gte",
}

Placeholders = Mapping[str, Sequence[str]]

# The specification names `wide` an alias of `utf16le`; pySigma 2.0.1 knows only `wide`.
modifier_mapping.setdefault("utf16le", SigmaWideModifier)


@dataclass(frozen=True)
class RuleInfo:
    """What a hit shows of its rule (the DRL asks for the author wherever hits are shown)."""

    id: str
    title: str
    level: str
    status: str
    author: str
    tags: tuple[str, ...]
    product: str | None
    category: str | None
    service: str | None
    path: str

    @property
    def attack(self) -> tuple[str, ...]:
        """The ATT&CK tags (``attack.t1047``, ``attack.execution``)."""
        return tuple(t for t in self.tags if t.startswith("attack."))


@dataclass(frozen=True)
class Branch:
    """The rule's condition on the rows of one source, fields named as that source names them."""

    source: Source
    condition: ir.Node


@dataclass(frozen=True)
class CompiledRule:
    info: RuleInfo
    branches: tuple[Branch, ...] = field(default=())

    def condition(self) -> ir.Node:
        """The whole rule as one condition on the table (sources included)."""
        return ir.any_of([ir.all_of([b.source.condition(), b.condition]) for b in self.branches])


def rule_info(rule: SigmaRule, path: str) -> RuleInfo:
    ls = rule.logsource
    return RuleInfo(
        id=str(rule.id) if rule.id else "",
        title=rule.title,
        level=rule.level.name.lower() if rule.level else "",
        status=rule.status.name.lower() if rule.status else "",
        author=rule.author or "",
        tags=tuple(str(t) for t in rule.tags),
        product=ls.product,
        category=ls.category,
        service=ls.service,
        path=path,
    )


def compile_rule(
    rule: SigmaRule, path: str = "", placeholders: Placeholders | None = None
) -> CompiledRule:
    """``rule`` in the IR, one branch per source of its logsource; raises Unsupported."""
    info = rule_info(rule, path)
    if rule.errors:
        raise Unsupported(f"invalid rule: {rule.errors[0]}")
    lowering = _Lowering(placeholders or {}, field_aliases())
    conditions = [lowering.node(c.parsed) for c in rule.detection.parsed_condition]
    condition = ir.any_of(conditions)
    branches = tuple(
        Branch(s, ir.rename_fields(condition, dict(s.fields)))
        for s in sources(info.product, info.category, info.service)
    )
    return CompiledRule(info, branches)


class _Lowering:
    def __init__(self, placeholders: Placeholders, aliases: dict[str, str]) -> None:
        self.placeholders = placeholders
        self.aliases = aliases

    def node(self, item: object) -> ir.Node:
        if isinstance(item, ConditionAND):
            return ir.all_of([self.node(a) for a in item.args])
        if isinstance(item, ConditionOR):
            return ir.any_of([self.node(a) for a in item.args])
        if isinstance(item, ConditionNOT):
            return ir.Not(self.node(item.args[0]))
        if isinstance(item, ConditionFieldEqualsValueExpression):
            name = self.aliases.get(item.field, item.field)
            return self.value(name, item.value)
        if isinstance(item, ConditionValueExpression):
            return self.keyword(item.value)
        if item is None:  # a detection that pySigma emptied: it matches nothing
            return ir.Const(False)
        raise Unsupported(f"condition element {type(item).__name__} is not supported")

    def value(self, name: str, value: SigmaType) -> ir.Node:
        if isinstance(value, SigmaExpansion):
            return ir.any_of([self.value(name, v) for v in value.values])
        if isinstance(value, SigmaString):
            return ir.any_of(
                [
                    ir.Text(name, _pattern(s), cased=isinstance(value, SigmaCasedString))
                    for s in self._expanded(value)
                ]
            )
        if isinstance(value, SigmaTimestampPart):
            return ir.TimePart(name, value.timestamp_part.name.lower(), int(value.number))
        if isinstance(value, SigmaBool):
            return ir.Text(name, ("true" if value.boolean else "false",))
        if isinstance(value, SigmaNumber):
            return ir.Number(name, value.number)
        if isinstance(value, SigmaNull):
            return ir.IsNull(name)
        if isinstance(value, SigmaRegularExpression):
            return ir.Regex(name, value.regexp.to_plain(), _flags(value))
        if isinstance(value, SigmaCIDRExpression):
            return ir.Cidr(name, str(value.network))
        if isinstance(value, SigmaCompareExpression):
            if value.op is CompareOperators.NEQ:
                return ir.Not(ir.Number(name, value.number.number))
            return ir.Compare(name, _COMPARE[value.op], value.number.number)
        if isinstance(value, SigmaExists):
            exists = ir.Exists(name)
            return exists if value.exists else ir.Not(exists)
        if isinstance(value, SigmaFieldReference):
            other = self.aliases.get(value.field, value.field)
            return ir.FieldRef(name, other, value.starts_with, value.ends_with)
        raise Unsupported(f"value type {type(value).__name__} (field {name}) is not supported")

    def keyword(self, value: SigmaType) -> ir.Node:
        """A field-less value: found anywhere in any field of the event."""
        if isinstance(value, SigmaExpansion):
            return ir.any_of([self.keyword(v) for v in value.values])
        if isinstance(value, SigmaString):
            out: list[ir.Node] = []
            for s in self._expanded(value):
                parts = list(_pattern(s))
                if not parts or parts[0] is not ir.Wild.ANY:
                    parts.insert(0, ir.Wild.ANY)
                if parts[-1] is not ir.Wild.ANY:
                    parts.append(ir.Wild.ANY)
                out.append(ir.Text(None, tuple(parts), cased=isinstance(value, SigmaCasedString)))
            return ir.any_of(out)
        if isinstance(value, SigmaNumber):
            return ir.Text(None, (ir.Wild.ANY, str(value.number), ir.Wild.ANY))
        if isinstance(value, SigmaRegularExpression):
            return ir.Regex(None, value.regexp.to_plain(), _flags(value))
        raise Unsupported(f"keyword of type {type(value).__name__} is not supported")

    def _expanded(self, value: SigmaString) -> list[SigmaString]:
        if not value.contains_placeholder():
            return [value]
        missing = sorted(
            {p.name for p in value.s if isinstance(p, Placeholder)} - set(self.placeholders)
        )
        if missing:
            names = ", ".join(f"%{m}%" for m in missing)
            raise Unsupported(
                f"placeholder {names} has no values: give them with --placeholders FILE "
                "(YAML: name -> list of values)"
            )

        def callback(p: Placeholder) -> Iterator[str]:
            yield from self.placeholders[p.name]

        return list(value.replace_placeholders(callback))


def _pattern(value: SigmaString) -> tuple[ir.Part, ...]:
    parts: list[ir.Part] = []
    for part in value.s:
        if isinstance(part, str):
            if parts and isinstance(parts[-1], str):
                parts[-1] += part
            elif part:
                parts.append(part)
        elif part is SpecialChars.WILDCARD_MULTI:
            if not (parts and parts[-1] is ir.Wild.ANY):  # ** is *
                parts.append(ir.Wild.ANY)
        elif part is SpecialChars.WILDCARD_SINGLE:
            parts.append(ir.Wild.ONE)
        else:
            raise Unsupported(f"placeholder {part} left in a value")
    return tuple(parts)


def _flags(value: SigmaRegularExpression) -> frozenset[str]:
    return frozenset(_FLAGS[f] for f in value.flags)
