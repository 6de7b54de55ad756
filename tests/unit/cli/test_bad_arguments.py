"""Every command, given bad arguments or bad input, answers with one error line, no traceback,
and an exit status that `huntlab --help` documents."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from huntlab.cli import COMMANDS, cli, main

DOCUMENTED = {0, 1, 2, 3, 130}


def _leaves(command: click.Command, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    if isinstance(command, click.Group):
        ctx = click.Context(command)
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            assert sub is not None, name
            yield from _leaves(sub, (*path, name))
    else:
        yield path, command


LEAVES = dict(_leaves(cli, ()))


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(autouse=True)
def _nowhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No lab, no network: a home and cache of their own, every service on a closed port.
    Variables the commands set in this process (--home, --metadata, -v) go with the test."""
    before = set(os.environ)
    for key in list(os.environ):
        if key.startswith("HUNTLAB_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("HUNTLAB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HUNTLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HUNTLAB_ES_URL", f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.setenv("HUNTLAB_DATASETS_METADATA_URL", f"http://127.0.0.1:{_closed_port()}/m.tgz")
    monkeypatch.chdir(tmp_path)
    yield
    for key in set(os.environ) - before:
        if key.startswith("HUNTLAB_"):
            del os.environ[key]


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """The exit status and stderr of ``huntlab ARGS`` (stdout in ``_run.out``)."""
    capsys.readouterr()
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    _run.out = captured.out  # type: ignore[attr-defined]
    return code, captured.err


def _one_error_line(args: list[str], code: int, err: str) -> None:
    assert code in DOCUMENTED - {0}, (args, code, err)
    assert "Traceback" not in err, (args, err)
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, (args, err)
    assert re.match(r"^huntlab( [a-z-]+)*: error: ", lines[0]), (args, lines[0])


def test_the_help_documents_the_exit_statuses(capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = _run(["--help"], capsys)
    assert code == 0
    text = _run.out  # type: ignore[attr-defined]
    for status in DOCUMENTED:
        assert re.search(rf"^\s+{status}\s+\S", text, re.M), (status, text)


def test_every_command_is_covered() -> None:
    assert {path[0] for path in LEAVES} == set(COMMANDS)
    assert len(LEAVES) >= 20, sorted(LEAVES)


@pytest.mark.parametrize("path", sorted(LEAVES), ids=" ".join)
def test_an_unknown_option(path: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    args = [*path, "--no-such-option"]
    code, err = _run(args, capsys)
    _one_error_line(args, code, err)
    assert code == 2 and "--no-such-option" in err and f"{' '.join(path)} --help" in err
    # The hint, run as written in that situation, shows the command's options.
    hint = re.search(r"\(see `huntlab ([^`]+)`\)", err)
    assert hint is not None, err
    code, _ = _run(hint.group(1).split(), capsys)
    assert code == 0 and "--help" in _run.out and "Usage: huntlab" in _run.out  # type: ignore[attr-defined]


@pytest.mark.parametrize("path", sorted(LEAVES), ids=" ".join)
def test_missing_and_bad_values(path: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    command = LEAVES[path]
    required = [p for p in command.params if isinstance(p, click.Argument) and p.required]
    if required:
        code, err = _run(list(path), capsys)
        _one_error_line(list(path), code, err)
        assert code == 2 and "Missing argument" in err
    filler = ["x"] * len(required)
    for param in command.params:
        if not isinstance(param, click.Option) or param.is_flag:
            continue
        spelling = max(param.opts, key=len)  # --lines for -n/--lines; -q alone stays -q
        if isinstance(param.type, click.Choice | click.IntRange) or param.type is click.INT:
            args = [*path, *filler, spelling, "not-a-valid-value"]
            code, err = _run(args, capsys)
            _one_error_line(args, code, err)
            assert code == 2, (args, err)
        elif param.nargs == 1 and not param.multiple:
            args = [*path, *filler, spelling]  # the option without its value
            code, err = _run(args, capsys)
            _one_error_line(args, code, err)
            assert code == 2, (args, err)
            assert "requires an argument" in err or "needs a value" in err, (args, err)


BAD_INPUT = [
    ["read", "no-such-file.json"],
    ["read", "empty.json"],
    ["read", "not-json.json"],
    ["load", "not-json.json"],
    ["query", "EventID:1"],
    ["detect", "no-rules", "not-json.json"],
    ["detect", "bad-rule.yml", "empire_invoke_wmi"],
    ["datasets", "import", "not-an-archive.txt"],
    ["datasets", "path", "no_such_dataset_anywhere"],
    ["datasets", "list", "--metadata", "no-such-folder"],
    ["token"],
    ["logs", "no-such-service"],
    ["es", "setup"],
    ["users", "list"],
]


@pytest.mark.parametrize("args", BAD_INPUT, ids=" ".join)
def test_bad_input_is_one_line_that_says_what_to_do(
    args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty.json").write_text("")
    (tmp_path / "not-json.json").write_text('{"EventID": 1,\nthis is not json\n')
    (tmp_path / "not-an-archive.txt").write_text("hello\n")
    (tmp_path / "bad-rule.yml").write_text("title: [unclosed\n")
    code, err = _run(args, capsys)
    _one_error_line(args, code, err)


@pytest.mark.parametrize("group", [[], ["users"], ["datasets"], ["es"], ["logstash"]])
def test_a_group_typed_alone_prints_its_help_and_exits_zero(group: list[str]) -> None:
    """`huntlab`, `huntlab users` (as a file the lab writes suggests), ...: the group's help on
    standard output, no error line."""
    done = subprocess.run([sys.executable, "-m", "huntlab", *group], capture_output=True,
                          text=True, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"Usage: huntlab {' '.join(group)}".rstrip()), done.stdout
    assert "Commands:" in done.stdout and done.stderr == ""
