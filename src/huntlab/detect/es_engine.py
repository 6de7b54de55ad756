"""Render the IR as Elasticsearch query DSL on the lab's indexes, with the pandas engine's
meaning (see ``ir``), and run the rules there.

The lab's mapping (``huntlab.es.generate``) keeps every string as a ``keyword``: a whole value,
so Sigma's whole-value matches are ``term``/``wildcard``/``regexp`` queries with
``case_insensitive`` (never ``.keyword`` tricks, never analysed text). Numbers written as
text and ``|cidr`` networks are regular expressions over the forms the pandas engine reads.
What needs code per document is Painless, where the cluster has it (runtime fields and script
queries, each from one fixed script): ``|lt``/``|gt`` on text, networks a regexp cannot spell,
text matches on number or date fields, field references and timestamp parts. A value longer
than a keyword's ``ignore_above`` is not indexed at all; ``huntlab.detect.run`` evaluates the
events that have one (``_ignored``) with the pandas engine.

Sigma's regular expressions are Python's, searched (not anchored); Elasticsearch's
``regexp`` is Lucene's, anchored on the whole value, with a smaller syntax. A regex is
translated from Python's own parse of it (``re._parser``) when every construct has a Lucene
equivalent; the others (look-arounds, back-references, ``\\b``) raise ``Unsupported``, and the
rule is listed as not evaluated by this engine, never silently dropped.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from huntlab.detect import ir
from huntlab.detect.logsource import Unsupported

# Characters Lucene's regexp syntax reserves (with every optional operator on).
_LUCENE_RESERVED = set('.?+*|{}[]()"\\#@&<>~^$')
_WHITESPACE = " \t\n\r\f\v"

# Runtime field scripts: one source each, the field named in params.
_DOC_TEXT = (
    "if (doc.containsKey(params.f) && doc[params.f].size() > 0) "
    "{ emit(String.valueOf(doc[params.f].value)); }"
)
_NUMBER = (
    "String t = null; if (doc.containsKey(params.f) && doc[params.f].size() > 0) "
    "{ t = String.valueOf(doc[params.f].value); } if (t != null) { t = t.trim(); try { "
    "if (t.length() > 2 && (t.startsWith('0x') || t.startsWith('0X'))) "
    "{ emit((double) Long.parseLong(t.substring(2), 16)); } else { emit(Double.parseDouble(t)); } "
    "} catch (Exception e) {} }"
)
_IP = (
    "String t = null; if (doc.containsKey(params.f) && doc[params.f].size() > 0) "
    "{ t = String.valueOf(doc[params.f].value); } if (t != null) { t = t.trim(); "
    "if (t.startsWith('[') && t.endsWith(']')) { t = t.substring(1, t.length() - 1); } "
    "try { emit(t); } catch (Exception e) {} }"
)
_FIELDREF = (
    "if (!doc.containsKey(params.a) || !doc.containsKey(params.b) || doc[params.a].size() == 0 "
    "|| doc[params.b].size() == 0) { return false; } String x = String.valueOf(doc[params.a].value); "
    "String y = String.valueOf(doc[params.b].value); if (!params.cased) { x = x.toLowerCase(); "
    "y = y.toLowerCase(); } if (params.mode == 'contains') { return x.contains(y); } "
    "if (params.mode == 'startswith') { return x.startsWith(y); } if (params.mode == 'endswith') "
    "{ return x.endsWith(y); } return x.equals(y);"
)
_TIMEPART = (
    "if (!doc.containsKey(params.f) || doc[params.f].size() == 0) { return false; } "
    "def t = doc[params.f].value; int n; if (params.part == 'minute') { n = t.getMinute(); } "
    "else if (params.part == 'hour') { n = t.getHour(); } else if (params.part == 'day') "
    "{ n = t.getDayOfMonth(); } else if (params.part == 'month') { n = t.getMonthValue(); } "
    "else if (params.part == 'year') { n = t.getYear(); } else { "
    "n = t.get(java.time.temporal.IsoFields.WEEK_OF_WEEK_BASED_YEAR); } return n == params.n;"
)


class Fields:
    """The indexes' fields (name -> Elasticsearch type), resolved as the other engines
    resolve them: exact, else case-insensitive."""

    def __init__(
        self, types: dict[str, str], scripts: bool = True,
        by_index: dict[str, set[str]] | None = None, twins: dict[str, str] | None = None,
    ) -> None:  # fmt: skip
        self.types = types
        # Number fields' keyword twins (``DestPort.keyword``: the number's text), which text
        # matching reads without a script.
        self.twins = twins or {}
        # Each index's keyword fields: a keyword search reads those of the indexes its events
        # can be in (the lab keeps one index per channel family).
        self.by_index = by_index or {}
        self._lower = {name.lower(): name for name in types}
        # Painless (the lang-painless module): every Elasticsearch distribution has it but the
        # integ-test-zip the native lab runs.
        self.scripts = scripts

    def name(self, field: str) -> str | None:
        if field in self.types:
            return field
        return self._lower.get(field.lower())

    def text_fields(self, indexes: set[str] | None = None) -> list[str]:
        """The fields a keyword (field-less) search reads: the text ones (of ``indexes``
        when given and known)."""
        known = [self.by_index[i] for i in sorted(indexes or ()) if i in self.by_index]
        if indexes and len(known) == len(indexes):
            return sorted(set().union(*known))
        return sorted(n for n, kind in self.types.items() if kind == "keyword")


def index_fields(es: Any, index: str) -> Fields:
    """The fields of the lab's indexes ``index`` (a name, alias or pattern)."""
    from elasticsearch import ApiError, AuthorizationException, NotFoundError

    from huntlab.errors import HuntlabError

    try:
        answer = dict(es.indices.get_mapping(index=index))
    except NotFoundError as exc:
        raise HuntlabError(
            f"no index {index!r} in Elasticsearch: give the lab's alias `huntlab`, a pattern "
            "such as `huntlab-*`, or an index `huntlab load` made (the events' dataset goes "
            "in --dataset)"
        ) from exc
    types: dict[str, str] = {}
    by_index: dict[str, set[str]] = {}
    twins: dict[str, str] = {}
    for name, body in answer.items():
        own: dict[str, str] = {}
        _collect(body.get("mappings", {}).get("properties", {}), "", own, twins)
        by_index[name] = {f for f, kind in own.items() if kind == "keyword"}
        for field, kind in own.items():
            types.setdefault(field, kind)
    try:
        nodes = dict(es.nodes.info(metric="plugins"))["nodes"].values()
        scripts = all(any(m.get("name") == "lang-painless" for m in n.get("modules", []))
                      for n in nodes)  # fmt: skip
    except (AuthorizationException, ApiError):
        scripts = False  # cannot tell (no `monitor`): rules that need scripts are listed
    return Fields(types, scripts, by_index, twins)


