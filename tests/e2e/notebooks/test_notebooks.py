"""The notebooks: committed clean, and executed with papermill against real services.

Each executed notebook is checked on what it computed: text printed by tagged cells, images
drawn, and the tables it showed with ``huntlab.notebook.show`` (stored in the executed
notebook as JSON). Expected values come from ``huntlab.read_events`` and plain pandas here,
independently of the notebook's own code path (JSON lines, Elasticsearch, Spark).
"""

from __future__ import annotations

import ast
import base64
import os
import sys
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import nbformat
import pandas as pd
import pytest

from huntlab.notebook import SECURITY, SYSMON, results_in
from tests.support.paths import REPO

NOTEBOOKS = REPO / "jupyter" / "notebooks"
SERIES = [
    "01-jupyter-basics",
    "02-numpy-arrays",
    "03-pandas-basics",
    "04-event-log-analysis-pandas",
    "05-spark-elasticsearch",
    "06-spark-sql-joins",
    "07-documented-hunt-wmi",
    "08-sigma-detections",
    "09-process-trees-timelines",
    "hunt-template",
]
PARAMETERS = {"source", "dataset", "es_url", "spark_master"}
# parameters a notebook takes besides the four above, with their defaults
EXTRA_PARAMETERS = {"08-sigma-detections": {"rules": "sigma/rules/windows", "engine": "pandas"}}
# 01-03 read no events: their parameters cell is empty
NO_EVENTS = {"01-jupyter-basics", "02-numpy-arrays", "03-pandas-basics"}
# these read Elasticsearch by default when it holds the dataset, else the JSON lines
AUTO = {
    "05-spark-elasticsearch",
    "06-spark-sql-joins",
    "07-documented-hunt-wmi",
    "08-sigma-detections",
    "09-process-trees-timelines",
}
# no Elasticsearch listens here: source="auto" must fall back to the JSON lines
NO_ES = "http://127.0.0.1:9"
WMI_2019 = "empire_invoke_wmi"
WMI_2020 = "empire_wmi_dcerpc_wmi_IWbemServices_ExecMethod"
# Spark in a notebook kernel: a small local driver, jars from the lab's session config.
SPARK = {"spark_master": "local[2]"}


# -- committed notebooks ---------------------------------------------------------------------


def _committed() -> list[Path]:
    return sorted(NOTEBOOKS.glob("*.ipynb"))


def test_the_series_is_complete() -> None:
    assert sorted(p.stem for p in _committed()) == sorted(SERIES)


