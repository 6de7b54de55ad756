"""The lab recorded in ``$HUNTLAB_HOME/config.json``: its runtime and the settings it runs with.

``huntlab.settings.load_settings`` reads the same file, so every later command (and every
notebook) reaches the lab that ``huntlab up`` started without flags.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from huntlab.files import atomic_write
from huntlab.settings import read_config_file


def config_path(home: Path) -> Path:
    return home / "config.json"


def read_config(home: Path) -> dict[str, Any]:
    return read_config_file(config_path(home))


def update_config(home: Path, **values: Any) -> dict[str, Any]:
    """Merge ``values`` into config.json (keys set to None are removed) and return it all."""
    data = read_config(home)
    for key, value in values.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    # It may hold Elasticsearch credentials: readable by its owner only (atomic_write's mode).
    atomic_write(config_path(home), json.dumps(data, indent=2, sort_keys=True) + "\n")
    return data


def recorded_runtime(home: Path) -> str | None:
    """The runtime ``huntlab up`` recorded (``lab.runtime`` checks it names one it knows)."""
    runtime = read_config(home).get("runtime")
    return runtime if isinstance(runtime, str) and runtime else None
