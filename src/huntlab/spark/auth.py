"""The shared secret of the native lab's Spark standalone cluster (``spark.authenticate``).

One random secret per home, mode 600 in ``$HUNTLAB_HOME/spark/secret``. The master and the
worker get it in their environment (``_SPARK_AUTH_SECRET``, which Spark's SecurityManager reads;
the worker hands it to its executors the same way); the lab's drivers read it from the home
(:func:`huntlab.spark.session`). It is never put on a command line.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from huntlab.files import atomic_write, read_secret_line

SECRET_FILE = "secret"
# Where Spark's daemons read the secret (SecurityManager.ENV_AUTH_SECRET).
SECRET_ENV = "_SPARK_AUTH_SECRET"
SECRET_BYTES = 32


def secret_path(home: Path) -> Path:
    return home / "spark" / SECRET_FILE


def read_secret(home: Path) -> str | None:
    """The home's Spark secret, or None when the home has none (no native Spark ran)."""
    return read_secret_line(
        secret_path(home),
        "the Spark secret",
        "delete it and run `huntlab up` to make a new one",
    )


def ensure_secret(home: Path) -> str:
    """The home's Spark secret, made once from a CSPRNG (mode 600 from the start)."""
    existing = read_secret(home)
    if existing is not None:
        return existing
    value = secrets.token_hex(SECRET_BYTES)
    atomic_write(secret_path(home), value + "\n")
    return value
