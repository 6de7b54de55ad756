"""The notebook workspace a user owns: shipped notebooks copied in, user edits never replaced.

A manifest (``.huntlab-shipped.json``) records the digest of each notebook as shipped. On a
rerun a notebook is refreshed only when the user has not changed it since it was copied;
an edited or deleted one is left as the user left it. A notebook's digest covers its cells
(type and source) only: JupyterLab writes the kernel's ``language_info`` (and outputs) into a
notebook merely opened and run, which is not the user's edit.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from huntlab.files import PRIVATE_DIR, atomic_write, private_dirs

MANIFEST = ".huntlab-shipped.json"


def notebooks_source() -> Path | None:
    """The tutorial notebooks huntlab ships (None in an install without them)."""
    from huntlab.resources import resource_dir

    try:
        return resource_dir("notebooks")
    except FileNotFoundError:
        return None


def disable_announcements(config_dir: Path) -> None:
    """No "get Jupyter news?" prompt: the lab is often offline, and it hides the notebook.
    A page_config.json already there holds the user's own choices and is left alone."""
    page_config = config_dir / "labconfig" / "page_config.json"
    if page_config.exists():
        return
    plugin = "@jupyterlab/apputils-extension:announcements"
    atomic_write(page_config, json.dumps({"disabledExtensions": {plugin: True}}, indent=2) + "\n")


def workspace_dir(home: Path) -> Path:
    return home / "workspace"


DATASETS_LINK = "datasets"


def link_datasets(workspace: Path, store: Path) -> Path | None:
    """``datasets/`` in the workspace: a link to the lab's dataset store (``<name>/<files>``),
    as the tutorial series keeps its recordings beside the notebooks, so that
    ``pd.read_json("datasets/empire_invoke_wmi/empire_invoke_wmi.tar.gz", lines=True)`` and
    Tab completion of the path work. Every dataset ``huntlab load`` adds shows up there at
    once. A ``datasets`` the user made in the workspace is left alone (None is returned)."""
    link = workspace / DATASETS_LINK
    private_dirs(store)
    if link.is_symlink():
        if Path(os.readlink(link)) == store:
            return link
        link.unlink()  # a store that moved (another cache folder)
    elif link.exists():
        return None
    link.symlink_to(store, target_is_directory=True)
    return link


FIRST_NOTEBOOK = "01-jupyter-basics.ipynb"
# The left sidebar's share of the window on the first screen: the notebooks' full names show.
FILE_BROWSER_SHARE = 0.36


def first_screen(workspaces_dir: Path, workspace: Path) -> bool:
    """JupyterLab's first screen for a new user: notebook 01 open beside a file browser wide
    enough for the notebooks' full names. Written as JupyterLab's ``default`` workspace only
    while there is none (later visits restore the user's own layout); True when written."""
    if not (workspace / FIRST_NOTEBOOK).is_file():
        return False
    if workspaces_dir.is_dir() and any(workspaces_dir.glob("*.jupyterlab-workspace")):
        return False
    try:
        from jupyterlab_server.workspaces_handler import WorkspacesManager
    except ImportError:  # JupyterLab is not installed here: nothing to lay out
        return False
    widget = f"notebook:{FIRST_NOTEBOOK}"
    layout = {
        "data": {
            "layout-restorer:data": {
                "main": {
                    "dock": {"type": "tab-area", "currentIndex": 0, "widgets": [widget]},
                    "current": widget,
                },
                "left": {
                    "collapsed": False,
                    "visible": True,
                    "current": "filebrowser",
                    "widgets": ["filebrowser"],
                    "widgetStates": {},
                },
                "relativeSizes": [FILE_BROWSER_SHARE, 1 - FILE_BROWSER_SHARE, 0],
            },
            widget: {"data": {"path": FIRST_NOTEBOOK, "factory": "Notebook"}},
        },
        "metadata": {"id": "default"},
    }
    # Private like the rest of the home (JupyterLab would make them with the umask's modes).
    missing = [d for d in (workspaces_dir, *workspaces_dir.parents) if not d.exists()]
    for folder in reversed(missing):
        folder.mkdir(mode=PRIVATE_DIR)
    saved = WorkspacesManager(str(workspaces_dir)).save("default", json.dumps(layout))
    saved.chmod(0o600)
    return True


def _raw_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _digest(path: Path) -> str:
    """What the manifest records: a notebook's cells (type, source), any other file's bytes."""
    if path.suffix == ".ipynb":
        try:
            cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
            content = [
                (
                    c["cell_type"],
                    "".join(c["source"]) if isinstance(c["source"], list) else c["source"],
                )
                for c in cells
            ]
        except (ValueError, KeyError, TypeError):
            return _raw_digest(path)
        return "cells:" + hashlib.sha256(json.dumps(content).encode("utf-8")).hexdigest()
    return _raw_digest(path)


def _digests(path: Path) -> set[str]:
    """Every digest a file may be recorded under (the raw one: manifests of older huntlabs)."""
    return {_digest(path), _raw_digest(path)}


def sync_notebooks(source: Path | None, home: Path) -> tuple[Path, list[str]]:
    """Copy shipped notebooks into the workspace; return it and the names kept as edited."""
    target = workspace_dir(home)
    private_dirs(target)
    if source is None or not source.is_dir():
        return target, []
    manifest_path = target / MANIFEST
    try:
        shipped: dict[str, str] = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        shipped = {}
    kept: list[str] = []
    for src in sorted(source.rglob("*")):
        if not src.is_file() or ".ipynb_checkpoints" in src.parts or src.name.startswith("."):
            continue
        rel = src.relative_to(source).as_posix()
        dest = target / rel
        new_digest = _digest(src)
        if dest.is_file():
            current = _digests(dest)
            if new_digest in current:
                shipped[rel] = new_digest
                continue
            if shipped.get(rel) not in current:
                kept.append(rel)  # the user's version wins
                continue
        elif rel in shipped:
            continue  # deleted by the user after we copied it: respect that
        # Private like the rest of the home (a copy would take the umask's mode).
        atomic_write(dest, src.read_bytes())
        shipped[rel] = new_digest
    atomic_write(manifest_path, json.dumps(shipped, indent=2, sort_keys=True) + "\n")
    return target, kept
