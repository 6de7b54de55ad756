"""Each native hunter's memory and CPU group, on this machine's real cgroups: the limits are
the kernel's (read back from /proc/PID/cgroup), and a process that allocates past the memory
limit is killed, not the machine's other processes."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator

import pytest

from huntlab.errors import HuntlabError
from huntlab.lab.team import limits


def test_sizes_and_cpus_read_as_docker_reads_them() -> None:
    assert limits.memory_bytes("2g") == 2 * 1024**3
    assert limits.memory_bytes("1536m") == 1536 * 1024**2
    assert limits.memory_bytes("1073741824") == 1024**3
    for bad in ("lots", "10m", ""):
        with pytest.raises(HuntlabError, match="HUNTLAB_HUNTER_MEM_LIMIT"):
            limits.memory_bytes(bad, "HUNTLAB_HUNTER_MEM_LIMIT")
    assert limits.Limits.from_config({}) == limits.Limits(2 * 1024**3, 1.0)
    assert limits.Limits.from_config({"team_hunter_cpu_limit": "0.5"}).cpus == 0.5
    with pytest.raises(HuntlabError, match="HUNTLAB_HUNTER_CPU_LIMIT"):
        limits.Limits.from_config({"team_hunter_cpu_limit": "all"})


@pytest.fixture
def group() -> Iterator[str]:
    if os.geteuid() != 0:
        pytest.skip("cgroups are made by root (the team server's hub runs as root)")
    why = limits.why_unavailable()
    assert why is None, why
    name = f"test-{secrets.token_hex(3)}"
    yield name
    limits.remove(name)


def test_a_hunters_group_holds_its_processes_within_the_limits(group: str) -> None:
    folders = limits.prepare(group, limits.Limits(256 * 1024**2, 0.5))
    child = subprocess.Popen(["sleep", "30"], preexec_fn=lambda: limits.join(folders))
    try:
        seen = limits.read_limits(child.pid)
        assert seen["group"].endswith(f"huntlab/hunter-{group}"), seen
        assert seen["memory"] == str(256 * 1024**2), seen
        assert seen["cpu"] == "50000 100000", seen
    finally:
        child.kill()
        child.wait()
    # Past the limit, the kernel kills the process that grew (a notebook's kernel), nothing else.
    hog = subprocess.run(
        [sys.executable, "-c", "b = bytearray(512 * 1024**2); print('survived')"],
        preexec_fn=lambda: limits.join(folders),
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert hog.returncode == -9 and "survived" not in hog.stdout, hog
