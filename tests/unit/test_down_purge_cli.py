"""`huntlab down --purge` keeps the user's notebooks unless a separate flag asks for them."""

from __future__ import annotations

from click.testing import CliRunner

from huntlab.cli.lab import down


def test_help_says_purge_keeps_the_notebooks() -> None:
    text = " ".join(CliRunner().invoke(down, ["--help"]).output.split())
    assert "--purge" in text and "your notebooks are kept" in text
    assert "--purge-notebooks" in text and "delete the notebooks volume too" in text


def test_purge_notebooks_alone_is_refused() -> None:
    result = CliRunner().invoke(down, ["--purge-notebooks"])
    assert result.exit_code == 2
    assert "--purge-notebooks goes with --purge" in result.output
