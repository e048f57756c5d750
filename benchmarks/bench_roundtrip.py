"""Import, export and import-into-existing speed and peak memory of a project.

A synthetic COCO-17 file (``make_synthetic_coco.py``: COCO-like keypoints, boxes, areas
and 20-vertex polygons) over N images, each image a hard link of one real photo (COCO
val2017 000000000785.jpg resized to the 640 x 480 the file states), is

1. imported into a new project (``posemark import``'s service: COCO + images),
2. exported again (``posemark export``'s service), checked equal to the file as parsed
   JSON (the lossless round trip),
3. followed by a COCO results list of one jittered prediction per annotation, imported
   into the existing items as suggestions (policy add).

Each step runs in a fresh process, which reports its own wall time and peak RSS.

    python benchmarks/bench_roundtrip.py [--images 20000] [--annotations 83000]
        [--db postgresql://...] [--work DIR] [--baseline OTHER_CHECKOUT/src]
        [--poses uniform|real]

``--poses real`` puts jittered real COCO people (``bench_derived``'s sample) in place of
the uniformly random keypoints, so the kept QA finds what it finds on real work.

With ``--baseline`` the import into existing items runs twice on the same imported
project (the database restored from a copy taken after the import: a file copy for
SQLite, ``CREATE DATABASE ... TEMPLATE`` for PostgreSQL): once with the baseline
checkout's code first on the path, once with this one's, and both rows are printed.
The import and export then run with the baseline's code, so that the database is at
its schema and its kept findings are those of an import it finished.

Where this tree's import leaves the items it wrote awaiting their QA refresh, the
refresh (``rerun_project_qa(..., pending=True)``, what the ``qa-refresh`` operation runs
after the commit) is its own timed phase, and "until findings are fresh" adds the two;
a digest of the kept findings and people is compared between the trees.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
PHOTO = HERE.parent.parent / "shared/testdata/coco/mmpose_coco/000000000785.jpg"


def prepare(work: Path, images: int, annotations: int, poses: str = "uniform") -> None:
    sys.path.insert(0, str(HERE))
    from make_synthetic_coco import generate

    coco = work / "coco.json"
    generate(coco, annotations, images)
    if poses == "real":
        _real_poses(coco)
    folder = work / "images"
    folder.mkdir()
    photo = work / "photo.jpg"
    Image.open(PHOTO).convert("RGB").resize((640, 480)).save(photo, quality=90)
    doc = msgspec.json.decode(coco.read_bytes())
    for img in doc["images"]:
        os.link(photo, folder / img["file_name"])
    rng = np.random.default_rng(83)
    preds = []
    for ann in doc["annotations"]:
        kps = np.asarray(ann["keypoints"], dtype=float).reshape(-1, 3)
        kps[:, :2] += rng.normal(0, 3, (len(kps), 2)).round(2)
        kps[:, 2] = np.round(rng.uniform(0.05, 1, len(kps)), 3)
        preds.append(
            {
                "image_id": ann["image_id"],
                "category_id": 1,
                "keypoints": kps.ravel().tolist(),
                "score": round(float(rng.uniform(0.3, 1)), 4),
            }
        )
    (work / "preds.json").write_bytes(msgspec.json.encode(preds))


def _real_poses(coco: Path) -> None:
    """The file's keypoints replaced by real COCO people (``bench_derived``'s sample,
    placed at a random position and scale with 2 px jitter): uniformly random points
    and boxes unrelated to them make every person fail a dozen checks, which real
    people do not."""
    import random

    from bench_derived import coco_people, placed_person

    people = coco_people()
    rng = random.Random(785)
    doc = msgspec.json.decode(coco.read_bytes())
    for ann in doc["annotations"]:
        keypoints, _ = placed_person(rng, people)
        flat: list[Any] = []
        for x, y, v in keypoints:
            flat += [0, 0, 0] if not v else [round(x, 2), round(y, 2), v]
        ann["keypoints"] = flat
        ann["num_keypoints"] = sum(1 for _, _, v in keypoints if v)
        xs = [x for x, _, v in keypoints if v]
        ys = [y for _, y, v in keypoints if v]
        x0, y0 = min(xs) - 10, min(ys) - 10  # the box drawn around the person
        w, h = max(xs) + 10 - x0, max(ys) + 10 - y0
        ann["bbox"] = [round(x0, 2), round(y0, 2), round(w, 2), round(h, 2)]
        ann["area"] = round(w * h, 2)
    coco.write_bytes(msgspec.json.encode(doc))


def _store(work: Path, db: str | None) -> Any:
    from posemark.services.settings import Settings
    from posemark.store import open_store, upgrade_to_head

    settings = Settings(data_dir=work / "data", db_url=db or "")
    settings.make_dirs()
    store = open_store(settings.db_url)
    upgrade_to_head(store.engine)
    return settings, store


def phase(name: str, work: Path, db: str | None) -> dict[str, Any]:
    from posemark.services.exporting import export_coco_file
    from posemark.services.import_existing import import_into_existing
    from posemark.services.importing import import_path
    from posemark.services.projects import create_project, find_project

    settings, store = _store(work, db)
    out: dict[str, Any] = {}
    start, cpu = time.perf_counter(), time.process_time()
    with store.session() as session:
        if name == "import":
            project = create_project(session, settings, "bench", "coco17")
            report = import_path(session, settings, project, work / "coco.json", work / "images")
            out.update(images=report.items_created, instances=report.instances)
        elif name == "export":
            written = export_coco_file(session, find_project(session, "bench"), work / "out.json")
            out.update(images=written.images, instances=written.instances)
        elif name == "into":
            report = import_into_existing(
                session, find_project(session, "bench"), work / "preds.json", policy="add"
            )
            out.update(items=report.items_updated, instances=report.instances_added)
        elif name == "refresh":
            from posemark.services import qa_store
            from posemark.services.qa_rerun import rerun_project_qa

            if not hasattr(qa_store, "pending_count"):  # refreshed inside the import
                store.dispose()
                return {"skipped": True}
            pid = find_project(session, "bench").id
            result = rerun_project_qa(session, pid, pending=True)
            assert qa_store.pending_count(session, pid) == 0
            out.update(items=result["items"], instances=result["instances"])
        elif name == "digest":
            from bench_speed import kept_digest

            out.update(kept_digest(session))
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    out["seconds"] = time.perf_counter() - start
    out["cpu_seconds"] = time.process_time() - cpu + children.ru_utime + children.ru_stime
    out["peak_rss_mib"] = peak_rss_mib()
    store.dispose()
    return out


def peak_rss_mib() -> float:
    """This process's own peak (``VmHWM``; see bench_speed.py)."""
    sys.path.insert(0, str(HERE))
    from bench_speed import peak_rss_mib as own_peak

    return own_peak()


