"""What SQLite's synchronous=FULL costs a save, against NORMAL, on this machine.

Runs ``services.items.save_annotation`` (the autosave's whole transaction: the base
version kept, the compare-and-set, the history row) back to back on one item of a fresh
SQLite database per setting, and prints the median and p95 latency of a save.

    python benchmarks/bench_sqlite_durability.py [--saves 300]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from posemark.services.items import get_item, save_annotation
from posemark.services.projects import create_project
from posemark.services.settings import Settings
from posemark.services.users import create_user
from posemark.store import engine, open_store, upgrade_to_head
from posemark.store.models import Item

K = 17


def document(n: int) -> dict:
    return {
        "instances": [
            {"id": f"p{p}", "keypoints": [[10.0 + n % 9 + k, 5.0 + p + k, 2] for k in range(K)]}
            for p in range(3)
        ]
    }


def run(synchronous: str, saves: int) -> list[float]:
    engine.SQLITE_SYNCHRONOUS = synchronous
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(Path(folder))
        settings.make_dirs()
        store = open_store(settings.db_url)
        upgrade_to_head(store.engine)
        with store.session() as session:
            user = create_user(session, "admin", "long-enough-pw", is_admin=True)
            project = create_project(session, settings, "bench", "coco17", creator=user)
            item = Item(
                project_id=project.id,
                file_name="a.jpg",
                width=640,
                height=480,
                status="new",
                version=1,
                annotation={"instances": []},
            )
            session.add(item)
            session.flush()
            ids = (user.id, item.id)
        times = []
        version = 1
        for n in range(saves):
            with store.sessionmaker() as session:
                from posemark.store.models import User

                user = session.get(User, ids[0])
                access = get_item(session, user, ids[1])
                start = time.perf_counter()
                version, _ = save_annotation(session, access, user, version, document(n))
                times.append(time.perf_counter() - start)
        store.dispose()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--saves", type=int, default=300)
    args = parser.parse_args()
    for synchronous in ("NORMAL", "FULL", "NORMAL", "FULL"):
        times = sorted(run(synchronous, args.saves))
        p95 = times[int(0.95 * (len(times) - 1))]
        print(
            f"synchronous={synchronous:6s} saves={len(times)} "
            f"median={statistics.median(times) * 1000:.2f} ms p95={p95 * 1000:.2f} ms"
        )


if __name__ == "__main__":
    main()
