"""The kept QA totals (``qa_counts``): moved, never counted, by whoever changes what
they count, in the same transaction.

Apart from services/qa_store.py (which replaces the rows the totals count) because the
workflow moves totals too: an item changing state takes its people from one state's
total to another's, and the workflow is below the QA store (which reads its settings).
"""

from __future__ import annotations

from collections import defaultdict
from typing import cast

from sqlalchemy import Table, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from posemark.store.qa_models import QaCount, QaInstance, QaRisk

Counts = defaultdict[tuple[int, str], int]
"""(project id, ``qa_counts`` key) -> a change of that total."""


def people_key(status: str) -> str:
    """The total of people on the items in workflow state ``status`` (the instance
    review counts those waiting for review without reading them)."""
    return f"people:{status}"


def risky_key(status: str, keypoint: str) -> str:
    """The total of ``qa_risk`` rows of ``keypoint`` ("" for whole people) on the items in
    state ``status``: where the verification views' unrisky people start, uncounted."""
    return f"risky:{status}:{keypoint}"


def add_counts(session: Session, counts: Counts) -> None:
    """Apply the changes to ``qa_counts``, in key order (two transactions that both move
    totals of one project on PostgreSQL then take the row locks in the same order)."""
    rows = [
        {"project_id": project_id, "key": key, "n": n}
        for (project_id, key), n in sorted(counts.items())
        if n
    ]
    if not rows:
        return
    table = cast(Table, QaCount.__table__)
    dialect = session.connection().dialect.name
    upsert = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    statement = upsert.on_conflict_do_update(
        index_elements=[table.c.project_id, table.c.key],
        set_={"n": table.c.n + upsert.excluded.n},
    )
    session.execute(statement, rows)


def move_people(session: Session, project_id: int, item_id: int, frm: str, to: str) -> None:
    """The item's kept people, and their places in the review's order, move from state
    ``frm`` to ``to`` with their totals (no commit): called by each writer of an item's
    state, in its transaction."""
    if frm == to:
        return
    counts: Counts = defaultdict(int)
    n = session.scalar(
        select(func.count()).select_from(QaInstance).where(QaInstance.item_id == item_id)
    )
    if n:
        counts[(project_id, people_key(frm))] -= int(n)
        counts[(project_id, people_key(to))] += int(n)
    risky = session.execute(
        select(QaRisk.keypoint, func.count())
        .where(QaRisk.item_id == item_id)
        .group_by(QaRisk.keypoint)
    ).all()
    if risky:
        session.execute(
            update(QaRisk)
            .where(QaRisk.item_id == item_id)
            .values(status=to)
            .execution_options(synchronize_session=False)
        )
        for keypoint, m in risky:
            counts[(project_id, risky_key(frm, keypoint))] -= int(m)
            counts[(project_id, risky_key(to, keypoint))] += int(m)
    add_counts(session, counts)
