"""huntlab: read Security-Datasets (Mordor) recordings and lab indexes as one event table.

Public API (imported lazily, so ``import huntlab`` is cheap and does no I/O):

- ``huntlab.read_events(source, errors="raise"|"skip", ...)`` -> pandas DataFrame
- ``huntlab.iter_events(source, ...)`` -> canonical event dicts, streamed
- ``huntlab.catalog()`` -> the Security-Datasets catalog
- ``huntlab.load_settings(...)`` -> endpoints and credentials of the lab
- ``huntlab.es`` (``search``, ``load``, ``client``), ``huntlab.spark`` (``session``,
  ``read_events``, ``read_es``)
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY: dict[str, str] = {
    "read_events": "huntlab.readers:read_events",
    "iter_events": "huntlab.readers:iter_events",
    "ReadReport": "huntlab.readers:ReadReport",
    "catalog": "huntlab.dataset_catalog:catalog",
    "load_settings": "huntlab.settings:load_settings",
    "Settings": "huntlab.settings:Settings",
    "HuntlabError": "huntlab.errors:HuntlabError",
    "DataFormatError": "huntlab.errors:DataFormatError",
}

__all__ = [*_LAZY, "__version__", "es", "spark"]


def __getattr__(name: str) -> Any:
    if name in ("es", "spark"):
        return importlib.import_module(f"huntlab.{name}")
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'huntlab' has no attribute {name!r}")
    module_name, _, attr = target.partition(":")
    value = getattr(importlib.import_module(module_name), attr)
    globals()[name] = value
    return value
