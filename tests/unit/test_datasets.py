"""The local dataset store: get from the mirror, import, resolve (no network involved)."""

from __future__ import annotations

import functools
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from huntlab import datasets
from huntlab.dataset_catalog import archive_stem, catalog
from huntlab.errors import DatasetNotFound, HuntlabError

WMI_2020 = "empire_wmi_dcerpc_wmi_IWbemServices_ExecMethod"


@functools.cache
def _ids_by_stem(metadata_dir: Path) -> dict[str, str]:
    out = {}
    for path in metadata_dir.rglob("*.yaml"):
        doc: dict[str, Any] = yaml.safe_load(path.read_text("utf-8"))
        for f in doc["files"] or []:
            out[archive_stem(f["link"].rsplit("/", 1)[1])] = str(doc["id"])
    return out


def _dataset_id_for(metadata_dir: Path, stem: str) -> str:
    """The id of the metadata document one of whose links is the archive ``stem``."""
    return _ids_by_stem(metadata_dir)[stem]


def test_get_from_the_mirror_records_the_checksum(
    dataset_cache: Path, monkeypatch: pytest.MonkeyPatch, datasets_dir: Path, metadata_dir: Path,
    readme_sha256: dict[str, str],
) -> None:
    monkeypatch.setenv("HUNTLAB_DATASETS_MIRROR", str(datasets_dir))
    monkeypatch.setenv("HUNTLAB_DATASETS_METADATA", str(metadata_dir))
    ident = _dataset_id_for(metadata_dir, WMI_2020)
    got = {f.relpath: f for f in datasets.get(ident)}
    assert set(got) == {f"host/{WMI_2020}.zip", f"network/{WMI_2020}.zip"}
    manifest = datasets.read_manifest(WMI_2020)
    assert manifest["id"] == ident
    for rel, stored in got.items():
        expected = readme_sha256[f"windows/{WMI_2020}/{rel}"]
        assert stored.origin == "mirror"
        assert stored.sha256 == expected
        assert datasets.sha256_file(stored.path) == expected
        assert manifest["files"][rel]["sha256"] == expected
        assert manifest["files"][rel]["size"] == stored.path.stat().st_size

    again = datasets.get(WMI_2020, verify=True)
    assert {f.origin for f in again} == {"store"}
    assert sum(f.fetched for f in again) == 0
    # Reading resolves to the host archive (the network captures are not events).
    monkeypatch.delenv("HUNTLAB_DATASETS_MIRROR")
    assert datasets.resolve(WMI_2020) == dataset_cache / "datasets" / WMI_2020 / f"host/{WMI_2020}.zip"


def test_get_a_host_file_kept_beside_its_folder_in_the_mirror(
    dataset_cache: Path, monkeypatch: pytest.MonkeyPatch, datasets_dir: Path, metadata_dir: Path,
    readme_sha256: dict[str, str],
) -> None:
    # The mirror keeps empire_launcher_vbs.zip without a host/ level; the store adds it.
    monkeypatch.setenv("HUNTLAB_DATASETS_MIRROR", str(datasets_dir))
    monkeypatch.setenv("HUNTLAB_DATASETS_METADATA", str(metadata_dir))
    ds = catalog().get("empire_launcher_vbs")
    assert datasets.local_state(ds) == "mirror"  # readable from there; not stored yet
    [stored] = datasets.get(ds.id)
    assert stored.path == dataset_cache / "datasets/empire_launcher_vbs/host/empire_launcher_vbs.zip"
    assert stored.sha256 == readme_sha256["windows/empire_launcher_vbs/empire_launcher_vbs.zip"]
    assert datasets.local_state(ds) == "yes"


def test_get_a_name_only_the_mirror_knows(
    dataset_cache: Path, monkeypatch: pytest.MonkeyPatch, datasets_dir: Path, metadata_dir: Path,
    readme_sha256: dict[str, str],
) -> None:
    # The 2019 empire_invoke_wmi tarball is in no current metadata, but in the mirror.
    monkeypatch.setenv("HUNTLAB_DATASETS_MIRROR", str(datasets_dir))
    monkeypatch.setenv("HUNTLAB_DATASETS_METADATA", str(metadata_dir))
    assert catalog().find("empire_invoke_wmi") is None
    rel = "windows/empire_invoke_wmi/empire_invoke_wmi.tar.gz"
    [stored] = datasets.get("empire_invoke_wmi")
    assert (stored.origin, stored.sha256) == ("mirror", readme_sha256[rel])
    assert stored.path == dataset_cache / "datasets/empire_invoke_wmi/empire_invoke_wmi.tar.gz"
    [again] = datasets.get("empire_invoke_wmi")
    assert again.origin == "store"
    monkeypatch.delenv("HUNTLAB_DATASETS_MIRROR")
    assert datasets.resolve("empire_invoke_wmi") == stored.path


