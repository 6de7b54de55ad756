"""Helpers of the container tests: commands that fail the test with their output, and the
command a huntlab error suggests (the tests run it in the situation that printed it)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import REPO


def run(cmd: list[str], *, env: dict[str, str] | None = None, timeout: float = 900) -> str:
    result = subprocess.run(
        cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        pytest.fail(
            f"{' '.join(cmd)} exited {result.returncode}\n--- stdout\n{result.stdout[-4000:]}"
            f"\n--- stderr\n{result.stderr[-6000:]}"
        )
    return result.stdout + result.stderr


def venv_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def hinted_command(result: subprocess.CompletedProcess[str], line: str, command: str) -> list[str]:
    """The command a huntlab error suggests, as arguments for the huntlab binary: ``result``
    must have failed with exit 1 and the one line ``huntlab: error: LINE`` (a regex), no
    traceback; ``command`` (a regex) is the backticked command in that line."""
    output = f"--- stdout\n{result.stdout[-2000:]}\n--- stderr\n{result.stderr[-4000:]}"
    assert result.returncode == 1, (result.returncode, output)
    assert "Traceback" not in result.stderr, output
    found = re.search(rf"^huntlab: error: {line}$", result.stderr, re.M)
    assert found is not None, output
    hint = re.search(rf"`({command})`", found.group(0))
    assert hint is not None, output
    return hint.group(1).split()[1:]
