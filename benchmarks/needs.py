"""What the benchmarks read, checked before they start: a clear line instead of a traceback."""

from __future__ import annotations

import sys
from pathlib import Path


def datasets(folder: str | Path, *members: str) -> Path:
    """``folder`` (the Security-Datasets recordings, laid out as ../shared/datasets), with each
    of ``members`` in it; otherwise say what is missing and how to point at it, and exit 2."""
    path = Path(folder).expanduser()
    missing = [m for m in members if not (path / m).is_file()]
    if path.is_dir() and not missing:
        return path
    what = f"{path} is not a folder" if not path.is_dir() else f"{path} lacks {', '.join(missing)}"
    print(
        f"{Path(sys.argv[0]).name}: {what}. The benchmarks read the Security-Datasets "
        "recordings laid out as <platform>/<name>/<file> (the shared datasets folder beside the "
        "checkout, ../shared/datasets); give another with --datasets DIR (or "
        "HUNTLAB_DATASETS_MIRROR / HUNTLAB_SHARED, as the script's --help says).",
        file=sys.stderr,
    )
    raise SystemExit(2)
