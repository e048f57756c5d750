"""Automated QA findings: a project's (its QA page) and one item's (editor markers).

The checks run on the whole project, so the body prior is the project's and the video
checks see neighbouring frames; what a caller gets is filtered to the items they may see
(annotators their jobs, reviewers their queue, managers everything), as the item list is.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from fastapi import APIRouter
from sqlalchemy import select

from posemark.server.auth import DB, CurrentUser, ItemDep, ProjectDep, SettingsDep
from posemark.services.qa_runs import item_findings, project_findings
from posemark.services.suggest import load_rgb
from posemark.services.workflow import settings_for, visible_items
from posemark.store.models import Item

router = APIRouter(tags=["qa"])


@router.get("/projects/{pid}/qa")
def project_qa(access: ProjectDep, caller: CurrentUser, db: DB) -> dict[str, Any]:
    project = access.project
    config = settings_for(db, project.id).qa_config()
    visible = set(
        db.scalars(
            select(Item.id).where(Item.project_id == project.id, visible_items(access, caller.user))
        )
    )
    found = [f.as_dict() for f in project_findings(db, project, config) if f.item_id in visible]
    return {
        "project_id": project.id,
        "counts": dict(Counter(f["check"] for f in found)),
        "findings": found,
    }


@router.get("/items/{iid}/qa")
def item_qa(access: ItemDep, db: DB, settings: SettingsDep) -> dict[str, Any]:
    """The item's findings, with image evidence: the pose model looks at its people."""
    project, item = access.project.project, access.item
    config = settings_for(db, project.id).qa_config()
    found = item_findings(
        db, project, item.id, config, pixels=lambda: load_rgb(settings, project, item)
    )
    return {"item_id": item.id, "findings": [f.as_dict() for f in found]}
