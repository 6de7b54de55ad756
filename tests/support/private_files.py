"""Which paths of a folder tree other accounts can use: the check behind "the home is private"."""

from __future__ import annotations

import stat
from pathlib import Path

# Group/other may not read or write anything, nor enter a folder. An execute bit alone on a
# file grants nothing without read (Spark marks the jars it fetches executable for everyone).
GROUP_OTHER_RW = 0o066
GROUP_OTHER_X = 0o011


def open_to_others(root: Path) -> list[str]:
    """``mode path`` for ``root`` and each path under it that its group or others can read,
    write or (a folder) enter; symbolic links are not followed."""
    found = []
    for path in [root, *root.rglob("*")]:
        mode = path.lstat().st_mode
        if stat.S_ISLNK(mode):
            continue
        loose = mode & GROUP_OTHER_RW or (stat.S_ISDIR(mode) and mode & GROUP_OTHER_X)
        if loose:
            found.append(f"{oct(mode & 0o777)} {path}")
    return found
