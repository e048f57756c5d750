"""The project the scale benchmark measures: generated poses on real COCO photos,
bulk-inserted at the building tree's head schema in a child process of that tree, then
its QA findings kept by that tree's project-wide QA re-run, as an import leaves them."""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
TESTDATA = ROOT.parent / "shared" / "testdata"
PHOTOS = TESTDATA / "coco" / "mmpose_coco"
GT_FILE = PHOTOS / "test_coco.json"
ADMIN_PASSWORD = "bench-scale-admin-password"
PROJECT_NAME = "scale"
FLIP_PAIRS = [(1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16)]
STATUS_SHARE = {
    "new": 0.40,
    "annotating": 0.15,
    "submitted": 0.20,
    "in_review": 0.05,
    "accepted": 0.15,
    "returned": 0.05,
}
MIB = 1024 * 1024


# --------------------------------------------------------------------------- poses


def _templates() -> tuple[list[dict[str, Any]], list[np.ndarray]]:
    """The photos (name, size) and the labeled ground-truth poses as (17, 3) arrays in
    box-relative coordinates (0..1 inside the person's box)."""
    gt = json.loads(GT_FILE.read_text())
    photos = [
        {"file": PHOTOS / img["file_name"], "width": img["width"], "height": img["height"]}
        for img in gt["images"]
    ]
    poses = []
    for ann in gt["annotations"]:
        if ann["num_keypoints"] < 8:
            continue
        k = np.asarray(ann["keypoints"], dtype=np.float64).reshape(17, 3)
        bx, by, bw, bh = ann["bbox"]
        rel = np.stack([(k[:, 0] - bx) / bw, (k[:, 1] - by) / bh, k[:, 2]], axis=1)
        poses.append(rel)
    return photos, poses


def _people(
    rng: np.random.Generator, poses: np.ndarray, w: np.ndarray, h: np.ndarray
) -> list[dict[str, Any]]:
    """One instance per entry of ``w``/``h`` (its photo's size): a real pose placed in
    the photo at a random size and jittered; 8% of keypoints dropped, 10% of the visible
    ones marked occluded, 1% of people mirrored left/right (as annotators do) and 0.5%
    with one keypoint put far from its body. All in numpy, a block of people at once."""
    n = len(w)
    pose = poses[rng.integers(len(poses), size=n)]  # (n, 17, 3)
    aspect = 0.45 + 0.25 * rng.random(n)
    bh = h * (0.2 + 0.6 * rng.random(n))
    bw = np.minimum(w * 0.9, bh * aspect)
    bx = rng.random(n) * (w - bw)
    by = rng.random(n) * (h - bh)
    x = bx[:, None] + pose[:, :, 0] * bw[:, None] + rng.normal(0, 1, (n, 17)) * 0.015 * bw[:, None]
    y = by[:, None] + pose[:, :, 1] * bh[:, None] + rng.normal(0, 1, (n, 17)) * 0.015 * bh[:, None]
    v = pose[:, :, 2].astype(np.int64)
    v[rng.random((n, 17)) < 0.08] = 0
    v[(v == 2) & (rng.random((n, 17)) < 0.1)] = 1
    roll = rng.random(n)
    mirrored = roll < 0.01
    flip = np.arange(17)
    for a, b in FLIP_PAIRS:
        flip[a], flip[b] = b, a
    x[mirrored], y[mirrored], v[mirrored] = (
        x[mirrored][:, flip],
        y[mirrored][:, flip],
        v[mirrored][:, flip],
    )
    displaced = np.flatnonzero((roll >= 0.01) & (roll < 0.015))
    joint = rng.integers(17, size=len(displaced))
    x[displaced, joint] = rng.random(len(displaced)) * w[displaced]
    y[displaced, joint] = rng.random(len(displaced)) * h[displaced]
    # (n, 17, 3) Python objects built by numpy: floats for x and y, ints for v, and
    # [None, None, 0] for an unlabeled keypoint, as the editor stores it
    triples = np.empty((n, 17, 3), dtype=object)
    triples[:, :, 0] = np.round(np.clip(x, 0, w[:, None] - 1), 1)
    triples[:, :, 1] = np.round(np.clip(y, 0, h[:, None] - 1), 1)
    triples[:, :, 2] = v
    triples[v == 0, :2] = None
    keypoints = triples.tolist()
    boxes = np.round(np.stack([bx, by, bw, bh], axis=1), 2).tolist()
    return [
        {
            "keypoints": keypoints[r],
            "bbox": boxes[r],
            "bbox_mode": "drawn",
            "source": "human",
            "confirmed": True,
            "track_id": None,
        }
        for r in range(n)
    ]


