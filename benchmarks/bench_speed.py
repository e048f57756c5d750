"""Raw speed of the long project-wide services, side by side for two code trees.

A COCO-17 file of realistic people (``bench_scale.write_coco_subset``: real COCO poses
moved, scaled and jittered, a few mirrored or with a displaced keypoint) over N images
(hard links of the test photos) is, for each code tree in turn, in fresh processes:

1. imported into a new project (``services.importing.import_path``: COCO + images),
2. for a tree whose import leaves its items awaiting their QA refresh, that refresh
   (``rerun_project_qa(..., pending=True)``, what the ``qa-refresh`` operation runs after
   the import's commit); then a digest of every kept finding and person, compared
   between the trees (a tree that refreshes inside its import takes it after step 1),
3. QA re-run over the whole project (``services.qa_rerun.rerun_project_qa``, its
   default worker processes),
4. exported as COCO (``services.exporting.export_coco_file``).

Each step reports wall time, CPU time (the process's and its worker processes': the
machine is shared, and CPU time is what its load does not inflate) and peak RSS.
The code under test is chosen by ``PYTHONPATH`` in the child processes::

    python benchmarks/bench_speed.py --baseline ../base/src --current src \\
        [--images 20000] [--instances 83000] [--db postgresql://...] [--work DIR]

``--checks`` times each QA check on the file as one dataset instead (CPU per instance).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def step(name: str, work: Path, db: str | None) -> dict[str, Any]:
    """One step in this process (the code on ``sys.path``), timed from its first call."""
    from posemark.services.exporting import export_coco_file
    from posemark.services.importing import import_path
    from posemark.services.projects import create_project, find_project
    from posemark.services.qa_rerun import rerun_project_qa
    from posemark.services.settings import Settings
    from posemark.store import open_store, upgrade_to_head

    settings = Settings(data_dir=work / "data", db_url=db or "")
    settings.make_dirs()
    store = open_store(settings.db_url)
    upgrade_to_head(store.engine)
    out: dict[str, Any] = {}
    start, cpu = time.perf_counter(), time.process_time()
    with store.session() as session:
        if name == "import":
            project = create_project(session, settings, "bench", "coco17")
            coco, images = work.parent / "coco.json", work.parent / "images"
            report = import_path(session, settings, project, coco, images)
            out.update(images=report.items_created, instances=report.instances)
        elif name == "refresh":
            from posemark.services import qa_store

            if not hasattr(qa_store, "pending_count"):  # refreshed inside the import
                store.dispose()
                return {"skipped": True}
            pid = find_project(session, "bench").id
            result = rerun_project_qa(session, pid, pending=True)
            assert qa_store.pending_count(session, pid) == 0
            out.update(instances=result["instances"], items=result["items"])
        elif name == "digest":
            out.update(kept_digest(session))
        elif name == "rerun":
            result = rerun_project_qa(session, find_project(session, "bench").id)
            out.update(instances=result["instances"], findings=result["findings"])
        elif name == "export":
            written = export_coco_file(session, find_project(session, "bench"), work / "out.json")
            out.update(images=written.images, instances=written.instances)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    out["seconds"] = time.perf_counter() - start
    out["cpu_seconds"] = time.process_time() - cpu + children.ru_utime + children.ru_stime
    out["peak_rss_mib"] = peak_rss_mib()
    if name == "export":
        out["sha256"] = _file_digest(work / "out.json")
    store.dispose()
    return out


def _file_digest(path: Path) -> str:
    """The exported file's hash (taken after the step's timing), compared between trees."""
    import hashlib

    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def kept_digest(session: Any) -> dict[str, Any]:
    """A hash of every kept finding and person, located by file name (row ids differ
    between two imports), and their counts."""
    import hashlib

    from sqlalchemy import text

    findings = session.execute(
        text(
            'SELECT i.file_name, f.instance_index, f.instance_id, f.keypoint, f."check", '
            "f.severity, f.message FROM qa_findings f JOIN items i ON i.id = f.item_id"
        )
    ).all()
    people = session.execute(
        text(
            "SELECT i.file_name, q.instance_index, q.instance_id, q.labeled, q.risk, "
            "q.track_id FROM qa_instances q JOIN items i ON i.id = q.item_id"
        )
    ).all()
    digest = hashlib.sha256()
    for row in [*sorted(map(repr, findings)), "--", *sorted(map(repr, people))]:
        digest.update(row.encode())
    return {"findings": len(findings), "people": len(people), "sha256": digest.hexdigest()[:16]}


def peak_rss_mib() -> float:
    """This process's peak resident memory. Linux's ``ru_maxrss`` carries over the
    forking parent's size across ``exec`` (a driver that generated the data set would
    set a floor under every step); the ``VmHWM`` of ``/proc/self/status`` is this
    program's own."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def checks_only(coco: Path) -> dict[str, float]:
    """CPU microseconds per instance of each QA check on the whole file as one dataset
    (the default body prior), in this process."""
    from posemark.formats.coco_io import read_coco
    from posemark.qa import QaConfig
    from posemark.qa.checks import CHECKS
    from posemark.qa.inputs import CheckInput
    from posemark.qa.prior import BodyPrior
    from posemark.qa.run import run_checks

    dataset = read_coco(coco)
    n = len(dataset.instances.ids)
    inp = CheckInput(dataset, QaConfig(), BodyPrior())
    inp.categories()
    out = {}
    for name in CHECKS:
        cpu = time.process_time()
        run_checks(dataset, QaConfig(), only=[name], prior=BodyPrior())
        out[name] = (time.process_time() - cpu) * 1e6 / n
    cpu = time.process_time()
    run_checks(dataset, QaConfig(), prior=BodyPrior())
    out["all checks (one run_checks)"] = (time.process_time() - cpu) * 1e6 / n
    return out