def _collect(
    properties: dict[str, Any], prefix: str, out: dict[str, str],
    twins: dict[str, str] | None = None,
) -> None:  # fmt: skip
    for name, spec in properties.items():
        full = prefix + name
        if "properties" in spec:
            _collect(spec["properties"], full + ".", out, twins)
        elif "type" in spec:
            out.setdefault(full, str(spec["type"]))
            if twins is not None and spec["type"] != "keyword":
                for sub, sub_spec in (spec.get("fields") or {}).items():
                    if sub_spec.get("type") == "keyword":
                        twins.setdefault(full, f"{full}.{sub}")


class Renderer:
    """IR nodes as query DSL on one set of indexes; the runtime fields the queries need are
    gathered in ``runtime`` (send them as the request's ``runtime_mappings``).

    ``relax``: a leaf this Elasticsearch cannot evaluate (it needs Painless, or Lucene lacks
    the regex construct; with ``relax_regex`` every regex leaf and keyword search) is rendered as the condition
    that keeps every event it could match (true, or false under an odd number of ``not``), and
    ``relaxed`` is set: the query then selects candidates, a superset of the rule's events,
    which the caller evaluates itself (``run`` does so with the pandas engine)."""

    def __init__(
        self,
        fields: Fields,
        indexes: set[str] | None = None,
        *,
        relax: bool = False,
        relax_regex: bool = False,
    ) -> None:
        self.fields = fields
        self.indexes = indexes  # where the events rendered for can be (None: anywhere)
        self.runtime: dict[str, Any] = {}
        self.relax = relax
        self.relax_regex = relax_regex
        self.relaxed = False
        self._negated = False

    def _relaxable(self, render: Any, node: ir.Node) -> dict[str, Any]:
        """``render()``, or with ``relax`` the query that keeps every event ``node`` could
        match when Elasticsearch cannot evaluate it."""
        if self.relax_regex and isinstance(node, ir.Regex):
            return self._relaxed()
        try:
            query: dict[str, Any] = render()
            return query
        except Unsupported:
            if not self.relax:
                raise
            return self._relaxed()

    def _relaxed(self) -> dict[str, Any]:
        self.relaxed = True
        return _NONE if self._negated else {"match_all": {}}

    # -- fields as the queries read them

    def _text_field(self, name: str) -> str:
        """The field to match text on: the keyword itself, or a runtime keyword with the
        text of a number or date field (Painless). A keyword value longer than
        ``ignore_above`` is not indexed: such events are evaluated apart (see ``run``)."""
        kind = self.fields.types[name]
        if kind == "keyword":
            return name
        twin = self.fields.twins.get(name)
        if twin is not None:
            return twin
        self._need_scripts(f"matching text on {kind} field {name}")
        runtime = f"_huntlab_text_{name}"
        self.runtime.setdefault(
            runtime, {"type": "keyword", "script": {"source": _DOC_TEXT, "params": {"f": name}}}
        )
        return runtime

    def _need_scripts(self, what: str) -> None:
        if not self.fields.scripts:
            raise Unsupported(
                f"{what} needs Painless scripts, which this Elasticsearch lacks (no "
                "lang-painless module: the native lab's node); run the rule with the pandas "
                "or Spark engine"
            )

    def _parsed(self, name: str, kind: str, script: str) -> str:
        self._need_scripts(f"reading {name} as {'a number' if kind == 'double' else 'an IP'}")
        runtime = f"_huntlab_{kind}_{name}"
        params = {"f": name}
        self.runtime.setdefault(
            runtime, {"type": kind, "script": {"source": script, "params": params}}
        )
        return runtime

    # -- nodes

    def render(self, node: ir.Node) -> dict[str, Any]:
        if isinstance(node, ir.And):
            return {"bool": {"filter": [self.render(c) for c in node.children]}}
        if isinstance(node, ir.Or):
            keywords = [c for c in node.children if _plain_keyword(c)]
            others = [c for c in node.children if not _plain_keyword(c)]
            should = [self.render(c) for c in others]
            if keywords:
                should.append(self._keywords(keywords))  # type: ignore[arg-type]
            return {"bool": {"should": should, "minimum_should_match": 1}}
        if isinstance(node, ir.Not):
            self._negated = not self._negated
            try:
                return {"bool": {"must_not": [self.render(node.child)]}}
            finally:
                self._negated = not self._negated
        if isinstance(node, ir.Const):
            return {"match_all": {}} if node.value else {"match_none": {}}
        if isinstance(node, ir.FieldRef):
            return self._relaxable(lambda: self._fieldref(node), node)
        if node.field is None:  # keyword: any text field
            if _plain_keyword(node):
                return self._keywords([node])  # type: ignore[list-item]
            names = self.fields.text_fields(self.indexes)
            parts = [self._relaxable(lambda n=n: self._leaf(n, node), node) for n in names]
            return {"bool": {"should": parts, "minimum_should_match": 1}} if parts else _NONE
        field = node.field
        return self._relaxable(lambda: self._leaf(field, node), node)

    def _keywords(self, nodes: list[ir.Text]) -> dict[str, Any]:
        """Field-less values (Sigma's keywords): one regexp per text field for all of them
        (a query per value and field would exceed the request's memory on rules with long
        keyword lists). With ``relax_regex``: relaxed, as any regex."""
        if self.relax_regex:
            return self._relaxed()
        by_case: dict[bool, list[str]] = {}
        for node in nodes:
            by_case.setdefault(node.cased, []).append(_glob_lucene(node.pattern))
        parts = []
        for cased, patterns in by_case.items():
            for value in _chunks(patterns):
                for name in self.fields.text_fields(self.indexes):
                    query = {"value": value, "flags": "NONE", "case_insensitive": not cased,
                             "max_determinized_states": 100_000}  # fmt: skip
                    parts.append({"regexp": {name: query}})
        return {"bool": {"should": parts, "minimum_should_match": 1}} if parts else _NONE

    def _leaf(self, field: str, node: ir.Leaf) -> dict[str, Any]:
        name = self.fields.name(field)
        if name is None:  # no such field in any index: absent everywhere
            return {"match_all": {}} if isinstance(node, ir.IsNull) else _NONE
        if isinstance(node, ir.Exists):
            return {"exists": {"field": name}}
        if isinstance(node, ir.IsNull):
            return {"bool": {"must_not": [{"exists": {"field": name}}]}}
        if isinstance(node, ir.Text):
            return self._text(name, node)
        if isinstance(node, ir.Regex):
            return self._regex(name, node)
        if isinstance(node, ir.Number):
            return self._number(name, node)
        if isinstance(node, ir.Compare):
            if self.fields.types[name] in _NUMERIC:
                return {"range": {name: {node.op: node.number}}}
            number = self._parsed(name, "double", _NUMBER)
            return {"range": {number: {node.op: node.number}}}
        if isinstance(node, ir.Cidr):
            network = ipaddress.ip_network(node.network, strict=False)
            if self.fields.types[name] == "keyword":
                pattern = (
                    ipv4_network_regex(network) if isinstance(network, ipaddress.IPv4Network)
                    else ipv6_network_regex(network)
                )  # fmt: skip
                if pattern is not None:
                    query = {"value": pattern, "flags": "INTERVAL", "case_insensitive": True}
                    return {"regexp": {name: query}}
            ip = self._parsed(name, "ip", _IP)
            return {"term": {ip: str(network)}}
        if isinstance(node, ir.TimePart):
            self._need_scripts(f"the {node.part} of {name}")
            return _script(_TIMEPART, {"f": name, "part": node.part, "n": node.number})
        raise TypeError(f"not a leaf: {node!r}")

    def _text(self, name: str, node: ir.Text) -> dict[str, Any]:
        target = self._text_field(name)
        insensitive = not node.cased
        literal = node.literal()
        if literal is not None:
            return {"term": {target: {"value": literal, "case_insensitive": insensitive}}}
        if node.pattern == (ir.Wild.ANY,):
            return {"exists": {"field": target}}
        if (
            len(node.pattern) == 2
            and node.pattern[1] is ir.Wild.ANY
            and isinstance(node.pattern[0], str)
        ):
            prefix = node.pattern[0]
            return {"prefix": {target: {"value": prefix, "case_insensitive": insensitive}}}
        return {"wildcard": {target: {"value": _wildcard(node.pattern),
                                      "case_insensitive": insensitive}}}  # fmt: skip

    def _regex(self, name: str, node: ir.Regex) -> dict[str, Any]:
        target = self._text_field(name)
        value, insensitive = translate_regex(node.pattern, node.flags)
        return {
            "regexp": {
                target: {
                    "value": value,
                    "flags": "NONE",
                    "case_insensitive": insensitive,
                    "max_determinized_states": 100_000,
                }
            }
        }

    def _number(self, name: str, node: ir.Number) -> dict[str, Any]:
        if self.fields.types[name] in _NUMERIC:
            return {"term": {name: node.number}}
        pattern = number_regex(node.number)
        if pattern is not None and self.fields.types[name] == "keyword":
            target = self._text_field(name)
            return {"regexp": {target: {"value": pattern, "flags": "NONE",
                                        "case_insensitive": True}}}  # fmt: skip
        number = self._parsed(name, "double", _NUMBER)
        return {"term": {number: float(node.number)}}

    def _fieldref(self, node: ir.FieldRef) -> dict[str, Any]:
        left, right = self.fields.name(node.field), self.fields.name(node.other)
        if left is None or right is None:
            return _NONE
        mode = (
            "contains" if node.startswith and node.endswith
            else "startswith" if node.startswith
            else "endswith" if node.endswith
            else "equals"
        )  # fmt: skip
        # Doc values: a free-text field's value beyond the keyword's ignore_above has none.
        self._need_scripts(f"comparing {left} with {right}")
        return _script(_FIELDREF, {"a": left, "b": right, "cased": node.cased, "mode": mode})


