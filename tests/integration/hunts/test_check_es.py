"""The playbook's analytics give the same rows under huntlab over Elasticsearch as over the
files: three of the sample recordings loaded into the test node by huntlab's loader, the
hunts that use them checked with ``source="elasticsearch"`` (pandas from huntlab.es.search,
Spark from the connector) and with ``source="files"``.

191030 is among them for its pandas code's ``df['LogonID']``: a raw spelling the index does
not keep, found from the recording's records and fetched from Elasticsearch by id."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from huntlab.errors import HuntlabError
from huntlab.hunts.check import Outcome, check
from huntlab.hunts.playbook import Hunt, find_hunts
from tests.conftest import DATASET_ENV
from tests.integration.hunts.conftest import playbook_root
from tests.support.cli import run_huntlab
from tests.support.hints import suggested

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from huntlab.settings import Settings

# Small recordings (2.5, 5.6 and 8.2 MB zipped) and the hunts that run on them.
LOADED = {
    "covenant_lolbin_wuauclt_createremotethread": "201012-WuaucltCreateRemoteThread",
    "empire_monologue_netntlm_downgrade": "191224-RegModExtendedNetNTLMDowngrade",
    "rdp_interactive_taskmanager_lsass_dump": "191030-RemoteInteractiveTaskMgrLsassDump",
}
NOT_LOADED = ("empire_psremoting_stager", "190610-PwshAlternateHosts")
# Checked with pandas only: spark.read.json refuses its recording (LogonID and LogonId,
# COLUMN_ALREADY_EXISTS), so its SQL never runs the playbook's way, and it is the slowest.
PANDAS_ONLY = {"191030-RemoteInteractiveTaskMgrLsassDump"}


@pytest.fixture(scope="module")
def hunts() -> dict[str, Hunt]:
    return {hunt.id: hunt for hunt in find_hunts(playbook_root() / "hunts")}


@pytest.fixture(scope="module")
def loaded(es_settings: Settings) -> Settings:
    from huntlab.es.loader import load

    for name in LOADED:
        report = load(playbook_root() / "datasets" / f"{name}.zip", es_settings, progress=False)
        assert report.rejected == 0, report.rejects[:3]
    return es_settings


@pytest.fixture(scope="module")
def both(
    spark: SparkSession, recordings: dict[str, str], loaded: Settings, hunts: dict[str, Hunt]
) -> tuple[list[Outcome], list[Outcome]]:
    both_engines = [hunts[i] for i in LOADED.values() if i not in PANDAS_ONLY]
    pandas_only = [hunts[i] for i in LOADED.values() if i in PANDAS_ONLY]
    outcomes: dict[str, list[Outcome]] = {}
    for source in ("elasticsearch", "files"):
        outcomes[source] = check(both_engines, spark=spark, source=source, es=loaded)
        outcomes[source] += check(pandas_only, engines=["pandas"], source=source, es=loaded)
    return outcomes["elasticsearch"], outcomes["files"]


def test_the_same_rows_over_elasticsearch_as_over_the_files(
    both: tuple[list[Outcome], list[Outcome]],
) -> None:
    from_es, from_files = both
    assert [o.source for o in from_es] == [o.source for o in from_files]
    assert {o.hunt for o in from_es} == set(LOADED.values())
    runs = [o for o in from_es if o.playbook_rows is not None]
    assert {o.engine for o in runs} == {"pandas", "spark"}
    differing = {(o.hunt, o.analytic, o.engine): o.why for o in runs if not o.same}
    assert not differing
    # Outcome for outcome, the same as over the files: rows, sameness, failures.
    for es_outcome, files_outcome in zip(from_es, from_files, strict=True):
        fields = ("analytic", "engine", "playbook_rows", "huntlab_rows", "same")
        assert [getattr(es_outcome, f) for f in fields] == [
            getattr(files_outcome, f) for f in fields
        ], (es_outcome, files_outcome)


def test_raw_spellings_of_aliases_come_from_the_records(
    both: tuple[list[Outcome], list[Outcome]], loaded: Settings, recordings: dict[str, str]
) -> None:
    """191030's df['LogonID'] (Security 4778's spelling) runs over Elasticsearch and holds
    what it holds over the files."""
    from huntlab.hunts.load import pandas_frame, pandas_frame_es

    from_es, _ = both
    hunt = LOADED["rdp_interactive_taskmanager_lsass_dump"]
    pandas = [o for o in from_es if o.hunt == hunt and o.engine == "pandas"]
    assert pandas and all(o.huntlab_rows is not None for o in pandas), pandas
    name = "rdp_interactive_taskmanager_lsass_dump"
    files = pandas_frame(name)
    indexed = pandas_frame_es(name, loaded, notes=None)
    assert len(indexed) == len(files)
    assert indexed["LogonID"].notna().sum() == files["LogonID"].notna().sum() > 0
    assert sorted(indexed["LogonID"].dropna()) == sorted(files["LogonID"].dropna())


def test_a_dataset_not_loaded_is_an_error_naming_the_load(
    loaded: Settings, recordings: dict[str, str], hunts: dict[str, Hunt], tmp_path: Path
) -> None:
    name, hunt_id = NOT_LOADED
    with pytest.raises(HuntlabError, match=f"huntlab load {name}"):
        check([hunts[hunt_id]], engines=["pandas"], source="elasticsearch", es=loaded)

    env = {**os.environ, **recordings, "HUNTLAB_HOME": str(tmp_path / "home")}
    for variable in DATASET_ENV:
        if variable not in recordings:
            env.pop(variable, None)
    args = ["hunts", "check", "--from", str(playbook_root() / "hunts"), "--engine", "pandas"]
    args += ["--source", "elasticsearch", "--es-url", loaded.es_url, "--format", "jsonl"]
    missing = run_huntlab(*args, hunt_id, env=env)
    assert missing.returncode == 1
    assert f"huntlab load {name}" in missing.stderr and "Traceback" not in missing.stderr
    # The suggestion, followed where it is printed: the load, then the same check runs.
    load = run_huntlab(*suggested(missing.stderr, "huntlab load"), "--es-url", loaded.es_url,
                       env=env)  # fmt: skip
    assert load.returncode == 0, load.stderr
    again = run_huntlab(*args, hunt_id, env=env)
    assert again.returncode == 0, again.stderr
    rows = [json.loads(line) for line in again.stdout.splitlines()]
    assert rows and all(r["same"] for r in rows if r["playbook_rows"] is not None)
    done = run_huntlab(*args, LOADED["empire_monologue_netntlm_downgrade"], env=env)
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert rows and all(r["same"] for r in rows if r["playbook_rows"] is not None)


def test_auto_reads_elasticsearch_where_it_holds_the_dataset_and_the_files_otherwise(
    loaded: Settings, recordings: dict[str, str], hunts: dict[str, Hunt]
) -> None:
    """source="auto", as the notebooks' parameter: the loaded dataset from Elasticsearch; with
    a node that does not answer, from the files, saying why; the same rows either way."""
    from huntlab.settings import load_settings

    hunt = hunts[LOADED["empire_monologue_netntlm_downgrade"]]
    fields = ("analytic", "engine", "playbook_rows", "huntlab_rows", "same")
    said: list[str] = []
    files = check([hunt], engines=["pandas"], source="files")
    held = check([hunt], engines=["pandas"], source="auto", es=loaded, progress=said.append)
    assert files and all(o.read_from == "files" for o in files)
    assert all(o.read_from == "elasticsearch" for o in held)
    assert f"from Elasticsearch at {loaded.es_url}" in said[-1]
    down = load_settings(es_url="http://127.0.0.1:9")  # nothing listens there
    away = check([hunt], engines=["pandas"], source="auto", es=down, progress=said.append)
    assert all(o.read_from == "files" for o in away)
    assert "from its files, as Elasticsearch is not usable for it" in said[-1]
    for outcomes in (held, away):
        assert [[getattr(o, f) for f in fields] for o in outcomes] == [
            [getattr(o, f) for f in fields] for o in files
        ]
    assert any(o.playbook_rows for o in files) and all(o.same for o in files if o.playbook_rows)
    # The command line: --source auto, each line saying where huntlab's way read from.
    env = {**os.environ, **recordings}
    args = ["hunts", "check", "--from", str(playbook_root() / "hunts"), "--engine", "pandas"]
    args += ["--source", "auto", "--es-url", loaded.es_url, "--format", "jsonl", hunt.id]
    done = run_huntlab(*args, env=env)
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert rows and {r["read_from"] for r in rows} == {"elasticsearch"}, done.stderr
    assert f"from Elasticsearch at {loaded.es_url}" in done.stderr
