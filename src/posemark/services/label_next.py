""" "Label next": the project's unlabeled items in the order that helps its model most.

Computing the order reads images and runs the model, so it is an operation
(``label-next``, services/operations.py); it replaces the project's rows of the
``label_queue`` table in one transaction at its end. The editor's Next in "Label next"
mode asks :func:`next_in_queue`, one index-ordered read of the top of that table.

What orders the queue (``assist/selection.py``):

- with a trained model in use (services/project_models.py): its uncertainty on each
  unlabeled item (1 - the mean keypoint confidence), then greedy farthest-point
  selection on image thumbnails among the most uncertain, against what is already
  labeled, spread over the project's videos;
- without one: the same selection on image diversity alone (``basis`` "diversity"; the
  editor says so).

Bounded for large projects: at most ``MAX_CANDIDATES`` unlabeled items are scored (spread
evenly over the project's item ids) and ``QUEUE_LENGTH`` of them queued; the labeled
reference set is at most ``MAX_REFERENCE`` items. Unlabeled means: status ``new`` and no
confirmed person in the document (a pre-labelled item with unconfirmed suggestions is
still unlabeled). An item saved after it was scored is passed over by Next (its version
moved), so the queue never sends anyone back to work already done.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from posemark.services import project_models, workflow
from posemark.services.errors import BadInput, ServiceError
from posemark.services.operations import (
    Dispatch,
    OperationContext,
    OperationStopped,
    active_operation,
    submit,
)
from posemark.services.projects import ProjectAccess
from posemark.store.label_models import LabelQueueEntry
from posemark.store.models import Item, Project, User, utcnow
from posemark.store.operation_models import Operation

KIND = "label-next"
QUEUE_LENGTH = 500
MAX_CANDIDATES = 5000
MAX_REFERENCE = 300
DIVERSITY = "diversity"


def start(session: Session, dispatch: Dispatch, access: ProjectAccess, user: User) -> Operation:
    """Queues the ordering of the project's unlabeled items; while one is queued or
    running, that one (asking twice follows the same work rather than failing)."""
    workflow.require_manager(access, user, "order the Label next queue")
    project_id = access.project.id
    active = active_operation(session, project_id, KIND)
    if active is not None:
        return active
    return submit(session, dispatch, KIND, {}, project_id=project_id, user_id=user.id, total=100)


def _has_confirmed(document: dict[str, Any] | None) -> bool:
    for inst in (document or {}).get("instances") or []:
        if isinstance(inst, dict) and inst.get("confirmed"):
            return True
    return False


def _spread(ids: list[int], cap: int) -> list[int]:
    """At most ``cap`` of ``ids``, evenly spaced (every part of the project is seen)."""
    if len(ids) <= cap:
        return ids
    picks = np.linspace(0, len(ids) - 1, cap).round().astype(int)
    return [ids[i] for i in sorted(set(picks.tolist()))]


def _split_items(
    session: Session, project_id: int
) -> tuple[list[tuple[int, int, int | None]], list[int]]:
    """([(item id, version, video id)] of unlabeled items, [item id] of labeled ones),
    read in pages of documents (the operation's one pass over the project)."""
    unlabeled: list[tuple[int, int, int | None]] = []
    labeled: list[int] = []
    last = 0
    while True:
        rows = session.execute(
            select(Item.id, Item.version, Item.video_id, Item.status, Item.annotation)
            .where(Item.project_id == project_id, Item.id > last)
            .order_by(Item.id)
            .limit(1000)
        ).all()
        if not rows:
            return unlabeled, labeled
        for item_id, version, video_id, status, document in rows:
            if _has_confirmed(document):
                labeled.append(int(item_id))
            elif status == "new":
                unlabeled.append((int(item_id), int(version), video_id))
        last = int(rows[-1][0])


def _trained_model(ctx: OperationContext, project_id: int) -> tuple[Any, str]:
    """The project's model in use and the queue's basis, or (None, "diversity")."""
    from posemark.assist.registry import DEFAULT, TRAINED_PREFIX, get_model

    name = project_models.model_for(ctx.settings, project_id, DEFAULT)
    if not name.startswith(TRAINED_PREFIX):
        return None, DIVERSITY
    from posemark.assist.protocol import AssistError

    try:
        model = get_model(name)
    except AssistError as exc:
        raise BadInput(f"the project's model in use cannot be loaded: {exc}") from None
    return model, f"model:v{project_models.in_use(ctx.settings, project_id)}"


def run_label_next(ctx: OperationContext) -> dict[str, Any]:
    """The operation's handler: score, order, replace the project's queue."""
    from posemark.assist.selection import image_features, label_order, uncertainty
    from posemark.services.suggest import load_rgb

    project_id = ctx.project_id
    if project_id is None:
        raise BadInput("a label-next operation belongs to a project")
    with ctx.sessions() as session:
        project = session.get(Project, project_id)
        if project is None or project.deleted_at is not None:
            raise BadInput(f"project {project_id} no longer exists")
        ctx.progress(0, 100, "finding the unlabeled items")
        unlabeled, labeled = _split_items(session, project_id)
        session.commit()
        model, basis = _trained_model(ctx, project_id)
        sampled = set(_spread([u[0] for u in unlabeled], MAX_CANDIDATES))
        candidates = [c for c in unlabeled if c[0] in sampled]
        reference = _spread(labeled, MAX_REFERENCE)
        work = len(candidates) + len(reference)
        unreadable: list[str] = []
        done = 0

        def features_of(item_id: int, with_model: bool) -> tuple[np.ndarray, float | None] | None:
            nonlocal done
            if ctx.should_stop():
                raise OperationStopped("Label next ordering cancelled; the queue is unchanged")
            item = session.get(Item, item_id)
            done += 1
            if done % 20 == 0:
                ctx.progress(
                    min(99, int(done / max(work, 1) * 99)), 100, f"{done} of {work} images"
                )
            if item is None:
                return None
            try:
                image = load_rgb(ctx.settings, project, item)
            except ServiceError as exc:
                unreadable.append(exc.message)
                return None
            finally:
                session.commit()  # no transaction stays open while images load and models run
            score = None
            if with_model and model is not None:
                score = uncertainty([inst.scores for inst in model.predict(image)])
            return image_features(image), score

        ref_feats = [f for f in (features_of(i, False) for i in reference) if f is not None]
        kept: list[tuple[int, int, int | None]] = []
        feats: list[np.ndarray] = []
        scores: list[float] = []
        for cand in candidates:
            got = features_of(cand[0], True)
            if got is None:
                continue
            kept.append(cand)
            feats.append(got[0])
            scores.append(1.0 if got[1] is None else got[1])
        order: list[int] = []
        if kept:
            order = label_order(
                np.stack(feats),
                QUEUE_LENGTH,
                np.array(scores) if model is not None else None,
                np.array([-1 if c[2] is None else int(c[2]) for c in kept], dtype=np.int64),
                np.stack([f[0] for f in ref_feats]) if ref_feats else None,
            )
        now = utcnow()
        session.execute(delete(LabelQueueEntry).where(LabelQueueEntry.project_id == project_id))
        session.add_all(
            LabelQueueEntry(
                project_id=project_id,
                item_id=kept[j][0],
                rank=rank,
                item_version=kept[j][1],
                uncertainty=scores[j] if model is not None else None,
                basis=basis,
                computed_at=now,
            )
            for rank, j in enumerate(order)
        )
        session.commit()
    return {
        "basis": basis,
        "queued": len(order),
        "unlabeled": len(unlabeled),
        "scored": len(kept),
        "labeled": len(labeled),
        "unreadable": unreadable[-20:],
    }


def next_in_queue(
    session: Session, access: ProjectAccess, user: User, after: int | None = None
) -> dict[str, Any]:
    """The first queued item after ``after`` (its rank; from the top when ``after`` is not
    queued) that ``user`` may see and nobody has saved since it was scored. One read
    along ``(project_id, rank)``; rows passed over are the queued items labeled since."""
    project_id = access.project.id
    rank_after = -1
    if after is not None:
        found = session.scalar(
            select(LabelQueueEntry.rank).where(
                LabelQueueEntry.project_id == project_id, LabelQueueEntry.item_id == after
            )
        )
        rank_after = -1 if found is None else int(found)
    head = session.execute(
        select(LabelQueueEntry.basis, LabelQueueEntry.computed_at)
        .where(LabelQueueEntry.project_id == project_id)
        .order_by(LabelQueueEntry.rank)
        .limit(1)
    ).one_or_none()
    if head is None:
        return {"item_id": None, "basis": None, "computed_at": None, "rank": None}
    row = session.execute(
        select(LabelQueueEntry.item_id, LabelQueueEntry.rank, LabelQueueEntry.uncertainty)
        .join(Item, Item.id == LabelQueueEntry.item_id)
        .where(
            LabelQueueEntry.project_id == project_id,
            LabelQueueEntry.rank > rank_after,
            Item.version == LabelQueueEntry.item_version,
            Item.status == "new",
            workflow.visible_items(access, user),
        )
        .order_by(LabelQueueEntry.rank)
        .limit(1)
    ).one_or_none()
    return {
        "item_id": None if row is None else int(row[0]),
        "rank": None if row is None else int(row[1]),
        "uncertainty": None if row is None else row[2],
        "basis": head[0],
        "computed_at": head[1].isoformat(),
    }
