"""Projects and what hangs off them: members, the items list, import and export."""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from posemark.server.auth import DB, CurrentUser, ProjectDep, SettingsDep
from posemark.server.uploads import receive_uploads
from posemark.services.errors import BadInput
from posemark.services.exporting import EXPORT_FORMATS, export_coco_dict
from posemark.services.importing import import_uploads
from posemark.services.items import item_summary, list_items
from posemark.services.projects import (
    ProjectAccess,
    SkeletonFile,
    add_member,
    check_can_create,
    create_project,
    item_counts,
    list_members,
    list_projects,
    skeleton_json,
)
from posemark.services.replicas import summaries_as_seen_by
from posemark.services.users import user_json
from posemark.services.workflow import require_manager, visible_items

router = APIRouter(prefix="/projects", tags=["projects"])


class UploadedSkeleton(BaseModel):
    """A custom skeleton file's text as read in the browser (YAML or JSON)."""

    name: str
    text: str


class NewProject(BaseModel):
    """``skeleton`` (a built-in name or a skeleton object) or ``skeleton_file``."""

    name: str
    skeleton: str | dict[str, Any] | None = None
    skeleton_file: UploadedSkeleton | None = None


class NewMember(BaseModel):
    username: str
    role: str


def _project_json(access: ProjectAccess, counts: dict[str, int]) -> dict[str, Any]:
    return {
        "id": access.project.id,
        "name": access.project.name,
        "skeleton": skeleton_json(access.skeleton),
        "role": access.role,
        "counts": counts,
    }


@router.get("")
def projects(caller: CurrentUser, db: DB) -> list[dict[str, Any]]:
    visible = list_projects(db, caller.user)
    counts = item_counts(db, (a.project.id for a in visible))
    return [
        {
            "id": a.project.id,
            "name": a.project.name,
            "skeleton": {
                "name": a.project.skeleton["name"],
                "keypoints": a.project.skeleton["keypoints"],
            },
            "role": a.role,
            "counts": counts[a.project.id],
        }
        for a in visible
    ]


@router.post("", status_code=201)
def new_project(
    body: NewProject, caller: CurrentUser, db: DB, settings: SettingsDep
) -> dict[str, Any]:
    check_can_create(settings, caller.user)
    if (body.skeleton is None) == (body.skeleton_file is None):
        raise BadInput("skeleton: give either a skeleton (name or object) or a skeleton_file")
    spec: str | dict[str, Any] | SkeletonFile
    if body.skeleton_file is not None:
        spec = SkeletonFile(body.skeleton_file.name, body.skeleton_file.text)
    else:
        assert body.skeleton is not None
        spec = body.skeleton
    project = create_project(db, settings, body.name, spec, creator=caller.user)
    db.commit()
    access = ProjectAccess(project, "manager")
    return _project_json(access, item_counts(db, [project.id])[project.id])


@router.get("/{pid}")
def project(access: ProjectDep, db: DB) -> dict[str, Any]:
    return _project_json(access, item_counts(db, [access.project.id])[access.project.id])


@router.get("/{pid}/members")
def members(access: ProjectDep, db: DB) -> list[dict[str, Any]]:
    return [
        {"user": user_json(user), "role": role}
        for user, role in list_members(db, access.project.id)
    ]


@router.post("/{pid}/members", status_code=201)
def new_member(body: NewMember, access: ProjectDep, caller: CurrentUser, db: DB) -> dict[str, Any]:
    user, role = add_member(db, access, caller.user, body.username, body.role)
    db.commit()
    return {"user": user_json(user), "role": role}


@router.get("/{pid}/items")
def items(
    access: ProjectDep,
    db: DB,
    caller: CurrentUser,
    status: str | None = None,
    q: str | None = None,
    offset: int = Query(0, ge=0),
    limit: int = Query(50, ge=1, le=1000),
    job: int | None = None,
) -> JSONResponse:
    visible = visible_items(access, caller.user)  # annotators: their jobs; reviewers: queue
    rows, total = list_items(
        db, access.project.id, status or None, q or None, offset, limit, visible, job
    )
    summaries = [item_summary(r) for r in rows]  # a replica holder sees their own copy
    summaries = summaries_as_seen_by(db, caller.user, summaries)
    return JSONResponse({"items": summaries, "total": total})


@router.post("/{pid}/import")
async def import_files(
    request: Request, access: ProjectDep, caller: CurrentUser, db: DB, settings: SettingsDep
) -> dict[str, int]:
    """Multipart ``files``: images and at most one COCO .json. All or nothing. Managers only."""
    require_manager(access, caller.user, "import items")
    settings.make_dirs()
    folder = Path(tempfile.mkdtemp(prefix="upload-", dir=settings.tmp_dir))
    try:
        uploads = await receive_uploads(request, folder, settings.max_upload_bytes)
        report = await run_in_threadpool(
            import_uploads,
            db,
            settings,
            access.project,
            [(u.filename, u.path) for u in uploads],
            caller.user,
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {"items_created": report.items_created, "instances": report.instances}


@router.get("/{pid}/export")
def export(
    access: ProjectDep,
    caller: CurrentUser,
    db: DB,
    format: str = "coco",
    exclude_unconfirmed: bool = False,
) -> JSONResponse:
    require_manager(access, caller.user, "export the project")
    if format not in EXPORT_FORMATS:
        raise BadInput(f"format: expected one of {', '.join(EXPORT_FORMATS)}, found {format!r}")
    document = export_coco_dict(db, access.project, exclude_unconfirmed)
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", access.project.name).strip("-") or "project"
    return JSONResponse(
        document,
        headers={"Content-Disposition": f'attachment; filename="{slug}-coco.json"'},
    )
