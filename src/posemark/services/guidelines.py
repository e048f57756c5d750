"""A project's annotation guidelines: read the current version, list and read old ones,
and let managers publish a new version.

The document is ``{"general": text, "keypoints": {name: {rule, occlusion_rule?,
picture?}}}``, the shape of ``Skeleton.guidelines_dict()``. Version 1 is the skeleton's
own guidelines (the built-in COCO-17 and MPII-16 ones carry rules for every keypoint),
written the first time anyone reads the project's guidelines, so a project created
before guidelines existed gets them too. A save names the version it edited: two
managers editing at once cannot silently overwrite each other (409, like item saves).
"""

from __future__ import annotations

import dataclasses
import re
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from posemark.model import PoseValidationError, Skeleton
from posemark.schemas.loader import guidelines_from_dict
from posemark.services.errors import BadInput, Conflict, Forbidden, NotFound
from posemark.services.projects import ProjectAccess
from posemark.store.guideline_models import GuidelineVersion
from posemark.store.models import User

PICTURE_NAME = re.compile(r"^[a-z0-9_]+/[A-Za-z0-9_.-]+\.svg$")
"""A picture shipped with posemark: ``<skeleton>/<keypoint>.svg``."""
PICTURE_URL = re.compile(r"^https?://\S+$")
MAX_TEXT = 4000


def can_edit(access: ProjectAccess, user: User) -> bool:
    return access.role == "manager" or user.is_admin


def skeleton_document(skeleton: Skeleton) -> dict[str, Any]:
    return skeleton.guidelines_dict()


def validate_guidelines(document: object, skeleton: Skeleton) -> dict[str, Any]:
    """The document in canonical form (schema order, trimmed texts), or BadInput naming
    the keypoint and field that is wrong."""
    try:
        general, per_keypoint = guidelines_from_dict(document, "guidelines")
        checked = dataclasses.replace(skeleton, guidelines=per_keypoint, guideline_text=general)
    except PoseValidationError as exc:
        raise BadInput(str(exc).removeprefix(f"skeleton {skeleton.name!r}: ")) from None
    if len(general) > MAX_TEXT:
        raise BadInput(f"guidelines.general: at most {MAX_TEXT} characters")
    for name, guide in checked.guidelines:
        where = f"guidelines.keypoints[{name!r}]"
        for key in ("rule", "occlusion_rule"):
            if len(getattr(guide, key)) > MAX_TEXT:
                raise BadInput(f"{where}.{key}: at most {MAX_TEXT} characters")
        if guide.picture and not (
            PICTURE_NAME.match(guide.picture) or PICTURE_URL.match(guide.picture)
        ):
            raise BadInput(
                f"{where}.picture: expected a shipped picture such as 'coco17/left_wrist.svg' "
                f"or an http(s) URL, found {guide.picture!r}"
            )
    return checked.guidelines_dict()


def shipped_picture(name: str) -> Traversable:
    """A reference picture shipped in ``posemark.schemas/pictures`` (404 otherwise)."""
    if not PICTURE_NAME.match(name):
        raise NotFound(f"no guideline picture {name!r}")
    folder, file = name.split("/")
    entry = resources.files("posemark.schemas") / "pictures" / folder / file
    if not entry.is_file():
        raise NotFound(f"no guideline picture {name!r}")
    return entry


def _version_json(row: GuidelineVersion, author: str | None) -> dict[str, Any]:
    return {
        "version": row.version,
        "document": row.document,
        "author": author,
        "created_at": row.created_at.isoformat(),
    }


def _author_name(session: Session, author_id: int | None) -> str | None:
    if author_id is None:
        return None
    return session.scalar(select(User.username).where(User.id == author_id))


def _latest(session: Session, project_id: int) -> GuidelineVersion | None:
    return session.scalar(
        select(GuidelineVersion)
        .where(GuidelineVersion.project_id == project_id)
        .order_by(GuidelineVersion.version.desc())
        .limit(1)
    )


def current_guidelines(session: Session, access: ProjectAccess) -> dict[str, Any]:
    """The newest version; the first read writes version 1 from the skeleton."""
    project_id = access.project.id
    row = _latest(session, project_id)
    if row is None:
        row = GuidelineVersion(
            project_id=project_id, version=1, document=skeleton_document(access.skeleton)
        )
        session.add(row)
        try:
            session.commit()
        except IntegrityError:  # a concurrent first read wrote it
            session.rollback()
            row = _latest(session, project_id)
            assert row is not None
    return _version_json(row, _author_name(session, row.author_id))


def list_versions(session: Session, project_id: int) -> list[dict[str, Any]]:
    """Every version, newest first, without the documents."""
    rows = session.execute(
        select(GuidelineVersion.version, GuidelineVersion.created_at, User.username)
        .outerjoin(User, User.id == GuidelineVersion.author_id)
        .where(GuidelineVersion.project_id == project_id)
        .order_by(GuidelineVersion.version.desc())
    ).all()
    return [
        {"version": v, "created_at": created.isoformat(), "author": author}
        for v, created, author in rows
    ]


def get_version(session: Session, project_id: int, version: int) -> dict[str, Any]:
    row = session.scalar(
        select(GuidelineVersion).where(
            GuidelineVersion.project_id == project_id, GuidelineVersion.version == version
        )
    )
    if row is None:
        raise NotFound(f"project {project_id} has no guidelines version {version}")
    return _version_json(row, _author_name(session, row.author_id))


def save_guidelines(
    session: Session, access: ProjectAccess, user: User, base_version: int, document: object
) -> dict[str, Any]:
    """Publishes ``document`` as the version after ``base_version``; managers only.

    Commits. A stale ``base_version`` is a Conflict (nothing written); two saves racing
    on the same base are told apart by the (project, version) unique constraint.
    """
    if not can_edit(access, user):
        raise Forbidden("only the project's managers can edit its guidelines")
    doc = validate_guidelines(document, access.skeleton)
    project_id = access.project.id
    current = current_guidelines(session, access)["version"]
    if base_version != current:
        raise Conflict(
            f"the guidelines changed since version {base_version} (now version {current}); "
            "reload them and re-apply your edit"
        )
    row = GuidelineVersion(
        project_id=project_id, version=current + 1, document=doc, author_id=user.id
    )
    session.add(row)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise Conflict(
            f"someone else published guidelines version {current + 1} first; reload them"
        ) from None
    return _version_json(row, user.username)