def _run_phase(name: str, work: Path, db: str | None, src: Path | None = None) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--phase", name, "--work", str(work)]
    if db:
        cmd += ["--db", db]
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = str(src)
    done = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _copy_database(db: str | None, work: Path, restore: bool) -> None:
    """The imported project's database kept aside (``restore`` False) or put back."""
    if not db:
        live, kept = work / "data/posemark.db", work / "posemark.db.after-import"
        shutil.copyfile(*((kept, live) if restore else (live, kept)))
        return
    from sqlalchemy import create_engine, make_url, text

    url = make_url(db)
    live, kept = url.database, f"{url.database}_after_import"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    source, target = (kept, live) if restore else (live, kept)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{target}"'))
        conn.execute(text(f'CREATE DATABASE "{target}" TEMPLATE "{source}"'))
    admin.dispose()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--images", type=int, default=20_000)
    ap.add_argument("--annotations", type=int, default=83_000)
    ap.add_argument("--db", default=None, help="database URL (default: SQLite in --work)")
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--baseline", type=Path, default=None, help="another checkout's src")
    ap.add_argument(
        "--poses",
        choices=["uniform", "real"],
        default="uniform",
        help="uniformly random keypoints, or jittered real COCO people",
    )
    ap.add_argument("--phase", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.phase:
        print(json.dumps(phase(args.phase, args.work, args.db)))
        return 0
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-roundtrip-"))
    work.mkdir(parents=True, exist_ok=True)
    if not (work / "coco.json").exists():
        prepare(work, args.images, args.annotations, args.poses)
    imp = _run_phase("import", work, args.db, args.baseline)
    first = None if args.baseline else _run_phase("refresh", work, args.db)
    exp = _run_phase("export", work, args.db, args.baseline)
    same = msgspec.json.decode((work / "out.json").read_bytes()) == msgspec.json.decode(
        (work / "coco.json").read_bytes()
    )
    base = base_digest = None
    if args.baseline:
        _copy_database(args.db, work, restore=False)
        base = _run_phase("into", work, args.db, args.baseline)
        base_digest = _run_phase("digest", work, args.db, args.baseline)
        _copy_database(args.db, work, restore=True)
    into = _run_phase("into", work, args.db)
    refresh = _run_phase("refresh", work, args.db)
    digest = _run_phase("digest", work, args.db)
    print(f"backend: {'PostgreSQL' if args.db else 'SQLite'}; poses {args.poses}; work {work}")
    print(f"load average after: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print("| step | size | wall s | CPU s | rate (wall) | rate (CPU) | peak RSS MiB |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    who = f" ({args.baseline}'s code)" if args.baseline else ""
    rows = [
        (f"import COCO + images{who}", f"{imp['images']} images", imp, imp["images"], "images/s")
    ]
    if first is not None and not first.get("skipped"):
        rows.append(
            ("its QA refresh", f"{first['items']} items", first, first["instances"], "instances/s")
        )
    rows.append(
        (f"export COCO{who}", f"{exp['instances']} instances", exp, exp["instances"], "instances/s")
    )
    size = f"{into['instances']} into {into['items']} items"
    rows.append(("predictions into existing items", size, into, into["instances"], "instances/s"))
    if not refresh.get("skipped"):
        rows.append(
            (
                "their QA refresh",
                f"{refresh['instances']} instances of {refresh['items']} items",
                refresh,
                refresh["instances"],
                "instances/s",
            )
        )
        fresh = {
            "seconds": into["seconds"] + refresh["seconds"],
            "cpu_seconds": into["cpu_seconds"] + refresh["cpu_seconds"],
            "peak_rss_mib": max(into["peak_rss_mib"], refresh["peak_rss_mib"]),
        }
        rows.append(("until findings are fresh", size, fresh, into["instances"], "instances/s"))
    if base is not None:
        rows.append(
            (
                f"same, baseline code ({args.baseline}; findings fresh at its end)",
                f"{base['instances']} into {base['items']} items",
                base,
                base["instances"],
                "instances/s",
            )
        )
    for step, size, r, n, unit in rows:
        print(
            f"| {step} | {size} | {r['seconds']:.1f} | {r['cpu_seconds']:.1f} | "
            f"{n / r['seconds']:,.0f} {unit} | {n / r['cpu_seconds']:,.0f} {unit} | "
            f"{r['peak_rss_mib']:.0f} |"
        )
    print(f"kept findings and people after: this tree {digest}; baseline {base_digest}")
    print(f"export equals the imported file as parsed JSON: {same}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
