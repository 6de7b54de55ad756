"""Sigma detections on the canonical event table (docs/detections.md).

- ``load_rules(paths, filters=Filters(...))`` -> ``RuleSet``: rules parsed by pySigma and
  compiled to huntlab's IR (``ir``); ``RuleSet.unsupported`` lists the others with reasons;
- ``detect(events, rules)`` -> ``Detection``: the hits table, a summary per rule;
- engines render the IR: ``pandas_engine`` (boolean masks), ``spark_engine``, ``es_engine``;
- ``write_alerts(detection)``: the hits and correlation alerts in the ``huntlab-alerts`` index.

Imported lazily: ``import huntlab.detect`` does not import pySigma or pandas.
"""

from __future__ import annotations

from huntlab.lazy import lazy_attributes

_LAZY: dict[str, str] = {
    "load_rules": "huntlab.detect.rules:load_rules",
    "Filters": "huntlab.detect.rules:Filters",
    "RuleSet": "huntlab.detect.rules:RuleSet",
    "Skipped": "huntlab.detect.rules:Skipped",
    "detect": "huntlab.detect.run:detect",
    "Detection": "huntlab.detect.run:Detection",
    "Unsupported": "huntlab.detect.logsource:Unsupported",
    "write_alerts": "huntlab.detect.alerts:write_alerts",
}

__all__ = list(_LAZY)


__getattr__ = lazy_attributes(__name__, _LAZY)
