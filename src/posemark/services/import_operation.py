"""Uploaded files imported by a background operation (kind ``import``).

The web process only receives the files: it keeps them in a folder of the operation
(``operation-files/import-KEY`` under the data folder, with a manifest of client names)
and queues the import; a worker runs the one import pipeline (services/importing.py),
all or nothing, with progress, copying the files so that a run started again after its
worker died finds them all. Cancelling stops it before its commit: nothing is imported.
A run that finds every listed image already an item of the project (its predecessor
died after committing) reports that instead of importing twice. The folder is removed
when the operation ends. After the commit it queues the ``qa-refresh`` of the items it
marked (services/qa_operation.py), as the upload route does.
"""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from posemark.services.errors import BadInput
from posemark.services.importing import import_uploads
from posemark.services.media import IMAGE_SUFFIXES
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

KIND = "import"
MANIFEST = "manifest.json"


def _folder(settings: Settings, key: str) -> Path:
    if not key.startswith("import-") or "/" in key or ".." in key:
        raise BadInput(f"folder: not an import folder: {key!r}")
    return settings.data_dir / "operation-files" / key


def keep_uploads(settings: Settings, files: list[tuple[str, Path]]) -> str:
    """Moves a request's uploaded files into a folder of their own (kept until the
    import ends) with a manifest of their client names; returns its key."""
    key = f"import-{uuid.uuid4().hex}"
    folder = _folder(settings, key)
    folder.mkdir(parents=True)
    manifest = []
    for n, (client_name, path) in enumerate(files):
        stored = f"{n:07d}{Path(client_name).suffix.lower()}"
        shutil.move(path, folder / stored)
        manifest.append([client_name, stored])
    (folder / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    return key


def start_import(
    session: Session,
    dispatch: Dispatch,
    settings: Settings,
    access: ProjectAccess,
    user: User,
    files: list[tuple[str, Path]],
    frames: str | None = None,
) -> Operation:
    require_manager(access, user, "import items")
    if not files:
        raise BadInput("files: nothing uploaded")
    from posemark.services.video import frame_selection

    spec = frame_selection(frames).spec()  # a bad spec fails now, not in the worker
    key = keep_uploads(settings, files)
    return submit(
        session,
        dispatch,
        KIND,
        {"folder": key, "frames": spec},
        project_id=access.project.id,
        user_id=user.id,
    )


def _already_imported(session: Session, project_id: int, names: list[str]) -> bool:
    """Whether every image of the manifest is an item of the project already."""
    images = [n for n in names if Path(n).suffix.lower() in IMAGE_SUFFIXES]
    if not images:
        return False
    found = 0
    for start in range(0, len(images), 500):
        chunk = images[start : start + 500]
        found += int(
            session.scalar(
                select(func.count()).where(Item.project_id == project_id, Item.file_name.in_(chunk))
            )
            or 0
        )
    return found == len(images)


def run_import(ctx: OperationContext) -> dict[str, Any]:
    """The handler: the kept uploads through the import pipeline, all or nothing."""
    assert ctx.project_id is not None
    folder = _folder(ctx.settings, str(ctx.params.get("folder", "")))
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInput("the uploaded files of this import are gone") from None
    files = [(str(name), folder / str(stored)) for name, stored in manifest]

    def progress(stage: str, done: int, total: int) -> None:
        if ctx.should_stop():  # the pipeline rolls back: nothing was imported
            raise OperationStopped("import cancelled; nothing was imported")
        ctx.progress(done, total, stage)

    try:
        with ctx.sessions() as session:
            project = session.get(Project, ctx.project_id)
            if project is None or project.deleted_at is not None:
                raise BadInput(f"project {ctx.project_id} no longer exists")
            if ctx.attempt > 1 and _already_imported(session, project.id, [n for n, _ in files]):
                _queue_refresh(session, ctx)
                return {"items_created": 0, "instances": 0, "note": "imported by an earlier run"}
            user = None if ctx.created_by is None else session.get(User, ctx.created_by)
            report = import_uploads(
                session,
                ctx.settings,
                project,
                files,
                user,
                progress,
                move=False,
                frames=ctx.params.get("frames"),
            )
            _queue_refresh(session, ctx)
    except BaseException as exc:
        if not isinstance(exc, (KeyboardInterrupt, SystemExit)):
            shutil.rmtree(folder, ignore_errors=True)
        raise
    shutil.rmtree(folder, ignore_errors=True)
    return {
        "items_created": report.items_created,
        "instances": report.instances,
        "warnings": report.warnings[:20],
        "notes": report.notes[:20],
    }


def _queue_refresh(session: Session, ctx: OperationContext) -> None:
    """The imported items' QA refresh, queued on this worker's engine."""
    from posemark.services.operation_engines import open_engine
    from posemark.services.qa_operation import queue_refresh

    assert ctx.project_id is not None
    queue_refresh(session, open_engine(ctx.settings).dispatch, ctx.project_id, ctx.created_by)
