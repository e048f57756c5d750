"""Projects and what hangs off them: members, the items list, import and export."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from posemark.server.auth import DB, CurrentUser, OperationEngine, ProjectDep, SettingsDep
from posemark.server.uploads import receive_uploads
from posemark.services.errors import BadInput
from posemark.services.export_formats import export_download
from posemark.services.export_operation import (
    check_direct_size,
    check_format,
    download_name,
    slug,
    start_export,
)
from posemark.services.file_skeleton import create_project_from_file
from posemark.services.import_existing import import_into_existing
from posemark.services.import_operation import start_import
from posemark.services.import_refs import import_reference
from posemark.services.importing import import_uploads, read_coco_file
from posemark.services.items import item_cursor, item_summary, items_page
from posemark.services.operations import operation_json
from posemark.services.projects import (
    ProjectAccess,
    SkeletonFile,
    add_member,
    item_counts,
    list_members,
    list_projects,
    skeleton_json,
    start_project,
)
from posemark.services.qa_operation import queue_refresh
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
        "skeleton_version": access.project.skeleton_version,
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
    upload = body.skeleton_file
    given = None if upload is None else SkeletonFile(upload.name, upload.text)
    project = start_project(db, settings, caller.user, body.name, body.skeleton, given)
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
    after: str | None = None,
    before: str | None = None,
) -> JSONResponse:
    """A page of items and the total; ``next`` / ``prev``: cursors of the pages after
    and before it (the project page's next and previous, an index range however deep),
    null at either end of the list."""
    visible = visible_items(access, caller.user)  # annotators: their jobs; reviewers: queue
    rows, total, more = items_page(
        db,
        access.project.id,
        status or None,
        q or None,
        offset,
        limit,
        visible,
        job,
        sort,
        after or None,
        before or None,
    )
    summaries = [item_summary(r) for r in rows]  # a replica holder sees their own copy
    summaries = summaries_as_seen_by(db, caller.user, summaries)
    if before:
        has_next, has_prev = True, more
    else:
        has_next, has_prev = more, bool(after) or offset > 0
    return JSONResponse(
        {
            "items": summaries,
            "total": total,
            "next": item_cursor(sort, rows[-1]) if rows and has_next else None,
            "prev": item_cursor(sort, rows[0]) if rows and has_prev else None,
        }
    )


@router.post("/{pid}/import", response_model=None)
async def import_files(
    request: Request,
    access: ProjectDep,
    caller: CurrentUser,
    db: DB,
    settings: SettingsDep,
    engine: OperationEngine,
    background: bool = False,
    frames: str | None = None,
) -> dict[str, int] | JSONResponse:
    """Multipart ``files``: images and at most one COCO .json, or one video. All or
    nothing. Managers only. ``frames`` (a video): which frames become items, ``all``,
    ``every:N`` or ``kmeans:N``. ``background=true``: 202 with the ``import`` operation a
    worker runs (progress and cancel under /operations; what the project page uses); else
    imported in the request."""
    require_manager(access, caller.user, "import items")
    settings.make_dirs()
    with upload_folder(settings) as folder:
        uploads = await receive_uploads(request, folder, settings.max_upload_bytes)
        if background:
            files = [(u.filename, u.path) for u in uploads]
            op = await run_in_threadpool(
                start_import, db, engine.dispatch, settings, access, caller.user, files, frames
            )
            return JSONResponse(operation_json(op), status_code=202)
        report = await run_in_threadpool(
            import_uploads,
            db,
            settings,
            access.project,
            [(u.filename, u.path) for u in uploads],
            caller.user,
            frames=frames,
        )
    await run_in_threadpool(queue_refresh, db, engine.dispatch, access.project.id, caller.user.id)
    return {"items_created": report.items_created, "instances": report.instances}


class ReferenceImport(BaseModel):
    source: str
    coco: str | None = None
    verify: bool = False
    proxy: bool = True


@router.post("/{pid}/import-reference")
def import_by_reference(
    body: ReferenceImport,
    access: ProjectDep,
    caller: CurrentUser,
    db: DB,
    settings: SettingsDep,
    engine: OperationEngine,
) -> dict[str, int]:
    """Images and videos referenced where they are: ``source`` a folder or
    ``s3://bucket/prefix`` under a root the server allows; ``coco`` a COCO file's (or one
    video's) key under it; ``verify`` decodes every image; ``proxy`` lets videos get a
    local scrubbing proxy. Managers only."""
    require_manager(access, caller.user, "import items")
    report = import_reference(
        db,
        settings,
        access.project,
        body.source,
        body.coco,
        caller.user,
        require_allowed=True,
        verify=body.verify,
        proxy=body.proxy,
    )
    queue_refresh(db, engine.dispatch, access.project.id, caller.user.id)
    return {"items_created": report.items_created, "instances": report.instances}


@router.post("/from-file", status_code=201)
async def new_project_from_file(
    request: Request,
    caller: CurrentUser,
    db: DB,
    settings: SettingsDep,
    engine: OperationEngine,
    name: str,
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
            queue_refresh(db, engine.dispatch, project.id, caller.user.id)
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
    engine: OperationEngine,
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
    await run_in_threadpool(queue_refresh, db, engine.dispatch, access.project.id, caller.user.id)
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
    """The export of a small project in one request (up to
    ``DIRECT_EXPORT_ITEMS`` items, else 413): written to a temporary folder first
    (atomic) and streamed from there; a format that writes a folder comes as a zip.
    Any project: ``POST /exports`` and the operation's file."""
    require_manager(access, caller.user, "export the project")
    check_format(format)
    check_direct_size(db, access.project.id)
    settings.make_dirs()
    work = Path(tempfile.mkdtemp(prefix="export-", dir=settings.tmp_dir))
    try:
        path, _summary = export_download(
            db,
            access.project,
            work,
            slug(access.project.name),
            format,
            exclude_unconfirmed,
            settings=settings,
        )
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    name = download_name(access.project.name, format, exclude_unconfirmed, path)
    media = "application/json" if path.suffix == ".json" else "application/octet-stream"
    return FileResponse(
        path,
        media_type=media,
        filename=name,
        background=BackgroundTask(shutil.rmtree, work, ignore_errors=True),
    )


class ExportRequest(BaseModel):
    format: str = "coco"
    exclude_unconfirmed: bool = False


@router.post("/{pid}/exports", status_code=202)
def start_export_operation(
    body: ExportRequest,
    access: ProjectDep,
    caller: CurrentUser,
    db: DB,
    engine: OperationEngine,
) -> dict[str, Any]:
    """Queues the ``export`` operation (any size; a worker writes the file); its file
    is downloaded from ``/operations/{oid}/file`` once it is done. Managers only."""
    op = start_export(
        db, engine.dispatch, access, caller.user, body.format, body.exclude_unconfirmed
    )
    return operation_json(op)
