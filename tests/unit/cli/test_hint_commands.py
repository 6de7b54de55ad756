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
