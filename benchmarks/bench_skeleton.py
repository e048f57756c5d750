"""What a skeleton change costs: the request (which must not grow with the project) and
the background migration of every document, beside the project-wide QA re-run alone
(the migration ends with one, so it is the baseline the per-item work adds to).

Builds a SQLite (or ``--db-url``) project of ``--items`` images with ``--people`` COCO-17
people each (benchmarks/bench_derived.build_project), then for each size in ``--items``:

- the QA re-run alone (s), as the project stands;
- the change request (ms): rename nose, add a keypoint, remove both ears, confirmed;
- the migration operation's work (s, and items/s over the whole run).

    .venv/bin/python benchmarks/bench_skeleton.py --items 500 2000 --people 3
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_derived import build_project

from posemark.services.projects import (
    ADMIN_ROLE,
    ProjectAccess,
    project_skeleton,
)
from posemark.services.qa_rerun import rerun_project_qa
from posemark.services.settings import Settings
from posemark.services.skeleton_edit import edit_spec
from posemark.services.skeleton_migrate import change_skeleton, migrate_project
from posemark.store import open_store, upgrade_to_head
from posemark.store.models import Project


def one(items: int, people: int, db_url: str | None) -> tuple[float, float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), db_url=db_url or "")
        settings.make_dirs()
        store = open_store(settings.db_url)
        try:
            upgrade_to_head(store.engine)
            pid, _ = build_project(store, settings, items, people)
            with store.session() as s:
                start = time.perf_counter()
                rerun_project_qa(s, pid, workers=0)
                qa = time.perf_counter() - start
                project = s.get(Project, pid)
                assert project is not None
                spec = edit_spec(
                    project_skeleton(project),
                    rename=["nose=snout"],
                    remove=["left_ear", "right_ear"],
                    add=["head_top:snout"],
                )
                spec["confirm_removal"] = True
                start = time.perf_counter()
                change_skeleton(s, lambda _id: None, ProjectAccess(project, ADMIN_ROLE), None, spec)
                request = (time.perf_counter() - start) * 1000
                start = time.perf_counter()
                migrate_project(s, pid, None)
                migration = time.perf_counter() - start
        finally:
            store.dispose()
    return qa, request, migration


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, nargs="+", default=[500, 2000])
    parser.add_argument("--people", type=int, default=3)
    parser.add_argument("--db-url", default=None)
    args = parser.parse_args()
    print("| items | QA re-run alone s | change request ms | migration s | items/s |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for n in args.items:
        qa, request, migration = one(n, args.people, args.db_url)
        print(f"| {n} | {qa:.2f} | {request:.1f} | {migration:.2f} | {n / migration:.0f} |")


if __name__ == "__main__":
    main()
