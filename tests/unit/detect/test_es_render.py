"""The Elasticsearch renderer's translations, checked without a node: a translated regex
(Lucene's syntax, anchored) read back as a Python full match must accept exactly the values
Python's search of the original accepts (the subset emitted is read the same way by both), and
the number and network expressions accept the forms the pandas engine reads. On a real node:
tests/integration/detect/test_es_engine.py."""

from __future__ import annotations

import ipaddress
import re

import pytest

from huntlab.detect import es_engine
from huntlab.detect.logsource import Unsupported

VALUES = ["", "a", "abc", "xabcx", "ab\nc", "a\nbc", "C:\\Windows\\System32\\cmd.exe",
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
    ],
)  # fmt: skip
def test_a_translated_regex_accepts_what_the_python_search_finds(pattern: str, flags: str) -> None:
    lucene = es_engine.lucene_regex(pattern, frozenset(flags))
    # Lucene escapes (a backslash before any character) read as Python escapes of the same
    # characters; Python needs DOTALL to read Lucene's "." (any character).
    readable = re.sub(r'\\(["#@&<>~])', r"\1", lucene)
    python_flags = re.S | (re.I if "i" in flags else 0)
    for value in VALUES:
        want = re.search(pattern, value, sum(getattr(re, f.upper()) for f in flags)) is not None
        got = re.fullmatch(readable, value, python_flags) is not None
        assert got == want, (pattern, flags, value, lucene)


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
    for text in ("fe80::1", "FE80::abcd:1", "febf::1", "fec0::1", "fd12:3456::1", "fc00::",
                 "::1", "0:0:0:0:0:0:0:1", "2001:db8::5", "2001:0db8:1::5", "2001:db9::1",
                 "[fe80::1]"):  # fmt: skip
        inside = ipaddress.ip_address(text.strip("[]")) in net
        assert bool(re.fullmatch(readable, text, re.I)) == inside, (network, text)
    assert es_engine.ipv6_network_regex(ipaddress.ip_network("::/0")) is None
