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

from posemark.store.models import Item
from posemark.store.qa_models import QaFinding, QaInstance

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
    where: list[ColumnElement[bool]],
    risky: Any,
    risky_where: ColumnElement[bool],
    offset: int,
    limit: int,
) -> tuple[int, list[tuple[int, int, float]]]:
    """(total, [(item id, instance index, risk)]) of one page: the risky part (``risky``
    a subquery of item_id, instance_index, risk) then the rest, file-name order."""
    total = session.scalar(
        select(func.count())
        .select_from(QaInstance)
        .join(Item, Item.id == QaInstance.item_id)
        .where(*where)
    )
    n_risky = session.scalar(select(func.count()).select_from(risky)) or 0
    out: list[tuple[int, int, float]] = []
    if offset < n_risky:
        rows = session.execute(
            select(risky.c.item_id, risky.c.instance_index, risky.c.risk)
            .join(Item, Item.id == risky.c.item_id)
            .order_by(risky.c.risk.desc(), Item.file_name, risky.c.instance_index)
            .offset(offset)
            .limit(limit)
        ).all()
        out.extend((int(i), int(n), float(r)) for i, n, r in rows)
    if len(out) < limit:
        rows = session.execute(
            select(QaInstance.item_id, QaInstance.instance_index)
            .join(Item, Item.id == QaInstance.item_id)
            .where(*where, ~risky_where)
            .order_by(Item.file_name, QaInstance.instance_index)
            .offset(max(0, offset - n_risky))
            .limit(limit - len(out))
        ).all()
        out.extend((int(i), int(n), 0.0) for i, n in rows)
    return int(total or 0), out


def gallery_page(
    session: Session,
    project_id: int,
    visible: ColumnElement[bool],
    keypoint: str,
    k: int,
    offset: int,
    limit: int,
) -> tuple[int, list[tuple[int, int, float]]]:
    """The people with ``keypoint`` (index ``k``) labeled, a page of them riskiest first."""
    where = [
        QaInstance.project_id == project_id,
        func.substr(QaInstance.labeled, k + 1, 1) == "1",
        Item.project_id == project_id,
        visible,
    ]
    weight = _weight()
    score = func.sum(
        case((QaFinding.keypoint == keypoint, weight), else_=INSTANCE_FINDING_WEIGHT * weight)
    )
    risky = (
        select(QaInstance.item_id, QaInstance.instance_index, score.label("risk"))
        .join(QaFinding, _same_instance())
        .join(Item, Item.id == QaInstance.item_id)
        .where(*where, QaFinding.project_id == project_id, _on_keypoint(keypoint))
        .group_by(QaInstance.item_id, QaInstance.instance_index)
        .subquery("risky")
    )
    at_risk = exists(select(QaFinding.id).where(_same_instance(), _on_keypoint(keypoint)))
    return _page(session, where, risky, at_risk, offset, limit)


def review_page(
    session: Session,
    project_id: int,
    visible: ColumnElement[bool],
    states: tuple[str, ...],
    offset: int,
    limit: int,
) -> tuple[int, list[tuple[int, int, float]]]:
    """The people of the items in ``states``, a page of them riskiest first."""
    where = [
        QaInstance.project_id == project_id,
        Item.project_id == project_id,
        Item.status.in_(states),
        visible,
    ]
    risky = (
        select(QaInstance.item_id, QaInstance.instance_index, QaInstance.risk.label("risk"))
        .join(Item, Item.id == QaInstance.item_id)
        .where(*where, QaInstance.risk > 0)
        .subquery("risky")
    )
    return _page(session, where, risky, QaInstance.risk > 0, offset, limit)
