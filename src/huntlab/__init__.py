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

from huntlab.lazy import lazy_attributes

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
    "es": "huntlab.es",
    "spark": "huntlab.spark",
}

__all__ = [*_LAZY, "__version__"]


__getattr__ = lazy_attributes(__name__, _LAZY)
