"""Build small canonical event tables and one-rule rule sets for the detection unit tests."""

from __future__ import annotations

from typing import Any

import pandas as pd
import yaml
from sigma.collection import SigmaCollection

from huntlab.detect.compile import compile_rule
from huntlab.detect.rules import RuleSet
from huntlab.detect.run import detect
from huntlab.readers.frame import build_frame

SYSMON = "Microsoft-Windows-Sysmon/Operational"


def table(*events: dict[str, Any]) -> pd.DataFrame:
    """Sysmon process-creation events (Channel and EventID 1 unless given), as the readers
    build them: string values, category columns."""
    rows = []
    for i, event in enumerate(events):
        row = {"@timestamp": f"2024-01-01T00:00:{i:02d}.000Z", "Channel": SYSMON, "EventID": 1}
        row.update(event)
        rows.append({k: v for k, v in row.items() if v is not None})
    return build_frame(rows, progress=False)


def rule(detection: dict[str, Any] | str, logsource: dict[str, str] | None = None) -> str:
    """A rule's YAML with ``detection`` (a mapping, or YAML text)."""
    if isinstance(detection, str):
        detection = yaml.safe_load(detection)
    document = {
        "title": "test rule",
        "id": "0e1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b",
        "status": "test",
        "level": "high",
        "author": "huntlab tests",
        "tags": ["attack.execution", "attack.t1059"],
        "logsource": logsource or {"product": "windows", "category": "process_creation"},
        "detection": detection,
    }
    return yaml.safe_dump(document, allow_unicode=True)


def compiled(text: str, placeholders: dict[str, list[str]] | None = None) -> RuleSet:
    collection = SigmaCollection.from_yaml(text, collect_errors=True)
    return RuleSet([compile_rule(r, "test.yml", placeholders) for r in collection.rules])


def hits(detection: dict[str, Any] | str, frame: pd.DataFrame, **kwargs: Any) -> list[int]:
    """Positions of the events of ``frame`` the rule matches."""
    logsource = kwargs.pop("logsource", None)
    result = detect(frame, compiled(rule(detection, logsource), **kwargs), progress=False)
    return sorted(int(e) for e in result.hits["event"]) if len(result.hits) else []
