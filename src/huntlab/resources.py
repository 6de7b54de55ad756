"""Locate the files huntlab ships beside its code (index templates, pipelines, notebooks).

In a checkout (editable install) they are the repository's top-level folders; in a wheel they
are copies under ``huntlab/_resources``.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_REPO = _PACKAGE.parent.parent

_LAYOUT = {
    "elasticsearch": "elasticsearch",
    "notebooks": "jupyter/notebooks",
    "jupyter": "jupyter",
    "logstash": "logstash",
    "hub-templates": "jupyter/hub-templates",
}


def resource_dir(name: str) -> Path:
    """The folder of resource ``name`` (a key of ``_LAYOUT``)."""
    packaged = _PACKAGE / "_resources" / name
    if packaged.is_dir():
        return packaged
    in_repo = _REPO / _LAYOUT[name]
    if in_repo.is_dir():
        return in_repo
    raise FileNotFoundError(
        f"huntlab resource folder {name!r} not found under {packaged} or {in_repo}; "
        "reinstall huntlab"
    )
