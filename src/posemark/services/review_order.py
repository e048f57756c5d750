"""The order of the verification views, read from the kept QA results.

Both views list people riskiest first, then in file-name and instance order. Risk comes
from the kept findings (services/qa_store.py): the keypoint gallery weighs a finding on
the keypoint fully and one on the whole instance by ``INSTANCE_FINDING_WEIGHT``; the
instance review sums every finding of the instance (``qa_instances.risk``). Both orders
are kept (``qa_risk``, written with the findings), so a page is two index-ordered reads:
the risky people (the few with findings) as a range of ``ix_qa_risk_order`` (the
review's: one range of ``ix_qa_risk_state`` per waiting state, merged, since the rows
carry their item's state), then the rest in file-name order, and the first page costs
the same on a project of a hundred people as on one of a million, however few of its
items wait for review. The totals, and the number of risky rows a page past them skips,
come from ``qa_counts`` when the caller sees every item.
"""

from __future__ import annotations

import base64
import heapq
import json
from collections.abc import Callable
from itertools import islice
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, and_, exists, func, or_, select
from sqlalchemy.orm import Session

from posemark.services.errors import BadInput
from posemark.services.qa_store import WHOLE_PERSON, labeled_key
from posemark.services.qa_totals import people_key, risky_key
from posemark.store.models import ITEM_STATUSES, Item
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


Position = tuple[Any, ...]
"""Where a row lies in a view's order: ("r", risk, file name, instance index) for a
risky person, ("t", file name, instance index) for one of the rest."""


class Page(NamedTuple):
    """One page of a view: its people, the total, and the position of its last row (the
    cursor of the page after it; None when nothing can follow)."""

    total: int
    rows: list[tuple[int, int, float]]
    last: Position | None


