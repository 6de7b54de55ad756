"""The ThreatHunter-Playbook's hunts in the native lab, executed under papermill.

In the lab ``./install.sh --native`` brought up (tests/support/fixtures/lab.py), the lab's
own ``huntlab hunts get --from ...`` converts the 17 sample hunts
(../shared/threathunter-playbook, read in place) into the workspace's ``hunts/playbook/``;
then papermill executes each notebook in a kernel of the lab's interpreter with the
environment of the lab's JupyterLab (what its kernels get), so Spark runs on the lab's
master and worker; the recordings are found through ``HUNTLAB_DATASETS_MIRROR``. Every
notebook must run to its end; the only errors allowed are the two the playbook itself writes
(PLAYBOOK_ERRORS). A few analytics' cells are checked on the rows they show, against what
``huntlab hunts check`` reports for them; one hunt runs again with ``source =
"elasticsearch"`` after ``huntlab load`` of its recording, and shows the same rows.

One kernel and one Spark driver serve all the runs, one after the other: starting a kernel
and a Spark driver for each costs about 15 s, most of the run. Between notebooks the
kernel's namespace is cleared and Spark's temporary views dropped, so a notebook sees only
what it made itself. The executed notebooks stay in the test's temporary folder
(``executed/``).
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import pytest
import requests

from huntlab.hunts.convert import RAISES, sql_cell_source
from huntlab.hunts.playbook import Hunt, find_hunts
from huntlab.lab import processes
from tests.conftest import shared_dir
from tests.support.fixtures.lab import NativeLab
from tests.support.hints import suggested

PLAYBOOK = shared_dir() / "threathunter-playbook"
HUNT_IDS = sorted(p.parent.name for p in (PLAYBOOK / "hunts").glob("*/notebook.md"))
# The hunt run again over the lab's Elasticsearch, after `huntlab load` of its recording.
ES_HUNT = "190625-RegKeyAccessSyskey"

# The cells the playbook itself breaks, and the error each raises. The converter tags a
# pandas analytic that is not valid Python `raises-exception` (nbclient runs on past it); one
# that parses but fails on its data it cannot tell from a good one (it never reads the
# recordings), so the run stops there: it is the notebook's last cell.
PLAYBOOK_ERRORS: dict[tuple[str, str], str] = {
    # a comma missing between two conditions
    ("190610-PwshAlternateHosts", "Analytic I"): "SyntaxError",
    # merges on 'Filename' with the frame that lacks it (fileCreateDf for fileAccessedDf)
    ("201009-RemoteWMIWbemcomnDLLHijack", "Analytic III"): "KeyError",
}

# Rows an analytic's cell shows, as `huntlab hunts check` counts them on huntlab's tables
# (pandas: the pandas query; spark: the SQL through run_sql). Where the playbook's own way
# runs, it gives the same (tests/integration/hunts/test_check.py).
EXPECTED_ROWS: dict[tuple[str, str, str], int] = {
    ("180719-DLLProcessInjectionCreateRemoteThread", "Analytic I", "spark"): 1,  # sparkTable
    ("180815-ADObjectAccessReplication", "Analytic I", "pandas"): 3,
    ("180815-ADObjectAccessReplication", "Analytic I", "spark"): 3,
    ("190610-PwshAlternateHosts", "Analytic I", "spark"): 2,  # its pandas twin does not parse
    ("190625-RegKeyAccessSyskey", "Analytic I", "pandas"): 8,
    ("190625-RegKeyAccessSyskey", "Analytic I", "spark"): 8,
    ("190725-SAMRegistryHiveHandleRequest", "Analytic I", "spark"): 0,
    ("191224-RegModExtendedNetNTLMDowngrade", "Analytic I", "pandas"): 12,
    ("191224-RegModExtendedNetNTLMDowngrade", "Analytic I", "spark"): 4,
    ("200609-MicrophoneDvcAccess", "Analytic I", "spark"): 10,  # regex literals rewritten
    ("201009-RemoteWMIWbemcomnDLLHijack", "Analytic III", "spark"): 1,
}

# Run in the kernel before each notebook: nothing of the previous one is left but the Spark
# driver (and the modules it imported).
RESET = """
_spark = globals().get("spark")
if _spark is not None:
    for _table in _spark.catalog.listTables():
        if _table.isTemporary:
            _spark.catalog.dropTempView(_table.name)