_NONE: dict[str, Any] = {"match_none": {}}
_NUMERIC = frozenset({"long", "integer", "short", "byte", "double", "float", "half_float"})


def _script(source: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"script": {"script": {"source": source, "params": params}}}


_SPACES = "[ \t\n\r\f\v]*"


def number_regex(number: float) -> str | None:
    """A Lucene regexp for the text forms the pandas engine reads as ``number`` (decimal with
    leading zeros or a zero fraction, or 0x-hex; surrounding spaces), for case-insensitive
    use; None for a number without such a form (a fraction)."""
    if float(number).is_integer():
        value = int(number)
        sign = "-" if value < 0 else "\\+?"
        forms = [f"{sign}0*{abs(value)}(\\.0*)?"]
        if value >= 0:
            forms.append(f"0x0*{value:x}")
        if value == 0:
            forms.append("-0+(\\.0*)?")
        return f"{_SPACES}({'|'.join(forms)}){_SPACES}"
    return None


def ipv4_network_regex(network: ipaddress.IPv4Network) -> str:
    """A Lucene regexp (with the INTERVAL flag) matching the dotted quads of ``network``,
    spaces around them allowed as the pandas engine strips them."""
    low, high = int(network.network_address), int(network.broadcast_address)
    octets = []
    for shift in (24, 16, 8, 0):
        a, b = (low >> shift) & 255, (high >> shift) & 255
        octets.append(str(a) if a == b else f"<{a}-{b}>")
    dot = "\\."
    return _SPACES + dot.join(octets) + _SPACES


