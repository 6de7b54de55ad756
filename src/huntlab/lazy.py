"""Attributes of a package imported on first use, so that importing the package stays cheap
and does no I/O (``huntlab``, ``huntlab.es``, ``huntlab.detect`` use it)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_attributes(package: str, table: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: ``table`` maps a public name to
    ``"module:attribute"`` (or to ``"module"`` for the module itself). The value is bound in
    the package on first use, replacing a submodule of the same name that the import bound."""

    def __getattr__(name: str) -> Any:
        target = table.get(name)
        if target is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module_name, _, attr = target.partition(":")
        module = importlib.import_module(module_name)
        value = getattr(module, attr) if attr else module
        vars(sys.modules[package])[name] = value
        return value

    return __getattr__