%reset -f
"""


@dataclass
class Run:
    hunt: Hunt
    notebook: nbformat.NotebookNode  # as executed, outputs included
    error: Exception | None  # what papermill raised, if anything


@dataclass
class Runs:
    by_hunt: dict[str, Run]  # over the recordings' files (source = "json")
    es: Run  # ES_HUNT over the lab's Elasticsearch (source = "elasticsearch")


def _kernel_env(lab: NativeLab) -> tuple[dict[str, str], int]:
    """The environment and umask of the lab's running JupyterLab, which its kernels get,
    with the playbook's recordings as the mirror."""
    running = processes.running(lab.home, "jupyter")
    assert running is not None, "the lab's JupyterLab is not running"
    raw = Path(f"/proc/{running.pid}/environ").read_bytes().split(b"\0")
    env = dict(item.decode().split("=", 1) for item in raw if b"=" in item)
    env["HUNTLAB_DATASETS_MIRROR"] = str(PLAYBOOK / "datasets")
    status = Path(f"/proc/{running.pid}/status").read_text(encoding="utf-8")
    (umask,) = re.findall(r"^Umask:\s*([0-7]+)$", status, re.MULTILINE)
    return env, int(umask, 8)


def _run_in(km: Any, code: str) -> None:
    client = km.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        reply = client.execute_interactive(code, timeout=120, output_hook=lambda _msg: None)
        assert reply["content"]["status"] == "ok", reply["content"]
    finally:
        client.stop_channels()


