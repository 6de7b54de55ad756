"""Sigma detections on the canonical event table (docs/detections.md).

- ``load_rules(paths, filters=Filters(...))`` -> ``RuleSet``: rules parsed by pySigma and
  compiled to huntlab's IR (``ir``); ``RuleSet.unsupported`` lists the others with reasons;
- ``detect(events, rules)`` -> ``Detection``: the hits table, a summary per rule;
- engines render the IR: ``pandas_engine`` (boolean masks).

Imported lazily: ``import huntlab.detect`` does not import pySigma or pandas.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY: dict[str, str] = {
    "load_rules": "huntlab.detect.rules:load_rules",
    "Filters": "huntlab.detect.rules:Filters",
    "RuleSet": "huntlab.detect.rules:RuleSet",
    "Skipped": "huntlab.detect.rules:Skipped",
    "detect": "huntlab.detect.run:detect",
    "Detection": "huntlab.detect.run:Detection",
    "Unsupported": "huntlab.detect.logsource:Unsupported",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'huntlab.detect' has no attribute {name!r}")
    module_name, _, attr = target.partition(":")
    value = getattr(importlib.import_module(module_name), attr)
    globals()[name] = value
    return value