# Keyword values per regexp: Elasticsearch refuses a regexp over 1000 characters
# (index.max_regex_length) and one whose automaton takes too much work to build.
KEYWORDS_PER_REGEXP = 6
KEYWORDS_REGEXP_LENGTH = 900


def _chunks(patterns: list[str]) -> list[str]:
    out: list[str] = []
    current: list[str] = []
    for pattern in patterns:
        candidate = [*current, pattern]
        text = "|".join(f"({p})" for p in candidate)
        if current and (len(candidate) > KEYWORDS_PER_REGEXP or len(text) > KEYWORDS_REGEXP_LENGTH):
            out.append("|".join(f"({p})" for p in current))
            current = [pattern]
        else:
            current = candidate
    if current:
        out.append("|".join(f"({p})" for p in current))
    return out


def _plain_keyword(node: ir.Node) -> bool:
    return isinstance(node, ir.Text) and node.field is None


def _glob_lucene(pattern: tuple[ir.Part, ...]) -> str:
    """A Text pattern as a Lucene regexp over the whole value."""
    out = []
    for part in pattern:
        if part is ir.Wild.ANY:
            out.append(".*")
        elif part is ir.Wild.ONE:
            out.append(".")
        else:
            out.append("".join(_lit(ch) for ch in str(part)))
    return "".join(out)


