"""The "PySpark (huntlab)" Jupyter kernel's start: ``spark`` and ``sc`` ready, as in the
tutorial series' PySpark kernel.

The kernel (``jupyter/kernels/pyspark-huntlab/kernel.json``) is IPython with two start lines
that call :func:`start`: the lab's SparkSession (its master, the Elasticsearch connector, the
lab's Spark secret) opened once at kernel start. When it cannot be opened, ``spark`` and ``sc``
are placeholders whose first use raises the reason, so a notebook fails loudly where it uses
Spark rather than with a NameError.
"""

from __future__ import annotations

from typing import Any, NoReturn

APP_NAME = "pyspark-kernel"


class SparkUnavailable:
    """Stands for ``spark``/``sc`` when the session could not be opened."""

    def __init__(self, reason: BaseException) -> None:
        self._reason = reason

    def _raise(self) -> NoReturn:
        raise RuntimeError(
            "the PySpark (huntlab) kernel could not open the lab's Spark session at start: "
            f"{self._reason!r}. Check `huntlab status`, then restart the kernel"
        ) from self._reason

    def __getattr__(self, name: str) -> Any:
        self._raise()

    def __repr__(self) -> str:
        return f"<Spark unavailable: {self._reason!r}>"


def _check_master(master: str) -> None:
    """A standalone master that does not answer would hold the kernel's start for a minute
    of retries: ask it first, briefly."""
    if not master.startswith("spark://"):
        return
    from huntlab.spark.master import reachable

    problem = reachable(master, timeout=3)
    if problem:
        raise ConnectionError(f"the Spark master {master} does not answer ({problem})")


def start(app_name: str = APP_NAME) -> tuple[Any, Any]:
    """``(spark, sc)``: the lab's session and its context, or placeholders that raise why."""
    try:
        from huntlab.settings import load_settings
        from huntlab.spark.session import session

        settings = load_settings()
        _check_master(settings.spark_master)
        spark = session(app_name, settings=settings)
    except Exception as exc:  # shown at first use, in the notebook
        missing = SparkUnavailable(exc)
        return missing, missing
    return spark, spark.sparkContext
