"""What the native lab puts into its Elasticsearch node: templates, pipeline, default datasets.

Each loaded dataset's event count is recorded in config.json, so a rerun of ``huntlab up``
loads only what is missing or incomplete.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from huntlab.errors import HuntlabError
from huntlab.lab.config import read_config, update_config
from huntlab.settings import Settings

Say = Callable[[str], None]


def setup_es(settings: Settings, say: Say) -> None:
    from huntlab.es.setup import setup

    report = setup(settings)
    done = f"{len(report.index_templates)} index templates"
    if report.pipelines:
        done += f", ingest pipeline {', '.join(report.pipelines)}"
    say(f"huntlab: Elasticsearch set up ({done})")
    for warning in report.warnings:
        say(f"huntlab: note: {warning}")


def dataset_count(settings: Settings, name: str) -> int | None:
    from huntlab.es.client import client
    from huntlab.es.indices import PATTERN

    try:
        answer = client(settings).count(
            index=PATTERN, query={"term": {"Dataset": name}}, ignore_unavailable=True
        )
    except Exception:  # no index yet, or a node that went away: treat as not loaded
        return None
    return int(answer["count"])


def record_loaded(settings: Settings, name: str) -> int | None:
    """Record dataset ``name``'s count when it was loaded by hand (``huntlab load NAME``) into
    the native lab of ``settings.home``, so that the next ``huntlab up`` does not load it
    again. Nothing is recorded for another cluster, or a home that is not a native lab."""
    stored = read_config(settings.home)
    if stored.get("runtime") != "native" or stored.get("es_url") != settings.es_url:
        return None
    count = dataset_count(settings, name)
    if count:
        loaded = dict(stored.get("datasets_loaded") or {})
        loaded[name] = count
        update_config(settings.home, datasets_loaded=loaded)
    return count


def load_datasets(home: Path, settings: Settings, names: Iterable[str] | None, say: Say) -> None:
    """Load ``names`` (the default datasets when None), skipping those already loaded whole;
    one that cannot be had is reported with how to load it later, and the lab runs without."""
    from huntlab import datasets as catalog
    from huntlab.es.loader import load

    wanted = list(names) if names is not None else list(catalog.DEFAULT_DATASETS)
    loaded: dict[str, int] = dict(read_config(home).get("datasets_loaded") or {})
    for name in wanted:
        recorded = loaded.get(name)
        if recorded is not None and dataset_count(settings, name) == recorded:
            say(f"huntlab: {name}: already loaded ({recorded} events)")
            continue
        try:
            # Into the store (the workspace's datasets/ links there), from a mirror if set.
            catalog.keep(name)
        except HuntlabError as exc:
            say(
                f"huntlab: {name}: not loaded ({exc}).\n"
                f"  The lab runs without it. To load it later: set HUNTLAB_DATASETS_MIRROR to a "
                f"folder of Security-Datasets archives (or go online) and run `huntlab load {name}`"
            )
            continue
        say(f"huntlab: loading {name} into Elasticsearch")
        report = load(name, settings=settings)
        count = dataset_count(settings, name)
        loaded[name] = count if count is not None else int(getattr(report, "indexed", 0))
        update_config(home, datasets_loaded=loaded)
