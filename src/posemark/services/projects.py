"""Projects: creation with a built-in or custom skeleton, membership and access checks.

Access is decided here, once, for the API and anything else that acts for a user: a
project a user is not a member of does not exist for them (NotFound, not Forbidden), so
ids of other teams' projects reveal nothing. Admins are members of everything.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from posemark.model import PoseValidationError, Skeleton
from posemark.schemas import load_builtin, skeleton_from_dict, skeleton_from_text
from posemark.services.errors import BadInput, Conflict, Forbidden, NotFound
from posemark.services.settings import Settings
from posemark.store.models import ITEM_STATUSES, ROLES, Item, Membership, Project, User
from posemark.store.qa_models import ProjectQa

ADMIN_ROLE = "manager"
"""The role an admin acts with in a project they are not a member of."""


@dataclass(frozen=True, slots=True)
class ProjectAccess:
    """A project as one user sees it: with the role they act in."""

    project: Project
    role: str

    @property
    def skeleton(self) -> Skeleton:
        return project_skeleton(self.project)


def project_skeleton(project: Project) -> Skeleton:
    """The project's skeleton; parsed once per distinct stored description, since every
    save validates against it."""
    return _skeleton_cached(project.id, msgspec.json.encode(project.skeleton))


@functools.lru_cache(maxsize=256)
def _skeleton_cached(project_id: int, description: bytes) -> Skeleton:
    return skeleton_from_dict(msgspec.json.decode(description), f"project {project_id} skeleton")


@dataclass(frozen=True, slots=True)
class SkeletonFile:
    """The text of an uploaded custom skeleton file (YAML or JSON) and its name."""

    name: str
    text: str


def parse_skeleton(spec: str | dict[str, Any] | SkeletonFile) -> Skeleton:
    """A built-in name, a custom skeleton dict or an uploaded skeleton file; a 400 whose
    message names the field (and, for a file, the file and line)."""
    try:
        if isinstance(spec, SkeletonFile):
            suffix = ".json" if spec.name.lower().endswith(".json") else ".yaml"
            return skeleton_from_text(spec.text, spec.name, suffix)
        if isinstance(spec, str):
            return load_builtin(spec)
        if isinstance(spec, dict):
            return skeleton_from_dict(spec, "skeleton")
    except PoseValidationError as exc:
        message = str(exc)
        raise BadInput(
            message if message.startswith("skeleton") else f"skeleton: {message}"
        ) from None
    raise BadInput(
        f"skeleton: expected a built-in skeleton name or a skeleton object, found {spec!r}"
    )


def find_project(session: Session, ref: str) -> Project:
    """A project by id or by name (what a CLI user types)."""
    project = session.scalar(select(Project).where(Project.name == ref))
    if project is None and ref.isdigit():
        project = session.get(Project, int(ref))
    if project is None or project.deleted_at is not None:
        raise NotFound(f"no project named {ref!r}")
    return project


def may_create_projects(settings: Settings, user: User) -> bool:
    """Project creation is a permission: a new project's creator manages it, so who may
    become a manager is the admins' decision (``Settings.project_creators``)."""
    if user.is_admin or settings.project_creators == "everyone":
        return True
    return settings.project_creators == "allowed" and bool(user.can_create_projects)


def check_can_create(settings: Settings, user: User) -> None:
    if not may_create_projects(settings, user):
        raise Forbidden("creating projects needs an admin's permission; ask an admin")


def start_project(
    session: Session,
    settings: Settings,
    user: User,
    name: str,
    skeleton: str | dict[str, Any] | None = None,
    skeleton_file: SkeletonFile | None = None,
) -> Project:
    """A new project made by ``user`` (who must be allowed to create projects) with a
    skeleton given by name or object or as a file, committed; ``user`` becomes its
    manager."""
    check_can_create(settings, user)
    if (skeleton is None) == (skeleton_file is None):
        raise BadInput("skeleton: give either a skeleton (name or object) or a skeleton_file")
    spec = skeleton_file if skeleton_file is not None else skeleton
    assert spec is not None
    project = create_project(session, settings, name, spec, creator=user)
    session.commit()
    return project


def create_project(
    session: Session,
    settings: Settings,
    name: str,
    skeleton: str | dict[str, Any] | SkeletonFile,
    creator: User | None = None,
) -> Project:
    """A new project; its creator (if any) becomes its manager. 409 when the name is taken."""
    clean = name.strip()
    if not clean or len(clean) > 200:
        raise BadInput(f"name: expected 1 to 200 characters, found {name!r}")
    parsed = parse_skeleton(skeleton)
    if session.scalar(select(Project.id).where(Project.name == clean)) is not None:
        raise Conflict(f"a project named {clean!r} exists already")
    project = Project(name=clean, skeleton=parsed.to_dict(), media_dir="")
    session.add(project)
    try:
        session.flush()
    except IntegrityError:  # a concurrent create won the race
        raise Conflict(f"a project named {clean!r} exists already") from None
    project.media_dir = f"p{project.id}"
    # no item, so no finding: its kept findings are complete (default QA thresholds)
    session.add(ProjectQa(project_id=project.id, prior=None, config={}, state="done"))
    if creator is not None:
        session.add(Membership(project_id=project.id, user_id=creator.id, role="manager"))
    session.flush()
    (settings.media_dir / project.media_dir).mkdir(parents=True, exist_ok=True)
    return project


