"""A project taken through the whole quality workflow with the services, for the
agreement, gold and report tests: the mmpose COCO sample (4 images, 14 people), a manager,
three annotators who are more or less careful, a reviewer.

- gold: 000000000785.jpg, its imported annotation as the answer; every annotator labels it;
- overlap: one more item (seeded) to all three annotators;
- the other two items go the ordinary way: annotate, submit, review; one is accepted, the
  other returned with a comment on a keypoint.

Each annotator's documents are the real annotation moved by Gaussian noise of their own
size (``NOISE``), so who agrees best and who is most accurate is known in advance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select

from posemark.services.agreement import assign_overlap
from posemark.services.comments import add_comment
from posemark.services.gold import mark_gold
from posemark.services.importing import import_path
from posemark.services.items import get_item, item_detail, save_annotation, set_status
from posemark.services.jobs import create_jobs
from posemark.services.projects import add_member, create_project, get_project
from posemark.services.settings import Settings
from posemark.services.users import create_user
from posemark.store.engine import Store
from posemark.store.models import Item, User
from qa_documents import MMPOSE_COCO, shifted

PASSWORD = "a-good-password"
NOISE = {"ann1": 1.5, "ann2": 4.0, "ann3": 15.0}
GOLD_FILE = "000000000785.jpg"
ANNOTATORS = tuple(NOISE)


@dataclass
class QaProject:
    project_id: int
    name: str
    items: dict[str, int]  # file name -> item id
    truth: dict[int, dict[str, Any]]  # item id -> imported document
    overlap_item: int
    gold_item: int
    accepted_item: int
    returned_item: int
    saved: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)


def _user(session: Any, name: str) -> User:
    user = session.scalar(select(User).where(User.username == name))
    assert user is not None
    return user


def noisy(truth: dict[str, Any], who: str, item_id: int) -> dict[str, Any]:
    rng = np.random.default_rng(1000 * item_id + ANNOTATORS.index(who))
    n = len(truth["instances"])
    return shifted(truth, rng.normal(0, NOISE[who], (n, 17, 2)))


def annotate(session: Any, who: str, item_id: int, document: dict[str, Any]) -> None:
    """Open the item as ``who``, save ``document`` on what they see, submit it."""
    user = _user(session, who)
    access = get_item(session, user, item_id)
    seen = item_detail(session, access.item, access, user)
    save_annotation(session, access, user, seen["version"], document)
    session.expire_all()  # as a new request would (the store's sessions keep objects on commit)
    set_status(session, get_item(session, user, item_id), user, "submitted")


def build(store: Store, settings: Settings, testdata: Path, name: str = "qa") -> QaProject:
    with store.session() as session:
        boss = create_user(session, "boss", PASSWORD)
        for who in (*ANNOTATORS, "rev"):
            create_user(session, who, PASSWORD)
        project = create_project(session, settings, name, "coco17", creator=boss)
        access = get_project(session, boss, project.id)
        for who in ANNOTATORS:
            add_member(session, access, boss, who, "annotator")
        add_member(session, access, boss, "rev", "reviewer")
        import_path(session, settings, project, testdata / MMPOSE_COCO)
        session.commit()
        items = dict(
            session.execute(
                select(Item.file_name, Item.id).where(Item.project_id == project.id)
            ).all()
        )
        truth = {
            iid: session.scalar(select(Item.annotation).where(Item.id == iid))
            for iid in items.values()
        }
        ordered = [items[f] for f in sorted(items)]
        gold = items[GOLD_FILE]
        create_jobs(session, access, boss, item_ids=ordered[:2], annotator="ann1", reviewer="rev")
        create_jobs(session, access, boss, item_ids=[ordered[2]], annotator="ann2", reviewer="rev")
        create_jobs(session, access, boss, item_ids=[ordered[3]], annotator="ann3", reviewer="rev")
        session.commit()
        mark_gold(session, access, boss, [gold])
        picked = assign_overlap(session, access, boss, share=0.25, annotators_per_item=3, seed=1)
        (overlap,) = picked["items"]
        ordinary = [i for i in ordered if i not in (gold, overlap)]
        qa = QaProject(project.id, name, items, truth, overlap, gold, ordinary[0], ordinary[1])
        for iid in (gold, overlap):
            for who in ANNOTATORS:
                doc = noisy(truth[iid], who, iid)
                annotate(session, who, iid, doc)
                qa.saved[(who, iid)] = doc
        owners = {ordered[0]: "ann1", ordered[1]: "ann1", ordered[2]: "ann2", ordered[3]: "ann3"}
        rev = _user(session, "rev")
        for iid, decision in ((qa.accepted_item, "accepted"), (qa.returned_item, "returned")):
            who = owners[iid]
            doc = noisy(truth[iid], who, iid)
            annotate(session, who, iid, doc)
            qa.saved[(who, iid)] = doc
            set_status(session, get_item(session, rev, iid), rev, "in_review")
            if decision == "returned":
                first = doc["instances"][0]["id"]
                add_comment(session, rev, iid, "left wrist?", first, "left_wrist")
            set_status(session, get_item(session, rev, iid), rev, decision)
        return qa
