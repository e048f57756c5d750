"""Overlap items: a share of a project's items goes to several annotators, whose
agreement is measured and whose work a manager merges into the item's annotation.

- :func:`assign_overlap` picks the share at random with a seed (the same seed and
  project give the same items and annotators) among items no one has started (status
  ``new``) that are not gold and not replicated yet, and gives each to ``k`` annotators
  (the item's own job annotator first). Every one of them gets a replica starting from
  the item's current document (empty, or the model's suggestions: the same for all).
- :func:`project_agreement` compares the submitted replicas (qa/agreement.py): per item,
  per annotator (mean OKS against each other annotator of the same items, and against
  the consensus of the item), per keypoint type (mean keypoint similarity of matched
  people).
- :func:`merge_consensus` writes the consensus of the submitted replicas as the item's
  new annotation version (history action ``consensus``) and records who merged what.
"""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from posemark.qa.agreement import consensus, pairwise_agreement
from posemark.qa.gold import score
from posemark.qa.poses import sigmas_of
from posemark.services import workflow
from posemark.services.errors import BadInput, Forbidden
from posemark.services.projects import ProjectAccess, item_in_project, project_skeleton
from posemark.services.replicas import add_replica, submitted_replicas
from posemark.store.models import Item, Membership, Project, User, utcnow
from posemark.store.review_models import ConsensusMerge, GoldItem, ItemReplica
from posemark.store.workflow_models import Job, JobItem


def require_manager(access: ProjectAccess, user: User, what: str) -> None:
    if workflow.acting_role(access, user) != workflow.MANAGER:
        raise Forbidden(f"only the project's managers can {what}")


def project_annotators(session: Session, project_id: int) -> list[User]:
    """Members with the annotator role, by id (a stable order for seeded choices)."""
    return list(
        session.scalars(
            select(User)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.project_id == project_id, Membership.role == workflow.ANNOTATOR)
            .order_by(User.id)
        ).all()
    )


def _job_annotators(session: Session, item_id: int) -> list[int]:
    return sorted(
        {
            uid
            for uid in session.scalars(
                select(Job.annotator_id)
                .join(JobItem, JobItem.job_id == Job.id)
                .where(JobItem.item_id == item_id, Job.annotator_id.is_not(None))
            ).all()
            if uid is not None
        }
    )


def assign_overlap(
    session: Session,
    access: ProjectAccess,
    actor: User,
    share: float,
    annotators_per_item: int = 2,
    seed: int = 0,
) -> dict[str, Any]:
    """Send ``share`` of the project's items to ``annotators_per_item`` annotators each.

    Commits. Returns ``{"items": [item ids], "replicas": n}``.
    """
    require_manager(access, actor, "assign overlap items")
    if not 0 < share <= 1:
        raise BadInput(f"share: expected a fraction in (0, 1], found {share!r}")
    if annotators_per_item < 2:
        raise BadInput(f"annotators_per_item: expected 2 or more, found {annotators_per_item}")
    project = access.project
    pool = project_annotators(session, project.id)
    if len(pool) < annotators_per_item:
        raise BadInput(
            f"annotators_per_item: project {project.name!r} has {len(pool)} annotator(s), "
            f"fewer than {annotators_per_item}"
        )
    n_items = session.scalar(select(func.count()).where(Item.project_id == project.id)) or 0
    taken = select(ItemReplica.item_id)
    gold = select(GoldItem.item_id)
    candidates = sorted(
        session.scalars(
            select(Item.id).where(
                Item.project_id == project.id,
                Item.status == "new",
                Item.id.not_in(taken),
                Item.id.not_in(gold),
            )
        ).all()
    )
    want = min(len(candidates), max(1, round(share * n_items)))
    rng = random.Random(seed)
    chosen = sorted(rng.sample(candidates, want))
    by_id = {u.id: u for u in pool}
    replicas = 0
    for item_id in chosen:
        item = session.get(Item, item_id)
        assert item is not None
        first = [uid for uid in _job_annotators(session, item_id) if uid in by_id]
        others = [u.id for u in pool if u.id not in first]
        rng.shuffle(others)
        picked = (first + others)[:annotators_per_item]
        start = item.annotation
        for uid in picked:
            replicas += add_replica(session, item, by_id[uid], start, actor)
    session.commit()
    return {"items": chosen, "replicas": replicas}


