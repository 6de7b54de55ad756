"""The huntlab home as a folder of its own: made private, recognised by a marker.

A home is created mode 700 with a marker file (:data:`MARKER`) in it. Commands that delete
(``huntlab down --purge``) act only on a folder holding the marker, and never on ``/`` or the
user's own home folder, so a mistyped ``--home`` cannot wipe or litter a folder that was never
the lab's. A new or empty folder becomes a home; so does one an earlier huntlab made before the
marker existed (it holds the Jupyter token); any other non-empty folder is refused.
"""

from __future__ import annotations

import os
from pathlib import Path

from huntlab.errors import HuntlabError
from huntlab.files import PRIVATE_DIR, atomic_write

MARKER = ".huntlab-home"
# Only huntlab names a file so: a home made before the marker existed.
_EARLIER_HOME_SIGN = "jupyter_token"


def _never_a_home(home: Path) -> str | None:
    """Why ``home`` can never be a lab's home, or None."""
    resolved = home.expanduser().resolve()
    if resolved == Path(resolved.anchor):
        return "the root folder"
    if resolved == Path.home().expanduser().resolve():
        return "your own home folder"
    return None


def is_home(home: Path) -> bool:
    return (home / MARKER).is_file()


def ensure_home(home: Path) -> Path:
    """Make ``home`` a huntlab home (mode 700, with its marker), creating it if needed."""
    why = _never_a_home(home)
    if why is not None:
        raise HuntlabError(
            f"{home} is {why}: refusing to use it as a huntlab home; give a folder of its own "
            "with --home or HUNTLAB_HOME (default ~/.huntlab)"
        )
    if home.is_dir():
        earlier = is_home(home) or (home / _EARLIER_HOME_SIGN).is_file()
        if not earlier and any(home.iterdir()):
            raise HuntlabError(
                f"{home} is not empty and is not a huntlab home (no {MARKER} in it): give "
                "a new or empty folder with --home or HUNTLAB_HOME"
            )
    else:
        home.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    # Private whatever the umask or an earlier version made of it: tokens, secrets, data.
    os.chmod(home, PRIVATE_DIR)
    if not is_home(home):
        atomic_write(
            home / MARKER, "This folder is a huntlab home (lab state: data, logs, token).\n"
        )
    return home


def require_home(home: Path, action: str) -> Path:
    """``home`` when it is a huntlab home; a clear refusal to ``action`` otherwise."""
    why = _never_a_home(home)
    if why is not None:
        raise HuntlabError(f"{home} is {why}: refusing to {action} it")
    if not is_home(home):
        raise HuntlabError(
            f"{home} is not a huntlab home (no {MARKER} in it): refusing to {action} it; "
            "check --home or HUNTLAB_HOME"
        )
    return home
