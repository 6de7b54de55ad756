"""The stand-in distribution: the cached Elasticsearch distribution plus the
``huntlab-analysis-standin`` plugin (see its source), as a hard-linked copy.

What the Docker stand-in image (docker/local-images/elasticsearch-image.sh) and the tests'
secured nodes run, so that the ``.security`` index (users, roles, API keys) can be created.
The lab's own native node runs the distribution as shipped.

``python -m tests.support.es_standin`` (from the checkout) prints the copy's folder.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from huntlab.java import find_java
from huntlab.lab.native.distribution import install
from huntlab.lab.native.plugins import install_plugin, install_root_plugin, plugin_source
from huntlab.settings import Settings, load_settings

STANDIN_PLUGIN = "huntlab-analysis-standin"


def standin_distribution(settings: Settings | None = None) -> Path:
    settings = settings or load_settings()
    java = find_java()
    dist = install(settings, java, progress=False)
    copy = dist.with_name(dist.name + "-standin")
    if not (copy / "bin" / "elasticsearch").is_file():
        shutil.rmtree(copy, ignore_errors=True)
        staging = Path(tempfile.mkdtemp(dir=dist.parent, prefix=".standin-"))
        try:
            # Hard links: no 200 MB copy; the server never writes into its installation.
            shutil.copytree(dist, staging / "dist", copy_function=os.link)
            try:
                (staging / "dist").rename(copy)
            except OSError:
                if not (copy / "bin" / "elasticsearch").is_file():
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    install_root_plugin(copy, java)  # rebuilt here too when its source changed
    install_plugin(copy, plugin_source(STANDIN_PLUGIN), java)
    return copy


if __name__ == "__main__":
    print(standin_distribution())
