"""Worker processes for one read: forked, started for that read and stopped after it.

Used where parsing and the column builder (which hold the GIL) are the limit: a large file
read (``readers.parallel``) and a large Elasticsearch result (``es.query``).
"""

from __future__ import annotations

import gc
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

# Never more workers than this, whatever the machine: each holds a part's columns until the
# caller takes them.
MAX_WORKERS = 8


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def fork_workers(count: int) -> ProcessPoolExecutor | None:
    """``count`` worker processes; None where processes cannot be forked (the work is then
    done in this process).

    Forked, not spawned: a spawned worker would first import the caller's main script again
    (a script without an ``if __name__ == "__main__"`` guard would run again, recursively)
    and pay pandas' imports; a forked one starts at once with the modules loaded. Started for
    each read and stopped after it, so no idle worker keeps memory in a hunter's kernel."""
    # Imported here: a read in one process never pays for them.
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    if sys.platform != "linux" or "fork" not in multiprocessing.get_all_start_methods():
        return None
    pool = ProcessPoolExecutor(max_workers=count, mp_context=multiprocessing.get_context("fork"))
    # The first task forks every worker. Frozen, the caller's objects stay out of the workers'
    # garbage collections, which would otherwise touch (and so copy) every page of them: the
    # workers share the caller's memory instead of doubling it.
    gc.freeze()
    try:
        pool.submit(int).result()
    finally:
        gc.unfreeze()
    return pool
