"""Leave only a few items waiting for review: the instance review's hardest case.

Run as bench_scale.py's ``--after-build`` on each tree's copy of the built project:

    --after-build "python benchmarks/scale/few_waiting.py {db} {project} 20"

Every submitted or claimed item but the last ``N`` (by id) moves to accepted, the way a
project looks near the end of its review. The move is made in SQL (a quarter of a
million workflow moves one by one would take the run's time); the rows that keep an
item's state beside its people (``qa_risk.status``, where the tree has it) follow, and
the tree's own ``heal_totals`` brings the kept totals back in step, so each tree reads
a project as its own writes would have left it. On PostgreSQL the tables are then
vacuumed and analysed, as autovacuum would after a quarter of the items changed.
"""

from __future__ import annotations

import json
import sys
import time

from sqlalchemy import inspect, text

from posemark.services.qa_store import heal_totals
from posemark.store import open_store

WAITING = ("submitted", "in_review")


def main() -> None:
    db_url, project_id, keep = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    store = open_store(db_url)
    t0 = time.perf_counter()
    with store.session() as session:
        states = ", ".join(f"'{s}'" for s in WAITING)
        kept = session.scalars(
            text(
                f"SELECT id FROM items WHERE project_id = :p AND status IN ({states}) "
                "ORDER BY id DESC LIMIT :n"
            ),
            {"p": project_id, "n": keep},
        ).all()
        moved = session.execute(
            text(
                f"UPDATE items SET status = 'accepted' WHERE project_id = :p "
                f"AND status IN ({states}) AND id < :low"
            ),
            {"p": project_id, "low": min(kept) if kept else 0},
        ).rowcount
        columns = {c["name"] for c in inspect(session.connection()).get_columns("qa_risk")}
        if "status" in columns:
            session.execute(
                text(
                    "UPDATE qa_risk SET status = 'accepted' WHERE project_id = :p "
                    f"AND status IN ({states}) AND item_id < :low"
                ),
                {"p": project_id, "low": min(kept) if kept else 0},
            )
        session.commit()
        heal_totals(session, project_id)
        session.commit()

        waiting_people = session.scalar(
            text(
                "SELECT count(*) FROM qa_instances q JOIN items i ON i.id = q.item_id "
                f"WHERE i.project_id = :p AND i.status IN ({states})"
            ),
            {"p": project_id},
        )
    if store.engine.dialect.name == "postgresql":
        # what autovacuum does after a quarter of the items changed: without it every
        # count over the items visits the heap (the moves cleared the visibility map)
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.exec_driver_sql("VACUUM ANALYZE items, qa_risk, qa_counts")
    store.dispose()
    print(
        json.dumps(
            {
                "items_moved": moved,
                "items_waiting": len(kept),
                "people_waiting": waiting_people,
                "seconds": round(time.perf_counter() - t0, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
