"""huntlab.hunts.convert and ``huntlab hunts list|get`` on the real playbook sample: valid
notebooks whose analytics are the playbook's text, byte for byte. The notebooks are not run
here (that needs huntlab.hunts.load and the recordings)."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner

from huntlab.cli import cli, main
from huntlab.hunts.convert import to_notebook
from huntlab.hunts.playbook import Hunt, find_hunts
from tests.unit.hunts.test_playbook import logic_blocks, pandas_cells, playbook_sample, sample_ids

LOADERS = ("requests.get", "ZipFile", "read_json", "datasetJSONPath")


def _hunt(hunt_id: str) -> Hunt:
    (hunt,) = [h for h in find_hunts(playbook_sample()) if h.id == hunt_id]
    return hunt


def _tags(cell: nbformat.NotebookNode) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _sql_of(source: str) -> str | None:
    """The SQL a run_sql cell runs (the string literal's value), else None."""
    if "run_sql" not in source:
        return None
    tree = ast.parse(source)
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Expr):
        return None
    call = tree.body[0].value
    if not (isinstance(call, ast.Call) and getattr(call.func, "id", None) == "run_sql"):
        return None
    spark, sql = call.args
    assert isinstance(spark, ast.Name) and spark.id == "spark"
    assert isinstance(sql, ast.Constant) and isinstance(sql.value, str)
    return sql.value


@pytest.mark.parametrize("hunt_id", sample_ids())
def test_every_sample_hunt_converts_to_a_valid_notebook_with_its_analytics_verbatim(
    hunt_id: str, tmp_path: Path
) -> None:
    hunt = _hunt(hunt_id)
    text = hunt.notebook.read_text(encoding="utf-8")
    path = to_notebook(hunt, tmp_path / "hunts" / "playbook")
    assert path == tmp_path / "hunts" / "playbook" / f"{hunt_id}.ipynb"
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    assert notebook.metadata["kernelspec"]["name"] == "python3"
    assert notebook.metadata["huntlab"]["playbook_hunt"] == hunt_id
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    # The cells huntlab adds are Python (the playbook's own may not be: upstream's
    # 190610-PwshAlternateHosts has a pandas query with a syntax error, kept as written).
    playbook_code = {a.pandas for a in hunt.analytics}
    for cell in code:
        if cell.source not in playbook_code:
            ast.parse(cell.source)

    # Where it came from and what changed, first.
    top = notebook.cells[0]
    assert top.cell_type == "markdown"
    assert hunt_id in top.source and "MIT" in top.source and "Download Dataset" in top.source

    # One parameters cell, then one loading cell; the playbook's own loading code is gone.
    (parameters,) = [c for c in code if "parameters" in _tags(c)]
    assert f'dataset = "{hunt.datasets[0]}"' in parameters.source
    assert 'source = "json"' in parameters.source
    loading = code[code.index(parameters) + 1]
    assert "from huntlab.hunts.load import" in loading.source
    assert "params = hl.parameters(source, dataset" in loading.source
    assert "df = pandas_frame(dataset, es=es)" in loading.source
    assert "spark_table(spark, dataset" in loading.source and "es=es)" in loading.source
    assert not [c for c in code if any(word in c.source for word in LOADERS)]

    # The pandas analytics are code cells, verbatim, after the loading cell.
    sources = [c.source for c in code]
    expected_pandas = pandas_cells(text)
    assert [a.pandas for a in hunt.analytics] == expected_pandas
    for pandas in expected_pandas:
        assert pandas in sources
        assert sources.index(pandas) > sources.index(loading.source)

    # Each Logic SQL: still in the markdown, then run by a cell holding it byte for byte.
    expected_sql = logic_blocks(text)
    ran = [(i, _sql_of(c.source)) for i, c in enumerate(notebook.cells) if c.cell_type == "code"]
    ran = [(i, sql) for i, sql in ran if sql is not None]
    assert [sql for _, sql in ran] == expected_sql
    for index, sql in ran:
        assert sql in notebook.cells[index].source  # the text itself, not an escaped form
        before = notebook.cells[index - 1]
        assert before.cell_type == "markdown"
        assert before.source.endswith(f"```{{code-block}}\n{sql}\n```")

    # The playbook's prose is all there.
    markdown = "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
    for heading in ("## Hypothesis", "## Analytics", "### Analytic I", "## References"):
        assert heading in markdown


def test_a_hunt_whose_sql_names_another_table_gets_that_view(tmp_path: Path) -> None:
    hunt = _hunt("180719-DLLProcessInjectionCreateRemoteThread")
    assert any(a.sql is not None and "FROM sparkTable" in a.sql for a in hunt.analytics)
    notebook = nbformat.read(to_notebook(hunt, tmp_path), as_version=4)
    loading = [c for c in notebook.cells if "spark_table(spark, dataset" in c.source]
    assert 'spark_table(spark, dataset, view=["dataTable", "sparkTable"], es=es)' in loading[0].source


def test_converting_twice_gives_the_same_bytes(tmp_path: Path) -> None:
    hunt = _hunt("190811-WMIModuleLoad")
    first = to_notebook(hunt, tmp_path / "a").read_bytes()
    assert to_notebook(hunt, tmp_path / "b").read_bytes() == first


