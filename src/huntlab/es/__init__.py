"""huntlab's Elasticsearch side: the native node, setup, bulk loader, search.

``huntlab.es.load`` and ``huntlab.es.search`` are the entry points; submodules are imported
on first use so ``import huntlab.es`` stays cheap.
"""

from __future__ import annotations

# ``huntlab.es.search(...)`` is the function of es/query.py, which imports pandas and the
# client only when called, so this import stays cheap.
from huntlab.es.query import search
from huntlab.lazy import lazy_attributes

_LAZY: dict[str, str] = {
    "load": "huntlab.es.loader:load",
    "load_events": "huntlab.es.loader:load_events",
    "LoadReport": "huntlab.es.loader:LoadReport",
    "SYSMON_INDEX": "huntlab.es.indices:SYSMON_INDEX",
    "ALL_INDEXES": "huntlab.es.indices:ALL_INDEXES",
}

__all__ = [*_LAZY, "search"]


__getattr__ = lazy_attributes(__name__, _LAZY)
