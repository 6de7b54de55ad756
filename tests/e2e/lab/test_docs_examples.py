"""Every shell and Python example of README.md and docs/*.md runs as written against a real
native lab (offline, the shared recordings as the mirror), in a folder holding the files the
examples name (broken.zip, big.json, recording.evtx, sigma/, sigma-rules.zip). An example that
needs another setting says which test covers it (tests/support/docs_examples.py); that test
must exist. Python lines that state their result in a comment are checked against it."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
import yaml

from tests.support.docs_examples import Example, examples, with_stated_results
from tests.support.fixtures.lab import NativeLab
from tests.support.paths import REPO

EXAMPLES = examples()
WMI_2020 = "empire_wmi_dcerpc_wmi_IWbemServices_ExecMethod"


def test_the_docs_have_examples_and_each_runs_or_names_its_test() -> None:
    assert len(EXAMPLES) >= 20, [e.name for e in EXAMPLES]
    for example in EXAMPLES:
        if example.note:
            assert example.covered_by is not None, (
                f"{example.name}: a docs-test note says 'covered by tests/...' (the test that "
                f"runs what the example shows), not {example.note!r}"
            )
            assert example.covered_by.is_file(), f"{example.name}: {example.covered_by} is gone"


def _high_rule_sample(sigma: Path) -> Path:
    """A regression .evtx of SigmaHQ for a high-level rule of rules/windows."""
    for rule in sorted((sigma / "rules" / "windows" / "process_creation").glob("*.yml")):
        samples = sorted((sigma / "regression_data" / "rules" / "windows" / "process_creation"
                          / rule.stem).glob("*.evtx"))  # fmt: skip
        if samples and yaml.safe_load(rule.read_text(encoding="utf-8")).get("level") == "high":
            return samples[0]
    pytest.fail(f"no regression sample of a high-level process_creation rule under {sigma}")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory, datasets_dir: Path) -> Path:
    """Where the examples run: the files they name, made from the shared data."""
    here = tmp_path_factory.mktemp("docs-examples")
    sigma = datasets_dir.parent / "sigma"
    (here / "sigma").symlink_to(sigma)
    (here / "recording.evtx").symlink_to(_high_rule_sample(sigma))
    with zipfile.ZipFile(here / "sigma-rules.zip", "w") as archive:  # as SigmaHQ releases them
        for rule in sorted((sigma / "rules" / "windows" / "process_creation").glob("*.yml")):
            archive.write(rule, f"rules/windows/process_creation/{rule.name}")
    wmi = datasets_dir / "windows" / "empire_invoke_wmi" / "empire_invoke_wmi.tar.gz"
    (here / "empire_invoke_wmi.tar.gz").symlink_to(wmi)
    with zipfile.ZipFile(datasets_dir / "windows" / WMI_2020 / "host" / f"{WMI_2020}.zip") as z:
        lines = z.read(z.namelist()[0]).splitlines(keepends=True)
    (here / "big.json").write_bytes(b"".join(lines))
    lines[100] = b'{"EventID": 1, "Image": }\n'  # one broken line: read 6,383, kept 6,382
    with zipfile.ZipFile(here / "broken.zip", "w") as archive:
        archive.writestr("broken.json", b"".join(lines))
    with tarfile.open(wmi) as tar:
        assert tar.getmembers()
    return here


def _env(lab: NativeLab, metadata_dir: Path) -> dict[str, str]:
    env = dict(lab.env)
    env["HUNTLAB_DATASETS_METADATA"] = str(metadata_dir)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_example(
    example: Example, native_lab: NativeLab, folder: Path, metadata_dir: Path
) -> None:
    if example.note:
        pytest.skip(f"{example.note} (checked by the first test of this module)")
    assert native_lab.install.returncode == 0, native_lab.install.stderr[-3000:]
    if example.language == "python":
        cmd = [sys.executable, "-c", with_stated_results(example.code)]
    else:
        cmd = ["bash", "-euo", "pipefail", "-c", example.code]
    done = subprocess.run(cmd, cwd=folder, env=_env(native_lab, metadata_dir), capture_output=True,
                          text=True, timeout=900, check=False)  # fmt: skip
    said = f"--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-4000:]}"
    assert done.returncode == 0, f"{example.name} exited {done.returncode}\n{said}"
    assert "Traceback" not in done.stderr, said


def test_the_examples_files_are_the_ones_they_name(folder: Path) -> None:
    """The folder holds what the examples name, nothing the docs do not mention."""
    text = "\n".join(e.code for e in EXAMPLES)
    for name in ("broken.zip", "big.json", "recording.evtx", "sigma-rules.zip",
                 "empire_invoke_wmi.tar.gz", "sigma/rules/windows"):  # fmt: skip
        assert name in text, name
        assert (folder / name).exists(), name
    assert REPO.is_dir()
