"""Shared test setup. Service fixtures live in tests/fixtures/ (one module per service)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

pytest_plugins = [
    "tests.fixtures.spark",
    "tests.fixtures.elasticsearch",
    "tests.fixtures.lab",
]


def shared_dir() -> Path:
    """``../shared`` beside the checkout (or ``HUNTLAB_SHARED``), holding the real datasets."""
    return Path(os.environ.get("HUNTLAB_SHARED", REPO.parent / "shared")).resolve()


@pytest.fixture(scope="session")
def datasets_dir() -> Path:
    path = shared_dir() / "datasets"
    if not path.is_dir():
        pytest.fail(f"{path} not found: the tests read the real recordings from ../shared/datasets")
    return path


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where tests keep what a person may want to look at afterwards (screenshots)."""
    path = REPO / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path