def test_a_hunt_without_loading_cells_or_sql_still_converts(tmp_path: Path) -> None:
    folder = tmp_path / "src" / "999999-Tiny"
    folder.mkdir(parents=True)
    (folder / "metadata.yaml").write_text("title: Tiny\n", encoding="utf-8")
    (folder / "notebook.md").write_text(
        "# Tiny\n\n### Analytic I\n\n#### Pandas Query\n\n"
        "```{code-cell} ipython3\ndf.head()\n```\n",
        encoding="utf-8",
    )
    (hunt,) = find_hunts(tmp_path / "src")
    notebook = nbformat.read(to_notebook(hunt, tmp_path / "out"), as_version=4)
    code = [c.source for c in notebook.cells if c.cell_type == "code"]
    assert code[-1] == "df.head()"
    assert "spark" not in code[1] and "df = pandas_frame(dataset, es=es)" in code[1]
    assert "parameters" in _tags(next(c for c in notebook.cells if c.cell_type == "code"))


# --- the command ------------------------------------------------------------------------------


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        "HUNTLAB_HOME": str(tmp_path / "home"),
        "HUNTLAB_CACHE": str(tmp_path / "cache"),
        "HUNTLAB_PLAYBOOK_URL": "http://127.0.0.1:9/unused.tar.gz",
    }


def test_hunts_list(tmp_path: Path) -> None:
    sample = str(playbook_sample())
    result = CliRunner().invoke(cli, ["hunts", "list", "--from", sample], env=_env(tmp_path))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split()[:4] == ["ID", "SQL", "PANDAS", "DATASETS"]
    assert [line.split()[0] for line in lines[1:]] == sample_ids()
    wmi = next(line for line in lines if line.startswith("190811-WMIModuleLoad"))
    assert wmi.split()[1:4] == ["1", "1", "empire_psinject_PEinjection"]

    result = CliRunner().invoke(
        cli, ["hunts", "list", "--from", sample, "--format", "json"], env=_env(tmp_path)
    )
    assert result.exit_code == 0, result.output
    records = {r["id"]: r for r in json.loads(result.stdout)}
    assert sorted(records) == sample_ids()
    for hunt in find_hunts(playbook_sample()):
        text = hunt.notebook.read_text(encoding="utf-8")
        assert records[hunt.id]["sql"] == len(logic_blocks(text))
        assert records[hunt.id]["pandas"] == len(pandas_cells(text))
        assert records[hunt.id]["datasets"] == list(hunt.datasets)


def test_hunts_get_writes_into_the_workspace(tmp_path: Path) -> None:
    env = _env(tmp_path)
    sample = str(playbook_sample())
    result = CliRunner().invoke(cli, ["hunts", "get", "--from", sample], env=env)
    assert result.exit_code == 0, result.output
    folder = tmp_path / "home" / "workspace" / "hunts" / "playbook"
    assert sorted(p.stem for p in folder.glob("*.ipynb")) == sample_ids()
    assert result.stdout.count("\twritten") == 17
    assert str(folder / "190811-WMIModuleLoad.ipynb") in result.stdout

    # Again: nothing to write. A notebook run (outputs) is unchanged; one edited is kept.
    path = folder / "190811-WMIModuleLoad.ipynb"
    notebook = nbformat.read(path, as_version=4)
    notebook.cells[-1].source += "\nmy notes"
    nbformat.write(notebook, path)
    result = CliRunner().invoke(cli, ["hunts", "get", "--from", sample], env=env)
    assert result.exit_code == 0, result.output
    assert result.stdout.count("\tunchanged") == 16
    assert f"{path}\tkept" in result.stdout and "--force" in result.stderr
    assert "my notes" in path.read_text(encoding="utf-8")
    result = CliRunner().invoke(
        cli, ["hunts", "get", "190811-WMIModuleLoad", "--from", sample, "--force"], env=env
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"{path}\twritten"
    assert "my notes" not in path.read_text(encoding="utf-8")


def test_hunts_get_named_hunts_into_dest(tmp_path: Path) -> None:
    sample = str(playbook_sample())
    dest = tmp_path / "mine"
    names = ["200609-MicrophoneDvcAccess", "190510-RegModWDigestDowngrade"]
    result = CliRunner().invoke(
        cli, ["hunts", "get", *names, "--from", sample, "--dest", str(dest)], env=_env(tmp_path)
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in dest.iterdir()) == sorted(f"{n}.ipynb" for n in names)


def test_an_unknown_hunt_is_one_line_naming_close_matches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in _env(tmp_path).items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as exited:
        main(["hunts", "get", "WMIModuleLoad", "--from", str(playbook_sample())])
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("huntlab: error: no hunt 'WMIModuleLoad'")
    assert "190811-WMIModuleLoad" in err
    assert not (tmp_path / "home" / "workspace" / "hunts").exists()


def test_hunts_without_a_playbook_is_one_line_saying_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in _env(tmp_path).items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit):
        main(["hunts", "list"])
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("huntlab: error: ")
    assert "--from DIR" in err and "HUNTLAB_PLAYBOOK_URL" in err
