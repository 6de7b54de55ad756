"""The catalog built from the real Security-Datasets metadata in ../shared.

Expected values are computed here from the YAML with plain parsing, never listed by hand.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

import huntlab.dataset_catalog as catalog_module
from huntlab.cli import cli
from huntlab.dataset_catalog import Catalog, catalog
from huntlab.errors import DatasetNotFound, HuntlabError


@pytest.fixture(scope="session")
def raw_yaml(metadata_dir: Path) -> dict[str, dict[str, Any]]:
    """Every metadata document, keyed by its path relative to the metadata folder."""
    docs = {}
    for path in sorted(metadata_dir.rglob("*.yaml")):
        docs[path.relative_to(metadata_dir).as_posix()] = yaml.safe_load(path.read_text("utf-8"))
    return docs


def _techniques(doc: dict[str, Any]) -> set[str]:
    out = set()
    for m in doc.get("attack_mappings") or []:
        sub = m.get("sub-technique")
        out.add(f"{m['technique']}.{sub}" if sub else m["technique"])
    return out


def _tactics(doc: dict[str, Any]) -> set[str]:
    return {t for m in doc.get("attack_mappings") or [] for t in m.get("tactics") or []}


def _ids(datasets: Any) -> set[str]:
    return {ds.id for ds in datasets}


def test_catalog_holds_every_metadata_file(dataset_cache: Path, metadata_dir: Path, raw_yaml: dict) -> None:
    cat = catalog(metadata_dir)
    assert len(raw_yaml) > 100
    assert len(cat) == len(raw_yaml)
    assert _ids(cat) == {doc["id"] for doc in raw_yaml.values()}
    assert cat.commit == (metadata_dir / "COMMIT").read_text().strip()
    for rel, doc in raw_yaml.items():
        ds = cat.get(doc["id"])
        assert ds.title == doc["title"]
        assert ds.type == doc["type"]
        assert set(ds.platforms) == set(doc["platform"])
        assert set(ds.techniques) == _techniques(doc)
        assert set(ds.tactics) == _tactics(doc)
        assert set(ds.contributors) == set(doc["contributors"] or [])
        assert ds.creation_date == str(doc["creation_date"]).replace("/", "-")
        assert {f.link for f in ds.files} == {f["link"] for f in doc["files"] or []}
        assert ds.metadata_file == rel


def test_every_file_stem_finds_its_dataset(dataset_cache: Path, metadata_dir: Path, raw_yaml: dict) -> None:
    cat = catalog(metadata_dir)
    for rel, doc in raw_yaml.items():
        for f in doc["files"] or []:
            filename = PurePosixPath(f["link"]).name
            stem = filename[:-7] if filename.endswith(".tar.gz") else filename.rsplit(".", 1)[0]
            assert cat.get(stem).id == doc["id"]
        if doc["type"] == "compound":  # compound ids are UUIDs: the YAML file names them
            assert cat.get(PurePosixPath(rel).stem).id == doc["id"]
    wmi = cat.get("empire_wmi_dcerpc_wmi_IWbemServices_ExecMethod")
    assert wmi.name == "empire_wmi_dcerpc_wmi_IWbemServices_ExecMethod"
    assert sorted(f.relpath for f in wmi.files) == [
        f"{kind}/empire_wmi_dcerpc_wmi_IWbemServices_ExecMethod.zip" for kind in ("host", "network")
    ]


def test_filters_return_what_the_yaml_says(
    dataset_cache: Path, metadata_dir: Path, raw_yaml: dict
) -> None:
    cat = catalog(metadata_dir)
    docs = list(raw_yaml.values())

    expected = {d["id"] for d in docs if any(t.split(".")[0] == "T1047" for t in _techniques(d))}
    assert expected and _ids(cat.filter(technique="T1047")) == expected

    # A parent matches its sub-techniques: take the parent with the most distinct ones.
    subs = Counter(t.split(".")[0] for d in docs for t in _techniques(d) if "." in t)
    parent = subs.most_common(1)[0][0]
    expected = {d["id"] for d in docs if any(t.split(".")[0] == parent for t in _techniques(d))}
    assert _ids(cat.filter(technique=parent.lower())) == expected
    sub = next(t for d in docs for t in sorted(_techniques(d)) if t.startswith(parent + "."))
    expected_sub = {d["id"] for d in docs if sub in _techniques(d)}
    assert _ids(cat.filter(technique=sub)) == expected_sub
    assert expected_sub < expected

    expected = {d["id"] for d in docs if "TA0008" in _tactics(d)}
    assert expected and _ids(cat.filter(tactic="TA0008")) == expected
    assert _ids(cat.filter(tactic="lateral-movement")) == expected
    assert _ids(cat.filter(tactic="Lateral Movement")) == expected

    for platform in {p for d in docs for p in d["platform"]}:
        expected = {d["id"] for d in docs if platform in d["platform"]}
        assert _ids(cat.filter(platform=platform.lower())) == expected
    for kind in ("atomic", "compound"):
        expected = {d["id"] for d in docs if d["type"] == kind}
        assert expected and _ids(cat.filter(type=kind)) == expected

    def mentions(doc: dict[str, Any], word: str) -> bool:
        text = " ".join(
            [doc["title"], doc["description"] or "", *(doc.get("tags") or []),
             *(f["link"].rsplit("/", 1)[1] for f in doc["files"] or [])]
        )
        return word in text.lower()

    expected = {d["id"] for d in docs if mentions(d, "wmi")}
    assert expected and _ids(cat.filter(text="WMI")) == expected
    combined = {
        d["id"] for d in docs
        if mentions(d, "wmi") and "TA0008" in _tactics(d) and d["type"] == "atomic"
    }
    assert _ids(cat.filter(text="wmi", tactic="TA0008", type="atomic")) == combined


def test_parsed_catalog_is_cached_with_its_commit(dataset_cache: Path, metadata_dir: Path) -> None:
    cat = catalog(metadata_dir)
    stored = json.loads((dataset_cache / "catalog.json").read_text())
    assert stored["commit"] == cat.commit
    assert len(stored["datasets"]) == len(cat)
    # Offline, with no metadata folder at hand, the cached catalog still answers.
    catalog_module._MEMO.clear()
    offline = catalog(download=False)
    assert [ds.to_dict() for ds in offline] == [ds.to_dict() for ds in cat]


def test_without_metadata_offline_the_error_says_what_to_do(dataset_cache: Path) -> None:
    with pytest.raises(HuntlabError) as err:
        catalog(download=False)
    assert "HUNTLAB_DATASETS_METADATA" in str(err.value)
    assert "--metadata" in str(err.value)


def test_unknown_dataset_suggests_close_names(dataset_cache: Path, metadata_dir: Path) -> None:
    cat: Catalog = catalog(metadata_dir)
    with pytest.raises(DatasetNotFound) as err:
        cat.get("empire_wmi_dcerpc_wmi_IWbemServices_ExecMethd")
    assert "empire_wmi_dcerpc_wmi_IWbemServices_ExecMethod" in str(err.value)


def test_cli_list_and_show(dataset_cache: Path, metadata_dir: Path, raw_yaml: dict) -> None:
    runner = CliRunner()
    base = ["datasets", "--metadata", str(metadata_dir)]
    result = runner.invoke(cli, [*base, "list", "--technique", "T1047", "--format", "json"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    expected = {
        d["id"] for d in raw_yaml.values()
        if any(t.split(".")[0] == "T1047" for t in _techniques(d))
    }
    assert {d["id"] for d in listed} == expected
    assert all(d["local"] == "no" for d in listed)

    result = runner.invoke(cli, [*base, "list", "--tactic", "lateral-movement", "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = result.stdout.strip().splitlines()
    assert rows[0].startswith("id,name,type")
    assert len(rows) - 1 == sum("TA0008" in _tactics(d) for d in raw_yaml.values())

    result = runner.invoke(cli, [*base, "list", "--platform", "linux", "--type", "atomic"])
    assert result.exit_code == 0, result.output
    linux = [d for d in raw_yaml.values() if "Linux" in d["platform"] and d["type"] == "atomic"]
    assert linux
    for doc in linux:
        assert doc["id"] in result.stdout

    wmi = next(d for d in raw_yaml.values() if d["id"] == "SDWIN-200921001437")
    result = runner.invoke(cli, [*base, "show", "empire_wmi_dcerpc_wmi_IWbemServices_ExecMethod"])
    assert result.exit_code == 0, result.output
    for text in (wmi["id"], wmi["title"], "TA0008 Lateral Movement", "local:          no",
                 *(f["link"] for f in wmi["files"])):
        assert text in result.stdout

    result = runner.invoke(cli, [*base, "list", "--tactic", "no-such-tactic"])
    assert result.exit_code != 0
    assert "unknown ATT&CK tactic" in str(result.exception)
