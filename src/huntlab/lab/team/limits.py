"""Memory and CPU limits for each hunter's server in the native runtime, with Linux cgroups.

Each hunter's JupyterLab (and so every kernel and process it starts) runs in its own group,
``huntlab/hunter-NAME``, capped at ``team_hunter_mem_limit`` (default 2g, as a docker hunter's
container) and ``team_hunter_cpu_limit`` CPUs (default 1): one hunter's notebook cannot take
the memory or the CPUs of the others; the kernel's OOM killer stops the biggest process of
that group only. cgroup v2 (the unified hierarchy most hosts mount) and v1 (separate memory and
cpu hierarchies) are both handled. The hub (root) makes the groups before a server starts; the
server's process joins them before it drops root (:func:`join`, in the spawner's preexec).
Where no writable cgroup file system exists, servers run without limits and the hub says so.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from huntlab.errors import HuntlabError

ROOT = Path("/sys/fs/cgroup")
GROUP = "huntlab"
PERIOD_US = 100_000
DEFAULT_MEMORY = "2g"
DEFAULT_CPUS = 1.0
_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def memory_bytes(value: str | int, where: str = "team_hunter_mem_limit in config.json") -> int:
    """``2g``, ``1536m``, ``512M`` or ``1073741824`` (Compose's spelling) as bytes; ``where``
    names the setting in the error."""
    text = str(value).strip().lower().removesuffix("b")
    number, unit = (text[:-1], text[-1]) if text and text[-1] in "kmgt" else (text, "")
    try:
        amount = float(number) * _UNITS[unit]
    except ValueError:
        raise HuntlabError(
            f"{where}: {value!r} is not a size such as 2g or 1536m; fix it there"
        ) from None
    if amount < 64 * 1024**2:
        raise HuntlabError(f"{where}: {value!r} is below 64m, too little for a JupyterLab")
    return int(amount)


@dataclass(frozen=True)
class Limits:
    memory: int  # bytes
    cpus: float

    @classmethod
    def from_config(cls, stored: dict[str, object]) -> Limits:
        raw = stored.get("team_hunter_cpu_limit") or DEFAULT_CPUS
        try:
            cpus = float(str(raw))
        except ValueError:
            cpus = -1.0
        if not 0.01 <= cpus <= (os.cpu_count() or 1) * 4:
            raise HuntlabError(
                f"HUNTLAB_HUNTER_CPU_LIMIT (team_hunter_cpu_limit) = {raw!r}: give a number of "
                f"CPUs from 0.01 to {(os.cpu_count() or 1) * 4}, e.g. 1 or 0.5"
            )
        return cls(memory_bytes(str(stored.get("team_hunter_mem_limit") or DEFAULT_MEMORY)), cpus)


def cgroup_version() -> int | None:
    """2 (unified hierarchy), 1 (memory and cpu hierarchies) or None (neither usable here)."""
    if (ROOT / "cgroup.controllers").is_file():
        return 2
    if (ROOT / "memory" / "cgroup.procs").is_file() and (ROOT / "cpu" / "cgroup.procs").is_file():
        return 1
    return None


def why_unavailable() -> str | None:
    """None when hunters' servers can be limited here; else why not."""
    version = cgroup_version()
    if version is None:
        return f"no cgroup file system with memory and cpu controllers under {ROOT}"
    probe = ROOT / GROUP if version == 2 else ROOT / "memory" / GROUP
    try:
        probe.mkdir(exist_ok=True)
    except OSError as exc:
        return f"cannot make {probe} ({exc.strerror or exc}): run the hub as root on the host"
    if version == 2:
        controllers = (ROOT / "cgroup.controllers").read_text().split()
        missing = {"memory", "cpu"} - set(controllers)
        if missing:
            return f"the cgroup v2 root lacks the {', '.join(sorted(missing))} controller"
        try:
            _enable_v2_controllers()
        except OSError as exc:  # a namespace's root with processes in it refuses (EBUSY)
            return f"cannot enable the memory and cpu controllers ({exc.strerror or exc})"
    return None


def group_dirs(name: str) -> list[Path]:
    """The hunter's group: one folder (v2), or one per hierarchy (v1: memory, cpu)."""
    leaf = f"hunter-{name}"
    if cgroup_version() == 2:
        return [ROOT / GROUP / leaf]
    return [ROOT / "memory" / GROUP / leaf, ROOT / "cpu" / GROUP / leaf]


def _enable_v2_controllers() -> None:
    for folder in (ROOT, ROOT / GROUP):
        control = folder / "cgroup.subtree_control"
        enabled = control.read_text().split()
        wanted = [c for c in ("memory", "cpu") if c not in enabled]
        if wanted:
            control.write_text(" ".join(f"+{c}" for c in wanted))


def prepare(name: str, limits: Limits) -> list[Path]:
    """Make (or update) the hunter's group with these limits; return its folders."""
    quota = str(max(1000, int(limits.cpus * PERIOD_US)))
    if cgroup_version() == 2:
        (ROOT / GROUP).mkdir(exist_ok=True)
        _enable_v2_controllers()
        [folder] = group_dirs(name)
        folder.mkdir(exist_ok=True)
        (folder / "memory.max").write_text(str(limits.memory))
        swap = folder / "memory.swap.max"
        if swap.exists():
            swap.write_text("0")  # the limit is the memory, not memory plus swap
        (folder / "cpu.max").write_text(f"{quota} {PERIOD_US}")
        return [folder]
    memory, cpu = group_dirs(name)
    for folder in (memory, cpu):
        folder.mkdir(parents=True, exist_ok=True)
    (memory / "memory.limit_in_bytes").write_text(str(limits.memory))
    swap = memory / "memory.memsw.limit_in_bytes"
    if swap.exists():
        swap.write_text(str(limits.memory))  # memory plus swap: no swap beyond the limit
    (cpu / "cpu.cfs_period_us").write_text(str(PERIOD_US))
    (cpu / "cpu.cfs_quota_us").write_text(quota)
    return [memory, cpu]


def join(folders: list[Path]) -> None:
    """Put the calling process (and so what it starts) into the hunter's group. In a child
    about to exec, a failure cannot be told: the process runs on where it is (the hub warned
    when the group could not be made; the tests read the group back)."""
    for folder in folders:
        with contextlib.suppress(OSError):
            (folder / "cgroup.procs").write_text(str(os.getpid()))


def remove(name: str) -> None:
    """Remove the hunter's group (empty once their server and kernels have stopped)."""
    for folder in group_dirs(name):
        # Not there, or a process still in it: the next server start reuses it.
        with contextlib.suppress(OSError):
            folder.rmdir()


def read_limits(pid: int) -> dict[str, str]:
    """The memory and CPU limits of the group process ``pid`` is in, as the kernel has them
    (for `huntlab users list` and the tests)."""
    out: dict[str, str] = {}
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controllers == "" and cgroup_version() == 2:
            folder = ROOT / path.lstrip("/")
            out["group"] = path
            out["memory"] = (folder / "memory.max").read_text().strip()
            out["cpu"] = (folder / "cpu.max").read_text().strip()
        elif "memory" in controllers.split(","):
            out["group"] = path
            limit = ROOT / "memory" / path.lstrip("/") / "memory.limit_in_bytes"
            out["memory"] = limit.read_text().strip()
        elif "cpu" in controllers.split(","):
            folder = ROOT / controllers / path.lstrip("/")
            out["cpu"] = (
                f"{(folder / 'cpu.cfs_quota_us').read_text().strip()} "
                f"{(folder / 'cpu.cfs_period_us').read_text().strip()}"
            )
    return out
