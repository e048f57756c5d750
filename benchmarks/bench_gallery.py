"""How fast the keypoint gallery answers on a large project (services/gallery.py).

Builds a project of N generated items (3 people of 17 keypoints each) in a temporary
SQLite database, then times: the first page (runs the QA checks on the whole project,
once per server process), the next page (cached sorted entries), and the first page
after one item was saved (that item re-checked alone). The peer is the whole-project QA
run every time, which is what the gallery would cost without the per-item cache.

    .venv/bin/python benchmarks/bench_gallery.py --items 1000
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

from posemark.services.gallery import gallery
from posemark.services.projects import create_project, get_project
from posemark.services.review_risk import full_run
from posemark.services.settings import Settings
from posemark.services.users import create_user
from posemark.services.workflow import settings_for
from posemark.store import open_store, upgrade_to_head
from posemark.store.models import Item


def _person(rng: random.Random, n: int) -> dict[str, object]:
    cx, cy = rng.uniform(100, 500), rng.uniform(100, 300)
    keypoints = [[cx + rng.gauss(0, 30), cy + rng.gauss(0, 60), 2] for _ in range(17)]
    return {"id": f"p{n}", "keypoints": keypoints, "track_id": None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=1000)
    args = parser.parse_args(argv)
    rng = random.Random(0)
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
                    doc = {"instances": [_person(rng, n) for n in range(3)]}
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

                def timed(offset: int) -> tuple[float, int]:
                    start = time.perf_counter()
                    page = gallery(s, access, admin, "left_wrist", offset, 60)
                    return (time.perf_counter() - start) * 1000, page["total"]

                first, total = timed(0)
                second, _ = timed(60)
                item = s.get(Item, 1)
                assert item is not None
                item.annotation = {"instances": item.annotation["instances"][:2]}
                item.version += 1
                s.commit()
                after_save, _ = timed(0)
                start = time.perf_counter()
                full_run(s, access, settings_for(s, project.id).qa_config())
                peer = (time.perf_counter() - start) * 1000
        finally:
            store.dispose()
    print(f"{args.items} items, {total} instances with left_wrist")
    print(f"first page (whole-project QA run): {first:.0f} ms")
    print(f"next page (cached entries):        {second:.0f} ms")
    print(f"first page after one save:         {after_save:.0f} ms")
    print(f"peer, whole-project QA rerun:      {peer:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