def test_get_only_some_kinds(
    dataset_cache: Path, monkeypatch: pytest.MonkeyPatch, datasets_dir: Path, metadata_dir: Path
) -> None:
    monkeypatch.setenv("HUNTLAB_DATASETS_MIRROR", str(datasets_dir))
    monkeypatch.setenv("HUNTLAB_DATASETS_METADATA", str(metadata_dir))
    got = datasets.get(WMI_2020, kinds=["host"])
    assert [f.relpath for f in got] == [f"host/{WMI_2020}.zip"]
    assert not (dataset_cache / "datasets" / WMI_2020 / "network").exists()
    assert datasets.local_state(catalog().get(WMI_2020)) == "partial"


def test_resolve_defaults_from_the_mirror_without_a_catalog(
    dataset_cache: Path, monkeypatch: pytest.MonkeyPatch, datasets_dir: Path
) -> None:
    monkeypatch.setenv("HUNTLAB_DATASETS_MIRROR", str(datasets_dir))
    assert datasets.DEFAULT_DATASETS == ("empire_invoke_wmi", WMI_2020)
    resolved = [datasets.resolve(name) for name in datasets.DEFAULT_DATASETS]
    assert resolved == [
        datasets_dir / "windows/empire_invoke_wmi/empire_invoke_wmi.tar.gz",
        datasets_dir / f"windows/{WMI_2020}/host/{WMI_2020}.zip",
    ]
    # A compound dataset with several event files resolves to its folder.
    assert datasets.resolve("GoldenSAMLADFSMailAccess") == (
        datasets_dir / "windows/GoldenSAMLADFSMailAccess"
    )
    # No catalog was needed, none was downloaded.
    assert not (dataset_cache / "catalog.json").exists()
    assert not (dataset_cache / "security-datasets-metadata").exists()


def test_resolve_paths_ids_and_unknown_names(
    dataset_cache: Path, monkeypatch: pytest.MonkeyPatch, datasets_dir: Path, metadata_dir: Path,
    tmp_path: Path,
) -> None:
    a_file = datasets_dir / "linux/sh_arp_cache/sh_arp_cache.zip"
    assert datasets.resolve(a_file) == a_file
    assert datasets.resolve(str(datasets_dir)) == datasets_dir

    monkeypatch.setenv("HUNTLAB_DATASETS_MIRROR", str(datasets_dir))
    monkeypatch.setenv("HUNTLAB_DATASETS_METADATA", str(metadata_dir))
    ident = _dataset_id_for(metadata_dir, WMI_2020)
    assert datasets.resolve(ident) == datasets_dir / f"windows/{WMI_2020}/host/{WMI_2020}.zip"

    with pytest.raises(DatasetNotFound) as err:
        datasets.resolve("empire_invoke_wm")
    assert "empire_invoke_wmi" in str(err.value)
    with pytest.raises(DatasetNotFound) as err:
        datasets.resolve(str(tmp_path / "missing.zip"))
    assert "missing.zip" in str(err.value)


def test_import_a_file_then_resolve_it(
    dataset_cache: Path, monkeypatch: pytest.MonkeyPatch, datasets_dir: Path, metadata_dir: Path,
    readme_sha256: dict[str, str],
) -> None:
    rel = "windows/empire_invoke_wmi/empire_invoke_wmi.tar.gz"
    [stored] = datasets.import_path(datasets_dir / rel)
    assert stored.dataset == "empire_invoke_wmi"
    assert stored.path == dataset_cache / "datasets/empire_invoke_wmi/empire_invoke_wmi.tar.gz"
    assert stored.sha256 == readme_sha256[rel] == datasets.sha256_file(stored.path)
    manifest = datasets.read_manifest("empire_invoke_wmi")
    entry = manifest["files"]["empire_invoke_wmi.tar.gz"]
    assert entry["origin"] == "import"
    assert entry["sha256"] == readme_sha256[rel]
    # No mirror, no catalog: the store answers.
    assert datasets.resolve("empire_invoke_wmi") == stored.path
    # Importing the same file again changes nothing.
    [again] = datasets.import_path(datasets_dir / rel)
    assert again.sha256 == stored.sha256

    # With the catalog at hand the file lands where its links put it, under its dataset id.
    monkeypatch.setenv("HUNTLAB_DATASETS_METADATA", str(metadata_dir))
    rel = "windows/empire_launcher_vbs/empire_launcher_vbs.zip"
    [vbs] = datasets.import_path(datasets_dir / rel)
    assert vbs.path == dataset_cache / "datasets/empire_launcher_vbs/host/empire_launcher_vbs.zip"
    manifest = datasets.read_manifest("empire_launcher_vbs")
    assert manifest["id"] == _dataset_id_for(metadata_dir, "empire_launcher_vbs")
    assert manifest["files"]["host/empire_launcher_vbs.zip"]["sha256"] == readme_sha256[rel]


