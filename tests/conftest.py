"""Shared test setup. Service fixtures live in tests/support/fixtures/ (one module per service)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.support.paths import REPO

# The table cache (huntlab.readers.cache) is off for the suite unless asked for, so that every
# reader test parses its source, on every run; tests/unit/test_readers_cache.py turns it on in
# a cache folder of its own. (HUNTLAB_TABLE_CACHE=1 ./test.sh runs the suite through it.)
os.environ.setdefault("HUNTLAB_TABLE_CACHE", "0")

pytest_plugins = [
    "tests.support.fixtures.spark",
    "tests.support.fixtures.elasticsearch",
    "tests.support.fixtures.lab",
    "tests.support.fixtures.ingest_node",
    "tests.support.fixtures.team",
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
def sigma_dir() -> Path:
    """SigmaHQ rules and regression samples (../shared/sigma), read in place."""
    path = shared_dir() / "sigma"
    if not path.is_dir():
        pytest.fail(f"{path} not found: the detection tests read the rules from ../shared/sigma")
    return path


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where tests keep what a person may want to look at afterwards (screenshots)."""
    path = REPO / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path


# The dataset settings a test must not inherit from the shell that runs it.
DATASET_ENV = (
    "HUNTLAB_DATASETS_MIRROR",
    "HUNTLAB_DATASETS_METADATA",
    "HUNTLAB_DATASETS_BASE_URL",
    "HUNTLAB_DATASETS_METADATA_URL",
)


@pytest.fixture
def dataset_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty download cache (HUNTLAB_CACHE), with no dataset settings from the shell."""
    for name in DATASET_ENV:
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "cache"
    monkeypatch.setenv("HUNTLAB_CACHE", str(path))
    return path


@pytest.fixture(scope="session")
def metadata_dir(datasets_dir: Path) -> Path:
    """The upstream Security-Datasets metadata (../shared/security-datasets-metadata)."""
    path = datasets_dir.parent / "security-datasets-metadata"
    if not path.is_dir():
        pytest.fail(f"{path} not found: the catalog tests read the real upstream metadata")
    return path


@pytest.fixture(scope="session")
def readme_sha256(datasets_dir: Path) -> dict[str, str]:
    """The SHA-256 the shared README lists for each archive, by path under datasets_dir."""
    text = (datasets_dir / "README.md").read_text(encoding="utf-8")
    pairs = re.findall(r"^([0-9a-f]{64}) (\S+)$", text, flags=re.M)
    assert len(pairs) >= 10
    return {path: sha for sha, path in pairs}


# Markers are set here, from where a test lives and which service fixtures it uses, so that
# `-m "not es"` (or spark, lab, docker, browser) deselects every test that needs that service,
# whether or not its author remembered the decorator.
FOLDER_MARKERS: dict[str, tuple[str, ...]] = {
    "unit": (),
    "integration/es": ("es",),
    "integration/spark": ("spark",),
    "integration/detect": (),
    "integration/hunts": ("spark",),
    "e2e/lab": ("lab", "es", "spark"),
    "e2e/docker": ("docker",),
    "e2e/browser": ("browser", "lab", "es", "spark"),
    "e2e/notebooks": (),
    "e2e/team": ("team", "lab", "es", "spark"),
}
FIXTURE_MARKERS: dict[str, tuple[str, ...]] = {
    "spark": ("spark",),
    "es_settings": ("es",),
    "es_loaded": ("es",),
    "es_loaded_reports": ("es",),
    "ingest_node": ("es",),
    "tls_node": ("es",),
    "tls_loaded": ("es",),
    "existing_es": ("es",),
    "lab": ("lab", "es", "spark"),
    "stack": ("docker",),
    "team_lab": ("team", "lab", "es", "spark"),
    "docker_team": ("docker", "team"),
}
TESTS_DIR = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        relative = Path(str(item.path)).resolve().relative_to(TESTS_DIR).parent.as_posix()
        folder = next(
            (key for key in FOLDER_MARKERS if relative == key or relative.startswith(key + "/")),
            None,
        )
        if folder is None:
            raise pytest.UsageError(
                f"{item.nodeid}: tests live in one of {', '.join(FOLDER_MARKERS)} "
                "(tests/conftest.py sets their markers by folder)"
            )
        names = set(FOLDER_MARKERS[folder])
        for fixture in getattr(item, "fixturenames", ()):
            names.update(FIXTURE_MARKERS.get(fixture, ()))
        for name in sorted(names):
            item.add_marker(name)
