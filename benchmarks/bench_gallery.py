"""How fast the keypoint gallery answers on a large project (services/gallery.py).

Builds a project of N generated items (3 people of 17 keypoints each) in a temporary
SQLite database, fills their kept QA findings by a project-wide re-run (the peer), then
times: the first page, the next page (read from the kept findings), and the first page
after one item was saved (its save re-checked it). Peers: the project-wide QA re-run
(services/qa_store.py, in this process), and the project
dataset built through one Instance object per person (``to_instance`` and
``Dataset.from_instances``) against the column-wise
``project_dataset_for_qa`` (their tables are checked equal). Each figure is the CPU
time of this process (time.process_time) and the wall time, so a busy machine shows
as wall > CPU.

    .venv/bin/python benchmarks/bench_gallery.py --items 1000
    .venv/bin/python benchmarks/bench_gallery.py --items 1000 --poses coco

``--poses random`` (the default) scatters each keypoint around a centre, so nearly every
person is flagged by the body checks (their worst case); ``--poses coco`` places the 12
labeled people of COCO val2017 in ../shared/testdata/coco/mmpose_coco/test_coco.json at
random positions and scales with 2 px jitter, which looks like a real project.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from bench_derived import coco_people, placed_person
from sqlalchemy import select

from posemark.model import Category, Dataset, Frame
from posemark.services.annotation import to_instance, validate_document
from posemark.services.gallery import gallery
from posemark.services.projects import create_project, get_project, project_skeleton
from posemark.services.qa_rerun import rerun_project_qa
from posemark.services.qa_runs import project_dataset_for_qa
from posemark.services.settings import Settings
from posemark.services.users import create_user
from posemark.store import open_store, upgrade_to_head
from posemark.store.models import Item


def _person(rng: random.Random, n: int) -> dict[str, object]:
    cx, cy = rng.uniform(100, 500), rng.uniform(100, 300)
    keypoints = [[cx + rng.gauss(0, 30), cy + rng.gauss(0, 60), 2] for _ in range(17)]
    return {"id": f"p{n}", "keypoints": keypoints, "track_id": None}


def _real_person(rng: random.Random, n: int, people: list[list[list[float]]]) -> dict[str, object]:
    keypoints, _scale = placed_person(rng, people)
    return {"id": f"p{n}", "keypoints": keypoints, "track_id": None}


def _timed(run: Callable[[], Any]) -> tuple[float, float, Any]:
    """(CPU ms, wall ms, result) of one call."""
    cpu, wall = time.process_time(), time.perf_counter()
    out = run()
    return (time.process_time() - cpu) * 1000, (time.perf_counter() - wall) * 1000, out


def _per_instance_dataset(session: Any, project: Any) -> Dataset:
    """The project dataset through one Instance per person (the peer)."""
    skeleton = project_skeleton(project)
    frames, rows = [], []
    for item in session.execute(
        select(Item.id, Item.file_name, Item.width, Item.height, Item.annotation)
        .where(Item.project_id == project.id)
        .order_by(Item.file_name)
    ):
        frames.append(Frame(item.id, item.file_name, item.width, item.height))
        for inst in validate_document(item.annotation, skeleton)["instances"]:
            value = to_instance(inst, skeleton)
            value.id = len(rows) + 1
            rows.append((item.id, 1, value))
    category = Category(1, skeleton.name, skeleton, supercategory=skeleton.name)
    return Dataset.from_instances([category], frames, rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--poses", choices=("random", "coco"), default="random")
    args = parser.parse_args(argv)
    rng = random.Random(0)
    people = None if args.poses == "random" else coco_people()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp))
        settings.make_dirs()
        store = open_store(settings.db_url)
        upgrade_to_head(store.engine)
        try:
            with store.session() as s:
                admin = create_user(s, "admin", "a-long-password", True)
                project = create_project(s, settings, "big", "coco17", admin)
                for i in range(args.items):
                    doc = {
                        "instances": [
                            _person(rng, n) if people is None else _real_person(rng, n, people)
                            for n in range(3)
                        ]
                    }
                    s.add(
                        Item(
                            project_id=project.id,
                            file_name=f"{i:06d}.jpg",
                            width=640,
                            height=480,
                            status="new",
                            version=1,
                            annotation=doc,
                        )
                    )
                s.commit()
                access = get_project(s, admin, project.id)

                def page(offset: int) -> Callable[[], dict[str, Any]]:
                    return lambda: gallery(s, access, admin, "left_wrist", offset, 60)

                # items written straight to the database: their findings come from a re-run
                peer = _timed(lambda: rerun_project_qa(s, project.id, workers=0))
                first = _timed(page(0))
                total = first[2]["total"]
                second = _timed(page(60))
                item = s.get(Item, 1)
                assert item is not None
                item.annotation = {"instances": item.annotation["instances"][:2]}
                item.version += 1
                s.commit()
                after_save = _timed(page(0))
                columns = _timed(lambda: project_dataset_for_qa(s, project))
                objects = _timed(lambda: _per_instance_dataset(s, project))
                new, old = columns[2][0].instances, objects[2].instances
                for name in ("points", "visibility", "bbox", "ids", "image_ids", "track_ids"):
                    assert np.array_equal(getattr(new, name), getattr(old, name), equal_nan=True)
        finally:
            store.dispose()
    print(f"{args.items} items ({args.poses} poses), {total} instances with left_wrist")
    print(f"{'(CPU ms / wall ms)':36s}")
    for label, (cpu, wall, _) in (
        ("first page (kept findings)", first),
        ("next page (kept findings)", second),
        ("first page after one save", after_save),
        ("peer, project-wide QA re-run", peer),
        ("project dataset, column-wise", columns),
        ("peer, dataset via Instance objects", objects),
    ):
        print(f"{label:36s} {cpu:7.0f} / {wall:7.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