def ipv6_network_regex(network: ipaddress.IPv6Network) -> str | None:
    """A Lucene regexp (case-insensitive) matching the text forms of the IPv6 addresses of
    ``network`` whose leading groups the prefix fixes, when those groups cannot be
    abbreviated (none is zero, the first of a partial group is not); None otherwise."""
    prefix = network.prefixlen
    groups = network.network_address.exploded.split(":")
    # Case-insensitive matching does not fold ranges: both cases are spelled out.
    text = "[0-9a-fA-F:.]*(%.*)?"
    if network == ipaddress.ip_network("::1/128"):
        body = "::1|0{1,4}::1|0{1,4}(:0{1,4}){6}:0{0,3}1"
    else:
        full, partial = divmod(prefix, 16)
        covered = groups[: full + (1 if partial else 0)]
        if not covered or any(int(g, 16) == 0 for g in covered):
            return None
        parts = []
        for group in groups[:full]:
            digits = group.lstrip("0")
            parts.append(f"0{{0,{4 - len(digits)}}}{digits}" if len(digits) < 4 else digits)
        if partial:
            low = int(groups[full], 16)
            if low < 0x1000:
                return None
            high = low | (0xFFFF >> partial)
            nibbles = []
            for shift in (12, 8, 4, 0):
                a, b = (low >> shift) & 15, (high >> shift) & 15
                nibbles.append(f"{a:x}" if a == b else _hex_range(a, b))
            parts.append("".join(nibbles))
        body = ":".join(parts) + ("" if len(covered) == 8 else ":" + text)
    return f"{_SPACES}\\[?({body})\\]?{_SPACES}"


