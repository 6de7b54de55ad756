"""Detection results as documents of the ``huntlab-alerts`` index (docs/detections.md).

One document per hit (``kind: hit``) and per correlation alert (``kind: correlation``), under
the index template ``huntlab-alerts`` (elasticsearch/index-templates/huntlab-alerts.json: a
strict mapping, outside the alias ``huntlab`` so that rules run on the lab's events never read
alerts). A document's id is derived from the rule and the event's identity (dataset, host,
channel, record number, time), the same in every engine: running the same rules on the same
events again, with any engine, rewrites the same documents instead of adding copies.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

from huntlab.errors import HuntlabError

if TYPE_CHECKING:
    from huntlab.detect.run import Detection
    from huntlab.settings import Settings

ALERTS_INDEX = "huntlab-alerts"
TEMPLATE = "huntlab-alerts"
_EVENT = ("Hostname", "Channel", "EventID", "RecordNumber", "Dataset")


@dataclass
class AlertsReport:
    index: str
    written: int = 0  # documents created or rewritten
    failed: int = 0
    reasons: list[str] = field(default_factory=list)  # the first few failures

    def summary(self) -> str:
        return f"{self.written:,} alerts written to {self.index}" + (
            f", {self.failed:,} refused" if self.failed else ""
        )


def _value(value: Any) -> Any:
    """A cell as JSON: None for missing, ISO text for times, plain numbers."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        if value.tzinfo is None:
            value = value.tz_localize("UTC")
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value


def _number(value: Any) -> int | None:
    """An integer field's value (4688, "4688", 4688.0 from a column with gaps), else None."""
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def _id(*parts: Any) -> str:
    return hashlib.sha256(json.dumps([str(p) for p in parts]).encode()).hexdigest()[:40]


def documents(
    detection: Detection, engine: str, detected_at: datetime | None = None
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(id, document) of every hit and correlation alert of ``detection``."""
    stamp = (detected_at or datetime.now(UTC)).isoformat()
    for hit in detection.hits.to_dict("records"):
        event = {name: _value(hit.get(name)) for name in _EVENT}
        for name in ("EventID", "RecordNumber"):
            event[name] = _number(event[name]) if event[name] is not None else None
        position = hit.get("event_id", hit.get("event"))
        event["id"] = None if _value(position) is None else str(position)
        time = _value(hit.get("@timestamp"))
        rule = _rule(hit)
        key = [rule["id"] or rule["title"], *[event[n] for n in _EVENT], time]
        yield (
            _id("hit", *key),
            {
                "@timestamp": time,
                "detected_at": stamp,
                "kind": "hit",
                "engine": engine,
                "rule": rule,
                "event": {k: v for k, v in event.items() if v is not None},
            },
        )
    for alert in detection.correlations.to_dict("records"):
        rule = _rule(alert)
        correlation = {
            "type": alert["correlation"],
            "group": alert["group"],
            "value": int(alert["value"]),
            "events": int(alert["events"]),
            **{k: _value(alert[k]) for k in ("window_start", "window_end", "first", "last")},
        }
        key = [rule["id"] or rule["title"], correlation["window_start"], correlation["group"]]
        yield (
            _id("correlation", *key),
            {
                "@timestamp": correlation["last"],
                "detected_at": stamp,
                "kind": "correlation",
                "engine": engine,
                "rule": rule,
                "correlation": correlation,
            },
        )


def _rule(row: Mapping[Any, Any]) -> dict[str, Any]:
    attack = str(row.get("attack") or "")
    return {
        "id": row.get("rule_id") or "",
        "title": row.get("title") or "",
        "level": row.get("level") or "",
        "attack": [t for t in attack.split(",") if t],
        "author": row.get("author") or "",
    }


def write_alerts(
    detection: Detection,
    settings: Settings | None = None,
    *,
    engine: str = "pandas",
    index: str = ALERTS_INDEX,
    es: Any = None,
) -> AlertsReport:
    """Index ``detection``'s hits and correlation alerts in ``index`` (``huntlab-alerts``);
    the index template is put first when the cluster lacks it. Every document is accounted
    for: written or refused (with the first reasons), and a refusal is an error."""
    from elasticsearch import helpers

    from huntlab.es.client import check, client
    from huntlab.es.setup import resource_files
    from huntlab.settings import load_settings

    if not index.startswith(ALERTS_INDEX):
        raise HuntlabError(
            f"alerts go to an index named {ALERTS_INDEX}* (its template maps them); got {index!r}"
        )
    settings = settings or load_settings()
    es = es if es is not None else client(settings)
    check(es, settings)
    if not es.indices.exists_index_template(name=TEMPLATE):
        [path] = [p for p in resource_files("index-templates") if p.stem == TEMPLATE]
        es.indices.put_index_template(name=TEMPLATE, **json.loads(path.read_text("utf-8")))
    report = AlertsReport(index)
    actions = (
        {"_op_type": "index", "_index": index, "_id": doc_id, "_source": doc}
        for doc_id, doc in documents(detection, engine)
    )
    for ok, item in helpers.streaming_bulk(
        es, actions, chunk_size=1000, raise_on_error=False, raise_on_exception=False
    ):
        if ok:
            report.written += 1
            continue
        report.failed += 1
        if len(report.reasons) < 5:
            answer: dict[str, Any] = next(iter(item.values()), {})
            report.reasons.append(str(answer.get("error")))
    if report.written or report.failed:  # nothing sent: no index to refresh
        es.indices.refresh(index=index)
    if report.failed:
        try:
            remedy = _remedy(es, index)
        except Exception:  # the refusal is the error to show, whatever this one hit
            remedy = f"check the index's mapping against the {TEMPLATE} template"
        raise HuntlabError(f"{report.summary()}: {'; '.join(report.reasons)} ({remedy})")
    return report


def _remedy(es: Any, index: str) -> str:
    """What to do when ``index`` refused alerts: an index whose mapping is not the one the
    template gives (made before it, or by someone else) is deleted and written again; else the
    template itself refuses them, which is huntlab's fault."""
    wanted = es.indices.simulate_index_template(name=index)["template"]["mappings"]
    have = next(iter(es.indices.get_mapping(index=index).body.values()))["mappings"]
    if have != wanted:
        return (
            f"{index} was not made from huntlab's {TEMPLATE} template: delete that index and "
            "rerun the same `huntlab detect ... --alerts` (alerts keep their ids; those of other "
            "runs in it go with it)"
        )
    return f"the {TEMPLATE} template refuses them: a fault of huntlab, please report it"
