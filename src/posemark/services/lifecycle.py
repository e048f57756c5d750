"""Renaming and deleting: projects, items, and people leaving a project.

Each act is a manager's (or an admin's), takes one transaction with its audit entry,
and then removes the media it owns (an item's copied image and thumbnails). Deleting a
whole project is services/project_removal.py: hidden at once, removed by a worker.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from posemark.services.audit import record
from posemark.services.errors import BadInput, Conflict, NotFound
from posemark.services.items import ItemAccess
from posemark.services.media import project_root, resolve_under
from posemark.services.projects import ProjectAccess
from posemark.services.settings import Settings
from posemark.services.workflow import require_manager
from posemark.store.models import Membership, Project, User
from posemark.store.workflow_models import Job


def rename_project(session: Session, access: ProjectAccess, actor: User, name: str) -> Project:
    require_manager(access, actor, "rename the project")
    new = name.strip()
    if not new or len(new) > 200:
        raise BadInput(f"name: expected 1 to 200 characters, found {name!r}")
    project = access.project
    old = project.name
    if new == old:
        return project
    if session.scalar(select(Project.id).where(Project.name == new)) is not None:
        raise Conflict(f"a project named {new!r} exists already")
    project.name = new
    record(session, actor, "rename", "project", project.id, project.id, old=old, new=new)
    try:
        session.flush()
    except IntegrityError:  # a concurrent rename or create took the name
        raise Conflict(f"a project named {new!r} exists already") from None
    session.commit()
    return project


def remove_member(session: Session, access: ProjectAccess, actor: User, user_id: int) -> None:
    """Take ``user_id`` off the project: they no longer see it, and the annotation and
    review jobs assigned to them are left without an annotator or reviewer (their work
    stays, attributed to them). The project's last manager stays."""
    require_manager(access, actor, "remove members")
    project = access.project
    member = session.get(Membership, (project.id, user_id))
    if member is None:
        raise NotFound(f"user {user_id} is not a member of project {project.id}")
    if member.role == "manager":
        managers = session.scalar(
            select(func.count())
            .select_from(Membership)
            .where(Membership.project_id == project.id, Membership.role == "manager")
        )
        if (managers or 0) <= 1:
            raise Conflict("the project's last manager cannot be removed; add another first")
    user = session.get(User, user_id)
    session.execute(
        update(Job)
        .where(Job.project_id == project.id, Job.annotator_id == user_id)
        .values(annotator_id=None)
    )
    session.execute(
        update(Job)
        .where(Job.project_id == project.id, Job.reviewer_id == user_id)
        .values(reviewer_id=None)
    )
    session.delete(member)
    record(
        session,
        actor,
        "remove_member",
        "user",
        user_id,
        project.id,
        username=None if user is None else user.username,
        role=member.role,
    )
    session.commit()


def delete_item(session: Session, settings: Settings, access: ItemAccess, actor: User) -> None:
    """Delete one image item with its history and comments, then its copied image.

    A video frame is not deleted on its own (the video's frames are one sequence)."""
    require_manager(access.project, actor, "delete items")
    item = access.item
    if item.video_id is not None:
        raise Conflict(
            f"item {item.id} is frame {item.frame_index} of a video; frames are not deleted "
            "one by one"
        )
    project = access.project.project
    try:
        path: Path | None = resolve_under(project_root(settings, project), item.file_name)
    except Exception:  # a name that does not resolve under the folder owns no file there
        path = None
    record(session, actor, "delete", "item", item.id, project.id, file_name=item.file_name)
    session.delete(item)
    session.commit()
    if path is not None:
        path.unlink(missing_ok=True)
        for thumb in (settings.thumbs_dir / project.media_dir).glob(f"{item.id}-*.jpg"):
            thumb.unlink(missing_ok=True)
