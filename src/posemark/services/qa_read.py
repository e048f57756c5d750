"""Reading the kept QA findings (services/qa_store.py): a page at a time, filtered by
check and severity, counted by the database."""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import ColumnElement, Text, cast, func, select, tuple_
from sqlalchemy.orm import Session

from posemark.qa import CHECKS
from posemark.services import qa_store
from posemark.services.errors import BadInput
from posemark.services.qa_store import project_state, qa_thresholds
from posemark.store.models import Item
from posemark.store.qa_models import QaFinding
from posemark.store.source_models import ItemSource

MAX_PAGE = 1000
DEFAULT_PAGE = 200
SEVERITIES = ("error", "warning", "info")


def _filters(
    project_id: int,
    visible: ColumnElement[bool] | None,
    check: str | None,
    severity: str | None,
) -> list[ColumnElement[bool]]:
    if check is not None and check not in CHECKS:
        raise BadInput(f"check: expected one of {', '.join(CHECKS)}, found {check!r}")
    severities = [] if severity is None else severity.split(",")
    if any(s not in SEVERITIES for s in severities):
        raise BadInput(
            f"severity: expected one or more (comma-separated) of {', '.join(SEVERITIES)}, "
            f"found {severity!r}"
        )
    where = [QaFinding.project_id == project_id]
    if visible is not None:
        where.append(QaFinding.item_id.in_(select(Item.id).where(visible)))
    if check is not None:
        where.append(QaFinding.check == check)
    if len(severities) == 1:
        where.append(QaFinding.severity == severities[0])
    elif severities:
        where.append(QaFinding.severity.in_(severities))
    return where


def finding_counts(
    session: Session, project_id: int, visible: ColumnElement[bool] | None = None
) -> dict[str, dict[str, int]]:
    """check -> severity -> number of findings: the kept totals for the whole project,
    counted by the database for a part of it (an annotator's items)."""
    if visible is None:
        counts: dict[str, dict[str, int]] = {}
        for key, n in qa_store.kept_counts(session, project_id, "finding:").items():
            check, _, severity = key.partition(":")
            counts.setdefault(check, {})[severity] = n
        return counts
    rows = session.execute(
        select(QaFinding.check, QaFinding.severity, func.count())
        .where(*_filters(project_id, visible, None, None))
        .group_by(QaFinding.check, QaFinding.severity)
    ).all()
    out: dict[str, dict[str, int]] = {}
    for check, severity, n in rows:
        out.setdefault(check, {})[severity] = int(n)
    return out


def _cursor(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    try:
        item_id, finding_id = (int(part) for part in text.split(".", 1))
    except ValueError:
        raise BadInput(
            f"cursor: expected the next_cursor of a previous page, found {text!r}"
        ) from None
    return item_id, finding_id


def list_findings(
    session: Session,
    project_id: int,
    visible: ColumnElement[bool] | None = None,
    check: str | None = None,
    severity: str | None = None,
    limit: int = DEFAULT_PAGE,
    cursor: str | None = None,
    offset: int = 0,
) -> dict[str, Any]:
    """A page of findings in item then finding order (one index range per filter), the
    number matching, and the cursor of the next page (None on the last). ``cursor``
    (what the previous page returned) is the fast way through; ``offset`` is for
    jumping to a page number."""
    if offset < 0 or not 1 <= limit <= MAX_PAGE:
        raise BadInput(f"paging: expected offset >= 0 and limit 1..{MAX_PAGE}")
    where = _filters(project_id, visible, check, severity)
    if visible is None:  # the whole project: from the kept totals
        wanted = None if severity is None else set(severity.split(","))
        total = sum(
            n
            for c, by_severity in finding_counts(session, project_id).items()
            if check is None or c == check
            for s, n in by_severity.items()
            if wanted is None or s in wanted
        )
    else:
        total = session.scalar(select(func.count()).select_from(QaFinding).where(*where)) or 0
    after = _cursor(cursor)
    page_where = list(where)
    if after is not None:
        page_where.append(tuple_(QaFinding.item_id, QaFinding.id) > tuple_(*after))
    rows = session.execute(
        select(QaFinding, Item.file_name)
        .join(Item, Item.id == QaFinding.item_id)
        .where(*page_where)
        .order_by(QaFinding.item_id, QaFinding.id)
        .offset(0 if after is not None else offset)
        .limit(limit + 1)
    ).all()
    more = len(rows) > limit
    rows = rows[:limit]
    exported = exported_annotation_ids(session, sorted({f.item_id for f, _ in rows}))
    found = [finding_json(f, file_name, exported) for f, file_name in rows]
    last = rows[-1][0] if rows else None
    return {
        "total": int(total),
        "limit": limit,
        "findings": found,
        "next_cursor": f"{last.item_id}.{last.id}" if more and last is not None else None,
    }


def finding_json(
    f: QaFinding, file_name: str, exported: dict[tuple[int, str], int] | None = None
) -> dict[str, Any]:
    """A stored finding as the API shows it: ``image_id`` is the item id,
    ``instance_index`` the instance's index in the item's document and ``annotation_id``
    the id its COCO export record carries when that id is fixed, i.e. the instance came
    from an imported file (``exported``: :func:`exported_annotation_ids`); None for an
    instance drawn in posemark, which the export numbers when it writes."""
    at = None if f.instance_id is None else (f.item_id, f.instance_id)
    return {
        "id": f.id,
        "check": f.check,
        "severity": f.severity,
        "image_id": f.item_id,
        "annotation_id": None if at is None or exported is None else exported.get(at),
        "instance_index": f.instance_index,
        "keypoint": f.keypoint,
        "message": f.message,
        "item_id": f.item_id,
        "instance_id": f.instance_id,
        "file_name": file_name,
    }


class _RecordId(msgspec.Struct):
    """An imported annotation record, only its id read."""

    id: Any = None


_RECORD_IDS = msgspec.json.Decoder(dict[str, tuple[str, _RecordId, float]])


def exported_annotation_ids(session: Session, item_ids: list[int]) -> dict[tuple[int, str], int]:
    """(item id, instance id) -> the annotation id its export record carries, for the
    instances of ``item_ids`` that came from an imported file (their records keep the
    file's ids, edited or not; see services/coco_source.py)."""
    out: dict[tuple[int, str], int] = {}
    if not item_ids:
        return out
    rows = session.execute(
        select(ItemSource.item_id, cast(ItemSource.instances, Text)).where(
            ItemSource.item_id.in_(item_ids)
        )
    ).all()
    for item_id, text in rows:
        if text is None:
            continue
        for instance_id, (_fp, record, _pos) in _RECORD_IDS.decode(text).items():
            if isinstance(record.id, int):
                out[(int(item_id), instance_id)] = record.id
    return out


def findings_of_items(session: Session, item_ids: list[int]) -> dict[int, list[QaFinding]]:
    """Stored findings of a page's items, per item."""
    out: dict[int, list[QaFinding]] = {i: [] for i in item_ids}
    if not item_ids:
        return out
    for f in session.scalars(
        select(QaFinding).where(QaFinding.item_id.in_(item_ids)).order_by(QaFinding.id)
    ):
        out[f.item_id].append(f)
    return out


def stale(session: Session, project_id: int) -> bool:
    """Whether the QA thresholds changed since the stored findings were computed (a
    project-wide run brings them up to date)."""
    state = project_state(session, project_id)
    if state is None:
        return True
    _config, thresholds = qa_thresholds(session, project_id)
    return dict(state.config or {}) != thresholds