def test_a_stray_file_is_not_slipped_into_a_catalog_dataset(
    dataset_cache: Path, monkeypatch: pytest.MonkeyPatch, datasets_dir: Path, metadata_dir: Path,
    tmp_path: Path,
) -> None:
    """`datasets import other.zip --name empire_launcher_vbs` would put a second archive beside
    the real one, read with it: refused, with the command that imports it under its own name;
    that command works as written, and the catalog dataset stays as it was."""
    monkeypatch.setenv("HUNTLAB_DATASETS_METADATA", str(metadata_dir))
    monkeypatch.chdir(tmp_path)
    real = datasets_dir / "windows/empire_launcher_vbs/empire_launcher_vbs.zip"
    datasets.import_path(real)
    before = datasets.read_manifest("empire_launcher_vbs")
    other = tmp_path / "other.zip"
    other.write_bytes((datasets_dir / "linux/sh_arp_cache/sh_arp_cache.zip").read_bytes())
    with pytest.raises(HuntlabError, match="not a file of dataset empire_launcher_vbs") as err:
        datasets.import_path(other, name="empire_launcher_vbs")
    assert "host/empire_launcher_vbs.zip" in str(err.value)
    assert datasets.read_manifest("empire_launcher_vbs") == before
    assert not (dataset_cache / "datasets/empire_launcher_vbs/other.zip").exists()
    hint = str(err.value).rsplit(": ", 1)[1]
    assert hint.startswith("huntlab datasets import ")
    done = subprocess.run([sys.executable, "-m", "huntlab", *hint.split()[1:]],
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert datasets.resolve("my_empire_launcher_vbs") == (
        dataset_cache / "datasets/my_empire_launcher_vbs/other.zip"
    )
    # The dataset's own file, given by name, is still welcome (an offline copy of it).
    [again] = datasets.import_path(real, name="empire_launcher_vbs")
    assert again.path == dataset_cache / "datasets/empire_launcher_vbs/host/empire_launcher_vbs.zip"


def test_import_refuses_to_overwrite_a_different_file(
    dataset_cache: Path, datasets_dir: Path, tmp_path: Path
) -> None:
    datasets.import_path(datasets_dir / "linux/sh_arp_cache/sh_arp_cache.zip")
    other = tmp_path / "elsewhere" / "sh_arp_cache.zip"
    other.parent.mkdir()
    other.write_bytes((datasets_dir / "linux/Log4Shell").joinpath(
        "syslog_auoms_auditd_log4shell_cve2021_44228_jndi_reference.zip").read_bytes())
    with pytest.raises(HuntlabError, match="--force"):
        datasets.import_path(other)
    [replaced] = datasets.import_path(other, force=True)
    assert replaced.sha256 == datasets.sha256_file(other)


def test_import_a_mirror_folder(
    dataset_cache: Path, datasets_dir: Path, readme_sha256: dict[str, str]
) -> None:
    data_files = sorted(
        p for p in datasets_dir.rglob("*")
        if p.is_file() and p.name.lower().endswith((".zip", ".tar.gz", ".json", ".jsonl"))
    )
    stored = datasets.import_path(datasets_dir)
    assert len(stored) == len(data_files)
    by_source = {}
    for item in stored:
        manifest = datasets.read_manifest(item.dataset)
        by_source[manifest["files"][item.relpath]["source"]] = item
    assert sorted(by_source) == [str(p) for p in data_files]
    for rel, sha in readme_sha256.items():
        item = by_source[str(datasets_dir / rel)]
        assert item.sha256 == sha == datasets.sha256_file(item.path)
        # Each file sits in the store under the folder that names its dataset.
        parts = Path(rel).parts
        assert item.dataset == parts[1]
        assert item.relpath == "/".join(parts[2:])
    assert set(datasets.stored_names()) == {Path(rel).parts[1] for rel in readme_sha256}
    assert datasets.resolve(WMI_2020).name == f"{WMI_2020}.zip"
    assert datasets.resolve(WMI_2020).parent.name == "host"
    assert datasets.resolve("GoldenSAMLADFSMailAccess") == (
        dataset_cache / "datasets/GoldenSAMLADFSMailAccess"
    )


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_cli_error_has_no_traceback(dataset_cache: Path, tmp_path: Path) -> None:
    # Nothing local and the metadata download refused: the user gets one actionable line.
    env = {
        "HUNTLAB_CACHE": str(dataset_cache),
        "HUNTLAB_DATASETS_METADATA_URL": f"http://127.0.0.1:{_closed_port()}/sd.tar.gz",
        "PATH": "/usr/bin:/bin",
    }
    result = subprocess.run(
        [sys.executable, "-m", "huntlab", "datasets", "path", "no_such_dataset_here"],
        capture_output=True, text=True, env=env, timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("huntlab: error: ")
    assert "Traceback" not in result.stderr
    assert "no_such_dataset_here" in result.stderr
    assert "HUNTLAB_DATASETS_METADATA" in result.stderr


def test_keep_puts_what_the_lab_loads_into_the_store(
    dataset_cache: Path, monkeypatch: pytest.MonkeyPatch, datasets_dir: Path, metadata_dir: Path
) -> None:
    """The lab keeps each dataset it loads in the store (its workspace's datasets/ links
    there): a mirror-only name, and a catalog one without its network captures."""
    monkeypatch.setenv("HUNTLAB_DATASETS_MIRROR", str(datasets_dir))
    monkeypatch.setenv("HUNTLAB_DATASETS_METADATA", str(metadata_dir))
    store = dataset_cache / "datasets"
    assert datasets.resolve("empire_invoke_wmi").is_relative_to(datasets_dir)  # read in place
    kept = datasets.keep("empire_invoke_wmi")
    assert kept == store / "empire_invoke_wmi" / "empire_invoke_wmi.tar.gz"
    assert datasets.keep("empire_invoke_wmi") == kept  # already there: nothing fetched
    assert datasets.keep(WMI_2020) == store / WMI_2020 / "host" / f"{WMI_2020}.zip"
    assert not (store / WMI_2020 / "network").exists()
    with pytest.raises(datasets.DatasetNotFound):
        datasets.keep("no_such_dataset_anywhere")


def test_what_is_local_and_what_an_offline_get_says(
    dataset_cache: Path, monkeypatch: pytest.MonkeyPatch, datasets_dir: Path, metadata_dir: Path,
    tmp_path: Path,
) -> None:
    """`list`'s LOCAL column and `show` agree on where a dataset can be read from; a get that
    cannot download says what the user has not done yet and leaves no folder behind."""
    monkeypatch.setenv("HUNTLAB_DATASETS_METADATA", str(metadata_dir))
    huntlab = _cli({**dict(__import__("os").environ), "PATH": "/usr/bin:/bin"})

    mirror = {"HUNTLAB_DATASETS_MIRROR": str(datasets_dir)}
    listed = huntlab("datasets", "list", "-q", "empire_launcher_vbs", "--format", "csv", **mirror)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[1].split(",")[-1] == "mirror" or ",mirror," in listed.stdout
    shown = huntlab("datasets", "show", "empire_launcher_vbs", **mirror)
    assert "local:          mirror" in shown.stdout, shown.stdout
    datasets.import_path(datasets_dir / "windows/empire_launcher_vbs/empire_launcher_vbs.zip")
    shown = huntlab("datasets", "show", "empire_launcher_vbs")
    assert f"local:          yes: stored in {dataset_cache / 'datasets'}" in shown.stdout

    # Offline, with a mirror set that lacks the file: the hint names that mirror.
    empty = tmp_path / "empty-mirror"
    empty.mkdir()
    offline = {"HUNTLAB_DATASETS_MIRROR": str(empty),
               "HUNTLAB_DATASETS_BASE_URL": f"http://127.0.0.1:{_closed_port()}/datasets"}  # fmt: skip
    got = huntlab("datasets", "get", "empire_wdigest_downgrade", **offline)
    assert got.returncode == 1, got.stderr
    assert f"put it in the mirror you set, HUNTLAB_DATASETS_MIRROR={empty}" in got.stderr
    assert "or set HUNTLAB_DATASETS_MIRROR" not in got.stderr
    assert not (dataset_cache / "datasets" / "empire_wdigest_downgrade").exists()
    # Its first hint, run as written with the file it asks for: the dataset is then stored.
    hint = re.search(r"`(huntlab datasets import FILE --name \S+)`", got.stderr)
    assert hint is not None, got.stderr
    # (saved under the name the hint gives: it belongs at host/empire_wdigest_downgrade.tar.gz)
    assert "it belongs at host/empire_wdigest_downgrade.tar.gz" in got.stderr
    given = tmp_path / "empire_wdigest_downgrade.tar.gz"
    given.write_bytes((datasets_dir / "windows/empire_invoke_wmi/empire_invoke_wmi.tar.gz").read_bytes())
    imported = huntlab(*hint.group(1).replace("FILE", str(given)).split()[1:], **offline)
    assert imported.returncode == 0, imported.stderr
    assert (dataset_cache / "datasets" / "empire_wdigest_downgrade").is_dir()

    # --refresh cannot refresh a local metadata folder: it says so instead of reusing it.
    refreshed = huntlab("datasets", "list", "--refresh")
    assert refreshed.returncode == 1
    assert "--refresh downloads the upstream metadata" in refreshed.stderr


def test_the_catalogs_hints_work_where_they_are_printed(
    dataset_cache: Path, metadata_dir: Path, tmp_path: Path
) -> None:
    """Offline without metadata, the error names `huntlab datasets list --metadata DIR`; with
    the folder for DIR it lists the catalog. A name it does not know names
    `huntlab datasets list -q WORD`; with a word of that name it finds the dataset."""
    env = {**dict(__import__("os").environ), "PATH": "/usr/bin:/bin",
           "HUNTLAB_DATASETS_METADATA_URL": f"http://127.0.0.1:{_closed_port()}/sd.tar.gz"}  # fmt: skip
    env.pop("HUNTLAB_DATASETS_METADATA", None)
    env.pop("HUNTLAB_DATASETS_MIRROR", None)

    def huntlab(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "huntlab", *args], capture_output=True,
                              text=True, env=env, timeout=120, cwd=tmp_path, check=False)  # fmt: skip

    offline = huntlab("datasets", "list")
    assert offline.returncode == 1, offline.stderr
    hint = re.search(r"`(huntlab datasets list --metadata DIR)`", offline.stderr)
    assert hint is not None, offline.stderr
    listed = huntlab(*hint.group(1).replace("DIR", str(metadata_dir)).split()[1:])
    assert listed.returncode == 0, listed.stderr
    assert "SDWIN-200921001437" in listed.stdout
    env["HUNTLAB_DATASETS_METADATA"] = str(metadata_dir)
    unknown = huntlab("datasets", "show", "empire_launcher")
    assert unknown.returncode == 1 and "empire_launcher_vbs" in unknown.stderr  # did you mean
    hint = re.search(r"`(huntlab datasets list -q WORD)`", unknown.stderr)
    assert hint is not None, unknown.stderr
    found = huntlab(*hint.group(1).replace("WORD", "launcher").split()[1:])
    assert found.returncode == 0 and "empire_launcher_vbs" in found.stdout, found.stderr


def _cli(env: dict[str, str]) -> Any:
    def huntlab(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "huntlab", *args], capture_output=True,
                              text=True, env={**env, **extra}, timeout=120, check=False)  # fmt: skip

    return huntlab


