"""Command-line start-up: how long ``posemark --help`` takes, next to its floors.

Every command pays the start-up before it does any work, so it is measured on its own:
``posemark --help`` of the tree under test (and of ``--baseline``, another checkout),
next to a bare ``python -c pass`` and ``import typer.rich_utils`` (what Typer itself
loads to print rich help: the floor posemark cannot go below). Runs are interleaved
(one of each per round) so a busy moment of the machine hits all of them; wall and CPU
time (user + system, which a loaded machine inflates less) are medians.

    .venv/bin/python benchmarks/bench_cli.py [--runs 15] [--baseline ../other-checkout]

Target: ``posemark --help`` under 0.3 s.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall, CPU) seconds of one run of ``cmd``; CPU is the child's user + system."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--baseline", type=Path, help="another checkout, measured alongside")
    args = ap.parse_args()
    py = sys.executable

    def env(tree: Path) -> dict[str, str]:
        env = dict(os.environ, PYTHONPATH=str(tree / "src"))
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # as installed: .pyc files, not compiling
        return env

    cases = {
        "python -c pass": ([py, "-c", "pass"], env(ROOT)),
        "import typer.rich_utils": ([py, "-c", "import typer.rich_utils"], env(ROOT)),
        "posemark --help": ([py, "-m", "posemark.cli.main", "--help"], env(ROOT)),
    }
    if args.baseline is not None:
        cases["posemark --help (baseline)"] = (
            [py, "-m", "posemark.cli.main", "--help"],
            env(args.baseline.resolve()),
        )
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
    for cmd, e in cases.values():  # warm the file cache and .pyc files
        timed(cmd, e)
    for _ in range(args.runs):
        for name, (cmd, e) in cases.items():
            samples[name].append(timed(cmd, e))
    print(f"{'case':<28} {'wall ms':>9} {'cpu ms':>9}   (medians of {args.runs} runs)")
    for name, runs in samples.items():
        wall = statistics.median(w for w, _ in runs) * 1000
        cpu = statistics.median(c for _, c in runs) * 1000
        print(f"{name:<28} {wall:>9.0f} {cpu:>9.0f}")
    wall = statistics.median(w for w, _ in samples["posemark --help"])
    verdict = "PASS" if wall < 0.3 else "MISS"
    print(f"{verdict}  posemark --help under 0.3 s (median wall {wall * 1000:.0f} ms)")


if __name__ == "__main__":
    main()