def file_name(i: int) -> str:
    return f"{i // 1000:04d}/{i:07d}.jpg"


def generate_items(
    n_images: int, n_instances: int, seed: int, start: int = 0
) -> Iterator[tuple[str, int, int, str, dict[str, Any]]]:
    """(file name, width, height, status, annotation document) for each item, in order;
    the same seed gives the same project."""
    photos, pose_list = _templates()
    poses = np.stack(pose_list)
    rng = np.random.default_rng(seed)
    per_image = np.bincount(rng.integers(0, n_images, n_instances), minlength=n_images)
    statuses = list(STATUS_SHARE)
    status_of = rng.choice(len(statuses), size=n_images, p=list(STATUS_SHARE.values()))
    sizes = np.array([[p["width"], p["height"]] for p in photos])
    block = 5000
    for first in range(0, n_images, block):
        items = np.arange(first, min(first + block, n_images))
        counts = per_image[items]
        photo_of = (start + np.repeat(items, counts)) % len(photos)
        people = _people(rng, poses, sizes[photo_of, 0], sizes[photo_of, 1])
        at = 0
        for i, count in zip(items.tolist(), counts.tolist(), strict=True):
            w, h = (
                photos[(start + i) % len(photos)]["width"],
                photos[(start + i) % len(photos)]["height"],
            )
            instances = [{"id": f"i{n + 1}", **people[at + n]} for n in range(count)]
            at += count
            yield file_name(start + i), w, h, statuses[status_of[i]], {"instances": instances}


LINKS_PER_COPY = 40_000


def _link_photo(photo: Path, target: Path, i: int) -> None:
    """Hard-link ``target`` to a private copy of ``photo``, one copy per
    ``LINKS_PER_COPY`` items: a file takes at most 65,000 links (ext4), and the shared
    test data is never linked to directly."""
    copy = target.parents[1] / ".photos" / str(i // LINKS_PER_COPY) / photo.name
    if not copy.exists():
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(photo, copy)
    os.link(copy, target)


def make_image_folder(folder: Path, n_images: int) -> None:
    """``n_images`` hard links of the four photos, named as the items are."""
    photos, _ = _templates()
    for i in range(n_images):
        target = folder / file_name(i)
        if i % 1000 == 0:
            target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            _link_photo(photos[i % len(photos)]["file"], target, i)


def write_coco_subset(path: Path, n_images: int, n_instances: int, seed: int) -> int:
    """A COCO keypoints file of a fresh subset (other names than the project's items),
    its images being hard links in ``path.parent / "images"``; returns the instances."""
    folder = path.parent / "images"
    photos, _ = _templates()
    images, annotations = [], []
    for i, (name, w, h, _status, doc) in enumerate(
        generate_items(n_images, n_instances, seed, start=10_000_000)
    ):
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            _link_photo(photos[(10_000_000 + i) % len(photos)]["file"], target, i)
        images.append({"id": i + 1, "file_name": name, "width": w, "height": h})
        for inst in doc["instances"]:
            flat: list[float] = []
            for x, y, v in inst["keypoints"]:
                flat += [0, 0, 0] if v == 0 else [x, y, v]
            bw, bh = inst["bbox"][2], inst["bbox"][3]
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": i + 1,
                    "category_id": 1,
                    "keypoints": flat,
                    "num_keypoints": sum(1 for v in flat[2::3] if v > 0),
                    "bbox": inst["bbox"],
                    "area": round(bw * bh, 2),
                    "iscrowd": 0,
                }
            )
    gt = json.loads(GT_FILE.read_text())
    coco = {"images": images, "annotations": annotations, "categories": gt["categories"]}
    path.write_text(json.dumps(coco))
    return len(annotations)


# --------------------------------------------------------------------------- build