@pytest.mark.parametrize("path", _committed(), ids=lambda p: p.stem)
def test_committed_without_outputs_and_with_parameters(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}: a cell has outputs; clear them"
            assert cell.execution_count is None, f"{path.name}: execution counts left"
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: needs exactly one cell tagged 'parameters'"
    assigned = {
        target.id
        for node in ast.parse(tagged[0].source).body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    if path.stem in NO_EVENTS:
        assert assigned == set(), f"{path.name} reads no events: its parameters cell stays empty"
        return
    extra = EXTRA_PARAMETERS.get(path.stem, {})
    assert assigned == PARAMETERS | set(extra)
    namespace: dict[str, Any] = {}
    exec(tagged[0].source, namespace)  # the defaults: the tutorial's dataset, lab settings
    assert namespace["source"] == ("auto" if path.stem in AUTO else "json")
    assert namespace["dataset"] == WMI_2019
    assert namespace["es_url"] is None and namespace["spark_master"] is None
    assert {name: namespace[name] for name in extra} == extra


# -- the helpers the notebooks import ---------------------------------------------------------


@pytest.mark.parametrize(
    "relpath",
    [
        "windows/empire_invoke_wmi/empire_invoke_wmi.tar.gz",
        "windows/empire_wmi_dcerpc_wmi_IWbemServices_ExecMethod/host/"
        "empire_wmi_dcerpc_wmi_IWbemServices_ExecMethod.zip",
    ],
    ids=["tar.gz", "zip"],
)
def test_open_json_lines_hands_pandas_the_archived_file(
    notebook_env: Path, datasets_dir: Path, relpath: str
) -> None:
    import huntlab
    from huntlab.notebook import open_json_lines

    path = datasets_dir / relpath
    with open_json_lines(path) as handle:
        frame = pd.read_json(handle, lines=True)
    assert len(frame) == len(huntlab.read_events(path))


def test_open_json_lines_names_the_archive_it_cannot_read(tmp_path: Path) -> None:
    import zipfile

    from huntlab.errors import HuntlabError
    from huntlab.notebook import open_json_lines

    archive = tmp_path / "two.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("a.json", "{}\n")
        zf.writestr("b.json", "{}\n")
    with (
        pytest.raises(HuntlabError, match=r"two\.zip: expected one JSON file inside"),
        open_json_lines(archive),
    ):
        pass


def test_parameters_check_the_source_and_hide_credentials(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from huntlab.errors import HuntlabError
    from huntlab.notebook import parameters

    monkeypatch.setenv("HUNTLAB_HOME", str(tmp_path))
    monkeypatch.setenv("HUNTLAB_ES_PASSWORD", "s3cret-pass")
    monkeypatch.setenv("HUNTLAB_SPARK_MASTER", "spark://10.0.0.7:7077")
    params = parameters("elasticsearch", "empire_invoke_wmi", es_url="https://es.example:9200")
    assert params.es_url == "https://es.example:9200"  # the parameter wins
    assert params.spark_master == "spark://10.0.0.7:7077"  # None: the lab's setting
    assert params.settings.es_password == "s3cret-pass"
    assert "s3cret-pass" not in repr(params) + params._repr_markdown_()
    with pytest.raises(HuntlabError, match="not a data source"):
        parameters("csv")


@pytest.mark.es
def test_a_dataset_missing_from_elasticsearch_says_how_to_load_it(
    notebook_env: Path, es_loaded: Any
) -> None:
    from huntlab.errors import HuntlabError
    from huntlab.notebook import events, parameters

    params = parameters("elasticsearch", "empire_launcher_vbs", es_url=es_loaded.es_url)
    with pytest.raises(HuntlabError, match="huntlab load empire_launcher_vbs"):
        events(params)
    loaded = parameters("elasticsearch", WMI_2019, es_url=es_loaded.es_url)
    found = events(loaded, source_name=SYSMON, event_ids=[1])
    assert len(found) == len(events_of(WMI_2019, SYSMON, 1))


# -- running them ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def notebook_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("notebook-home")


@pytest.fixture
def notebook_env(notebook_home: Path, datasets_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private huntlab home; datasets come from the shared folder (no download)."""
    monkeypatch.setenv("HUNTLAB_HOME", str(notebook_home))
    monkeypatch.setenv("HUNTLAB_DATASETS_MIRROR", str(datasets_dir))
    # Kernels inherit the environment: no setting from the developer's shell may leak in.
    for name in ("HUNTLAB_ES_URL", "HUNTLAB_SPARK_MASTER"):
        monkeypatch.delenv(name, raising=False)
    # Spark's Python workers: this interpreter, whatever PATH says
    monkeypatch.setenv("PYSPARK_PYTHON", os.environ.get("PYSPARK_PYTHON", sys.executable))
    return notebook_home


def execute(name: str, out_dir: Path, **parameters: Any) -> nbformat.NotebookNode:
    import papermill

    out = out_dir / f"{name}.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOKS / f"{name}.ipynb"),
        str(out),
        parameters=parameters,
        kernel_name="python3",
        cwd=str(NOTEBOOKS),
        progress_bar=False,
        execution_timeout=600,
    )
    return nbformat.read(out, as_version=4)


def tagged_cell(nb: nbformat.NotebookNode, tag: str) -> nbformat.NotebookNode:
    cells = [c for c in nb.cells if tag in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"no single cell tagged {tag!r}"
    return cells[0]


def stdout_of(cell: nbformat.NotebookNode) -> str:
    return "".join(
        o["text"] for o in cell.outputs if o["output_type"] == "stream" and o["name"] == "stdout"
    )


def png_images(cell: nbformat.NotebookNode) -> list[bytes]:
    return [
        base64.b64decode(o["data"]["image/png"])
        for o in cell.outputs
        if o["output_type"] in ("display_data", "execute_result") and "image/png" in o["data"]
    ]


def rows(nb: nbformat.NotebookNode, name: str) -> list[dict[str, Any]]:
    result = results_in(nb)[name]
    assert result["count"] == len(result["rows"]), f"{name}: more rows than the notebook kept"
    return list(result["rows"])


# -- expectations, computed with pandas over huntlab.read_events ------------------------------


@cache
def raw_events(dataset: str) -> list[dict[str, Any]]:
    """A recording's events as the standard library reads them (one JSON file per archive)."""
    import json
    import tarfile

    import huntlab.datasets

    with tarfile.open(huntlab.datasets.resolve(dataset)) as archive:
        (member,) = [m for m in archive.getmembers() if m.isfile()]
        stream = archive.extractfile(member)
        assert stream is not None
        return [json.loads(line) for line in stream if line.strip()]


@cache
def _events(dataset: str) -> pd.DataFrame:
    import huntlab
    from huntlab.readers.mapping import integer_fields

    frame = huntlab.read_events(dataset)
    # plain strings for text columns: comparisons below do not depend on the reader's
    # category dtypes (numbers stay numbers: docs/event-mapping.md, Numbers)
    numbers = {"@timestamp", *integer_fields()}
    text = [c for c in frame.columns if c not in numbers]
    return frame.astype(dict.fromkeys(text, "string"))


def events_of(dataset: str, source_name: str, *event_ids: int) -> pd.DataFrame:
    frame = _events(dataset)
    return frame[(frame["SourceName"] == source_name) & frame["EventID"].isin(event_ids)]


def wmi_children(dataset: str) -> pd.DataFrame:
    created = events_of(dataset, SYSMON, 1)
    return created[created["ParentImage"].str.lower().str.endswith("\\wmiprvse.exe").fillna(False)]


def expected_logon_processes(dataset: str, logon_type: int | None = 3) -> list[tuple[str, str]]:
    """(TargetLogonId, ProcessGuid) of processes created in a logon session (4624 + Sysmon 1)."""
    logons = events_of(dataset, SECURITY, 4624)
    if logon_type is not None:
        logons = logons[logons["LogonType"] == logon_type]
    created = events_of(dataset, SYSMON, 1)
    left = logons.assign(
        host=logons["Hostname"].str.lower(), key=logons["TargetLogonId"].str.lower()
    )
    right = created.assign(host=created["Hostname"].str.lower(), key=created["LogonId"].str.lower())
    # pandas would pair missing keys with each other; SQL never does
    left, right = left.dropna(subset=["host", "key"]), right.dropna(subset=["host", "key"])
    joined = left.merge(right, on=["host", "key"], suffixes=("_logon", ""))
    return sorted(zip(joined["TargetLogonId_logon"], joined["ProcessGuid"], strict=True))


def expected_by_process(dataset: str, event_id: int, guid: str, *fields: str) -> Counter[tuple]:
    """Sysmon 1 joined with Sysmon ``event_id`` on ProcessGuid = ``guid``, counted by fields."""
    created = events_of(dataset, SYSMON, 1)
    other = events_of(dataset, SYSMON, event_id)
    left = created.assign(key=created["ProcessGuid"].str.upper()).dropna(subset=["key"])
    right = other.assign(key=other[guid].str.upper()).dropna(subset=["key"])
    joined = left.merge(right, on="key", suffixes=("", "_other"))
    picked = joined[["ProcessGuid", *(f"{f}_other" for f in fields)]].astype(object)
    picked = picked.where(picked.notna(), None)  # missing values compare as JSON null
    return Counter(tuple(r) for r in picked.itertuples(index=False))


def sysmon_naming(dataset: str, guid: str) -> pd.DataFrame:
    """The Sysmon events that name a process GUID (as the process, parent, source or target)."""
    sysmon = _events(dataset)
    sysmon = sysmon[sysmon["SourceName"] == SYSMON]
    naming = pd.Series(False, index=sysmon.index)
    for field in ("ProcessGuid", "ParentProcessGuid", "SourceProcessGUID", "TargetProcessGUID"):
        naming |= sysmon[field].str.upper().eq(guid.upper()).fillna(False)
    return sysmon[naming]


def check_timeline(counts: list[dict[str, Any]], dataset: str, guid: str) -> None:
    """A timeline's counts per category: every Sysmon event naming ``guid``, network ones apart."""
    naming = sysmon_naming(dataset, guid)
    assert sum(r["Events"] for r in counts) == len(naming)
    network = sum(r["Events"] for r in counts if r["Category"] == "network")
    assert network == int((naming["EventID"] == 3).sum())


def counted(found: list[dict[str, Any]], *fields: str, count: str) -> Counter[tuple]:
    """The notebook's rows as a Counter: ``fields`` -> the sum of the ``count`` column."""
    total: Counter[tuple] = Counter()
    for row in found:
        total[tuple(row[f] for f in fields)] += row[count]
    return total


# -- 01-03: no data ----------------------------------------------------------------------------


def test_basics_notebooks_run(notebook_env: Path, tmp_path: Path) -> None:
    nb = execute("01-jupyter-basics", tmp_path)
    assert stdout_of(tagged_cell(nb, "shared-variables")) == "3 events seen so far, from 3 hosts\n"
    committed = nbformat.read(NOTEBOOKS / "01-jupyter-basics.ipynb", as_version=4)
    assert f"cells: {len(committed.cells)}\n" in stdout_of(tagged_cell(nb, "ipynb-json"))
    assert "connection file: " in stdout_of(tagged_cell(nb, "kernel"))
    completed = stdout_of(tagged_cell(nb, "tab-completion"))
    assert "'pandas'" in completed and "'append'" in completed
    assert "'01-jupyter-basics.ipynb'" in completed
    nb = execute("02-numpy-arrays", tmp_path)
    assert stdout_of(tagged_cell(nb, "same-result")) == "same result: True\n"
    execute("03-pandas-basics", tmp_path)


# -- 04: the pandas tutorial -------------------------------------------------------------------


def check_notebook_04(nb: nbformat.NotebookNode) -> None:
    expected = wmi_children(WMI_2019)
    assert len(expected) == 1, "the recording holds one process started by WmiPrvSE.exe"
    command_line = str(expected["CommandLine"].iloc[0])
    assert len(command_line) > 1000  # long enough that pandas would shorten it

    # the tutorial's steps, on the raw JSON lines
    printed = stdout_of(tagged_cell(nb, "wmiprvse-commandline")).strip()
    assert printed == command_line
    assert (
        str(expected["ParentImage"].iloc[0])
        in tagged_cell(nb, "parent-image-counts").outputs[0]["data"]["text/plain"]
    )
    charts = png_images(tagged_cell(nb, "parent-image-chart"))
    assert len(charts) == 1 and charts[0].startswith(b"\x89PNG\r\n\x1a\n")

    # the recording, read with the standard library: its numbers, not the series' screenshots
    raw = raw_events(WMI_2019)
    created = [e for e in raw if e["source_name"] == SYSMON and e["event_id"] == 1]
    assert (len(raw), len({k for e in raw for k in e}), len(created)) == (5189, 22, 4)
    hosts = ", ".join(sorted({e["computer_name"] for e in raw}))
    assert stdout_of(tagged_cell(nb, "recording")) == (
        f"{len(raw):,} events x 22 columns\n4 Sysmon process creations\nhosts: {hosts}\n"
    )
    # the series' chart: command line length per parent, WmiPrvSE's child standing out
    charts = png_images(tagged_cell(nb, "command-count-chart"))
    assert len(charts) == 1 and charts[0].startswith(b"\x89PNG\r\n\x1a\n")
    printed_lengths = stdout_of(tagged_cell(nb, "command-count")).splitlines()
    assert sorted(printed_lengths) == sorted(
        f"{len(e['event_data']['CommandLine']):6} characters  started by "
        f"{e['event_data']['ParentImage']}"
        for e in created
    )
    assert f"{len(command_line):6} characters  started by {expected['ParentImage'].iloc[0]}" in (
        printed_lengths
    )

    # the same through huntlab (JSON or Elasticsearch)
    found = rows(nb, "wmiprvse-children")
    assert [r["ProcessGuid"] for r in found] == list(expected["ProcessGuid"])
    assert stdout_of(tagged_cell(nb, "huntlab-wmiprvse")).strip() == command_line
    assert len(png_images(tagged_cell(nb, "huntlab-chart"))) == 1


def test_04_event_log_analysis_json(notebook_env: Path, tmp_path: Path) -> None:
    check_notebook_04(execute("04-event-log-analysis-pandas", tmp_path, source="json"))


@pytest.mark.es
def test_04_event_log_analysis_elasticsearch(
    notebook_env: Path, es_loaded: Any, tmp_path: Path
) -> None:
    nb = execute(
        "04-event-log-analysis-pandas", tmp_path, source="elasticsearch", es_url=es_loaded.es_url
    )
    check_notebook_04(nb)


# -- the hunt template: pandas only --------------------------------------------------------------


def check_template(nb: nbformat.NotebookNode, dataset: str) -> None:
    frame = _events(dataset)
    expected = Counter(
        {
            (str(k[0]), int(k[1])): int(n)
            for k, n in frame.groupby(["SourceName", "EventID"]).size().items()
            if n
        }
    )
    found = rows(nb, "overview")
    assert counted(found, "SourceName", "EventID", count="Events") == expected


def test_hunt_template_json(notebook_env: Path, tmp_path: Path) -> None:
    check_template(execute("hunt-template", tmp_path, source="json", dataset=WMI_2020), WMI_2020)


@pytest.mark.es
def test_hunt_template_elasticsearch(notebook_env: Path, es_loaded: Any, tmp_path: Path) -> None:
    nb = execute(
        "hunt-template", tmp_path, source="elasticsearch", dataset=WMI_2020, es_url=es_loaded.es_url
    )
    check_template(nb, WMI_2020)


# -- 05-07: Spark ------------------------------------------------------------------------------


@pytest.mark.es
@pytest.mark.spark
def test_05_spark_over_elasticsearch(notebook_env: Path, es_loaded: Any, tmp_path: Path) -> None:
    # the default source ("auto") picks Elasticsearch, which holds the dataset
    nb = execute("05-spark-elasticsearch", tmp_path, es_url=es_loaded.es_url, **SPARK)
    assert "holds empire_invoke_wmi" in source_note(nb)
    check_spark_counts(nb)
    sysmon = events_of(WMI_2019, SYSMON, *range(1, 256))
    printed = stdout_of(tagged_cell(nb, "connector-read"))
    assert f"connector read: {len(sysmon)} Sysmon events of {WMI_2019}\n" in printed
    # The connector: its jar from the download cache, or the package for Ivy the first time.
    assert "elasticsearch-spark-30" in stdout_of(tagged_cell(nb, "session-config"))


@pytest.mark.spark
def test_05_spark_falls_back_to_json(notebook_env: Path, tmp_path: Path) -> None:
    nb = execute("05-spark-elasticsearch", tmp_path, es_url=NO_ES, **SPARK)
    note = source_note(nb)
    assert "reads the JSON lines instead" in note and NO_ES in note
    assert "skipped" in stdout_of(tagged_cell(nb, "connector-read"))
    check_spark_counts(nb)


def source_note(nb: nbformat.NotebookNode) -> str:
    """What the parameters said about the source (the markdown of ``params``)."""
    return "".join(
        o["data"]["text/markdown"]
        for c in nb.cells
        for o in c.get("outputs", [])
        if o["output_type"] in ("display_data", "execute_result") and "text/markdown" in o["data"]
    )


def check_spark_counts(nb: nbformat.NotebookNode) -> None:
    sysmon = _events(WMI_2019)
    sysmon = sysmon[sysmon["SourceName"] == SYSMON]
    expected = Counter(
        {(int(k),): int(n) for k, n in sysmon.groupby("EventID").size().items() if n}
    )
    assert counted(rows(nb, "sysmon-event-ids"), "EventID", count="count") == expected
    comparison = rows(nb, "spark-vs-pandas")
    assert comparison and all(r["spark"] == r["pandas"] for r in comparison)
    assert "Spark and pandas agree: True" in stdout_of(tagged_cell(nb, "spark-vs-pandas"))
    created = rows(nb, "process-creations")
    assert len(created) == expected[(1,)]


def check_joins(nb: nbformat.NotebookNode, dataset: str) -> None:
    logons = rows(nb, "logon-processes")
    expected_logons = expected_logon_processes(dataset)
    assert expected_logons, "the shared datasets hold network logons that ran processes"
    assert sorted((r["TargetLogonId"], r["ProcessGuid"]) for r in logons) == expected_logons

    connections = rows(nb, "process-connections")
    fields = ("ProcessGuid", "DestinationIp", "DestinationPort")
    expected = expected_by_process(dataset, 3, "ProcessGuid", "DestinationIp", "DestinationPort")
    assert expected
    assert counted(connections, *fields, count="Connections") == expected

    accesses = rows(nb, "process-accesses")
    fields = ("ProcessGuid", "TargetImage", "GrantedAccess")
    expected = expected_by_process(dataset, 10, "SourceProcessGUID", "TargetImage", "GrantedAccess")
    assert expected
    assert counted(accesses, *fields, count="Accesses") == expected


@pytest.mark.spark
def test_06_joins_json(notebook_env: Path, tmp_path: Path) -> None:
    nb = execute("06-spark-sql-joins", tmp_path, source="json", dataset=WMI_2019, **SPARK)
    check_joins(nb, WMI_2019)


@pytest.mark.es
@pytest.mark.spark
def test_06_joins_elasticsearch(notebook_env: Path, es_loaded: Any, tmp_path: Path) -> None:
    nb = execute(
        "06-spark-sql-joins",
        tmp_path,
        source="elasticsearch",
        dataset=WMI_2020,
        es_url=es_loaded.es_url,
        **SPARK,
    )
    check_joins(nb, WMI_2020)


def check_hunt(nb: nbformat.NotebookNode, dataset: str) -> None:
    expected = wmi_children(dataset)
    found = rows(nb, "a1-wmi-children")
    assert sorted(r["ProcessGuid"] for r in found) == sorted(expected["ProcessGuid"])

    logons = rows(nb, "a2-wmi-logons")
    wmi_guids = set(expected["ProcessGuid"])
    wanted = [
        (logon, guid)
        for logon, guid in expected_logon_processes(dataset, logon_type=None)
        if guid in wmi_guids
    ]
    assert wanted, "the WMI child ran in a logon session recorded by the Security log"
    assert sorted((r["TargetLogonId"], r["ProcessGuid"]) for r in logons) == sorted(wanted)

    # A3: the processes the WMI child started (any depth) and their network connections
    created = events_of(dataset, SYSMON, 1)
    tree: set[str] = set()
    frontier = {g.upper() for g in expected["ProcessGuid"]}
    while frontier:
        tree |= frontier
        children = created[created["ParentProcessGuid"].str.upper().isin(frontier)]
        frontier = set(children["ProcessGuid"].str.upper()) - tree
    descendants = tree - {g.upper() for g in expected["ProcessGuid"]}
    assert {r["Image"] for r in rows(nb, "a3-process-tree")} == set(
        created[created["ProcessGuid"].str.upper().isin(descendants)]["Image"]
    )
    network = events_of(dataset, SYSMON, 3)
    calls = network[network["ProcessGuid"].str.upper().isin(tree)]
    assert calls.shape[0] > 0, "the payload calls home in both recordings"
    assert counted(
        rows(nb, "a3-connections"), "DestinationIp", "DestinationPort", count="Connections"
    ) == Counter(zip(calls["DestinationIp"], calls["DestinationPort"], strict=True))

    findings = rows(nb, "findings")
    assert len(findings) == len(expected)
    assert {f["CommandLineLength"] for f in findings} == {len(c) for c in expected["CommandLine"]}
    printed = stdout_of(tagged_cell(nb, "findings"))
    for host in expected["Hostname"]:
        assert f"{host}: WmiPrvSE.exe started" in printed


@pytest.mark.spark
def test_07_documented_hunt_json(notebook_env: Path, tmp_path: Path) -> None:
    nb = execute("07-documented-hunt-wmi", tmp_path, source="json", dataset=WMI_2019, **SPARK)
    check_hunt(nb, WMI_2019)


@pytest.mark.es
@pytest.mark.spark
def test_07_documented_hunt_elasticsearch(
    notebook_env: Path, es_loaded: Any, tmp_path: Path
) -> None:
    nb = execute(
        "07-documented-hunt-wmi",
        tmp_path,
        source="elasticsearch",
        dataset=WMI_2020,
        es_url=es_loaded.es_url,
        **SPARK,
    )
    check_hunt(nb, WMI_2020)


# -- 08: Sigma detections ---------------------------------------------------------------------

# Rules that must fire on both Empire WMI recordings: Empire's launcher, started by WmiPrvSE.exe
# on the target. Ids, not titles: SigmaHQ retitles rules, ids stay.
MUST_FIRE = {
    "79f4ede3-402e-41c8-bc3e-ebbf5f162581",  # HackTool - Empire PowerShell Launch Parameters
    "d21374ff-f574-44a7-9998-4a8c8bf33d7d",  # WmiPrvSE Spawned A Process
    "692f0bec-83ba-4d04-af7e-e884a96059b6",  # Potential WMI Lateral Movement WmiPrvSE Spawned PowerShell
}
SIGMA = "08-sigma-detections"


def check_sigma(nb: nbformat.NotebookNode, dataset: str) -> None:
    fired = rows(nb, "fired")
    assert {r["rule_id"] for r in fired} >= MUST_FIRE
    assert all(r["hits"] > 0 and r["author"] for r in fired), "fired rules, each credited"
    total = sum(r["hits"] for r in fired)
    hits = results_in(nb)["hits"]
    assert hits["count"] == total > 0
    shown = hits["rows"]
    assert {"author", "title", "level", "Hostname"} <= set(hits["columns"])
    assert {r["title"] for r in shown} <= {r["title"] for r in fired}
    fired_level = {r["title"]: r["level"] for r in fired}
    assert all(r["level"] == fired_level[r["title"]] for r in shown)
    printed = stdout_of(tagged_cell(nb, "detect"))
    assert f" rules: {len(fired):,} fired, {total:,} hits\n" in printed
    assert f"{len(_events(dataset)):,} events, " in printed

    # per host and per technique: the same hits, cut another way
    per_host = rows(nb, "hits-per-host")
    assert sum(r["Hits"] for r in per_host) == total
    assert {r["Hostname"] for r in per_host} <= set(_events(dataset)["Hostname"])
    levels = {r["level"] for r in fired}
    assert all(r["Hits"] == sum(r.get(level, 0) for level in levels) for r in per_host)
    per_technique = {r["technique"]: r for r in rows(nb, "hits-per-technique")}
    assert {"T1047", "T1059.001"} <= set(per_technique)
    assert all(0 < r["Hits"] <= total and r["Rules"] <= len(fired) for r in per_technique.values())
    charts = png_images(tagged_cell(nb, "hits-per-rule-chart"))
    assert len(charts) == 1 and charts[0].startswith(b"\x89PNG\r\n\x1a\n")

    # the rules that cannot run say why; in SigmaHQ's Windows rules, those reading ETW only
    unsupported = rows(nb, "unsupported")
    assert unsupported and all(r["reason"] for r in unsupported)
    assert {r["category"] for r in unsupported} <= {"file_access", "file_rename"}
    assert f", {len(unsupported):,} not supported\n" in stdout_of(tagged_cell(nb, "rules"))

    # the most severe process-creation hit: Empire's launcher, the process WmiPrvSE.exe started
    (child,) = wmi_children(dataset).to_dict("records")
    image, guid, parent = str(child["Image"]), str(child["ProcessGuid"]), str(child["ParentImage"])
    picked = stdout_of(tagged_cell(nb, "picked-hit"))
    assert picked.startswith("high · ")
    assert f"process: {image}\n" in picked and f"GUID: {guid}\n" in picked
    if not pd.isna(child["ProcessId"]):  # the 2020 recording's Sysmon 1 events have none
        assert f"PID: {child['ProcessId']}  " in picked
    assert f"parent: {parent}\n" in picked
    assert f"({len(str(child['CommandLine'])):,} characters)" in picked
    tree = rows(nb, "hit-tree")
    (at,) = [i for i, r in enumerate(tree) if r["ProcessGuid"] == guid]
    me = tree[at]
    assert not me["Inferred"] and me["Image"] == image
    assert [r["Depth"] for r in tree[: at + 1]] == list(range(me["Depth"] + 1)), "its ancestors"
    assert me["Depth"] > 0 and tree[at - 1]["Image"].lower() == parent.lower()
    created = events_of(dataset, SYSMON, 1)
    started = created[created["ParentProcessGuid"].str.upper() == guid.upper()]
    assert set(started["ProcessGuid"]) <= {r["ProcessGuid"] for r in tree}
    text = stdout_of(tagged_cell(nb, "hit-tree"))
    assert f"+-- Process: {image}  PID: " in text
    assert len(png_images(tagged_cell(nb, "hit-tree-chart"))) == 1
    check_timeline(rows(nb, "hit-timeline"), dataset, guid)
    assert len(png_images(tagged_cell(nb, "hit-timeline"))) == 1

    # credits: every author of a rule that fired
    credits = stdout_of(tagged_cell(nb, "credits"))
    assert all(f"{r['author']}: " in credits for r in fired)


def test_08_sigma_detections_json(notebook_env: Path, sigma_dir: Path, tmp_path: Path) -> None:
    rules = str(sigma_dir / "rules" / "windows")
    nb = execute(SIGMA, tmp_path, source="json", rules=rules)
    check_sigma(nb, WMI_2019)


def test_08_without_rules_says_where_to_get_them(notebook_env: Path, tmp_path: Path) -> None:
    from papermill.exceptions import PapermillExecutionError

    missing = tmp_path / "sigma" / "rules" / "windows"
    with pytest.raises(PapermillExecutionError) as failed:
        execute(SIGMA, tmp_path, source="json", rules=str(missing))
    message = str(failed.value)
    assert f"no Sigma rules at {missing}" in message
    assert "https://github.com/SigmaHQ/sigma" in message and "-p rules PATH" in message


@pytest.mark.es
def test_08_sigma_detections_elasticsearch(
    notebook_env: Path, es_loaded: Any, sigma_dir: Path, tmp_path: Path
) -> None:
    # the default source ("auto") picks Elasticsearch, which holds the dataset
    rules = str(sigma_dir / "rules" / "windows")
    nb = execute(SIGMA, tmp_path, dataset=WMI_2020, es_url=es_loaded.es_url, rules=rules)
    assert f"holds {WMI_2020}" in source_note(nb)
    check_sigma(nb, WMI_2020)


@pytest.mark.spark
def test_08_sigma_detections_spark_from_a_release_archive(
    notebook_env: Path, sigma_dir: Path, tmp_path: Path
) -> None:
    """engine="spark", the rules in a zip laid out as SigmaHQ's releases: the rules that fire
    in pandas, those that cannot run, and every 40th of the others (all 2,400 take minutes in
    a local Spark)."""
    import zipfile

    import huntlab
    from huntlab.detect import Filters, detect, load_rules

    windows = sigma_dir / "rules" / "windows"
    every = load_rules(windows, Filters(product=["windows"]))
    expected = detect(huntlab.read_events(WMI_2019), every).summary
    firing = set(expected.loc[expected["hits"] > 0, "rule_id"])
    files = sorted(windows.rglob("*.yml"))
    ids = {r.info.path: r.info.id for r in every.rules}
    skipped = {s.info.path for s in every.unsupported}
    picked = [
        f
        for i, f in enumerate(files)
        if ids.get(str(f)) in firing or str(f) in skipped or i % 40 == 0
    ]
    archive = tmp_path / "sigma_core.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in picked:
            zf.write(f, f"rules/windows/{f.relative_to(windows)}")

    nb = execute(SIGMA, tmp_path, source="json", rules=str(archive), engine="spark", **SPARK)
    check_sigma(nb, WMI_2019)
    wanted = {ids.get(str(f)) for f in picked}
    hits = dict(zip(expected["rule_id"], expected["hits"], strict=True))
    assert {r["rule_id"]: r["hits"] for r in rows(nb, "fired")} == {
        rule: n for rule, n in hits.items() if rule in wanted and n
    }


# -- 09: process trees and timelines ---------------------------------------------------------------


def check_process_trees(nb: nbformat.NotebookNode, dataset: str) -> None:
    created = events_of(dataset, SYSMON, 1)
    seen = {
        (h.lower(), int(p), i.lower())
        for h, p, i in zip(created["Hostname"], created["ProcessId"], created["Image"], strict=True)
    }
    security = events_of(dataset, SECURITY, 4688)
    only_security = security[
        [
            (h.lower(), int(p, 16), i.lower()) not in seen
            for h, p, i in zip(
                security["Hostname"],
                security["NewProcessId"],
                security["NewProcessName"],
                strict=True,
            )
        ]
    ]
    expected = Counter(created["Hostname"]).most_common()
    found = counted(rows(nb, "processes"), "Hostname", "Source", count="Processes")
    assert found == Counter(
        {
            **{(h, "Sysmon 1"): n for h, n in expected},
            **{(h, "Security 4688"): n for h, n in Counter(only_security["Hostname"]).items()},
        }
    )

    child = wmi_children(dataset).iloc[0]
    host = str(child["Hostname"])
    assert stdout_of(tagged_cell(nb, "host")) == f"host: {host}\n"
    on_host = created[created["Hostname"] == host]
    guids = set(on_host["ProcessGuid"].str.upper())
    parents = set(on_host["ParentProcessGuid"].str.upper()) - guids
    text = stdout_of(tagged_cell(nb, "tree-text"))
    assert f"+ Process: {child['ParentImage']}  PID: {int(child['ParentProcessId'])}" in text
    assert f"({len(str(child['CommandLine']))} characters)" in text
    (summary,) = rows(nb, "tree-summary")
    assert summary["Processes"] == len(guids) + len(parents)
    assert summary["RootProcesses"] == len(parents)
    for tag in ("tree-chart", "timeline-chart"):
        charts = png_images(tagged_cell(nb, tag))
        assert len(charts) == 1 and charts[0].startswith(b"\x89PNG\r\n\x1a\n")

    # the WmiPrvSE child's timeline: every Sysmon event naming its GUID
    check_timeline(rows(nb, "timeline-counts"), dataset, str(child["ProcessGuid"]))
    assert stdout_of(tagged_cell(nb, "spark-same")).endswith("Spark and pandas agree: True\n")


@pytest.mark.spark
def test_09_process_trees_json(notebook_env: Path, tmp_path: Path) -> None:
    nb = execute("09-process-trees-timelines", tmp_path, source="json", **SPARK)
    check_process_trees(nb, WMI_2019)


@pytest.mark.es
@pytest.mark.spark
def test_09_process_trees_elasticsearch(notebook_env: Path, es_loaded: Any, tmp_path: Path) -> None:
    nb = execute("09-process-trees-timelines", tmp_path, es_url=es_loaded.es_url, **SPARK)
    assert "holds empire_invoke_wmi" in source_note(nb)
    check_process_trees(nb, WMI_2019)
