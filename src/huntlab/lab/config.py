"""The lab recorded in ``$HUNTLAB_HOME/config.json``: its runtime and the settings it runs with.

``huntlab.settings.load_settings`` reads the same file, so every later command (and every
notebook) reaches the lab that ``huntlab up`` started without flags.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from huntlab.errors import HuntlabError

RUNTIMES = ("native", "docker")


def config_path(home: Path) -> Path:
    return home / "config.json"


def read_config(home: Path) -> dict[str, Any]:
    path = config_path(home)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise HuntlabError(f"{path}: not readable JSON ({exc}); fix or delete it") from exc
    if not isinstance(data, dict):
        raise HuntlabError(f"{path}: expected a JSON object; fix or delete it")
    return data


def update_config(home: Path, **values: Any) -> dict[str, Any]:
    """Merge ``values`` into config.json (keys set to None are removed) and return it all."""
    data = read_config(home)
    for key, value in values.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    path = config_path(home)
    home.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    # It may hold Elasticsearch credentials: readable by its owner only.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, sort_keys=True)
        fh.write("\n")
    os.replace(tmp, path)
    return data


def recorded_runtime(home: Path) -> str | None:
    runtime = read_config(home).get("runtime")
    return runtime if runtime in RUNTIMES else None