def upgrade_main(db_url: str) -> None:
    """Runs the code under test's migrations on a copy of the built database."""
    from posemark.store import open_store, upgrade_to_head

    t0 = time.perf_counter()
    store = open_store(db_url)
    upgrade_to_head(store.engine)
    store.dispose()
    print(json.dumps({"upgrade_s": round(time.perf_counter() - t0, 1)}))


def cpu_seconds() -> float:
    """User + system CPU of this process and of its waited children (QA workers)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def rerun_main(db_url: str, project_id: int) -> None:
    """The project-wide QA re-run (the body of the background operation a changed QA
    config starts) of the code under test, timed: what the re-run target is about."""
    from posemark.services.qa_rerun import rerun_project_qa
    from posemark.store import open_store

    t0, c0 = time.perf_counter(), cpu_seconds()
    store = open_store(db_url)
    with store.session() as session:
        result = rerun_project_qa(session, project_id)
    store.dispose()
    wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    result.update(seconds=round(wall, 1), cpu_s=round(cpu, 1))
    print(json.dumps(result))


def build_main(args: argparse.Namespace) -> None:
    """Runs in a child process with a code tree on the path: that tree's schema, the
    project, the bulk insert of its items, then the tree's project-wide QA re-run, which
    leaves the kept findings, people and body prior an import of these items would (the
    import path itself would take hours at this size on a loaded 2-core machine)."""
    from alembic import command
    from sqlalchemy import func, insert, select

    from posemark.services.projects import create_project
    from posemark.services.settings import Settings
    from posemark.store import open_store
    from posemark.store.migrate import alembic_config
    from posemark.store.models import Item

    t0 = time.perf_counter()
    settings = Settings(data_dir=Path(args.data), db_url=args.db_url)
    settings.make_dirs()
    store = open_store(settings.db_url)
    config = alembic_config()
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "heads")
    with store.session() as session:
        project = create_project(session, settings, PROJECT_NAME, "coco17")
        pid, media = project.id, project.media_dir
    link = settings.media_dir / media
    link.rmdir()
    link.symlink_to(Path(args.images_dir).resolve(), target_is_directory=True)
    now = __import__("datetime").datetime.now(__import__("datetime").UTC)
    batch: list[dict[str, Any]] = []
    instances = 0

    def flush() -> None:
        with store.engine.begin() as connection:
            connection.execute(insert(Item.__table__), batch)
        batch.clear()

    for name, w, h, status, doc in generate_items(args.images, args.instances, args.seed):
        instances += len(doc["instances"])
        batch.append(
            {
                "project_id": pid,
                "file_name": name,
                "width": w,
                "height": h,
                "status": status,
                "version": 1,
                "annotation": doc,
                "updated_at": now,
                "updated_by": None,
            }
        )
        if len(batch) >= 2000:
            flush()
    if batch:
        flush()
    insert_s = time.perf_counter() - t0
    from posemark.services.qa_rerun import rerun_project_qa

    t1, c1 = time.perf_counter(), cpu_seconds()
    with store.session() as session:
        qa = rerun_project_qa(session, pid)
    qa_s, qa_cpu = time.perf_counter() - t1, cpu_seconds() - c1
    if store.engine.dialect.name == "postgresql":
        # the state autovacuum leaves a freshly loaded table in (statistics, visibility
        # map), so the measured plans do not depend on when its next pass happens to run
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.exec_driver_sql("VACUUM ANALYZE")
    with store.session() as session:
        first = session.scalar(select(func.min(Item.id)).where(Item.project_id == pid))
        fresh = session.scalars(
            select(Item.id).where(Item.project_id == pid, Item.status == "new").order_by(Item.id)
        ).all()
    store.dispose()
    every = max(1, len(fresh) // max(1, args.annotators))
    report = {
        "project_id": pid,
        "first_item_id": first,
        "new_item_ids": list(fresh[::every][: args.annotators]),
        "images": args.images,
        "instances": instances,
        "media_dir": media,
        "insert_s": round(insert_s, 1),
        "qa_fill_s": round(qa_s, 1),
        "qa_fill_cpu_s": round(qa_cpu, 1),
        "findings": qa["findings"],
        "build_s": round(time.perf_counter() - t0, 1),
        "build_cpu_s": round(cpu_seconds(), 1),
    }
    print(json.dumps(report))
