"""What the hunts' tests share: the sample playbook in ../shared/threathunter-playbook, and
an environment in which its recordings' names resolve to its datasets folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import DATASET_ENV, shared_dir


def playbook_root() -> Path:
    return shared_dir() / "threathunter-playbook"


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The environment in which dataset names resolve to the shared recordings: the mirror,
    an empty store, no other dataset settings."""
    env = {
        "HUNTLAB_DATASETS_MIRROR": str(playbook_root() / "datasets"),
        "HUNTLAB_CACHE": str(tmp_path_factory.mktemp("cache")),
    }
    with pytest.MonkeyPatch.context() as patch:
        for name in DATASET_ENV:
            patch.delenv(name, raising=False)
        for name, value in env.items():
            patch.setenv(name, value)
        yield env