def test_show_names_the_command_that_stores_a_dataset_and_it_does(
    dataset_cache: Path, monkeypatch: pytest.MonkeyPatch, datasets_dir: Path, metadata_dir: Path
) -> None:
    """Each of `show`'s local states (no, mirror, partial) names the `huntlab datasets get`
    that stores the dataset; run as written, the dataset is then stored whole."""
    import os

    from tests.support.hints import suggested

    monkeypatch.setenv("HUNTLAB_DATASETS_METADATA", str(metadata_dir))
    huntlab = _cli({**os.environ, "PATH": "/usr/bin:/bin"})
    mirror = {"HUNTLAB_DATASETS_MIRROR": str(datasets_dir)}
    stored = "local:          yes: stored in"

    # Not local, no mirror: the command downloads it (the mirror stands in for the network).
    shown = huntlab("datasets", "show", "empire_launcher_vbs")
    assert "local:          no (" in shown.stdout, shown.stdout
    got = huntlab(*suggested(shown.stdout, "huntlab datasets get"), **mirror)
    assert got.returncode == 0, got.stderr
    assert stored in huntlab("datasets", "show", "empire_launcher_vbs").stdout

    # In the mirror only: the command stores it.
    shown = huntlab("datasets", "show", "empire_uac_shellapi_fodhelper", **mirror)
    assert "local:          mirror: " in shown.stdout, shown.stdout
    got = huntlab(*suggested(shown.stdout, "huntlab datasets get"), **mirror)
    assert got.returncode == 0, got.stderr
    assert stored in huntlab("datasets", "show", "empire_uac_shellapi_fodhelper").stdout

    # Some of its files stored (the host archive, not the network capture): the command adds
    # the rest.
    got = huntlab("datasets", "get", WMI_2020, "--kind", "host", **mirror)
    assert got.returncode == 0, got.stderr
    shown = huntlab("datasets", "show", WMI_2020)
    assert "local:          partial: " in shown.stdout, shown.stdout
    got = huntlab(*suggested(shown.stdout, "huntlab datasets get"), **mirror)
    assert got.returncode == 0, got.stderr
    assert stored in huntlab("datasets", "show", WMI_2020).stdout
    assert (dataset_cache / "datasets" / WMI_2020 / "network" / f"{WMI_2020}.zip").is_file()


