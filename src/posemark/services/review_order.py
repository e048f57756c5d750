"""The order of the verification views, read from the kept QA results.

Both views list people riskiest first, then in file-name and instance order. Risk comes
from the kept findings (services/qa_store.py): the keypoint gallery weighs a finding on
the keypoint fully and one on the whole instance by ``INSTANCE_FINDING_WEIGHT``; the
instance review sums every finding of the instance (``qa_instances.risk``). A page is
two index-ordered reads: the risky people (the few with findings) sorted by the
database, then the rest in file-name order, so the first page costs the same on a
project of a hundred people as on one of a million.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, case, exists, func, or_, select
from sqlalchemy.orm import Session

from posemark.services.qa_store import labeled_key
from posemark.store.models import Item
from posemark.store.qa_models import QaCount, QaFinding, QaInstance

INSTANCE_FINDING_WEIGHT = 0.3


def _weight() -> Any:
    return case((QaFinding.severity == "error", 1.0), (QaFinding.severity == "warning", 0.5))


def _same_instance() -> ColumnElement[bool]:
    return and_(
        QaFinding.item_id == QaInstance.item_id,
        QaFinding.instance_index == QaInstance.instance_index,
    )


def _on_keypoint(keypoint: str) -> ColumnElement[bool]:
    """Findings that put an instance's ``keypoint`` at risk (info ones harm nothing)."""
    return and_(
        or_(QaFinding.keypoint == keypoint, QaFinding.keypoint.is_(None)),
        QaFinding.severity != "info",
    )


def _page(
    session: Session,
    people: Any,
    risky: Any,
    tail: Any,
    offset: int,
    limit: int,
) -> tuple[int, list[tuple[int, int, float]]]:
    """(total, [(item id, instance index, risk)]) of one page: ``people`` counts them,
    ``risky`` (a subquery of item_id, instance_index, risk) comes first, riskiest first,
    then ``tail`` (a query of item_id, instance_index, already in file-name order).

    The risky people are counted only when the page runs past them (the tail's offset
    needs their number): a page they fill, like the first of a big project, reads them
    once instead of twice."""
    total = session.scalar(people) or 0
    rows = session.execute(
        select(risky.c.item_id, risky.c.instance_index, risky.c.risk)
        .join(Item, Item.id == risky.c.item_id)
        .order_by(risky.c.risk.desc(), Item.file_name, risky.c.instance_index)
        .offset(offset)
        .limit(limit)
    ).all()
    out = [(int(i), int(n), float(r)) for i, n, r in rows]
    if len(out) < limit:
        if out or offset == 0:  # the page holds the last risky ones (or there are none)
            n_risky = offset + len(out)
        else:
            n_risky = session.scalar(select(func.count()).select_from(risky)) or 0
        rows = session.execute(tail.offset(max(0, offset - n_risky)).limit(limit - len(out))).all()
        out.extend((int(i), int(n), 0.0) for i, n in rows)
    return int(total), out


def _in_items(column: Any, project_id: int, condition: ColumnElement[bool] | None) -> list[Any]:
    """``column`` (an item id) among the items meeting ``condition`` (none: every item)."""
    if condition is None:
        return []
    return [column.in_(select(Item.id).where(Item.project_id == project_id, condition))]


def gallery_page(
    session: Session,
    project_id: int,
    visible: ColumnElement[bool] | None,
    keypoint: str,
    k: int,
    offset: int,
    limit: int,
) -> tuple[int, list[tuple[int, int, float]]]:
    """The people with ``keypoint`` (index ``k``) labeled, a page of them riskiest first
    (``visible``: the caller's items; None for every item)."""
    labeled = func.substr(QaInstance.labeled, k + 1, 1) == "1"
    mine = [
        QaInstance.project_id == project_id,
        labeled,
        *_in_items(QaInstance.item_id, project_id, visible),
    ]
    people: Any = select(func.count()).select_from(QaInstance).where(*mine)
    if visible is None:  # every item: the kept total of people with the keypoint labeled
        people = select(func.coalesce(func.sum(QaCount.n), 0)).where(
            QaCount.project_id == project_id, QaCount.key == labeled_key(k)
        )
    weight = _weight()
    score = func.sum(
        case((QaFinding.keypoint == keypoint, weight), else_=INSTANCE_FINDING_WEIGHT * weight)
    )
    with_keypoint = exists(select(QaInstance.id).where(_same_instance(), labeled))
    risky = (
        select(QaFinding.item_id, QaFinding.instance_index, score.label("risk"))
        .where(
            QaFinding.project_id == project_id,
            _on_keypoint(keypoint),
            with_keypoint,
            *_in_items(QaFinding.item_id, project_id, visible),
        )
        .group_by(QaFinding.item_id, QaFinding.instance_index)
        .subquery("risky")
    )
    at_risk = exists(select(QaFinding.id).where(_same_instance(), _on_keypoint(keypoint)))
    tail = (
        select(QaInstance.item_id, QaInstance.instance_index)
        .join(Item, Item.id == QaInstance.item_id)
        .where(Item.project_id == project_id, *mine, ~at_risk)
        .order_by(Item.file_name, QaInstance.instance_index)
    )
    return _page(session, people, risky, tail, offset, limit)


def review_page(
    session: Session,
    project_id: int,
    visible: ColumnElement[bool] | None,
    states: tuple[str, ...],
    offset: int,
    limit: int,
) -> tuple[int, list[tuple[int, int, float]]]:
    """The people of the items in ``states``, a page of them riskiest first."""
    waiting = Item.status.in_(states)
    condition = waiting if visible is None else and_(waiting, visible)
    mine = [
        QaInstance.project_id == project_id,
        *_in_items(QaInstance.item_id, project_id, condition),
    ]
    # counted from the waiting items (their index), not from every person of the project
    people = (
        select(func.count())
        .select_from(Item)
        .join(QaInstance, QaInstance.item_id == Item.id)
        .where(Item.project_id == project_id, condition)
    )
    risky = (
        select(QaInstance.item_id, QaInstance.instance_index, QaInstance.risk.label("risk"))
        .where(*mine, QaInstance.risk > 0)
        .subquery("risky")
    )
    tail = (
        select(QaInstance.item_id, QaInstance.instance_index)
        .join(Item, Item.id == QaInstance.item_id)
        .where(Item.project_id == project_id, condition, QaInstance.risk == 0)
        .order_by(Item.file_name, QaInstance.instance_index)
    )
    return _page(session, people, risky, tail, offset, limit)
