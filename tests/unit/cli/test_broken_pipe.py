"""A reader that stops early (`huntlab read ... | head`) is normal use: exit 0, no message."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_read_into_a_closed_pipe_exits_zero_quietly(datasets_dir: Path, tmp_path: Path) -> None:
    archive = datasets_dir / "windows/empire_invoke_wmi/empire_invoke_wmi.tar.gz"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUNTLAB_")}
    env["HUNTLAB_HOME"] = str(tmp_path / "home")
    proc = subprocess.Popen(
        [sys.executable, "-m", "huntlab", "read", str(archive), "--format", "jsonl"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()  # what `head -1` does once it has its line
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0, stderr
    assert first.startswith(b"{")
    assert stderr == ""
