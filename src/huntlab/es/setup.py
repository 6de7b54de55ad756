"""Apply the lab's Elasticsearch resources (``elasticsearch/``), idempotently.

Component templates, the index template, the ingest pipeline, then the four family indexes
(so the ``huntlab`` alias answers even before a load). Rerunning changes nothing that is
already right; it never deletes data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from huntlab.es import indices
from huntlab.resources import resource_dir
from huntlab.settings import Settings, load_settings

PIPELINE = indices.PIPELINE


@dataclass
class SetupReport:
    component_templates: list[str] = field(default_factory=list)
    index_templates: list[str] = field(default_factory=list)
    pipelines: list[str] = field(default_factory=list)
    created_indexes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _read(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = orjson.loads(path.read_bytes())
    return data


def resource_files(kind: str) -> list[Path]:
    """The JSON files of ``kind`` (component-templates, index-templates, ingest-pipelines)."""
    return sorted((resource_dir("elasticsearch") / kind).glob("*.json"))


def missing_processors(es: Any, pipeline: dict[str, Any]) -> set[str]:
    """Processor types the pipeline uses that some node lacks (e.g. the native node, whose
    distribution has no ingest-common module)."""
    wanted = {next(iter(p)) for p in pipeline.get("processors", [])}
    nodes = es.nodes.info(metric="ingest").body.get("nodes", {})
    missing: set[str] = set()
    for node in nodes.values():
        have = {p["type"] for p in node.get("ingest", {}).get("processors", [])}
        missing |= wanted - have
    return missing


def setup(settings: Settings | None = None, *, es: Any = None) -> SetupReport:
    from huntlab.es.client import check, client

    settings = settings or load_settings()
    es = es if es is not None else client(settings)
    check(es, settings)
    report = SetupReport()
    for path in resource_files("component-templates"):
        body = _read(path)
        es.cluster.put_component_template(name=path.stem, **body)
        report.component_templates.append(path.stem)
    for path in resource_files("index-templates"):
        es.indices.put_index_template(name=path.stem, **_read(path))
        report.index_templates.append(path.stem)
    for path in resource_files("ingest-pipelines"):
        body = _read(path)
        missing = missing_processors(es, body)
        if missing:
            report.warnings.append(
                f"no ingest pipeline {path.stem}: this Elasticsearch lacks the processors "
                f"{', '.join(sorted(missing))} (the native node has no ingest-common module). "
                "`huntlab load` maps events itself and does not need it; raw events another "
                "shipper sends are stored unmapped (live data: the docker runtime's Logstash)"
            )
            continue
        es.ingest.put_pipeline(id=path.stem, **body)
        report.pipelines.append(path.stem)
    for index in indices.ALL_INDEXES:
        if not es.indices.exists(index=index):
            es.options(ignore_status=400).indices.create(index=index)
            report.created_indexes.append(index)
    es.cluster.health(index=",".join(indices.ALL_INDEXES), wait_for_status="yellow", timeout="60s")
    return report
