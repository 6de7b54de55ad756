"""Every `huntlab ...` command that huntlab's messages, hints and docstrings suggest is a
command huntlab has, with options its command takes (where the user types them: the global
--home anywhere, --metadata anywhere after `datasets`). A hint that drifts from the CLI (the
old `huntlab datasets list --metadata DIR`) fails here; the hints of the first hour are also run
for real in the situations that print them (test_datasets, test_cli_errors, test_lab_native)."""

from __future__ import annotations

import re
import shlex

import click
import pytest

from huntlab.cli import cli
from tests.support.paths import REPO

# Options that hold for every command under a group, in any position (HoistingGroup).
HOISTED = {(): {"--home"}, ("datasets",): {"--metadata"}}
# On one line; a command computed in an f-string (`huntlab {command}`) is not a suggestion.
_SUGGESTED = re.compile(r"`(huntlab (?!\{)[^`\n]+)`")


def _suggestions() -> list[tuple[str, str]]:
    found = set()
    for path in sorted((REPO / "src" / "huntlab").rglob("*.py")):
        for match in _SUGGESTED.finditer(path.read_text(encoding="utf-8")):
            found.add((str(path.relative_to(REPO)), match.group(1)))
    return sorted(found)


SUGGESTIONS = _suggestions()


def test_the_messages_suggest_commands() -> None:
    assert len(SUGGESTIONS) >= 40, SUGGESTIONS


def _resolve(words: list[str]) -> tuple[list[tuple[str, ...]], click.Command, list[str]]:
    """The groups walked, the command reached and the words left for it."""
    command: click.Command = cli
    walked: list[tuple[str, ...]] = [()]
    rest = list(words)
    while isinstance(command, click.Group) and rest:
        word = rest[0]
        if word.startswith("-"):
            # A group's own option (huntlab --home X token): skip it and its value (a flag
            # such as -v has none); one the group does not take fails here.
            group_options = {o for p in command.params for o in (*p.opts, *p.secondary_opts)}
            group_options |= {"--help", "-h"}
            assert word.split("=", 1)[0] in group_options, f"huntlab has no option {word}"
            flag = any(word in p.opts and getattr(p, "is_flag", False) for p in command.params)
            rest = rest[1:] if flag or "=" in word else rest[2:]
            continue
        # "start|stop|status" offers alternatives: each must exist; walk the first.
        names = word.split("|")
        ctx = click.Context(command)
        for name in names:
            assert command.get_command(ctx, name) is not None, f"no command {name!r}"
        sub = command.get_command(ctx, names[0])
        assert sub is not None
        command = sub
        walked.append((*walked[-1], names[0]))
        rest = rest[1:]
    return walked, command, rest


@pytest.mark.parametrize(("where", "suggestion"), SUGGESTIONS, ids=[s for _, s in SUGGESTIONS])
def test_a_suggested_command_exists_with_its_options(where: str, suggestion: str) -> None:
    text = re.sub(r"\{[^}]*\}", "NAME", suggestion)  # f-string fields: a value
    text = text.split(" | ")[0].replace("...", "")  # `huntlab read ... | head`
    words = shlex.split(text)[1:]
    walked, command, rest = _resolve(words)
    options = {opt for p in command.params for opt in (*p.opts, *p.secondary_opts)}
    options |= {"--help", "-h"}
    for group in walked:
        options |= HOISTED.get(group, set())
    for word in rest:
        if word.startswith("-"):
            name = word.split("=", 1)[0]
            assert name in options, (
                f"{where}: `{suggestion}` suggests {name}, which `huntlab "
                f"{' '.join(walked[-1])}` does not take (it takes {sorted(options)})"
            )


def _fixed_words(command: str) -> str:
    """The words of a suggestion a test finds it by: up to its first placeholder."""
    words = []
    for word in command.split():
        upper = word.isupper() and word.isalpha()
        placeholder = upper or (word.startswith("<") and word.endswith(">"))
        if "{" in word or "..." in word or "|" in word or placeholder:
            break
        words.append(word)
    return " ".join(words)


def _test_strings(nodeid: str) -> list[str]:
    """The string literals of the test (or fixture) ``nodeid`` names, its docstring left out:
    the command must be in what the test looks for, not only in what it says."""
    import ast

    file, _, name = nodeid.partition("::")
    path = REPO / file
    assert path.is_file(), f"{nodeid}: no file {file}"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.FunctionDef) and node.name == name:
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                body = body[1:]  # the docstring
            return [
                sub.value
                for statement in body
                for sub in ast.walk(statement)
                if isinstance(sub, ast.Constant) and isinstance(sub.value, str)
            ]
    raise AssertionError(f"{nodeid}: {file} has no test {name}")


def test_every_suggestion_of_a_message_is_run_where_the_message_is_printed() -> None:
    """The table of situations (tests/support/hints.py) names, for each suggestion a message
    of huntlab makes, the test that makes that situation and runs the command; a new message
    with a suggestion fails here until a test runs it (or the table says why none can)."""
    from tests.support.hints import IN_SITU, NOT_IN_SITU, message_hints

    found = {h.key for h in message_hints()}
    assert not set(IN_SITU) & set(NOT_IN_SITU)
    listed = set(IN_SITU) | set(NOT_IN_SITU)
    missing = sorted(found - listed)
    stale = sorted(listed - found)
    assert not missing, f"suggestions no test runs in their situation: {missing}"
    assert not stale, f"the table lists suggestions no message makes any more: {stale}"
    for (where, command, _lead), nodeid in IN_SITU.items():
        strings = _test_strings(nodeid)
        words = _fixed_words(command)
        assert any(words in text for text in strings), (
            f"{where}: {nodeid} does not look for `{words}` in the output"
        )
    for key, why in NOT_IN_SITU.items():
        assert len(why) > 40, f"{key}: say why no test can make the situation"
