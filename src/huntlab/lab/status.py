"""What ``huntlab status`` reports about one lab service, for both runtimes."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServiceStatus:
    """One service of the lab: whether it answers, where, which version, and why not."""

    name: str
    up: bool
    url: str | None = None
    version: str | None = None
    detail: str = ""

    def line(self) -> str:
        """One human-readable row: ``name  up|down  url  version  detail``."""
        state = "up" if self.up else "down"
        parts = [f"{self.name:<14}", f"{state:<5}", self.url or "-", self.version or "-"]
        if self.detail:
            parts.append(self.detail)
        return "  ".join(parts)
