"""Hunters as unix accounts, and the team's folders in the lab's home.

A hunter named ``alice`` logs in to the hub as ``alice`` and their server runs as the unix
account ``huntlab-alice`` (a prefix, so no hunter can be ``root`` or take over a system
account), member of the group ``huntlab-hunters``. Everything stays in the lab's home, so one
folder is the whole team to back up::

    $HUNTLAB_HOME/                 mode 711 in a team lab: hunters pass through, list nothing
      team/                        711
        hunters/NAME/              700, the hunter's own: their home folder
          workspace/               their JupyterLab root: the tutorial notebooks, never
                                   overwritten, plus links to the two shared folders
          .huntlab/                their huntlab settings (config.json, Spark secret)
        datasets/                  755 root: the lab's recordings, read-only to hunters
        hunts/                     3775 root:huntlab-hunters: the team's documented hunts;
                                   everyone writes, only a file's owner may delete it
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from huntlab.errors import HuntlabError

NAME_PATTERN = re.compile(r"[a-z][a-z0-9_-]{0,23}")
UNIX_PREFIX = "huntlab-"
GROUP = "huntlab-hunters"
TEAM_HOME_MODE = 0o711
SHARED_READ_MODE = 0o755
# setgid: new files belong to the hunters' group; sticky: only the owner deletes a file.
HUNTS_MODE = 0o3775


def check_name(name: str) -> str:
    """``name`` if it can be a hunter: a unix account name with our prefix (at most 32
    characters) and an Elasticsearch user (no reserved name)."""
    if not NAME_PATTERN.fullmatch(name):
        raise HuntlabError(
            f"{name!r} is not a valid hunter name: 1 to 24 characters, lowercase letters, "
            "digits, '_' and '-', starting with a letter (e.g. alice, j_doe)"
        )
    from huntlab.lab.team.es_realm import check_hunter_name

    return check_hunter_name(name)


def unix_name(name: str) -> str:
    return UNIX_PREFIX + check_name(name)


def require_root(action: str) -> None:
    if os.geteuid() != 0:
        raise HuntlabError(
            f"{action} needs root: each hunter is a unix account of their own, which only root "
            "can create and switch to; run it with sudo"
        )


def team_dir(home: Path) -> Path:
    return home / "team"


def hunters_dir(home: Path) -> Path:
    return team_dir(home) / "hunters"


def hunter_dir(home: Path, name: str) -> Path:
    return hunters_dir(home) / check_name(name)


def workspace(home: Path, name: str) -> Path:
    return hunter_dir(home, name) / "workspace"


def hunter_settings_home(home: Path, name: str) -> Path:
    """The ``HUNTLAB_HOME`` of a hunter's server: their own settings and Spark secret."""
    return hunter_dir(home, name) / ".huntlab"


def datasets_dir(home: Path) -> Path:
    return team_dir(home) / "datasets"


def hunts_dir(home: Path) -> Path:
    return team_dir(home) / "hunts"


def _run(argv: list[str], what: str) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise HuntlabError(f"{what} failed ({' '.join(argv)}, exit {result.returncode}): "
                           f"{(result.stderr or result.stdout).strip()}")  # fmt: skip


def _tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if found is None:
        raise HuntlabError(f"{name} not found: the team server needs the shadow tools "
                           "(Debian: apt-get install passwd)")  # fmt: skip
    return found


def group_gid() -> int:
    try:
        return grp.getgrnam(GROUP).gr_gid
    except KeyError:
        _run([_tool("groupadd"), "--system", GROUP], f"creating the group {GROUP}")
        return grp.getgrnam(GROUP).gr_gid