def position_cursor(last: Position | None) -> str | None:
    """The opaque text of a position (what the routes hand out as ``next``)."""
    if last is None:
        return None
    raw = json.dumps(list(last), ensure_ascii=False, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def cursor_position(cursor: str) -> Position:
    """The position a ``next`` cursor holds; BadInput when it is not one."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = json.loads(raw)
        kind = value[0]
        if kind == "r" and len(value) == 4:
            out: Position = ("r", float(value[1]), str(value[2]), int(value[3]))
        elif kind == "t" and len(value) == 3:
            out = ("t", str(value[1]), int(value[2]))
        else:
            raise ValueError(kind)
    except (ValueError, TypeError, IndexError, KeyError, UnicodeDecodeError) as exc:
        raise BadInput("after: not a cursor of this list (give the next of a page)") from exc
    return out


def _page(
    session: Session,
    people: Any,
    ranges: list[list[ColumnElement[bool]]],
    risky_total: tuple[Any, bool],
    tails: list[Any],
    offset: int,
    limit: int,
    after: Position | None = None,
) -> Page:
    """One page: ``people`` counts them, the ``qa_risk`` rows meeting any of ``ranges``
    come first, riskiest first (each a range of an index in that order:
    ``ix_qa_risk_order``, or ``ix_qa_risk_state`` for one item state; several are
    merged), then the rest: ``tails``, queries of (item_id, instance_index, file_name)
    each already in file-name order (the review's, one per state: a range of
    ``ix_items_project_id_status_file_name``), merged the same way. ``risky_total``: a
    query of the number of rows in the ranges, and whether it reads a kept total (one
    row) or counts them.

    The risky people are counted only when the page runs past them (the tail's offset
    needs their number): a page they fill, like the first of a big project, reads only
    its own rows of the index. A later page whose number of risky people is kept starts
    with it, so a page wholly past them does not step over them either. ``after`` (a
    page's ``last``) reads the page that follows it as ranges of the same indexes
    starting there: any depth costs what the first page does (``offset`` is then
    counted from it)."""
    total = int(session.scalar(people) or 0)
    if after is not None:
        return Page(total, *_page_after(session, ranges, tails, after, offset, limit))
    count, kept = risky_total
    n_risky = int(session.scalar(count) or 0) if kept and offset > 0 else None
    risky = (
        []
        if n_risky is not None and offset >= n_risky
        else _merged(session, _risky_queries(ranges), offset, limit, _by_risk)
    )
    out = [(int(i), int(n), float(r)) for r, _name, n, i in risky]
    last: Position | None = ("r", *risky[-1][:3]) if risky else None
    if len(out) < limit:
        if n_risky is None:
            # the page holds the last risky ones (or there are none), else they are counted
            past = bool(out) or offset == 0
            n_risky = offset + len(out) if past else int(session.scalar(count) or 0)
        rest = _merged(session, tails, max(0, offset - n_risky), limit - len(out), _by_name)
        out.extend((int(i), int(n), 0.0) for i, n, _name in rest)
        last = ("t", rest[-1][2], rest[-1][1]) if rest else last
    return Page(total, out, last if len(out) == limit else None)


def _page_after(
    session: Session,
    ranges: list[list[ColumnElement[bool]]],
    tails: list[Any],
    after: Position,
    offset: int,
    limit: int,
) -> tuple[list[tuple[int, int, float]], Position | None]:
    """The rows that follow ``after`` (skipping ``offset`` of them), and the last one's
    position (None when the page is not full: nothing follows)."""
    want = offset + limit
    out: list[tuple[int, int, float]] = []
    last: Position | None = None
    if after[0] == "r":
        _kind, risk, name, index = after
        runs = []
        for query in _risky_queries(ranges):
            # the same risk after the row (its item, then later names), then lower risks:
            # three ranges of the index, already in the view's order one after the other
            run = list(
                session.execute(
                    query.where(
                        QaRisk.risk == risk, QaRisk.file_name == name, QaRisk.instance_index > index
                    ).limit(want)
                ).all()
            )
            for more in (
                query.where(QaRisk.risk == risk, QaRisk.file_name > name),
                query.where(QaRisk.risk < risk),
            ):
                if len(run) < want:
                    run += session.execute(more.limit(want - len(run))).all()
            runs.append(run)
        risky = list(islice(heapq.merge(*runs, key=_by_risk), offset, want))
        out = [(int(i), int(n), float(r)) for r, _name, n, i in risky]
        last = ("r", *risky[-1][:3]) if risky else None
        skipped = min(offset, sum(len(run) for run in runs))
        if len(out) < limit:
            rest = _merged(session, tails, max(0, offset - skipped), limit - len(out), _by_name)
            out.extend((int(i), int(n), 0.0) for i, n, _name in rest)
            last = ("t", rest[-1][2], rest[-1][1]) if rest else last
    else:
        _kind, name, index = after
        runs = []
        for tail in tails:
            run = list(
                session.execute(
                    tail.where(Item.file_name == name, QaInstance.instance_index > index).limit(
                        want
                    )
                ).all()
            )
            if len(run) < want:
                run += session.execute(
                    tail.where(Item.file_name > name).limit(want - len(run))
                ).all()
            runs.append(run)
        rest = list(islice(heapq.merge(*runs, key=_by_name), offset, want))
        out = [(int(i), int(n), 0.0) for i, n, _name in rest]
        last = ("t", rest[-1][2], rest[-1][1]) if rest else None
    return out, last if len(out) == limit else None


def _by_name(row: Any) -> tuple[str, int]:
    return (row[2], row[1])


def _by_risk(row: Any) -> tuple[float, str, int]:
    return (-row[0], row[1], row[2])


def _merged(
    session: Session, queries: list[Any], offset: int, limit: int, key: Callable[[Any], Any]
) -> list[Any]:
    """Rows ``offset`` to ``offset + limit`` of the queries' rows (each in ``key``'s
    order) merged: each query's first ``offset + limit`` rows (file names compare in
    Python as the indexes order them: bytewise on SQLite, collation C on PostgreSQL)."""
    if len(queries) == 1:
        return list(session.execute(queries[0].offset(offset).limit(limit)).all())
    runs = [session.execute(q.limit(offset + limit)).all() for q in queries]
    return list(islice(heapq.merge(*runs, key=key), offset, offset + limit))


def _risky_queries(ranges: list[list[ColumnElement[bool]]]) -> list[Any]:
    """Per range, its rows (risk, file name, instance index, item id) in the view's order."""
    return [
        select(QaRisk.risk, QaRisk.file_name, QaRisk.instance_index, QaRisk.item_id)
        .where(*where)
        .order_by(QaRisk.risk.desc(), QaRisk.file_name, QaRisk.instance_index)
        for where in ranges
    ]


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
    after: Position | None = None,
) -> Page:
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
    risky_total: tuple[Any, bool] = (select(func.count()).select_from(QaRisk).where(*risky), False)
    if visible is None:
        keys = [risky_key(s, keypoint) for s in ITEM_STATUSES]
        risky_total = (_kept_total(project_id, keys), True)
    at_risk = exists(select(QaFinding.id).where(_same_instance(), _on_keypoint(keypoint)))
    tail = (
        select(QaInstance.item_id, QaInstance.instance_index, Item.file_name)
        .join(Item, Item.id == QaInstance.item_id)
        .where(Item.project_id == project_id, *mine, ~at_risk)
        .order_by(Item.file_name, QaInstance.instance_index)
    )
    return _page(session, people, [risky], risky_total, [tail], offset, limit, after)


def review_page(
    session: Session,
    project_id: int,
    visible: ColumnElement[bool] | None,
    states: tuple[str, ...],
    offset: int,
    limit: int,
    after: Position | None = None,
) -> Page:
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
    # one range per state (its rows carry their item's state), the caller's items
    # probed within it
    ranges = [
        [
            QaRisk.project_id == project_id,
            QaRisk.keypoint == WHOLE_PERSON,
            QaRisk.status == state,
            *_its_item(visible),
        ]
        for state in states
    ]
    keys = [risky_key(s, WHOLE_PERSON) for s in states]
    risky_total: tuple[Any, bool] = (_kept_total(project_id, keys), True)
    if visible is not None:
        count = select(func.count()).select_from(QaRisk).where(or_(*(and_(*w) for w in ranges)))
        risky_total = (count, False)
    mine = [] if visible is None else [visible]
    tails = [  # per state, the waiting items in name order: a range of their index
        select(QaInstance.item_id, QaInstance.instance_index, Item.file_name)
        .select_from(Item)
        .join(QaInstance, QaInstance.item_id == Item.id)
        .where(Item.project_id == project_id, Item.status == state, *mine, QaInstance.risk == 0)
        # the id (unique, as the index's last term): SQLite then knows the range is
        # already in this order; by the name alone it walks every item instead
        .order_by(Item.file_name, Item.id, QaInstance.instance_index)
        for state in states
    ]
    return _page(session, people, ranges, risky_total, tails, offset, limit, after)
