"""Gold items: items whose right answer is known, mixed into annotators' jobs unannounced.

A manager marks items as gold with their current annotation as the answer (typically
accepted work), or with answers given explicitly (an import of known answers). Each of
the project's annotators (or those named) then gets an empty replica of the item in one
of their jobs (services/replicas.py): to them it is an item like any other. Their
submitted replicas are scored against the answer (qa/gold.py).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from posemark.qa.gold import score
from posemark.qa.poses import sigmas_of
from posemark.services.agreement import project_annotators, require_manager
from posemark.services.annotation import empty_document, validate_document
from posemark.services.errors import BadInput, NotFound
from posemark.services.projects import ProjectAccess, item_in_project, project_skeleton
from posemark.services.replicas import add_replica, submitted_replicas
from posemark.store.models import Item, Project, User, utcnow
from posemark.store.review_models import GoldItem

ACCURACY_OKS = 0.5
"""The keypoint accuracy reported: share of the answer's keypoints with ks >= 0.5."""


def mark_gold(
    session: Session,
    access: ProjectAccess,
    actor: User,
    item_ids: Sequence[int],
    answers: Mapping[int, object] | None = None,
    annotators: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Mark items as gold and hand them to annotators; commits.

    ``answers``: item id -> answer document (default: the item's current annotation).
    ``annotators``: user names (default: every annotator of the project).
    Returns ``{"gold": [item ids], "replicas": n}``.
    """
    require_manager(access, actor, "mark gold items")
    project = access.project
    if not item_ids:
        raise BadInput("item_ids: expected at least one item id")
    pool = project_annotators(session, project.id)
    if annotators is not None:
        by_name = {u.username: u for u in pool}
        unknown = [n for n in annotators if n not in by_name]
        if unknown:
            raise BadInput(f"annotators: not annotators of the project: {', '.join(unknown)}")
        pool = [by_name[n] for n in annotators]
    answers = answers or {}
    extra = sorted(set(answers) - set(item_ids))
    if extra:
        raise BadInput(f"answers: item(s) {extra} are not among item_ids")
    replicas = 0
    for item_id in dict.fromkeys(item_ids):
        item = session.get(Item, item_id)
        if item is None or item.project_id != project.id:
            raise BadInput(f"item_ids: item {item_id} is not in project {project.name!r}")
        given = answers.get(item_id, item.annotation)
        answer = validate_document(given, access.skeleton)
        row = session.get(GoldItem, item_id)
        if row is None:
            session.add(
                GoldItem(item_id=item_id, answer=answer, created_by=actor.id, created_at=utcnow())
            )
        else:
            row.answer = dict(answer)
        for user in pool:
            replicas += add_replica(session, item, user, empty_document(), actor)
    session.commit()
    return {"gold": list(dict.fromkeys(item_ids)), "replicas": replicas}


def gold_accuracy(session: Session, project: Project) -> dict[str, Any]:
    """Per annotator, over their submitted gold replicas: mean OKS over the answers'
    people (a missed person counts 0), keypoint accuracy at OKS 0.5, missed and extra
    people."""
    sigmas = sigmas_of(project_skeleton(project))
    rows = session.execute(
        select(GoldItem.item_id, GoldItem.answer)
        .where(item_in_project(GoldItem.item_id, project.id))
        .order_by(GoldItem.item_id)
    ).all()
    answers = {r.item_id: r.answer for r in rows}
    replicas = submitted_replicas(session, list(answers))
    oks: dict[int, list[float]] = defaultdict(list)
    correct: dict[int, int] = defaultdict(int)
    total: dict[int, int] = defaultdict(int)
    missed: dict[int, int] = defaultdict(int)
    extra: dict[int, int] = defaultdict(int)
    items: dict[int, int] = defaultdict(int)
    for item_id, reps in replicas.items():
        for r in reps:
            result = score(r.annotation, answers[item_id], sigmas, thresholds=(ACCURACY_OKS,))
            uid = r.user_id
            items[uid] += 1
            oks[uid] += result.instance_oks
            correct[uid] += int(result.keypoint_correct[ACCURACY_OKS].sum())
            total[uid] += int(result.keypoint_total.sum())
            missed[uid] += result.missed
            extra[uid] += result.extra
    names = dict(
        session.execute(select(User.id, User.username).where(User.id.in_(set(items)))).all()
    )
    return {
        "gold_items": len(answers),
        "annotators": [
            {
                "user_id": uid,
                "username": names[uid],
                "items": items[uid],
                "mean_oks": float(np.mean(oks[uid])) if oks[uid] else None,
                "keypoint_accuracy": correct[uid] / total[uid] if total[uid] else None,
                "missed": missed[uid],
                "extra": extra[uid],
            }
            for uid in sorted(items, key=lambda u: names[u])
        ],
    }


def gold_item_ids(session: Session, project_id: int) -> list[int]:
    return list(
        session.scalars(
            select(GoldItem.item_id)
            .where(item_in_project(GoldItem.item_id, project_id))
            .order_by(GoldItem.item_id)
        ).all()
    )


def item_ids_by_ref(session: Session, project_id: int, refs: list[str]) -> list[int]:
    """Item ids for references given as item ids or file names (the command line's way
    of naming items); 404 naming the first reference that is neither."""
    by_name = dict(
        session.execute(select(Item.file_name, Item.id).where(Item.project_id == project_id)).all()
    )
    ids = set(by_name.values())
    out = []
    for ref in refs:
        if ref in by_name:
            out.append(int(by_name[ref]))
        elif ref.isdigit() and int(ref) in ids:
            out.append(int(ref))
        else:
            raise NotFound(f"no item {ref!r} in the project (give an item id or its file name)")
    return out