def _usernames(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return dict(session.execute(select(User.id, User.username).where(User.id.in_(ids))).all())


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def project_agreement(session: Session, project: Project) -> dict[str, Any]:
    """Agreement of the submitted replicas of every overlap item (gold items excluded:
    they are scored against their answers instead)."""
    skeleton = project_skeleton(project)
    skeleton_sigmas = sigmas_of(skeleton)
    names = skeleton.keypoints
    gold = set(
        session.scalars(
            select(GoldItem.item_id).where(item_in_project(GoldItem.item_id, project.id))
        ).all()
    )
    item_rows = session.execute(
        select(Item.id, Item.file_name)
        .where(
            Item.id.in_(
                select(ItemReplica.item_id).where(item_in_project(ItemReplica.item_id, project.id))
            )
        )
        .order_by(Item.file_name)
    ).all()
    item_rows = [r for r in item_rows if r.id not in gold]
    replicas = submitted_replicas(session, [r.id for r in item_rows])
    users = _usernames(session, {r.user_id for rs in replicas.values() for r in rs})
    vs_others: dict[int, list[float]] = defaultdict(list)
    vs_consensus: dict[int, list[float]] = defaultdict(list)
    items_of: dict[int, int] = defaultdict(int)
    ks_sum = np.zeros(len(names))
    ks_n = np.zeros(len(names), dtype=np.int64)
    merged = set(session.scalars(select(ConsensusMerge.item_id)).all())
    items = []
    for row in item_rows:
        reps = replicas[row.id]
        if len(reps) < 2:
            items.append(_item_json(row, reps, users, None, row.id in merged))
            continue
        docs = {r.user_id: r.annotation for r in reps}
        pairs = pairwise_agreement(docs, skeleton_sigmas)
        scores: list[float] = []
        for pair in pairs:
            inst = pair.instance_scores
            scores += inst
            vs_others[_user_id(pair.a)] += inst
            vs_others[_user_id(pair.b)] += inst
            for ks in pair.keypoint_ks:
                seen = np.isfinite(ks)
                ks_sum[seen] += ks[seen]
                ks_n += seen
        merged_doc = consensus(docs, skeleton_sigmas)
        for uid, doc in docs.items():
            items_of[uid] += 1
            result = score(doc, merged_doc, skeleton_sigmas)
            vs_consensus[uid] += result.instance_oks
        items.append(_item_json(row, reps, users, _mean(scores), row.id in merged))
    annotators = [
        {
            "user_id": uid,
            "username": users.get(uid, str(uid)),
            "items": items_of[uid],
            "mean_oks_vs_others": _mean(vs_others[uid]),
            "mean_oks_vs_consensus": _mean(vs_consensus[uid]),
        }
        for uid in sorted(items_of, key=lambda u: users.get(u, ""))
    ]
    keypoints = [
        {
            "keypoint": name,
            "mean_oks": float(ks_sum[j] / ks_n[j]) if ks_n[j] else None,
            "pairs": int(ks_n[j]),
        }
        for j, name in enumerate(names)
    ]
    compared = [i["mean_oks"] for i in items if i["mean_oks"] is not None]
    return {
        "overall": {
            "overlap_items": len(items),
            "compared_items": len(compared),
            "mean_oks": _mean(compared),
        },
        "items": items,
        "annotators": annotators,
        "keypoints": keypoints,
    }


def _item_json(
    row: Any, reps: list[ItemReplica], users: dict[int, str], mean: float | None, merged: bool
) -> dict[str, Any]:
    return {
        "item_id": row.id,
        "file_name": row.file_name,
        "annotators": [users.get(r.user_id, str(r.user_id)) for r in reps],
        "mean_oks": mean,
        "merged": merged,
    }


def _user_id(key: object) -> int:
    """Annotators are keyed by user id in the documents handed to qa/agreement."""
    assert isinstance(key, int)
    return key


def merge_consensus(
    session: Session, access: ProjectAccess, actor: User, item: Item
) -> dict[str, Any]:
    """Write the consensus of the item's submitted replicas as its annotation.

    Commits. Needs two or more submitted replicas (400 otherwise). Returns
    ``{"version", "status", "annotators": [usernames], "annotation"}``.
    """
    from posemark.services.items import ItemAccess, save_annotation

    require_manager(access, actor, "merge annotations")
    reps = submitted_replicas(session, [item.id])[item.id]
    if len(reps) < 2:
        raise BadInput(
            f"item {item.id}: {len(reps)} submitted replica(s); a consensus needs two or more"
        )
    docs = {r.user_id: r.annotation for r in reps}
    merged = consensus(docs, sigmas_of(access.skeleton))
    annotators = sorted(docs)
    version, status = save_annotation(
        session, ItemAccess(item, access), actor, item.version, merged, action="consensus"
    )
    session.add(
        ConsensusMerge(
            item_id=item.id,
            user_id=actor.id,
            annotators=annotators,
            version=version,
            created_at=utcnow(),
        )
    )
    session.commit()
    users = _usernames(session, set(annotators))
    return {
        "version": version,
        "status": status,
        "annotators": [users[u] for u in annotators],
        "annotation": merged,
    }
