"""Each benchmark says what data it needs when it is not there: one line, exit 2, no traceback
(and before it starts any service)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import REPO

SCRIPTS = sorted(p.name for p in (REPO / "benchmarks").glob("bench_*.py"))


@pytest.mark.parametrize("script", SCRIPTS)
def test_a_missing_datasets_folder_is_one_clear_line(script: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUNTLAB_")}
    env.update({"HUNTLAB_SHARED": str(tmp_path / "no-shared"),
                "HUNTLAB_DATASETS_MIRROR": str(tmp_path / "no-mirror")})  # fmt: skip
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / script)], env=env,
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 2, (done.stdout[-2000:], done.stderr[-2000:])
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{script}: "), done.stderr
    assert "Security-Datasets recordings" in lines[0] and "--datasets" in lines[0]
