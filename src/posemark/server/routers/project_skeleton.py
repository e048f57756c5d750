"""A project's skeleton after creation: rename, reorder, add or remove keypoints, change
edges, flip pairs and sigmas (managers only). The documents follow in the background
``skeleton-migrate`` operation (services/skeleton_migrate.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from posemark.server.auth import DB, CurrentUser, OperationEngine, ProjectDep
from posemark.services.operations import operation_json
from posemark.services.projects import skeleton_json
from posemark.services.skeleton_migrate import change_skeleton

router = APIRouter(tags=["projects"])


class SkeletonEdit(BaseModel):
    """``keypoints``: the new list, each ``{"name", "from": old name or null}``; edges,
    flip pairs and sigmas left out are carried over. ``base_version``: the skeleton
    version the edit was made on (409 when stale)."""

    keypoints: list[Any]
    edges: list[Any] | None = None
    flip_pairs: list[Any] | None = None
    sigmas: list[float] | None = None
    base_version: int | None = None
    confirm_removal: bool = False


@router.put("/projects/{pid}/skeleton")
def edit_skeleton(
    body: SkeletonEdit, access: ProjectDep, caller: CurrentUser, db: DB, engine: OperationEngine
) -> dict[str, Any]:
    """Applies the edit at once; 409 ``confirm_removal`` (with the labeled points per
    removed keypoint) until ``confirm_removal`` is true when labeled keypoints would go."""
    spec = body.model_dump(exclude_none=True)
    project, plan, op = change_skeleton(db, engine.dispatch, access, caller.user, spec)
    return {
        "skeleton": skeleton_json(plan.new),
        "skeleton_version": project.skeleton_version,
        "change": plan.summary(),
        "operation": None if op is None else operation_json(op),
    }
