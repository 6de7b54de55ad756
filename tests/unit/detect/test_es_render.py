"""The Elasticsearch renderer's translations, checked without a node: a translated regex
(Lucene's syntax, anchored) read back as a Python full match must accept exactly the values
Python's search of the original accepts (the subset emitted is read the same way by both), and
the number and network expressions accept the forms the pandas engine reads. On a real node:
tests/integration/detect/test_es_engine.py."""

from __future__ import annotations

import ipaddress
import re

import pytest

from huntlab.detect import es_engine, ir
from huntlab.detect.logsource import Unsupported

VALUES = ["", "a", "abc", "xabcx", "XaBcX", "ABC1", "xY", "Ab", "ab\nc", "a\nbc", "C:\\Windows\\System32\\cmd.exe",
          "cmd /c set abc", "ABC", "x12y", "12", " 7 ", "a.b", 'say "hi"', "tab\there",
          "end\n", "line1\nline2"]  # fmt: skip
# Not compared: non-ASCII letters and digits, which Python's \w and \d match and the ASCII
# classes emitted for Lucene do not (docs/detections.md).


@pytest.mark.parametrize(
    ("pattern", "flags"),
    [
        ("abc", ""), ("^abc", ""), ("abc$", ""), ("^abc$", ""), ("a.c", ""), ("a.c", "s"),
        (r"a\.b", ""), (r"\d+", ""), (r"[^\d]\d", ""), (r"\s", ""), (r"\S+\s", ""),
        (r"[\w-]+", ""), (r"(ab|)c", ""), ("abc", "i"), (r"cmd\s+/c", "i"), (r"x{2,}", ""),
        (r'"hi"', ""), (r"\\Windows\\", "i"), (r"a|^b", ""), (r"(?:ab){1,2}", ""),
        (r"[\S_]x", ""), (r"end$", ""), (r"end\Z", ""), (r"[a-c]+\n", ""),
        ("(?i)abc", ""), (r"(?i)[a-c]{3}", ""), (r"[a-c]{3}", "i"), (r"[^a-z]", "i"),
        (r"(?i)say \"HI\"", ""), (r"[A-Ca]b", "i"), (r"x[^y]", "i"),
    ],
)  # fmt: skip
def test_a_translated_regex_accepts_what_the_python_search_finds(pattern: str, flags: str) -> None:
    lucene, insensitive = es_engine.translate_regex(pattern, frozenset(flags))
    readable = _as_lucene_reads_it(lucene, insensitive)
    for value in VALUES:
        want = re.search(pattern, value, sum(getattr(re, f.upper()) for f in flags)) is not None
        got = re.fullmatch(readable, value, re.S) is not None
        assert got == want, (pattern, flags, value, lucene)


def _as_lucene_reads_it(lucene: str, insensitive: bool) -> str:
    """The translated regex as a Python pattern that reads it as Lucene does: a backslash
    escapes the next character; "." is any character (Python's DOTALL); under
    case_insensitive, single letters match both cases but ranges do not (Lucene folds
    characters, not ranges)."""
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(lucene):
        ch = lucene[i]
        if ch == "\\":
            out.append(re.escape(lucene[i + 1]))
            i += 2
            continue
        if in_class:
            if i + 2 < len(lucene) and lucene[i + 1] == "-" and lucene[i + 2] != "]":
                out.append(lucene[i : i + 3])
                i += 3
                continue
            if ch == "]":
                in_class = False
            out.append(ch + (ch.swapcase() if insensitive and ch.isascii() and ch.isalpha()
                             else ""))  # fmt: skip
        elif ch == "[":
            in_class = True
            out.append(ch)
            if lucene[i + 1 : i + 2] == "^":
                out.append("^")
                i += 1
        elif insensitive and ch.isascii() and ch.isalpha():
            out.append(f"[{ch}{ch.swapcase()}]")
        else:
            out.append(ch)
        i += 1
    return "".join(out)


@pytest.mark.parametrize("pattern", [r"\bword\b", r"(?<=a)b", r"(a)\1", r"a^b"])
def test_what_lucene_cannot_say_is_refused(pattern: str) -> None:
    with pytest.raises(Unsupported):
        es_engine.lucene_regex(pattern)


def test_number_forms() -> None:
    pattern = es_engine.number_regex(5985)
    assert pattern is not None
    for text in ("5985", "05985", " 5985 ", "5985.0", "+5985", "0x1761", "0X1761", "0x01761"):
        assert re.fullmatch(pattern, text, re.I), text
    for text in ("59850", "-5985", "5985.1", "0x1762", "x1761"):
        assert not re.fullmatch(pattern, text, re.I), text
    zero = es_engine.number_regex(0)
    assert zero is not None
    assert re.fullmatch(zero, "-0", re.I) and not re.fullmatch(zero, "-", re.I)
    assert es_engine.number_regex(1.5) is None


def _interval_to_python(pattern: str) -> str:
    def alternatives(match: re.Match[str]) -> str:
        low, high = int(match.group(1)), int(match.group(2))
        return "(" + "|".join(str(n) for n in range(low, high + 1)) + ")"

    return re.sub(r"<(\d+)-(\d+)>", alternatives, pattern)


@pytest.mark.parametrize("network", ["10.0.0.0/8", "172.16.0.0/12", "192.168.1.0/24",
                                     "127.0.0.1/32", "0.0.0.0/0"])  # fmt: skip
