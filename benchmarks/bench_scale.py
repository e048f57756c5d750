"""Scale benchmark: a project the size of a real dataset, on SQLite and PostgreSQL.

Builds a coco17 project of ``--images`` items and ``--instances`` people (default
250,000 and 1,000,000), then measures what users wait for:

- every route the web pages call (project list and summary, items with status filter,
  search, sort and a deep page, QA findings, dashboard report, keypoint gallery and its
  crops, instance review, jobs, members, one item with its QA, history and comments,
  the export route): one cold call, then ``--samples`` warm calls (p50/p95, body size);
- 20 paced annotators saving (one save per second each, as ``bench_server.py``) while
  a project-wide request runs over and over (``--load``, by default the report);
- the project-wide QA re-run (``rerun_project_qa``, the body of the background job a
  changed QA config starts), ``posemark export`` of the whole project and ``posemark
  import`` of a ``--import-images`` COCO subset (wall and CPU time, rate, peak RSS);
- the server's RSS (peak while it served everything above).

Each code tree is measured on its own database built from the same seed, so the
current code and a changed one are compared on identical data in one run::

    git -C /path/to/repo worktree add /tmp/posemark-baseline <commit>
    nice -n 10 .venv/bin/python benchmarks/bench_scale.py \\
        --baseline /tmp/posemark-baseline --db sqlite,postgresql --md out.md

``--smoke`` is a 2,500-image, 10,000-instance run that checks the harness in minutes.

How the project is built, once per database: the items table is filled by bulk SQL
inserts through the store's own tables (SQLAlchemy models of the first tree, the
baseline when there is one), at that tree's head schema, and the tree's project-wide QA
re-run then keeps the findings, people and body prior an import of those items would
have kept (importing a million people through ``posemark import`` would take hours on
a loaded 2-core machine; the bulk insert writes no COCO source records, so the export
builds every record as for an annotated project). On PostgreSQL the build ends with
``VACUUM ANALYZE`` (what autovacuum does to a freshly loaded table). Each tree then gets
a copy (the SQLite file copied, a PostgreSQL ``CREATE DATABASE ... TEMPLATE``) and runs
its own remaining migrations on it, timed, so a migration that derives data from the
kept rows does so. ``--keep-build`` (with ``--work``) keeps the built project for a
later run, which measures it again without building (``--steps`` picks what it
measures). ``--after-build CMD``
runs a further command (placeholders ``{data}``, ``{db}``, ``{project}``) with the
code on the path, timed, e.g. a backfill a change needs. Images are hard links of the
four photos of ``../shared/testdata/coco/mmpose_coco`` (one shared folder that every
project's media folder links to); poses are the real COCO ground truth of those photos,
moved, scaled and jittered per instance, with some keypoints dropped, a few left/right
swaps and displaced points, so QA finds what it finds on real annotations.

Every request and command has a timeout (``--timeout`` for routes, ``--cli-timeout``
for commands): a slow one is reported as "> T s" and its server restarted, so a run
always finishes. The code under test is chosen by ``PYTHONPATH`` in the child
processes; this script itself imports nothing from posemark.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from scale.build import (
    ROOT,
    build_main,
    make_image_folder,
    rerun_main,
    upgrade_main,
    write_coco_subset,
)
from scale.report import markdown
from scale.run import run_one, step, template

# --------------------------------------------------------------------------- main


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "_upgrade":
        upgrade_main(sys.argv[2])
        return
    if len(sys.argv) > 3 and sys.argv[1] == "_qa_rerun":
        rerun_main(sys.argv[2], int(sys.argv[3]))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "_build":
        ap = argparse.ArgumentParser()
        ap.add_argument("_build")
        for name in ("--data", "--db-url", "--images-dir"):
            ap.add_argument(name, required=True)
        for name in ("--images", "--instances", "--seed", "--annotators"):
            ap.add_argument(name, type=int, required=True)
        build_main(ap.parse_args())
        return
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--images", type=int, default=250_000)
    ap.add_argument("--instances", type=int, default=1_000_000)
    ap.add_argument("--smoke", action="store_true", help="2,500 images, 10,000 instances")
    ap.add_argument("--db", default="sqlite,postgresql", help="sqlite, postgresql or both")
    ap.add_argument("--current", type=Path, default=ROOT, help="code tree under test")
    ap.add_argument("--baseline", type=Path, help="a second code tree, measured side by side")
    ap.add_argument(
        "--baseline-only",
        action="store_true",
        help="measure only --baseline (its figures merged with a later run's by --render)",
    )
    ap.add_argument("--timeout", type=float, default=60.0, help="per request, seconds")
    ap.add_argument("--cli-timeout", type=float, default=600.0, help="per command, seconds")
    ap.add_argument("--samples", type=int, default=10, help="warm calls per route")
    ap.add_argument("--annotators", type=int, default=20)
    ap.add_argument("--saves", type=int, default=30, help="saves per annotator")
    ap.add_argument(
        "--load",
        default="GET /api/projects/{pid}/report",
        help="the project-wide request repeated while annotators save",
    )
    ap.add_argument(
        "--load-once",
        action="store_true",
        help="send --load once (it starts a project-wide job) instead of over and over",
    )
    ap.add_argument(
        "--load-wait-done",
        type=int,
        default=0,
        help="with --load-once: the saves start once the job has done this many steps "
        "(a 1M QA re-run's reading pass is 50,000 of its 300,000)",
    )
    ap.add_argument(
        "--route",
        action="append",
        help="another GET to measure, 'label=/api/projects/{pid}/...?k=v' (repeatable)",
    )
    ap.add_argument("--import-images", type=int, default=5000)
    ap.add_argument("--after-build", help="command run after the build ({data} {db} {project})")
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument(
        "--steps",
        default="qa,routes,saves,export,import",
        help="what to measure on each tree (comma-separated subset of the default)",
    )
    ap.add_argument(
        "--keep-build",
        action="store_true",
        help="keep the built project in --work (and its PostgreSQL database); a later run "
        "with the same --work measures it again without building",
    )
    ap.add_argument("--pg-prefix", default="posemark_scale", help="PostgreSQL database names")
    ap.add_argument("--work", type=Path, help="work folder (default: a temporary one)")
    ap.add_argument("--json", type=Path, help="write every figure here (updated as it goes)")
    ap.add_argument("--md", type=Path, help="write the markdown table here")
    ap.add_argument("--render", type=Path, nargs="+", help="only print the table of --json file(s)")
    args = ap.parse_args()
    if args.keep_build and args.work is None:
        ap.error("--keep-build needs --work")
    if args.render:  # several runs' files: their columns side by side
        merged = json.loads(args.render[0].read_text())
        for more in args.render[1:]:
            other = json.loads(more.read_text())
            merged["dbs"] += [d for d in other["dbs"] if d not in merged["dbs"]]
            merged["codes"] += [c for c in other["codes"] if c not in merged["codes"]]
            merged["runs"].update(other["runs"])
        print(markdown(merged))
        return
    if args.smoke:
        args.images, args.instances = 2500, 10_000
        args.import_images = min(args.import_images, 500)
    dbs = [d.strip() for d in args.db.split(",") if d.strip()]
    codes = {"current": args.current.resolve()}
    if args.baseline is not None:
        codes = {"baseline": args.baseline.resolve(), **codes}
        if args.baseline_only:
            del codes["current"]
    work = args.work or Path(tempfile.mkdtemp(prefix="posemark-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "images": args.images,
        "instances": args.instances,
        "dbs": dbs,
        "codes": list(codes),
        "argv": sys.argv[1:],
        "annotators": args.annotators,
        "cpus": os.cpu_count(),
        "builds": {},
        "runs": {},
    }

    def save() -> None:
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))

    try:
        step(f"image folder ({args.images} hard links)", "setup")
        make_image_folder(work / "images", args.images)
        subset = work / "subset" / "subset.json"
        subset.parent.mkdir(parents=True, exist_ok=True)
        ratio = args.instances / max(1, args.images)
        n = write_coco_subset(
            subset, args.import_images, round(args.import_images * ratio), args.seed + 1
        )
        results["import subset"] = {"images": args.import_images, "instances": n}
        builder = next(iter(codes.values()))  # the baseline when there is one
        for db in dbs:
            try:
                with template(db, builder, work, args) as tpl:
                    results["builds"][db] = tpl["info"]
                    for name, code in codes.items():
                        key = f"{name}-{db}"
                        out = results["runs"].setdefault(key, {})
                        try:
                            run_one(code, db, tpl, work, key, args, save, out)
                        except Exception as exc:  # one failed run must not lose the others
                            out["error"] = repr(exc)
                        save()
            except Exception as exc:
                for name in codes:
                    results["runs"][f"{name}-{db}"] = {"error": repr(exc)}
                save()
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    save()
    table = markdown(results)
    head = (
        f"{args.images:,} images, {args.instances:,} instances; routes: p50 / p95 of "
        f"{args.samples} warm calls and body size (✗: over 300 ms or 2 MiB); "
        f"timeouts {args.timeout:g} s per request, {args.cli_timeout:g} s per command\n\n"
    )
    if args.md:
        args.md.write_text(head + table)
    print(head + table)


if __name__ == "__main__":
    main()