def get_project(session: Session, user: User, project_id: int) -> ProjectAccess:
    """The project if ``user`` may see it; otherwise 404, exactly as if it did not exist
    (as a deleted one does, while a worker removes it)."""
    project = session.get(Project, project_id)
    role = None
    if project is not None and project.deleted_at is None:
        role = session.scalar(
            select(Membership.role).where(
                Membership.project_id == project_id, Membership.user_id == user.id
            )
        )
        if role is None and user.is_admin:
            role = ADMIN_ROLE
    if project is None or role is None:
        raise NotFound(f"project {project_id} not found")
    return ProjectAccess(project, role)


def list_projects(session: Session, user: User) -> list[ProjectAccess]:
    """Every project the user may see, by name."""
    if user.is_admin:
        roles = dict(
            session.execute(
                select(Membership.project_id, Membership.role).where(Membership.user_id == user.id)
            ).all()
        )
        projects = session.scalars(
            select(Project).where(Project.deleted_at.is_(None)).order_by(Project.name)
        ).all()
        return [ProjectAccess(p, roles.get(p.id, ADMIN_ROLE)) for p in projects]
    rows = session.execute(
        select(Project, Membership.role)
        .join(Membership, Membership.project_id == Project.id)
        .where(Membership.user_id == user.id, Project.deleted_at.is_(None))
        .order_by(Project.name)
    ).all()
    return [ProjectAccess(p, role) for p, role in rows]


def item_in_project(item_id: Any, project_id: int) -> ColumnElement[bool]:
    """The row's item belongs to the project, as a correlated ``EXISTS`` rather than a
    join with ``items``: SQLite keeps no statistics, so given a join it drives from the
    project's items (an index on ``project_id``) even when the joined table (history,
    transitions, gold, replicas) is empty, reading every item of the project. Written
    this way SQLite reads the small table and looks each of its items up by key, and
    PostgreSQL, which turns ``EXISTS`` into a semi-join, still chooses by its statistics."""
    return exists().where(Item.id == item_id, Item.project_id == project_id)


def item_counts(
    session: Session,
    project_ids: Iterable[int],
    visible: ColumnElement[bool] | None = None,
) -> dict[int, dict[str, int]]:
    """Items per status for each project (every status present, zeros included); with
    ``visible`` (``workflow.visible_items``) only the items that condition lets through,
    so an annotator's or reviewer's tabs count what their list can show."""
    ids = list(project_ids)
    out = {pid: dict.fromkeys(ITEM_STATUSES, 0) for pid in ids}
    if not ids:
        return out
    query = select(Item.project_id, Item.status, func.count()).where(Item.project_id.in_(ids))
    if visible is not None:
        query = query.where(visible)
    rows = session.execute(query.group_by(Item.project_id, Item.status)).all()
    for pid, status, n in rows:
        out[pid][status] = int(n)
    return out


def add_member(
    session: Session, access: ProjectAccess, actor: User, username: str, role: str
) -> tuple[User, str]:
    """Add ``username`` to the project (or change their role); managers and admins only.
    Commits."""
    if access.role != "manager" and not actor.is_admin:
        raise Forbidden("only the project's managers can add members")
    if role not in ROLES:
        raise BadInput(f"role: expected one of {', '.join(ROLES)}, found {role!r}")
    user = session.scalar(select(User).where(User.username == username.strip()))
    if user is None:
        raise BadInput(f"username: no user named {username!r}")
    member = session.get(Membership, (access.project.id, user.id))
    if member is None:
        session.add(Membership(project_id=access.project.id, user_id=user.id, role=role))
    else:
        member.role = role
    session.commit()
    return user, role


def list_members(session: Session, project_id: int) -> list[tuple[User, str]]:
    """The project's members and their roles, by user name (admins act everywhere as
    managers without being listed)."""
    rows = session.execute(
        select(User, Membership.role)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.project_id == project_id)
        .order_by(User.username)
    ).all()
    return [(user, str(role)) for user, role in rows]


def skeleton_json(skeleton: Skeleton) -> dict[str, Any]:
    """``Skeleton.to_dict()`` plus each keypoint's body side, for the editor's colours."""
    out = skeleton.to_dict()
    out["sides"] = [skeleton.side(i) for i in range(skeleton.num_keypoints)]
    return out