def test_ipv4_networks(network: str) -> None:
    net = ipaddress.ip_network(network)
    pattern = _interval_to_python(es_engine.ipv4_network_regex(net))
    for text in ("10.1.2.3", "172.16.0.1", "172.31.255.255", "172.32.0.1", "192.168.1.77",
                 "192.168.2.1", "127.0.0.1", " 10.0.0.1 ", "8.8.8.8"):  # fmt: skip
        inside = ipaddress.ip_address(text.strip()) in net
        assert bool(re.fullmatch(pattern, text)) == inside, (network, text)


@pytest.mark.parametrize("network", ["fe80::/10", "fc00::/7", "::1/128", "2001:db8::/32"])
def test_ipv6_networks(network: str) -> None:
    net = ipaddress.ip_network(network)
    pattern = es_engine.ipv6_network_regex(net)
    assert pattern is not None
    readable = pattern.replace("\\[", "\\[").replace("\\]", "\\]")
    readable = _as_lucene_reads_it(readable, insensitive=True)
    for text in ("fe80::1", "FE80::abcd:1", "FEBF::1", "FE80::ABCD", "fd12:3456::1", "0::1",
                 "febf::1", "fec0::1", "fd12:3456::1", "fc00::",
                 "::1", "0:0:0:0:0:0:0:1", "2001:db8::5", "2001:0db8:1::5", "2001:db9::1",
                 "[fe80::1]"):  # fmt: skip
        inside = ipaddress.ip_address(text.strip("[]")) in net
        assert bool(re.fullmatch(readable, text)) == inside, (network, text)
    assert es_engine.ipv6_network_regex(ipaddress.ip_network("::/0")) is None


def test_what_needs_painless_is_refused_without_it_and_nothing_else() -> None:
    from huntlab.detect import ir

    fields = es_engine.Fields({"EventID": "integer", "Image": "keyword", "@timestamp": "date",
                               "ParentImage": "keyword"}, scripts=False)  # fmt: skip
    renderer = es_engine.Renderer(fields)
    assert renderer.render(ir.Exists("EventID")) == {"exists": {"field": "EventID"}}
    assert renderer.render(ir.Number("EventID", 1)) == {"term": {"EventID": 1}}
    assert "regexp" in renderer.render(ir.Number("Image", 5))
    assert renderer.render(ir.Text("Nowhere", ("x",))) == {"match_none": {}}
    assert renderer.render(ir.IsNull("Nowhere")) == {"match_all": {}}
    for node in (
        ir.FieldRef("Image", "ParentImage"),
        ir.Compare("Image", "gt", 3),
        ir.TimePart("@timestamp", "hour", 3),
        ir.Text("EventID", ("1", ir.Wild.ANY)),
        ir.Cidr("Image", "::/0"),
    ):
        with pytest.raises(Unsupported, match="needs Painless"):
            renderer.render(node)
    assert renderer.runtime == {}


def test_relaxed_rendering_keeps_every_event_a_leaf_could_match() -> None:
    """Without Painless a fieldref cannot be a query: relaxed, it keeps every event it could
    match: true where it counts positively, false under a `not` (whose negation keeps all)."""
    fields = es_engine.Fields({"Image": "keyword", "ParentImage": "keyword"}, scripts=False)
    leaf = ir.FieldRef("Image", "ParentImage")
    image = ir.Text("Image", ("a",))
    with pytest.raises(Unsupported, match="needs Painless"):
        es_engine.Renderer(fields).render(leaf)
    relaxed = es_engine.Renderer(fields, relax=True)
    assert relaxed.render(ir.all_of([image, leaf]))["bool"]["filter"][1] == {"match_all": {}}
    assert relaxed.relaxed
    negated = relaxed.render(ir.Not(ir.all_of([image, leaf])))
    assert negated["bool"]["must_not"][0]["bool"]["filter"][1] == {"match_none": {}}
    twice = relaxed.render(ir.Not(ir.Not(leaf)))
    assert twice["bool"]["must_not"][0]["bool"]["must_not"][0] == {"match_all": {}}
    # relax_regex: every regex leaf, even one Lucene could take (an automaton too large).
    regex = ir.Regex("Image", "a+b", frozenset())
    assert "regexp" in es_engine.Renderer(fields).render(regex)
    assert es_engine.Renderer(fields, relax=True, relax_regex=True).render(regex) == {
        "match_all": {}
    }
    plain = es_engine.Renderer(fields, relax=True)
    plain.render(image)
    assert not plain.relaxed


def test_relax_regex_relaxes_keyword_searches_too() -> None:
    """A keyword search is regexps over every text field: the automata a node's circuit
    breaker refuses on a busy node; relaxed, the rule's candidates are its source's events."""
    fields = es_engine.Fields({"Image": "keyword", "CommandLine": "keyword"})
    keyword = ir.Text(None, (ir.Wild.ANY, "mimikatz", ir.Wild.ANY))
    assert "regexp" in str(es_engine.Renderer(fields).render(keyword))
    relaxed = es_engine.Renderer(fields, relax=True, relax_regex=True)
    assert relaxed.render(ir.Not(keyword)) == {"bool": {"must_not": [{"match_none": {}}]}}
    assert relaxed.relaxed
