"""The parsed record every reader passes along, in a module of its own so that the format
readers (``evtx``) and the loop that drives them (``events``) both use it without importing
each other."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class RawRecord:
    """One parsed record and where it came from."""

    file: str
    line: int
    format: str
    dataset: str
    data: dict[str, Any]
    raw: bytes  # the line as read (the Spark reader hands it to Spark's own JSON parser)
