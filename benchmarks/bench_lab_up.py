"""Native lab: time from ``huntlab up`` to every service healthy, and idle memory.

Runs in a temporary huntlab home on free ports (the download cache is shared, so the machine
is "warm": the Elasticsearch zip and the Python packages are already there):

1. ``huntlab up`` on the fresh home (loads the default datasets): the first start;
2. ``huntlab down`` then ``huntlab up`` again: the warm start, the figure the goal is about;
3. after an idle pause, the resident memory (RSS) summed over every process of the lab.

Printed beside the goals (<= 60 s, <= 3 GB) and HELK's published requirements (5-10 minutes
to come up, 8 GB of RAM). Usage: python benchmarks/bench_lab_up.py [--datasets-mirror DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import needs
from huntlab.lab.processes import free_ports

REPO = Path(__file__).resolve().parent.parent
GOAL_SECONDS = 60.0
GOAL_GB = 3.0
HELK_SECONDS = (5 * 60.0, 10 * 60.0)
HELK_GB = 8.0


def huntlab(env: dict[str, str], *args: str) -> float:
    """Run a huntlab command; return its wall time in seconds (it must succeed)."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "huntlab", *args], env=env, capture_output=True, text=True
    )
    elapsed = time.monotonic() - started
    if done.returncode != 0:
        sys.exit(f"huntlab {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return elapsed


def lab_rss(env: dict[str, str]) -> tuple[int, int]:
    """(bytes, process count) of every process of the running lab."""
    import psutil

    from huntlab.settings import load_settings

    # The tests' helper (tests/support), importable from the checkout.
    sys.path.insert(0, str(REPO))
    from tests.support.lab_processes import lab_pids

    saved = dict(os.environ)
    os.environ.update(env)
    try:
        pids = lab_pids(load_settings())
    finally:
        os.environ.clear()
        os.environ.update(saved)
    total = 0
    for pid in pids:
        try:
            total += psutil.Process(pid).memory_info().rss
        except psutil.Error:
            continue
    return total, len(pids)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--datasets-mirror",
        default=os.environ.get("HUNTLAB_DATASETS_MIRROR", str(REPO.parent / "shared" / "datasets")),
        help="folder of dataset archives (default: ../shared/datasets)",
    )
    parser.add_argument(
        "--idle", type=float, default=20.0, help="seconds idle before measuring RSS"
    )
    args = parser.parse_args()
    needs.datasets(args.datasets_mirror, "windows/empire_invoke_wmi/empire_invoke_wmi.tar.gz")

    home = Path(tempfile.mkdtemp(prefix="huntlab-bench-"))
    es, master, master_ui, worker_ui, jupyter = free_ports(5)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUNTLAB_", "JUPYTER_"))}
    env.update(
        {
            "HUNTLAB_HOME": str(home),
            "HUNTLAB_DATASETS_MIRROR": args.datasets_mirror,
            "HUNTLAB_ES_PORT": str(es),
            "HUNTLAB_SPARK_MASTER_PORT": str(master),
            "HUNTLAB_SPARK_MASTER_UI_PORT": str(master_ui),
            "HUNTLAB_SPARK_WORKER_UI_PORT": str(worker_ui),
            "HUNTLAB_JUPYTER_PORT": str(jupyter),
        }
    )
    if os.environ.get("HUNTLAB_CACHE"):
        env["HUNTLAB_CACHE"] = os.environ["HUNTLAB_CACHE"]
    try:
        first = huntlab(env, "up", "--native")
        huntlab(env, "down")
        warm = huntlab(env, "up", "--native")
        huntlab(env, "status")  # exits non-zero unless every service is up
        time.sleep(args.idle)
        rss, count = lab_rss(env)
    finally:
        subprocess.run([sys.executable, "-m", "huntlab", "down"], env=env, capture_output=True)
        shutil.rmtree(home, ignore_errors=True)

    gb = rss / 1e9
    print(f"{'':34}{'huntlab':>12}{'goal':>10}{'HELK':>14}{'HELK / huntlab':>17}")
    print(
        f"{'first up, fresh home + data (s)':34}{first:>12.1f}{'':>10}"
        f"{'300-600':>14}{HELK_SECONDS[0] / first:>8.1f}-{HELK_SECONDS[1] / first:.1f}x"
    )
    print(
        f"{'warm up to all healthy (s)':34}{warm:>12.1f}{GOAL_SECONDS:>10.0f}"
        f"{'300-600':>14}{HELK_SECONDS[0] / warm:>8.1f}-{HELK_SECONDS[1] / warm:.1f}x"
    )
    print(
        f"{f'idle RSS, {count} processes (GB)':34}{gb:>12.2f}{GOAL_GB:>10.1f}"
        f"{HELK_GB:>14.1f}{HELK_GB / gb:>16.1f}x"
    )
    verdict = "meets" if warm <= GOAL_SECONDS and gb <= GOAL_GB else "MISSES"
    print(f"huntlab {verdict} its goals (<= {GOAL_SECONDS:.0f} s, <= {GOAL_GB:.0f} GB)")


if __name__ == "__main__":
    main()