def _hex_range(low: int, high: int) -> str:
    """A class of the hex digits from ``low`` to ``high`` (ASCII ranges: digits, letters)."""
    digits = [d for d in range(low, high + 1) if d < 10]
    letters = [d for d in range(low, high + 1) if d >= 10]
    out = ""
    if digits:
        out += f"{digits[0]}-{digits[-1]}" if len(digits) > 1 else str(digits[0])
    if letters:
        a, b = f"{letters[0]:x}", f"{letters[-1]:x}"
        out += f"{a}-{b}{a.upper()}-{b.upper()}" if a != b else a + a.upper()
    return f"[{out}]"


def _wildcard(pattern: tuple[ir.Part, ...]) -> str:
    out = []
    for part in pattern:
        if part is ir.Wild.ANY:
            out.append("*")
        elif part is ir.Wild.ONE:
            out.append("?")
        else:
            out.append(re.sub(r"([*?\\])", r"\\\1", str(part)))
    return "".join(out)


# --- Python regular expressions as Lucene's -------------------------------------------------


def _lit(char: str) -> str:
    if char in _LUCENE_RESERVED:
        return "\\" + char
    return char


def lucene_regex(pattern: str, flags: frozenset[str] = frozenset()) -> str:
    """``pattern`` (Python syntax, searched anywhere in the value) as a Lucene regexp that
    matches the whole value exactly when Python's ``re.search`` finds it (case-insensitively
    when :func:`translate_regex` says so); Unsupported when the pattern uses what Lucene has
    no equivalent for."""
    return translate_regex(pattern, flags)[0]


def translate_regex(pattern: str, flags: frozenset[str] = frozenset()) -> tuple[str, bool]:
    """:func:`lucene_regex`, and whether to match case-insensitively (the rule's ``i`` flag
    or the pattern's own ``(?i)``). Lucene folds the case of single characters only, so under
    ``i`` the letter ranges of classes carry both cases themselves."""
    from re import _parser  # type: ignore[attr-defined]

    py_flags = 0
    for letter, flag in (("i", re.I), ("m", re.M), ("s", re.S)):
        if letter in flags:
            py_flags |= flag
    try:
        tree = _parser.parse(pattern, py_flags)
    except re.error as exc:
        raise Unsupported(f"regex {pattern!r} does not compile: {exc}") from exc
    dotall = bool(tree.state.flags & re.S)
    multiline = bool(tree.state.flags & re.M)
    insensitive = bool(tree.state.flags & re.I)
    translator = _Translator(dotall, multiline, insensitive)
    return translator.top(list(tree)), insensitive


