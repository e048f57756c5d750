"""Deleting a project: hidden at once, removed in the background (kind ``project-delete``).

The request marks the project deleted (from then on every lookup answers 404, and its
name is free for a new project) and queues the removal; a worker deletes its items a
batch at a time (each batch its own short transaction, so saves elsewhere never wait
long), then the project row (the database cascades the rest), then the media it owns
and the models trained on it.
Each step can run again, so a worker that dies mid-way leaves work the next one ends.
"""

from __future__ import annotations

import shutil
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from posemark.services.audit import record
from posemark.services.errors import BadInput
from posemark.services.export_operation import remove_files
from posemark.services.media import project_root
from posemark.services.operations import Dispatch, OperationContext, submit
from posemark.services.project_models import models_dir
from posemark.services.projects import ProjectAccess
from posemark.services.settings import Settings
from posemark.services.workflow import require_manager
from posemark.store.models import Item, Membership, Project, User, utcnow
from posemark.store.operation_models import Operation

KIND = "project-delete"
BATCH = 1_000
"""Items deleted per transaction."""


def mark_deleted(
    session: Session,
    settings: Settings,
    dispatch: Dispatch,
    access: ProjectAccess,
    actor: User,
    confirm: str,
) -> dict[str, int]:
    """Hides the project now and queues its removal. ``confirm`` must repeat the
    project's name. Returns what goes (items, members) and the removal's operation id."""
    require_manager(access, actor, "delete the project")
    project = access.project
    if confirm.strip() != project.name:
        raise BadInput(
            f"confirm: type the project's name ({project.name!r}) to delete it, found {confirm!r}"
        )
    items = int(session.scalar(select(func.count()).where(Item.project_id == project.id)) or 0)
    members = int(
        session.scalar(select(func.count()).where(Membership.project_id == project.id)) or 0
    )
    record(
        session,
        actor,
        "delete",
        "project",
        project.id,
        project.id,
        name=project.name,
        items=items,
        members=members,
    )
    project.deleted_at = utcnow()
    project.name = f"{project.name[:170]} (deleted #{project.id})"  # the name is free again
    session.commit()
    op = submit(session, dispatch, KIND, {"project_id": project.id}, user_id=actor.id)
    return {"items": items, "members": members, "operation": op.id}


def remove_project(ctx: OperationContext) -> dict[str, Any]:
    """The handler: items in batches, then the project row, then its media and models."""
    project_id = int(ctx.params["project_id"])
    removed = 0
    with ctx.sessions() as session:
        project = session.get(Project, project_id)
        if project is None:  # an earlier run got to the end
            return {"items": 0}
        if project.deleted_at is None:
            raise BadInput(f"project {project_id} is not marked deleted; nothing removed")
        folders = [
            project_root(ctx.settings, project),
            ctx.settings.thumbs_dir / project.media_dir,
            models_dir(ctx.settings, project_id),  # its trained models, every version
        ]
        total = int(session.scalar(select(func.count()).where(Item.project_id == project_id)) or 0)
        exports = list(
            session.scalars(select(Operation.id).where(Operation.project_id == project_id))
        )
        session.commit()
        ctx.progress(0, total, "removing items")
        while True:
            ids = session.scalars(
                select(Item.id).where(Item.project_id == project_id).limit(BATCH)
            ).all()
            if not ids:
                break
            session.execute(delete(Item).where(Item.id.in_(ids)))
            session.commit()
            removed += len(ids)
            ctx.progress(removed, total, "removing items")
        session.execute(delete(Project).where(Project.id == project_id))
        session.commit()
    remove_files(ctx.settings, exports)
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)
    return {"items": removed}
