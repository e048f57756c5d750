"""Renaming and deleting: projects, items, videos, jobs, and people leaving a project.

Each act is a manager's (or an admin's), takes one transaction with its audit entry,
and then removes the media it owns (an item's copied image and thumbnails). Deleting a
whole project is services/project_removal.py: hidden at once, removed by a worker.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from posemark.services import qa_store
from posemark.services.audit import record
from posemark.services.errors import BadInput, Conflict, NotFound
from posemark.services.items import ItemAccess
from posemark.services.media import project_root, resolve_under
from posemark.services.projects import ProjectAccess
from posemark.services.settings import Settings
from posemark.services.video import VideoAccess, forget_source, proxy_name
from posemark.services.workflow import require_manager
from posemark.store.models import Item, Membership, Project, User
from posemark.store.workflow_models import Job, JobItem


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
    qa_store.forget_items(session, [item.id])  # off the project's QA totals
    session.delete(item)
    session.commit()
    if path is not None:
        path.unlink(missing_ok=True)
        cached = settings.thumbs_dir / project.media_dir
        # thumbnails, and the verdicts on a referenced image (services/media.py)
        for thumb in [*cached.glob(f"{item.id}-*.jpg"), *cached.glob(f"{item.id}.*")]:
            thumb.unlink(missing_ok=True)


def delete_video(session: Session, settings: Settings, access: VideoAccess, actor: User) -> int:
    """Delete a video with its frames' items (their history, comments, findings), then
    its file (or folder of frames), its scrubbing proxy and its frames' thumbnails.
    Videos are always copied into the project's folder, so the project owns the file.
    Returns the number of frames deleted."""
    require_manager(access.project, actor, "delete videos")
    video = access.video
    project = access.project.project
    root = project_root(settings, project)
    frame_ids = list(session.scalars(select(Item.id).where(Item.video_id == video.id)).all())
    files: list[Path] = []
    for name in (video.file_name, proxy_name(video.file_name)):
        try:
            files.append(resolve_under(root, name))
        except Exception:  # a name that does not resolve under the folder owns nothing there
            continue
    record(
        session,
        actor,
        "delete",
        "video",
        video.id,
        project.id,
        file_name=video.file_name,
        frames=len(frame_ids),
    )
    qa_store.forget_items(session, frame_ids)  # off the project's QA totals
    session.execute(delete(Item).where(Item.video_id == video.id))
    session.delete(video)
    session.commit()
    forget_source(files[0] if files else None)
    for path in files:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    _remove_thumbnails(settings, project, set(frame_ids))
    return len(frame_ids)


def _remove_thumbnails(settings: Settings, project: Project, item_ids: set[int]) -> None:
    """Thumbnails are ``{item id}-{size}.jpg`` in the project's thumbnail folder: one
    listing of the folder, not one glob per item."""
    folder = settings.thumbs_dir / project.media_dir
    if not item_ids or not folder.is_dir():
        return
    for path in folder.iterdir():
        head = path.name.split("-", 1)[0]
        if head.isdigit() and int(head) in item_ids:
            path.unlink(missing_ok=True)


def delete_job(session: Session, access: ProjectAccess, actor: User, job: Job) -> int:
    """Delete an annotation job: its items stay in the project (with their work and
    status), only no longer grouped for an annotator and reviewer. Returns how many
    items it held."""
    require_manager(access, actor, "delete jobs")
    held = int(
        session.scalar(select(func.count()).select_from(JobItem).where(JobItem.job_id == job.id))
        or 0
    )
    record(session, actor, "delete", "job", job.id, access.project.id, name=job.name, items=held)
    session.delete(job)
    session.commit()
    return held