@pytest.fixture(scope="module")
def runs(native_lab: NativeLab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    import papermill
    from jupyter_client.manager import KernelManager

    assert native_lab.install.returncode == 0, native_lab.install.stderr[-3000:]
    env, umask = _kernel_env(native_lab)
    cli_env = {**native_lab.env, "HUNTLAB_DATASETS_MIRROR": env["HUNTLAB_DATASETS_MIRROR"]}
    got = native_lab.huntlab("hunts", "get", "--from", str(PLAYBOOK / "hunts"))
    assert got.returncode == 0, got.stderr
    converted = native_lab.home / "workspace" / "hunts" / "playbook"
    assert f"huntlab: {len(HUNT_IDS)} notebooks written, 0 unchanged, in {converted}" in (
        got.stderr
    )
    hunts = {hunt.id: hunt for hunt in find_hunts(PLAYBOOK / "hunts")}
    (dataset,) = hunts[ES_HUNT].datasets
    # What the notebook's parameters cell says to run before source = "elasticsearch".
    notebook = nbformat.read(converted / f"{ES_HUNT}.ipynb", as_version=4)
    (parameters,) = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    words = suggested(parameters.source, "huntlab load")
    loaded = subprocess.run(
        [native_lab.huntlab_bin, *(dataset if w == "<dataset>" else w for w in words)],
        env=cli_env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    executed = tmp_path_factory.mktemp("executed")

    km = KernelManager(kernel_name="python3")
    previous = os.umask(umask)  # the kernel inherits it, as the lab's kernels inherit its own
    try:
        km.start_kernel(env=env, cwd=str(converted))
    finally:
        os.umask(previous)
    try:

        def execute(hunt_id: str, name: str, **parameters: Any) -> Run:
            _run_in(km, RESET)
            out = executed / name
            error: Exception | None = None
            try:
                papermill.execute_notebook(
                    str(converted / f"{hunt_id}.ipynb"),
                    str(out),
                    parameters=parameters,
                    kernel_name="python3",
                    km=km,
                    progress_bar=False,
                    execution_timeout=600,
                )
            except papermill.PapermillExecutionError as exc:
                error = exc  # the executed notebook is written all the same
            return Run(hunts[hunt_id], nbformat.read(out, as_version=4), error)

        by_hunt = {hunt_id: execute(hunt_id, f"{hunt_id}.ipynb") for hunt_id in HUNT_IDS}
        es = execute(ES_HUNT, f"{ES_HUNT}-es.ipynb", source="elasticsearch")
        yield Runs(by_hunt, es)
    finally:
        km.shutdown_kernel(now=True)


# -- what the cells show ----------------------------------------------------------------------


def _errors(cell: nbformat.NotebookNode) -> list[str]:
    return [o["ename"] for o in cell.get("outputs", []) if o["output_type"] == "error"]


def _analytic_cell(run: Run, analytic: str, engine: str) -> nbformat.NotebookNode:
    (wanted,) = [a for a in run.hunt.analytics if a.name == analytic]
    code = wanted.pandas if engine == "pandas" else sql_cell_source(wanted.sql or "")
    cells = [c for c in run.notebook.cells if c.cell_type == "code" and c.source == code]
    assert len(cells) == 1, f"{run.hunt.id} {analytic}: no single {engine} cell"
    return cells[0]


def shown_rows(cell: nbformat.NotebookNode) -> int:
    """How many rows the table a cell shows holds: a pandas DataFrame's HTML (its count when
    pandas shortened it), or a Spark DataFrame's under eager evaluation (all of them shown)."""
    (html,) = [
        o["data"]["text/html"]
        for o in cell.outputs
        if o["output_type"] == "execute_result" and "text/html" in o["data"]
    ]
    counted = re.search(r"<p>(\d+) rows × \d+ columns</p>", html)
    if counted:
        return int(counted.group(1))
    if "<tbody>" in html:  # pandas: one <tr> per row in the body
        return html.split("<tbody>", 1)[1].count("<tr")
    assert "only showing top" not in html, "Spark showed only the first rows"
    return html.count("<tr>") - 1  # Spark: a header row, then one per row


# -- the tests --------------------------------------------------------------------------------


def test_the_sample_is_there() -> None:
    assert len(HUNT_IDS) == 17, f"expected the 17 sample hunts in {PLAYBOOK / 'hunts'}"


def _check_run(run: Run, origin: str = "its files") -> None:
    hunt_id = run.hunt.id
    code = [c for c in run.notebook.cells if c.cell_type == "code"]
    failing = {i: names for i, c in enumerate(code) if (names := _errors(c))}
    expected = {
        code.index(_analytic_cell(run, analytic, "pandas")): [ename]
        for (hunt, analytic), ename in PLAYBOOK_ERRORS.items()
        if hunt == hunt_id
    }
    assert failing == expected, f"{hunt_id}: cells with errors, by code cell: {failing}"
    # Every cell ran; the one that failed without the tag is the last.
    assert all(c.execution_count is not None for c in code), f"{hunt_id}: not every cell ran"
    for index in expected:
        tagged = RAISES in code[index].metadata.get("tags", [])
        assert tagged or index == len(code) - 1, f"{hunt_id}: an untagged error stopped the run"
    assert (run.error is None) == (not expected)
    # The recording was read: the loading cell shows the table's shape, rows first, and
    # says where it read the events from.
    loading = next(c for c in code if "df = pandas_frame(dataset" in c.source)
    (shape,) = [o for o in loading.outputs if o["output_type"] == "execute_result"]
    rows = int(shape["data"]["text/plain"].strip("()").split(",")[0])
    assert rows > 0
    printed = "".join(o.get("text", "") for o in loading.outputs if o["output_type"] == "stream")
    assert f"df: {rows:,} events of {run.hunt.datasets[0]}, from {origin}" in printed, printed


@pytest.mark.parametrize("hunt_id", HUNT_IDS)
def test_runs_to_the_end_but_for_the_playbooks_own_errors(runs: Runs, hunt_id: str) -> None:
    _check_run(runs.by_hunt[hunt_id])


@pytest.mark.parametrize(
    ("hunt_id", "analytic", "engine"), sorted(EXPECTED_ROWS), ids=lambda v: str(v)
)
def test_analytic_cells_show_the_rows_the_check_counts(
    runs: Runs, hunt_id: str, analytic: str, engine: str
) -> None:
    cell = _analytic_cell(runs.by_hunt[hunt_id], analytic, engine)
    assert shown_rows(cell) == EXPECTED_ROWS[(hunt_id, analytic, engine)]


def test_spark_ran_on_the_labs_master(runs: Runs, native_lab: NativeLab) -> None:
    """The notebooks' Spark session is an application of the lab's master (its name the
    first notebook's), not a driver of its own."""
    master = requests.get(f"{native_lab.spark_master_ui}/json/", timeout=30).json()
    names = {app["name"] for app in master["activeapps"]}
    assert f"huntlab-hunt-{HUNT_IDS[0]}" in names, names


def test_a_hunt_over_the_labs_elasticsearch_shows_the_same_rows(runs: Runs) -> None:
    """source = "elasticsearch": df and dataTable hold the events `huntlab load` indexed,
    and the analytics show what they show over the recording's files."""
    run = runs.es
    _check_run(run, origin="Elasticsearch at http")
    (injected,) = [
        c for c in run.notebook.cells if "injected-parameters" in c.metadata.get("tags", [])
    ]
    assert 'source = "elasticsearch"' in injected.source
    compared = [key for key in EXPECTED_ROWS if key[0] == ES_HUNT]
    assert compared
    for _, analytic, engine in compared:
        shown = shown_rows(_analytic_cell(run, analytic, engine))
        assert shown == EXPECTED_ROWS[(ES_HUNT, analytic, engine)], (analytic, engine)
        files = shown_rows(_analytic_cell(runs.by_hunt[ES_HUNT], analytic, engine))
        assert shown == files, (analytic, engine)