class _Translator:
    def __init__(self, dotall: bool, multiline: bool, insensitive: bool = False) -> None:
        from re import _constants as c  # type: ignore[attr-defined]

        self.c = c
        self.dotall = dotall
        self.multiline = multiline
        self.insensitive = insensitive

    def top(self, items: list[Any]) -> str:
        c = self.c
        # One top-level alternation: each alternative anchored on its own.
        if len(items) == 1 and items[0][0] is c.BRANCH:
            return "|".join(f"({self.top(list(alt) or [])})" for alt in items[0][1][1])
        start = end = False
        if items and items[0][0] is c.AT and items[0][1] in (c.AT_BEGINNING, c.AT_BEGINNING_STRING):
            if items[0][1] is c.AT_BEGINNING and self.multiline:
                raise Unsupported("regex with ^ under the m flag (Lucene has no line anchors)")
            start, items = True, items[1:]
        if items and items[-1][0] is c.AT and items[-1][1] in (c.AT_END, c.AT_END_STRING):
            if items[-1][1] is c.AT_END and self.multiline:
                raise Unsupported("regex with $ under the m flag (Lucene has no line anchors)")
            # Python's $ also matches before a final newline; \Z only at the very end.
            tail = "" if items[-1][1] is c.AT_END_STRING else "(\n)?"
            end, items = True, items[:-1]
        body = self.seq(items)
        head = "" if start else ".*"
        if end:
            return f"{head}({body}){tail}"
        return f"{head}({body}).*"

    def seq(self, items: list[Any]) -> str:
        return "".join(self.item(op, av) for op, av in items)

    def item(self, op: Any, av: Any) -> str:
        c = self.c
        if op is c.LITERAL:
            return _lit(chr(av))
        if op is c.NOT_LITERAL:
            return f"[^{''.join(_class_char(ch) for ch in self._cases(chr(av)))}]"
        if op is c.ANY:
            return "." if self.dotall else "[^\n]"
        if op is c.IN:
            return self.klass(av)
        if op is c.BRANCH:
            alternatives = [self.seq(list(alt)) for alt in av[1]]
            # Lucene has no empty alternative: (x|) is (x)?
            if "" in alternatives:
                return "(" + "|".join(a for a in alternatives if a) + ")?"
            return "(" + "|".join(alternatives) + ")"
        if op is c.SUBPATTERN:
            _group, add_flags, del_flags, sub = av
            if add_flags or del_flags:
                raise Unsupported("regex with inline flags inside a group")
            return "(" + self.seq(list(sub)) + ")"
        if op in (c.MAX_REPEAT, c.MIN_REPEAT, getattr(c, "POSSESSIVE_REPEAT", None)):
            low, high, sub = av
            inner = "(" + self.seq(list(sub)) + ")"
            if high is c.MAXREPEAT:
                return f"{inner}{{{low},}}"
            return f"{inner}{{{low},{high}}}"
        if op is c.CATEGORY:
            return _category(av, c)
        if op is c.AT:
            raise Unsupported("regex with an anchor or \\b inside it (Lucene has none)")
        raise Unsupported(f"regex construct {op} (look-around, back-reference ...) has no "
                          "Lucene equivalent")  # fmt: skip

    def _cases(self, char: str) -> list[str]:
        """``char``, and its other ASCII case under the ``i`` flag."""
        if self.insensitive and char.isascii() and char.isalpha():
            return sorted({char, char.lower(), char.upper()})
        return [char]

    def _range(self, low: int, high: int) -> list[str]:
        """A class range, and under ``i`` the ranges of the other case of its ASCII letters
        (Lucene does not fold ranges)."""
        out = [f"{_class_char(chr(low))}-{_class_char(chr(high))}"]
        if self.insensitive:
            for first, last, shift in ((ord("a"), ord("z"), -32), (ord("A"), ord("Z"), 32)):
                a, b = max(low, first), min(high, last)
                if a <= b:
                    out.append(f"{chr(a + shift)}-{chr(b + shift)}")
        return out

    def klass(self, items: list[Any]) -> str:
        c = self.c
        negate = False
        parts: list[str] = []
        negated: list[str] = []  # negated categories: classes of their own, joined by |
        for op, av in items:
            if op is c.NEGATE:
                negate = True
            elif op is c.LITERAL:
                parts.extend(_class_char(ch) for ch in self._cases(chr(av)))
            elif op is c.RANGE:
                parts.extend(self._range(av[0], av[1]))
            elif op is c.CATEGORY:
                inner = _CATEGORY_CLASS_NAMES.get(str(av))
                if inner is not None:
                    parts.append(inner)
                elif str(av) in _NEGATED_CATEGORIES:
                    negated.append(f"[^{_NEGATED_CATEGORIES[str(av)]}]")
                else:
                    raise Unsupported(f"regex category {av}")
            else:
                raise Unsupported(f"regex class item {op}")
        if negated and negate:
            raise Unsupported("regex negated class with a negated category inside it")
        alternatives = [f"[{'^' if negate else ''}{''.join(parts)}]"] if parts else []
        alternatives += negated
        if not alternatives:
            raise Unsupported("empty regex class")
        return alternatives[0] if len(alternatives) == 1 else "(" + "|".join(alternatives) + ")"


_CATEGORY_CLASS_NAMES = {
    "CATEGORY_DIGIT": "0-9",
    "CATEGORY_SPACE": " \t\n\r\f\v",
    "CATEGORY_WORD": "a-zA-Z0-9_",
}


_NEGATED_CATEGORIES = {
    "CATEGORY_NOT_DIGIT": "0-9",
    "CATEGORY_NOT_SPACE": " \t\n\r\f\v",
    "CATEGORY_NOT_WORD": "a-zA-Z0-9_",
}


def _category(category: Any, c: Any) -> str:
    name = str(category)
    inner = _CATEGORY_CLASS_NAMES.get(name)
    if inner is not None:
        return f"[{inner}]"
    negated = _NEGATED_CATEGORIES.get(name)
    if negated is not None:
        return f"[^{negated}]"
    raise Unsupported(f"regex category {name}")


def _class_char(char: str) -> str:
    if char in ']\\^-["':
        return "\\" + char
    return char