def prepare_team_dirs(home: Path) -> None:
    """The team's folders with the modes above (idempotent; root only)."""
    require_root("a team lab")
    gid = group_gid()
    os.chmod(home, TEAM_HOME_MODE)
    for folder in (team_dir(home), hunters_dir(home)):
        folder.mkdir(mode=TEAM_HOME_MODE, parents=True, exist_ok=True)
        os.chmod(folder, TEAM_HOME_MODE)
    datasets = datasets_dir(home)
    datasets.mkdir(mode=SHARED_READ_MODE, exist_ok=True)
    os.chown(datasets, 0, 0)
    os.chmod(datasets, SHARED_READ_MODE)
    hunts = hunts_dir(home)
    hunts.mkdir(exist_ok=True)
    os.chown(hunts, 0, gid)
    os.chmod(hunts, HUNTS_MODE)


def account(name: str) -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(unix_name(name))
    except KeyError:
        return None


def ensure_account(home: Path, name: str) -> pwd.struct_passwd:
    """The hunter's unix account and home folder (created when missing; their files kept)."""
    require_root("adding a hunter")
    group_gid()
    user = unix_name(name)
    folder = hunter_dir(home, name)
    if account(name) is None:
        # No unix password (locked): hunters log in through the hub only.
        _run(
            [_tool("useradd"), "--home-dir", str(folder), "--no-create-home", "--shell",
             "/bin/bash", "--user-group", "--groups", GROUP, "--comment",
             f"huntlab hunter {name}", user],
            f"creating the unix account {user}",
        )  # fmt: skip
    else:
        _run([_tool("usermod"), "--append", "--groups", GROUP, user], f"updating {user}")
    entry = pwd.getpwnam(user)
    folder.mkdir(mode=0o700, exist_ok=True)
    os.chown(folder, entry.pw_uid, entry.pw_gid)
    os.chmod(folder, 0o700)
    return entry


def remove_account(home: Path, name: str, *, keep_files: bool) -> None:
    require_root("removing a hunter")
    if account(name) is not None:
        _run([_tool("userdel"), unix_name(name)], f"removing the unix account {unix_name(name)}")
    if not keep_files:
        shutil.rmtree(hunter_dir(home, name), ignore_errors=True)


def chown_tree(path: Path, uid: int, gid: int) -> None:
    """Give ``path`` and everything under it to the hunter (links themselves, not targets)."""
    os.lchown(path, uid, gid)
    for root, dirs, files in os.walk(path):
        for entry in (*dirs, *files):
            os.lchown(os.path.join(root, entry), uid, gid)


def kill_processes(name: str) -> int:
    """Kill whatever still runs as the hunter's account; return how many processes."""
    entry = account(name)
    if entry is None:
        return 0
    import psutil

    killed = 0
    for proc in psutil.process_iter(["uids"]):
        uids = proc.info.get("uids")
        if uids is not None and uids.real == entry.pw_uid:
            try:
                proc.kill()
                killed += 1
            except psutil.Error:
                pass
    return killed


def share_datasets(home: Path, names: list[str], say: Callable[[str], None]) -> None:
    """Put the loaded datasets' files in the team's read-only ``datasets/`` folder, laid out
    as a datasets mirror (``NAME/<its files>``): hunters' kernels find them by name there
    (``HUNTLAB_DATASETS_MIRROR``), offline, as the lab itself did."""
    from huntlab import datasets as catalog

    target_root = datasets_dir(home)
    for name in names:
        try:
            source = catalog.resolve(name)
        except HuntlabError as exc:
            say(f"huntlab: {name}: not shared with the hunters ({exc})")
            continue
        files = [source] if source.is_file() else [p for p in source.rglob("*") if p.is_file()]
        base = source.parent if source.is_file() else source
        target = target_root / name
        for src in files:
            dest = target / src.relative_to(base)
            if dest.is_file() and dest.stat().st_size == src.stat().st_size:
                continue
            dest.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
            shutil.copyfile(src, dest)
        for path in [target, *target.rglob("*")]:
            os.chown(path, 0, 0)
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
    say(f"huntlab: shared datasets in {target_root} (read-only to hunters)")
