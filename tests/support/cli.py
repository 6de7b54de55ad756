"""Running the ``huntlab`` command as a user does: a separate process, its exit code and
output captured."""

from __future__ import annotations

import subprocess
import sys


def run_huntlab(
    *args: str, env: dict[str, str], timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "huntlab", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def sigint_at_default() -> None:
    """``preexec_fn`` for a child a test will interrupt as Ctrl-C does: SIGINT at its default.
    A test runner started in the background by a non-interactive shell ignores SIGINT, and
    children inherit that."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
