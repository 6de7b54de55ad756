"""huntlab's Elasticsearch side: the native node, setup, bulk loader, search.

``huntlab.es.load`` and ``huntlab.es.search`` are the entry points; submodules are imported
on first use so ``import huntlab.es`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

# ``huntlab.es.search(...)`` is the function of es/query.py, which imports pandas and the
# client only when called, so this import stays cheap.
from huntlab.es.query import search

_LAZY: dict[str, str] = {
    "load": "huntlab.es.loader:load",
    "load_events": "huntlab.es.loader:load_events",
    "LoadReport": "huntlab.es.loader:LoadReport",
    "SYSMON_INDEX": "huntlab.es.indices:SYSMON_INDEX",
    "ALL_INDEXES": "huntlab.es.indices:ALL_INDEXES",
}

__all__ = [*_LAZY, "search"]


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'huntlab.es' has no attribute {name!r}")
    module_name, _, attr = target.partition(":")
    value = getattr(importlib.import_module(module_name), attr)
    globals()[name] = value
    return value
