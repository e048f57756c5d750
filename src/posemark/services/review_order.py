"""The order of the verification views, read from the kept QA results.

Both views list people riskiest first, then in file-name and instance order. Risk comes
from the kept findings (services/qa_store.py): the keypoint gallery weighs a finding on
the keypoint fully and one on the whole instance by ``INSTANCE_FINDING_WEIGHT``; the
instance review sums every finding of the instance (``qa_instances.risk``). Both orders
are kept (``qa_risk``, written with the findings), so a page is two index-ordered reads:
the risky people (the few with findings) as a range of ``ix_qa_risk_order``, then the
rest in file-name order, and the first page costs the same on a project of a hundred
people as on one of a million. The totals come from ``qa_counts`` when the caller sees
every item.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func, or_, select
from sqlalchemy.orm import Session

from posemark.services.qa_store import WHOLE_PERSON, labeled_key
from posemark.services.qa_totals import people_key
from posemark.store.models import Item
from posemark.store.qa_models import QaCount, QaFinding, QaInstance, QaRisk


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
    risky: list[ColumnElement[bool]],
    tail: Any,
    offset: int,
    limit: int,
) -> tuple[int, list[tuple[int, int, float]]]:
    """(total, [(item id, instance index, risk)]) of one page: ``people`` counts them,
    the ``qa_risk`` rows meeting ``risky`` come first, riskiest first (the order of
    ``ix_qa_risk_order``), then ``tail`` (a query of item_id, instance_index, already
    in file-name order).

    The risky people are counted only when the page runs past them (the tail's offset
    needs their number): a page they fill, like the first of a big project, reads only
    its own rows of the index."""
    total = session.scalar(people) or 0
    rows = session.execute(
        select(QaRisk.item_id, QaRisk.instance_index, QaRisk.risk)
        .where(*risky)
        .order_by(QaRisk.risk.desc(), QaRisk.file_name, QaRisk.instance_index)
        .offset(offset)
        .limit(limit)
    ).all()
    out = [(int(i), int(n), float(r)) for i, n, r in rows]
    if len(out) < limit:
        if out or offset == 0:  # the page holds the last risky ones (or there are none)
            n_risky = offset + len(out)
        else:
            n_risky = session.scalar(select(func.count()).select_from(QaRisk).where(*risky)) or 0
        rest = session.execute(tail.offset(max(0, offset - n_risky)).limit(limit - len(out)))
        out.extend((int(i), int(n), 0.0) for i, n in rest.all())
    return int(total), out


def _in_items(column: Any, project_id: int, condition: ColumnElement[bool] | None) -> list[Any]:
    """``column`` (an item id) among the items meeting ``condition`` (none: every item)."""
    if condition is None:
        return []
    return [column.in_(select(Item.id).where(Item.project_id == project_id, condition))]


def _its_item(condition: ColumnElement[bool] | None) -> list[ColumnElement[bool]]:
    """The ``qa_risk`` row's item meets ``condition``, tested row by row (a primary-key
    probe each) as the order's index is read, so a first page reads a page's worth of
    rows instead of first collecting every item that meets it."""
    if condition is None:
        return []
    return [exists(select(Item.id).where(Item.id == QaRisk.item_id, condition))]


def _kept_total(project_id: int, keys: list[str]) -> Any:
    return select(func.coalesce(func.sum(QaCount.n), 0)).where(
        QaCount.project_id == project_id, QaCount.key.in_(keys)
    )


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
        people = _kept_total(project_id, [labeled_key(k)])
    risky = [QaRisk.project_id == project_id, QaRisk.keypoint == keypoint, *_its_item(visible)]
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
    people: Any = _kept_total(project_id, [people_key(s) for s in states])
    if visible is not None:  # counted from the caller's waiting items (their index)
        people = (
            select(func.count())
            .select_from(Item)
            .join(QaInstance, QaInstance.item_id == Item.id)
            .where(Item.project_id == project_id, condition)
        )
    risky = [
        QaRisk.project_id == project_id,
        QaRisk.keypoint == WHOLE_PERSON,
        *_its_item(condition),
    ]
    tail = (
        select(QaInstance.item_id, QaInstance.instance_index)
        .join(Item, Item.id == QaInstance.item_id)
        .where(Item.project_id == project_id, condition, QaInstance.risk == 0)
        .order_by(Item.file_name, QaInstance.instance_index)
    )
    return _page(session, people, risky, tail, offset, limit)