def _replace_with_a_blank_zip(path: Path, member: str) -> None:
    """Put in ``path``'s place (a new file: the stored one may be a hard link to the mirror's)
    a zip archive of the same size whose one JSON member holds only blank lines."""
    import zipfile

    size = path.stat().st_size
    new = path.with_name(path.name + ".new")

    def write(blank: int) -> None:
        with zipfile.ZipFile(new, "w", zipfile.ZIP_STORED) as archive:
            archive.writestr(member, "\n" * blank)

    write(0)
    write(size - new.stat().st_size)
    assert new.stat().st_size == size
    new.replace(path)


def test_a_stored_copy_with_no_events_names_get_verify_which_repairs_it(
    dataset_cache: Path, monkeypatch: pytest.MonkeyPatch, datasets_dir: Path, metadata_dir: Path
) -> None:
    """A stored archive damaged in place (same size, no events: what a size check misses):
    reading it is refused with `huntlab datasets get --verify NAME`, which, run as written,
    finds the checksum wrong and fetches the file again; the read then has its events."""
    import os
    import zipfile

    from tests.support.hints import suggested

    monkeypatch.setenv("HUNTLAB_DATASETS_METADATA", str(metadata_dir))
    huntlab = _cli({**os.environ, "PATH": "/usr/bin:/bin"})
    mirror = {"HUNTLAB_DATASETS_MIRROR": str(datasets_dir)}
    assert huntlab("datasets", "get", "empire_launcher_vbs", **mirror).returncode == 0
    good = huntlab("read", "empire_launcher_vbs", "--format", "jsonl")
    assert good.returncode == 0, good.stderr
    events = len(good.stdout.splitlines())
    assert events > 0

    path = datasets.resolve("empire_launcher_vbs")
    with zipfile.ZipFile(path) as archive:
        member = archive.namelist()[0]
    mirrored = datasets.sha256_file(path)
    _replace_with_a_blank_zip(path, member)
    failed = huntlab("read", "empire_launcher_vbs")
    assert failed.returncode == 1 and "Traceback" not in failed.stderr, failed.stderr
    assert len(failed.stderr.strip().splitlines()) == 1, failed.stderr
    hint = suggested(failed.stderr, "huntlab datasets get --verify")
    assert hint[-1] == "empire_launcher_vbs"
    repaired = huntlab(*hint, **mirror)
    assert repaired.returncode == 0, repaired.stderr
    again = huntlab("read", "empire_launcher_vbs", "--format", "jsonl")
    assert again.returncode == 0, again.stderr
    assert len(again.stdout.splitlines()) == events
    assert (
        datasets.sha256_file(datasets_dir / "windows/empire_launcher_vbs/empire_launcher_vbs.zip")
        == mirrored
    )
