"""Two hunters on one notebook at the same time on the native team server (the check itself:
tests/support/collaboration.py); the merged notebook is saved in the team's hunts/ folder as
the owner's file."""

from __future__ import annotations

import pwd

from tests.support.collaboration import two_hunters_edit_one_notebook
from tests.support.fixtures.team import ALICE, BOB, TeamLab


def test_two_hunters_edit_one_notebook_at_once_through_a_share(team_lab: TeamLab) -> None:
    assert team_lab.install.returncode == 0, team_lab.install.stderr[-6000:]
    team = team_lab.home / "team"

    def author(path: str) -> None:
        assert pwd.getpwuid((team / path).stat().st_uid).pw_name == f"huntlab-{ALICE}"

    two_hunters_edit_one_notebook(
        team_lab, ALICE, BOB, lambda path: (team / path).read_text(encoding="utf-8"), author
    )
