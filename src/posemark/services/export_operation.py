"""Exports as a background operation (kind ``export``), and the files operations leave.

A worker writes the export into the operation's own folder under the data folder
(``operation-files/op-ID``, shared by every web process and worker, as the media are);
the page then downloads it through ``GET /projects/{pid}/operations/{oid}/file``. The
file is written atomically and the folder is emptied first, so a run started again
after its worker died leaves one whole file, never a half or a second one. A project
keeps the files of its newest few exports; older ones are removed when a new one ends.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from posemark.services.errors import BadInput, NotFound, ServiceError, TooLarge
from posemark.services.export_formats import export_download, export_formats
from posemark.services.exporting import ExportCancelled
from posemark.services.operations import (
    Dispatch,
    OperationContext,
    OperationStopped,
    submit,
)
from posemark.services.projects import ProjectAccess
from posemark.services.settings import Settings
from posemark.services.workflow import require_manager
from posemark.store.models import Item, Project, User
from posemark.store.operation_models import Operation

KIND = "export"
FILES_DIR = "operation-files"
KEEP_FILES = 3
"""Export files a project keeps (the newest); each new export removes older ones."""
DIRECT_EXPORT_ITEMS = 5_000
"""Above this many items the direct export route refuses: a request must not do work
proportional to the project; the export operation does it in a worker."""


def files_dir(settings: Settings, operation_id: int) -> Path:
    return settings.data_dir / FILES_DIR / f"op-{operation_id}"


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "project"


def check_format(format: str) -> str:
    if format not in export_formats():
        raise BadInput(f"format: expected one of {', '.join(export_formats())}, found {format!r}")
    return format


def download_name(project_name: str, format: str, exclude_unconfirmed: bool, path: Path) -> str:
    """The two COCO exports must not land under one name (the second would read as a copy)."""
    if format != "coco":
        return path.name
    tail = "-coco-confirmed.json" if exclude_unconfirmed else "-coco.json"
    return slug(project_name) + tail


def check_direct_size(session: Session, project_id: int) -> None:
    """413 for the direct route when the project is past what a request may do."""
    n = int(session.scalar(select(func.count()).where(Item.project_id == project_id)) or 0)
    if n > DIRECT_EXPORT_ITEMS:
        raise TooLarge(
            f"the project has {n} items, more than a direct download exports "
            f"({DIRECT_EXPORT_ITEMS}): start an export (POST /api/projects/{project_id}/exports) "
            "and download its file when it is done"
        )


def start_export(
    session: Session,
    dispatch: Dispatch,
    access: ProjectAccess,
    user: User,
    format: str = "coco",
    exclude_unconfirmed: bool = False,
) -> Operation:
    require_manager(access, user, "export the project")
    params = {"format": check_format(format), "exclude_unconfirmed": bool(exclude_unconfirmed)}
    return submit(session, dispatch, KIND, params, project_id=access.project.id, user_id=user.id)


def run_export(ctx: OperationContext) -> dict[str, Any]:
    """The handler: the export written into the operation's folder, emptied first."""
    assert ctx.project_id is not None
    format = check_format(str(ctx.params.get("format", "coco")))
    exclude = bool(ctx.params.get("exclude_unconfirmed", False))
    folder = files_dir(ctx.settings, ctx.operation_id)
    shutil.rmtree(folder, ignore_errors=True)  # what a run killed mid-way left
    work = folder / "work"
    work.mkdir(parents=True)
    with ctx.sessions() as session:
        project = session.get(Project, ctx.project_id)
        if project is None or project.deleted_at is not None:
            raise BadInput(f"project {ctx.project_id} no longer exists")
        try:
            path, summary = export_download(
                session, project, work, slug(project.name), format, exclude,
                ctx.progress, ctx.should_stop, ctx.settings,
            )  # fmt: skip
        except ServiceError as exc:  # a cancel says so in each format's own words
            shutil.rmtree(folder, ignore_errors=True)
            if isinstance(exc, ExportCancelled) or ctx.should_stop():
                raise OperationStopped(exc.message) from None
            raise
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        name = download_name(project.name, format, exclude, path)
        final = folder / name
        path.rename(final)
        shutil.rmtree(work, ignore_errors=True)
        _prune(session, ctx.settings, ctx.project_id, ctx.operation_id)
    return {
        "file": name,
        "bytes": final.stat().st_size,
        "format": summary.format,
        "images": summary.images,
        "instances": summary.instances,
    }


def _prune(session: Session, settings: Settings, project_id: int, keep_id: int) -> None:
    """Removes the files of the project's older exports, past the newest KEEP_FILES."""
    ids = session.scalars(
        select(Operation.id)
        .where(
            Operation.project_id == project_id,
            Operation.kind == KIND,
            Operation.state == "done",
            Operation.id != keep_id,
        )
        .order_by(Operation.id.desc())
        .offset(KEEP_FILES - 1)
    ).all()
    session.commit()
    for old in ids:
        shutil.rmtree(files_dir(settings, old), ignore_errors=True)


def result_file(settings: Settings, op: Operation) -> tuple[Path, str]:
    """The file a finished operation left, and its download name; 404 when it has
    none (not done yet, another kind, or pruned since)."""
    name = (op.result or {}).get("file") if op.state == "done" else None
    if not isinstance(name, str) or "/" in name or name.startswith("."):
        raise NotFound(f"operation {op.id} has no file to download (state {op.state})")
    path = files_dir(settings, op.id) / name
    if not path.is_file():
        raise NotFound(f"the file of operation {op.id} is gone (a newer export replaced it)")
    return path, name


def remove_files(settings: Settings, operation_ids: list[int]) -> None:
    for op_id in operation_ids:
        shutil.rmtree(files_dir(settings, op_id), ignore_errors=True)
