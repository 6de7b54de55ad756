"""Dataset names are one safe path component, and nothing the store writes leaves the store."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from huntlab import datasets
from huntlab.errors import HuntlabError

ARCHIVE = "linux/sh_arp_cache/sh_arp_cache.zip"


def _files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()} if root.exists() else set()


@pytest.mark.parametrize(
    "name", ["../../outside/evil", "..", ".", "a/b", "/tmp/abs", "x\\y", "", " lead", "é"]
)
def test_import_refuses_a_name_that_is_not_one_safe_component(
    dataset_cache: Path, datasets_dir: Path, tmp_path: Path, name: str
) -> None:
    before = _files_under(tmp_path)
    with pytest.raises(HuntlabError) as err:
        datasets.import_path(datasets_dir / ARCHIVE, name=name)
    assert "dataset name" in str(err.value)
    assert _files_under(tmp_path) == before


def test_cli_import_with_a_traversal_name_fails_clearly_and_writes_nothing_outside(
    dataset_cache: Path, datasets_dir: Path, tmp_path: Path
) -> None:
    outside = dataset_cache.parent / "outside"
    result = subprocess.run(
        [sys.executable, "-m", "huntlab", "datasets", "import", str(datasets_dir / ARCHIVE),
         "--name", "../../outside/evil"],
        capture_output=True, text=True, env=os.environ.copy(), timeout=120,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("huntlab: error: ") and "../../outside/evil" in line
    assert not outside.exists()
    assert not (tmp_path / "outside").exists()
    assert not _files_under(dataset_cache / "dataset-manifests")


def test_a_safe_name_is_accepted(dataset_cache: Path, datasets_dir: Path) -> None:
    [stored] = datasets.import_path(datasets_dir / ARCHIVE, name="my-arp_cache.v2")
    assert stored.path == dataset_cache / "datasets" / "my-arp_cache.v2" / "sh_arp_cache.zip"


def test_names_from_elsewhere_are_checked_too(dataset_cache: Path) -> None:
    with pytest.raises(HuntlabError, match="dataset name"):
        datasets.read_manifest("../escape")
    with pytest.raises(HuntlabError, match="dataset name"):
        datasets.local_files("../../etc")
