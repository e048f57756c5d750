"""Projects and what hangs off them: members, the items list, import and export."""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from posemark.server.auth import DB, CurrentUser, ProjectDep, SettingsDep
from posemark.server.uploads import receive_uploads
from posemark.services.errors import BadInput
from posemark.services.export_formats import export_download, export_formats
from posemark.services.file_skeleton import create_project_from_file
from posemark.services.import_existing import import_into_existing
from posemark.services.import_refs import import_reference
from posemark.services.importing import import_uploads, read_coco_file
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
from posemark.services.staging import upload_folder
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
def project(access: ProjectDep, caller: CurrentUser, db: DB) -> dict[str, Any]:
    """The project with its items per status as the caller sees them (an annotator's
    jobs, a reviewer's queue, everything for a manager)."""
    pid = access.project.id
    return _project_json(access, item_counts(db, [pid], visible_items(access, caller.user))[pid])


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
    sort: str = "file_name",
) -> JSONResponse:
    visible = visible_items(access, caller.user)  # annotators: their jobs; reviewers: queue
    rows, total = list_items(
        db, access.project.id, status or None, q or None, offset, limit, visible, job, sort
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
    with upload_folder(settings) as folder:
        uploads = await receive_uploads(request, folder, settings.max_upload_bytes)
        report = await run_in_threadpool(
            import_uploads,
            db,
            settings,
            access.project,
            [(u.filename, u.path) for u in uploads],
            caller.user,
        )
    return {"items_created": report.items_created, "instances": report.instances}


class ReferenceImport(BaseModel):
    source: str
    coco: str | None = None


@router.post("/{pid}/import-reference")
def import_by_reference(
    body: ReferenceImport, access: ProjectDep, caller: CurrentUser, db: DB, settings: SettingsDep
) -> dict[str, int]:
    """Images referenced where they are: ``source`` a folder or ``s3://bucket/prefix``
    under a root the server allows; ``coco`` a COCO file's key under it. Managers only."""
    require_manager(access, caller.user, "import items")
    report = import_reference(
        db, settings, access.project, body.source, body.coco, caller.user, require_allowed=True
    )
    return {"items_created": report.items_created, "instances": report.instances}


@router.post("/from-file", status_code=201)
async def new_project_from_file(
    request: Request, caller: CurrentUser, db: DB, settings: SettingsDep, name: str
) -> dict[str, Any]:
    """Multipart ``files``: one COCO .json and its images. The project takes the file's
    own skeleton (services/file_skeleton.py) and the files are imported into it; all or
    nothing, the project included."""
    settings.make_dirs()
    with upload_folder(settings) as folder:
        uploads = await receive_uploads(request, folder, settings.max_upload_bytes)
        files = [(u.filename, u.path) for u in uploads]
        cocos = [(n, p) for n, p in files if n.lower().endswith(".json")]
        if len(cocos) != 1:
            found = ", ".join(n for n, _ in cocos) or "none"
            raise BadInput(f"files: expected one COCO .json among the files, found {found}")

        def create() -> dict[str, Any]:
            coco_name, coco_path = cocos[0]
            dataset = read_coco_file(coco_path, [], label=coco_name)
            project, described = create_project_from_file(
                db, settings, name, dataset, coco_name, caller.user
            )
            report = import_uploads(db, settings, project, files, caller.user)
            return {
                "id": project.id,
                "name": project.name,
                "skeleton": described,
                "items_created": report.items_created,
                "instances": report.instances,
            }

        return await run_in_threadpool(create)


@router.post("/{pid}/import-annotations")
async def import_annotations(
    request: Request,
    access: ProjectDep,
    caller: CurrentUser,
    db: DB,
    settings: SettingsDep,
    as_suggestions: bool = False,
    policy: str | None = None,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Multipart ``files``: one COCO .json (a dataset or a results list) for items the
    project has already (services/import_existing.py). All or nothing. Managers only."""
    require_manager(access, caller.user, "import annotations")
    settings.make_dirs()
    with upload_folder(settings) as folder:
        uploads = await receive_uploads(request, folder, settings.max_upload_bytes)
        if len(uploads) != 1 or not uploads[0].filename.lower().endswith(".json"):
            names = ", ".join(u.filename for u in uploads) or "nothing"
            raise BadInput(f"files: expected one COCO .json file, found {names}")
        report = await run_in_threadpool(
            lambda: import_into_existing(
                db,
                access.project,
                uploads[0].path,
                as_suggestions=as_suggestions,
                policy=policy,
                dry_run=dry_run,
                user=caller.user,
                label=uploads[0].filename,
            )
        )
    return report.as_dict()


@router.get("/{pid}/export")
def export(
    access: ProjectDep,
    caller: CurrentUser,
    db: DB,
    settings: SettingsDep,
    format: str = "coco",
    exclude_unconfirmed: bool = False,
) -> FileResponse:
    """The export in any writable format, written to a temporary folder first (atomic,
    flat memory however big the project) and streamed from there; a format that writes
    a folder comes as a zip."""
    require_manager(access, caller.user, "export the project")
    if format not in export_formats():
        raise BadInput(f"format: expected one of {', '.join(export_formats())}, found {format!r}")
    settings.make_dirs()
    work = Path(tempfile.mkdtemp(prefix="export-", dir=settings.tmp_dir))
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", access.project.name).strip("-") or "project"
    try:
        path = export_download(
            db, access.project, work, slug, format, exclude_unconfirmed, settings
        )
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    # the two COCO exports must not land under one name (the second would read as a copy)
    coco_name = f"{slug}-coco-confirmed.json" if exclude_unconfirmed else f"{slug}-coco.json"
    name = path.name if format != "coco" else coco_name
    media = "application/json" if path.suffix == ".json" else "application/octet-stream"
    return FileResponse(
        path,
        media_type=media,
        filename=name,
        background=BackgroundTask(shutil.rmtree, work, ignore_errors=True),
    )
