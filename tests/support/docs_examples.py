"""The shell and Python examples of README.md and docs/*.md, as the docs test runs them.

Every fenced ``sh``, ``bash`` or ``python`` block is an example. One that cannot run as
written beside a plain native lab says so in an HTML comment on the line before its fence,
naming the test that runs what it shows instead:

    <!-- docs-test: covered by tests/e2e/docker/test_docker.py (the docker runtime) -->

Any other example runs verbatim; a new example therefore runs, or says where it is tested.
"""

from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

from tests.support.paths import REPO

LANGUAGES = ("sh", "bash", "python")
# A fence at the start of a line, or indented inside a list item (its code dedented).
_FENCE = re.compile(r"^( *)```(\w*)\n(.*?)^\1```", re.S | re.M)
_NOTE = re.compile(r"<!--\s*docs-test:\s*(.*?)\s*-->\s*$")


@dataclass(frozen=True)
class Example:
    path: Path
    line: int  # of the opening fence, 1-based
    language: str
    code: str
    note: str  # the docs-test comment, "" when the example runs

    @property
    def name(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.line}"

    @property
    def covered_by(self) -> Path | None:
        """The test file a ``covered by PATH`` note names."""
        match = re.match(r"covered by (\S+)", self.note)
        return REPO / match.group(1) if match else None


def doc_files() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def examples() -> list[Example]:
    found = []
    for path in doc_files():
        text = path.read_text(encoding="utf-8")
        for match in _FENCE.finditer(text):
            if match.group(2) not in LANGUAGES:
                continue
            line = text.count("\n", 0, match.start()) + 1
            before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
            note = _NOTE.search(before)
            code = textwrap.dedent(match.group(3))
            found.append(Example(path, line, match.group(2), code, note.group(1) if note else ""))
    return found


def with_stated_results(code: str) -> str:
    """Python whose lines state their result in a comment (``cat.get(x).techniques  #
    ('T1047',)``) made to check it: ``assert (expression) == literal``."""
    out = []
    for line in code.splitlines():
        source, sep, comment = line.partition("  #")
        literal = _literal(comment.strip()) if sep else None
        printed = re.fullmatch(r"print\((.+)\)", source.strip()) if sep else None
        if literal is not None and _is_expression(source):
            line = f"assert ({source.strip()}) == {comment.strip()}, {source.strip()!r}"
        elif printed and _is_expression(source) and comment.strip().endswith("..."):
            # print(x)  # what it prints ...: the text it begins with.
            stated = comment.strip().removesuffix("...").strip()
            line = (
                f"__said = str({printed.group(1)}); print(__said); "
                f"assert __said.startswith({stated!r}), (__said, {stated!r})"
            )
        out.append(line)
    return "\n".join(out) + "\n"


def _literal(text: str) -> object | None:
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return None
    return value if isinstance(value, tuple | list | int | float | str | bool) else None


def _is_expression(source: str) -> bool:
    if not source.strip() or source.startswith((" ", "\t")):
        return False
    try:
        tree = ast.parse(source.strip())
    except SyntaxError:
        return False
    return len(tree.body) == 1 and isinstance(tree.body[0], ast.Expr)