def _fresh_postgres(server: str, name: str) -> str:
    """A new empty database ``name`` on the server of URL ``server``; its URL."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    engine = create_engine(server, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return make_url(server).set(database=name).render_as_string(hide_password=False)


def run_tree(code: Path, work: Path, db: str | None) -> dict[str, dict[str, Any]]:
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(code.resolve())}
    out = {}
    for name in ("import", "refresh", "digest", "rerun", "export"):
        cmd = [sys.executable, __file__, "--step", name, "--work", str(work)]
        if db:
            cmd += ["--db", db]
        done = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
        out[name] = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"{code}: {name} {out[name]}", flush=True)
    return out


ROWS = (
    ("import COCO + images", "import", "images", "images/s"),
    ("QA refresh after the import", "refresh", "instances", "instances/s"),
    ("until findings are fresh", "fresh", "images", "images/s"),
    ("QA re-run", "rerun", "instances", "instances/s"),
    ("export COCO", "export", "instances", "instances/s"),
)


def _fresh(steps: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The import and its refresh together: from the command's start until every
    imported item's findings describe its document."""
    parts = [steps["import"]] + ([] if steps["refresh"].get("skipped") else [steps["refresh"]])
    return {
        "images": steps["import"]["images"],
        "seconds": sum(p["seconds"] for p in parts),
        "cpu_seconds": sum(p["cpu_seconds"] for p in parts),
        "peak_rss_mib": max(p["peak_rss_mib"] for p in parts),
    }


def table(results: dict[str, dict[str, dict[str, Any]]]) -> str:
    lines = [
        "| step | tree | size | wall s | CPU s | rate (wall) | rate (CPU) | peak RSS MiB |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for label, key, unit_key, unit in ROWS:
        for tree, steps in results.items():
            r = steps[key] if key != "fresh" else _fresh(steps)
            if r.get("skipped"):
                lines.append(f"| {label} | {tree} | inside the import | | | | | |")
                continue
            n = r[unit_key]
            lines.append(
                f"| {label} | {tree} | {n:,} {unit_key} | {r['seconds']:.1f} | "
                f"{r['cpu_seconds']:.1f} | {n / r['seconds']:,.0f} {unit} | "
                f"{n / r['cpu_seconds']:,.0f} {unit} | {r['peak_rss_mib']:.0f} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--images", type=int, default=20_000)
    ap.add_argument("--instances", type=int, default=83_000)
    ap.add_argument("--baseline", type=Path, default=None, help="a code tree's src folder")
    ap.add_argument("--current", type=Path, default=HERE.parent / "src")
    ap.add_argument(
        "--db", default=None, help="a PostgreSQL server's URL: a fresh database per tree"
    )
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument(
        "--pg-prefix", default="bench_speed", help="PostgreSQL databases: PREFIX_baseline, ..."
    )
    ap.add_argument("--checks", action="store_true", help="time each QA check instead")
    ap.add_argument("--step", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.step == "checks":
        print(json.dumps(checks_only(args.work / "coco.json")))
        return 0
    if args.step:
        print(json.dumps(step(args.step, args.work, args.db)))
        return 0
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-speed-"))
    coco = work / "coco.json"
    if not coco.exists():
        sys.path.insert(0, str(HERE))
        from bench_scale import write_coco_subset

        work.mkdir(parents=True, exist_ok=True)
        write_coco_subset(coco, args.images, args.instances, seed=7)
    trees = {"baseline": args.baseline, "current": args.current}
    if args.checks:
        timed = {}
        for tag, code in trees.items():
            if code is not None:
                env = {**os.environ, "PYTHONPATH": str(code.resolve())}
                cmd = [sys.executable, __file__, "--step", "checks", "--work", str(work)]
                done = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
                timed[tag] = json.loads(done.stdout.strip().splitlines()[-1])
        print("| check | " + " | ".join(f"{t} CPU us/instance" for t in timed) + " |")
        print("| --- |" + " ---: |" * len(timed))
        for name in next(iter(timed.values())):
            print(f"| {name} | " + " | ".join(f"{t[name]:.1f}" for t in timed.values()) + " |")
        return 0
    results = {}
    for tag, code in trees.items():
        if code is None:
            continue
        db = _fresh_postgres(args.db, f"{args.pg_prefix}_{tag}") if args.db else None
        results[tag] = run_tree(code, work / tag, db)
    print(f"backend: {'PostgreSQL' if args.db else 'SQLite'}; work folder {work}")
    print(f"load average after: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(table(results))
    exports = {tag: steps["export"].get("sha256") for tag, steps in results.items()}
    print(f"exported files' sha256: {exports}")
    if len(set(exports.values())) == 1:
        print("the trees export the same bytes")
    digests = {tag: steps["digest"] for tag, steps in results.items()}
    print(f"kept findings and people after the import (and its refresh): {digests}")
    if len({d["sha256"] for d in digests.values()}) == 1:
        print("the trees keep the same findings and people, row for row")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
