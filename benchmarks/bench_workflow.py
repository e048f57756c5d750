"""What the review workflow costs on the hot paths, against the same work without it.

1. Save: ``services.items.save_annotation`` (edit rights, compare-and-set on version and
   state, the new version written to ``item_versions``, the move logged) against the
   bare compare-and-set UPDATE that a save was before the workflow, on the same item
   and the same document (20 people x 17 keypoints), alternating, in one process.
2. Items list of an annotator (visibility through ``job_items``: an EXISTS per row)
   against a manager's unfiltered list, on a project of 20,000 items in 200 jobs.

    .venv/bin/python benchmarks/bench_workflow.py [--saves 300] [--items 20000] [--no-postgres]

Prints a table per backend (median and p90 ms).
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import and_, insert, update

from posemark.services.annotation import validate_document
from posemark.services.items import get_item, list_items, save_annotation
from posemark.services.projects import create_project, get_project
from posemark.services.settings import Settings
from posemark.services.users import create_user
from posemark.services.workflow import visible_items
from posemark.store import open_store, upgrade_to_head
from posemark.store.models import Item, Membership, User, utcnow
from posemark.store.workflow_models import Job, JobItem

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def people(n: int, jitter: float) -> dict[str, Any]:
    return {
        "instances": [
            {
                "id": f"i{p}",
                "keypoints": [[10.0 + p * 30 + k + jitter, 20.0 + k * 9.0, 2] for k in range(17)],
            }
            for p in range(n)
        ]
    }


def timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000


def summary(ms: list[float]) -> str:
    s = sorted(ms)
    return f"{statistics.median(s):7.2f} {s[int(0.9 * (len(s) - 1))]:7.2f}"


def run(label: str, db_url: str, data: Path, saves: int, n_items: int) -> None:
    store = open_store(db_url)
    upgrade_to_head(store.engine)
    settings = Settings(data_dir=data, db_url=db_url)
    settings.make_dirs()
    with store.session() as session:
        manager = create_user(session, "manager", "long-enough-pw")
        ann = create_user(session, "ann", "long-enough-pw")
        project = create_project(session, settings, "bench", "coco17", creator=manager)
        session.add(Membership(project_id=project.id, user_id=ann.id, role="annotator"))
        now = utcnow()
        session.execute(
            insert(Item),
            [
                {
                    "project_id": project.id,
                    "file_name": f"img{i:06d}.jpg",
                    "width": 1280,
                    "height": 720,
                    "status": "new",
                    "version": 1,
                    "annotation": {"instances": []},
                    "updated_at": now,
                }
                for i in range(n_items)
            ],
        )
        ids = [i for (i,) in session.query(Item.id).order_by(Item.id)]
        per_job = n_items // 200
        for j in range(200):
            job = Job(
                project_id=project.id, name=f"Job {j}", annotator_id=ann.id if j == 7 else None
            )
            session.add(job)
            session.flush()
            chunk = ids[j * per_job : (j + 1) * per_job]
            session.execute(insert(JobItem), [{"job_id": job.id, "item_id": i} for i in chunk])
        session.commit()
        pid, ann_id, manager_id, item_id = project.id, ann.id, manager.id, ids[7 * per_job]

    workflow_ms, bare_ms = [], []
    with store.session() as session:
        user = session.get(User, ann_id)
        assert user is not None
        for s in range(saves):
            doc = people(20, s * 0.25)
            access = get_item(session, user, item_id)
            version = access.item.version

            def workflow(a: Any = access, v: int = version, d: dict[str, Any] = doc) -> None:
                save_annotation(session, a, user, v, d)

            workflow_ms.append(timed(workflow))
            session.expire_all()
            version += 1

            def bare(version: int = version, doc: dict[str, Any] = doc, a: Any = access) -> None:
                """The save before the workflow: validate, then compare-and-set."""
                doc = validate_document(doc, a.project.skeleton)
                row = session.execute(
                    update(Item)
                    .where(and_(Item.id == item_id, Item.version == version))
                    .values(annotation=doc, version=Item.version + 1, updated_at=utcnow())
                    .returning(Item.version)
                    .execution_options(synchronize_session=False)
                ).one_or_none()
                assert row is not None
                session.commit()

            bare_ms.append(timed(bare))
            session.expire_all()

    manager_list, annotator_list = [], []
    with store.session() as session:
        for _ in range(30):
            for uid, out in ((manager_id, manager_list), (ann_id, annotator_list)):
                user = session.get(User, uid)
                assert user is not None
                access = get_project(session, user, pid)
                cond = visible_items(access, user)
                out.append(
                    timed(
                        lambda a=access, c=cond: list_items(
                            session, a.project.id, None, None, 0, 50, c
                        )
                    )
                )
    store.dispose()
    print(f"\n{label}: {saves} saves of 20 people x 17 keypoints; lists of {n_items} items")
    print("call                                   p50 ms  p90 ms")
    print(f"save, workflow (versions + log)       {summary(workflow_ms)}")
    print(f"save, bare compare-and-set UPDATE     {summary(bare_ms)}")
    print(f"items page, manager (no filter)       {summary(manager_list)}")
    print(f"items page, annotator (their jobs)    {summary(annotator_list)}")


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--saves", type=int, default=300)
    ap.add_argument("--items", type=int, default=20000)
    ap.add_argument("--no-postgres", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run("sqlite", f"sqlite:///{tmp}/bench.db", Path(tmp) / "data", args.saves, args.items)
    if args.no_postgres:
        return
    name = f"posemark_bench_{secrets.token_hex(4)}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        with tempfile.TemporaryDirectory() as tmp:
            url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
            run("postgresql", url, Path(tmp) / "data", args.saves, args.items)
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
