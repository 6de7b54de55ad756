"""Where huntlab keeps its state and how it reaches the lab's services.

Precedence, as in every huntlab command: a command-line flag, then an environment variable
(``HUNTLAB_*``), then the home's ``config.json`` (written by ``huntlab up``), then the default.
Nothing here touches the disk at import time.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

DEFAULT_BIND = "127.0.0.1"


def local_es_url(port: int, scheme: str = "http") -> str:
    """The URL of the lab's Elasticsearch node on this machine (it listens on loopback only)."""
    return f"{scheme}://127.0.0.1:{int(port)}"


def basic_auth_headers(user: str, password: str) -> dict[str, str]:
    """The HTTP ``Authorization`` header for ``user`` and ``password`` (basic auth)."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return {"Authorization": f"Basic {token}"}


def read_config_file(path: Path) -> dict[str, Any]:
    """A home's ``config.json`` as a dict ({} when absent); the one reader of that file.

    A broken file is a HuntlabError naming it and what to do, for every command.
    """
    from huntlab.errors import HuntlabError

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise HuntlabError(f"{path}: not readable JSON ({exc}); fix or delete it") from exc
    if not isinstance(data, dict):
        raise HuntlabError(f"{path}: expected a JSON object; fix or delete it")
    return data


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value).expanduser() if value else default


VERBOSE_ENV = "HUNTLAB_VERBOSE"


def verbose() -> bool:
    """Details asked for (``huntlab -v``, or HUNTLAB_VERBOSE=1): what is started, with which
    command and log, and the output of the tools huntlab runs quietly (Spark's Ivy)."""
    return os.environ.get(VERBOSE_ENV, "") not in ("", "0", "false")


def home_dir() -> Path:
    """The huntlab home: lab state (data, logs, token, config). ``HUNTLAB_HOME``."""
    return _env_path("HUNTLAB_HOME", Path.home() / ".huntlab")


def cache_dir() -> Path:
    """Downloads shared by every home (engine zips, jars, dataset archives). ``HUNTLAB_CACHE``."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return _env_path("HUNTLAB_CACHE", base / "huntlab")


@dataclass(frozen=True)
class Settings:
    """Endpoints and credentials of one lab (or of a cluster the user brings)."""

    home: Path = field(default_factory=home_dir)
    cache: Path = field(default_factory=cache_dir)
    es_url: str = field(default_factory=lambda: local_es_url(9200))
    es_user: str | None = None
    es_password: str | None = None
    # A file whose first line is es_password (used when es_user is set and no password is
    # given): config.json can name the lab admin's password without holding it.
    es_password_file: str | None = None
    es_api_key: str | None = None
    es_ca: str | None = None
    es_port: int = 9200
    es_heap: str = "1g"
    spark_master: str = "spark://127.0.0.1:7077"
    spark_master_port: int = 7077
    spark_master_ui_port: int = 8080
    spark_worker_ui_port: int = 8081
    spark_workers: int = 1  # local Spark workers of the native lab
    # Encrypt the drivers' Spark RPC (spark.network.crypto.enabled): on for an existing
    # cluster the lab was pointed at (`huntlab up --spark-master URL`), which must have it on.
    spark_network_crypto: bool = False
    jupyter_port: int = 8888
    # The team server's hub and its proxy's API (both on loopback; the door is jupyter_port).
    hub_port: int = 8881
    hub_proxy_api_port: int = 8882
    listen: str = DEFAULT_BIND

    @property
    def config_file(self) -> Path:
        return self.home / "config.json"

    def auth_headers(self) -> dict[str, str]:
        """The HTTP ``Authorization`` header of these credentials ({} when none): an API key
        first, as the Elasticsearch client does, else the user and password."""
        if self.es_api_key:
            return {"Authorization": f"ApiKey {self.es_api_key}"}
        if self.es_user:
            return basic_auth_headers(self.es_user, self.es_password or "")
        return {}


_ENV_FIELDS: dict[str, str] = {
    "HUNTLAB_ES_URL": "es_url",
    "HUNTLAB_ES_USER": "es_user",
    "HUNTLAB_ES_PASSWORD": "es_password",
    "HUNTLAB_ES_PASSWORD_FILE": "es_password_file",
    "HUNTLAB_ES_API_KEY": "es_api_key",
    "HUNTLAB_ES_CA": "es_ca",
    "HUNTLAB_ES_PORT": "es_port",
    "HUNTLAB_ES_HEAP": "es_heap",
    "HUNTLAB_SPARK_MASTER": "spark_master",
    "HUNTLAB_SPARK_MASTER_PORT": "spark_master_port",
    "HUNTLAB_SPARK_MASTER_UI_PORT": "spark_master_ui_port",
    "HUNTLAB_SPARK_WORKER_UI_PORT": "spark_worker_ui_port",
    "HUNTLAB_SPARK_WORKERS": "spark_workers",
    "HUNTLAB_SPARK_NETWORK_CRYPTO": "spark_network_crypto",
    "HUNTLAB_JUPYTER_PORT": "jupyter_port",
    "HUNTLAB_HUB_PORT": "hub_port",
    "HUNTLAB_HUB_PROXY_API_PORT": "hub_proxy_api_port",
    "HUNTLAB_LISTEN": "listen",
}


def _coerce(name: str, value: Any, config_file: Path) -> Any:
    kinds = {f.name: f.type for f in fields(Settings)}
    if kinds.get(name) in ("bool", bool) and not isinstance(value, bool):
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off", ""):
            return False
        from huntlab.errors import HuntlabError

        env = next((k for k, v in _ENV_FIELDS.items() if v == name), "")
        raise HuntlabError(f"{name} = {value!r} is not true or false; fix {env} or {config_file}")
    if kinds.get(name) in ("int", int):
        try:
            return int(value)
        except (TypeError, ValueError):
            from huntlab.errors import HuntlabError

            env = next((k for k, v in _ENV_FIELDS.items() if v == name), "")
            raise HuntlabError(
                f"{name} = {value!r} is not a whole number; fix the flag, {env} or {config_file}"
            ) from None
    return value


def load_settings(**overrides: Any) -> Settings:
    """Settings from defaults < ``config.json`` < ``HUNTLAB_*`` variables < ``overrides``.

    ``overrides`` whose value is ``None`` are ignored, so command-line options can be passed
    through as they are.
    """
    settings = Settings()
    home = overrides.get("home")
    if home is not None:
        settings = replace(settings, home=Path(home))
    values: dict[str, Any] = {}
    stored = read_config_file(settings.config_file)
    values.update({k: v for k, v in stored.items() if k in _FIELD_NAMES})
    for env_name, field_name in _ENV_FIELDS.items():
        if os.environ.get(env_name):
            values[field_name] = os.environ[env_name]
    values.update({k: v for k, v in overrides.items() if v is not None and k != "home"})
    values = {k: _coerce(k, v, settings.config_file) for k, v in values.items()}
    # A port given alone implies the local URL on that port.
    if "es_port" in values and "es_url" not in values:
        values["es_url"] = local_es_url(values["es_port"])
    if "spark_master_port" in values and "spark_master" not in values:
        values["spark_master"] = f"spark://127.0.0.1:{values['spark_master_port']}"
    settings = replace(settings, **values)
    if settings.es_user and not settings.es_password and settings.es_password_file:
        settings = replace(settings, es_password=_password_from_file(settings))
    return settings


def _password_from_file(settings: Settings) -> str:
    from huntlab.errors import HuntlabError

    path = Path(str(settings.es_password_file)).expanduser()
    where = f"es_password_file (HUNTLAB_ES_PASSWORD_FILE or {settings.config_file})"
    try:
        with path.open(encoding="utf-8") as fh:
            line = fh.readline().rstrip("\r\n")
    except OSError as exc:
        raise HuntlabError(
            f"{path}: cannot read the Elasticsearch password of user {settings.es_user!r} "
            f"({exc.strerror or exc}); it is named by {where}: fix that setting or give "
            "HUNTLAB_ES_PASSWORD"
        ) from exc
    if not line:
        raise HuntlabError(
            f"{path}: empty first line, expected the Elasticsearch password of user "
            f"{settings.es_user!r} (named by {where})"
        )
    return line


_FIELD_NAMES = {f.name for f in fields(Settings)} - {"home", "cache"}
