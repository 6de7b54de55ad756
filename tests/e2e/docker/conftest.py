"""The Docker engine and the local stand-ins for registry images, shared by the container
tests (the single analyst's stack, test_docker.py; the team server's, test_team_docker.py)."""

from __future__ import annotations

import pytest

from tests.support.docker_stack import run as _run
from tests.support.docker_stack import venv_env as _venv_env


@pytest.fixture(scope="session")
def engine() -> None:
    _run(["bash", "tests/support/docker-engine.sh"], env=_venv_env(), timeout=300)


@pytest.fixture(scope="session")
def local_images(engine: None) -> dict[str, str]:
    """Stand-ins for the registry images: a debootstrap base and Elasticsearch from Maven."""
    from huntlab import versions

    env = _venv_env()
    _run(["bash", "docker/local-images/base-image.sh"], env=env, timeout=900)
    _run(["bash", "docker/local-images/elasticsearch-image.sh"], env=env, timeout=900)
    return {
        "BASE_IMAGE": "huntlab-local/debian:bookworm",
        "ELASTICSEARCH_IMAGE": "huntlab-local/elasticsearch",
        "version": versions.elastic_version(),
    }
