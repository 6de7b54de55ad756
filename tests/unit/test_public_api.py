"""``huntlab.catalog()`` and ``huntlab.es.search()`` are functions, whatever was imported."""

from __future__ import annotations

import subprocess
import sys


def test_functions_are_not_shadowed_by_their_modules() -> None:
    code = (
        "import huntlab, huntlab.dataset_catalog, huntlab.es.query, huntlab.datasets\n"
        "import types\n"
        "assert not isinstance(huntlab.catalog, types.ModuleType), huntlab.catalog\n"
        "assert huntlab.catalog is huntlab.dataset_catalog.catalog\n"
        "assert huntlab.es.search is huntlab.es.query.search\n"
        "assert not isinstance(huntlab.dataset_catalog, types.FunctionType)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
