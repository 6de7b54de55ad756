"""Every process of a running native lab, as huntlab's supervisor records them: for the
tests' cleanup and checks, and the memory benchmark."""

from __future__ import annotations

from huntlab.lab import processes
from huntlab.lab.native import SERVICES
from huntlab.settings import Settings


def lab_pids(settings: Settings) -> list[int]:
    """Every pid of the running lab: each service and what it started."""
    pids: list[int] = []
    for name in SERVICES:
        current = processes.running(settings.home, name)
        if current is not None:
            pids += processes.family(current.pid)
    return pids
