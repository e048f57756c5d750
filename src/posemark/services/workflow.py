"""The review workflow: who may see, edit and move an item, and the states it moves through.

new -> annotating (first save) -> submitted (the annotator; automated checks run) ->
in_review (a reviewer claims it) -> accepted, or returned with a comment -> annotating ...

Rules live here once, for the API and anything else that acts for a user:

- managers (and global admins, whatever their membership) see and edit every item and
  may make every legal transition;
- annotators see only the items of their jobs (other items are 404, as for strangers),
  edit them while new, annotating or returned, and submit them;
- reviewers see items from submission on (except those of jobs someone else reviews),
  claim, accept and return them, and fix them in place while in review when the
  project allows it (the default).

A transition the state machine does not have is a 409 naming both states; one the
caller's role may not make is a 403.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import (
    ColumnElement,
    CursorResult,
    and_,
    exists,
    false,
    func,
    literal,
    select,
    true,
    update,
)
from sqlalchemy.orm import Session

from posemark.services.errors import BadInput, Conflict, Forbidden, ServiceError
from posemark.services.projects import ProjectAccess
from posemark.services.qa_totals import move_people
from posemark.store.models import ITEM_STATUSES, Item, User, utcnow
from posemark.store.workflow_models import (
    Comment,
    ItemTransition,
    ItemVersion,
    Job,
    JobItem,
    ProjectWorkflow,
)

if TYPE_CHECKING:
    from posemark.qa.config import QaConfig

MANAGER, ANNOTATOR, REVIEWER = "manager", "annotator", "reviewer"

TRANSITIONS: dict[tuple[str, str], frozenset[str]] = {
    ("new", "annotating"): frozenset({MANAGER, ANNOTATOR}),
    ("returned", "annotating"): frozenset({MANAGER, ANNOTATOR}),
    ("annotating", "submitted"): frozenset({MANAGER, ANNOTATOR}),
    ("submitted", "in_review"): frozenset({MANAGER, REVIEWER}),
    ("in_review", "accepted"): frozenset({MANAGER, REVIEWER}),
    ("in_review", "returned"): frozenset({MANAGER, REVIEWER}),
    ("accepted", "returned"): frozenset({MANAGER, REVIEWER}),
}
"""Every legal (from, to) pair and the roles that may make it."""

SAVE_MOVES: dict[str, str] = {"new": "annotating", "returned": "annotating"}
"""States a save leaves, and where to: work has started (again)."""

ANNOTATOR_EDITS = frozenset({"new", "annotating", "returned"})
REVIEW_STATES = ("submitted", "in_review", "accepted", "returned")
"""What a reviewer sees: from the first submission on."""

DEFAULT_BLOCKING: tuple[str, ...] = (
    "outside_image",
    "duplicate_instance",
    "inconsistent_visibility",
)
"""Checks whose findings refuse a submission unless the project says otherwise: the
ones that are errors whatever the picture shows (the others are warnings a person judges)."""


def acting_role(access: ProjectAccess, user: User) -> str:
    """The role ``user`` acts in: a global admin is a manager everywhere."""
    return MANAGER if user.is_admin else access.role


def require_manager(access: ProjectAccess, user: User, doing: str) -> None:
    """403 unless ``user`` manages the project (or is an admin)."""
    if acting_role(access, user) != MANAGER:
        raise Forbidden(f"only the project's managers can {doing}")


# --- visibility -------------------------------------------------------------------------


def _reviewed_by_other(user: User) -> ColumnElement[bool]:
    return Item.id.in_(
        select(JobItem.item_id)
        .join(Job, Job.id == JobItem.job_id)
        .where(Job.reviewer_id.is_not(None), Job.reviewer_id != user.id)
    )


def visible_items(access: ProjectAccess, user: User) -> ColumnElement[bool]:
    """A SQL condition on ``Item`` true for the items ``user`` may see in the project.

    Written as ``IN (subquery)`` rather than a correlated EXISTS: both databases then
    start from the user's few jobs (index on the job's annotator) instead of probing
    the job tables once per item of the project (measured in bench_workflow.py)."""
    role = acting_role(access, user)
    if role == MANAGER:
        return true()
    if role == ANNOTATOR:
        return Item.id.in_(
            select(JobItem.item_id)
            .join(Job, Job.id == JobItem.job_id)
            .where(Job.annotator_id == user.id)
        )
    if role == REVIEWER:
        return and_(Item.status.in_(REVIEW_STATES), ~_reviewed_by_other(user))
    return false()


def can_see(session: Session, access: ProjectAccess, user: User, item_id: int) -> bool:
    if acting_role(access, user) == MANAGER:
        return True  # no query: the hot path of every item request a manager makes
    condition = visible_items(access, user)
    return session.scalar(select(Item.id).where(Item.id == item_id, condition)) is not None


def in_job(job_id: int) -> ColumnElement[bool]:
    """A SQL condition on ``Item``: the item belongs to job ``job_id``."""
    return exists(
        select(JobItem.item_id).where(JobItem.item_id == Item.id, JobItem.job_id == job_id)
    )


def permissions(session: Session, access: ProjectAccess, user: User, item: Item) -> dict[str, Any]:
    """What the editor shows: the caller's role, whether they may edit, where they may
    move the item (the buttons it offers)."""
    return {
        "role": acting_role(access, user),
        "can_edit": may_edit(session, access, user, item.id, item.status),
        "moves": allowed_moves(access, user, item.status),
    }


# --- editing ----------------------------------------------------------------------------


def check_can_edit(
    session: Session, access: ProjectAccess, user: User, item_id: int, status: str
) -> None:
    """Raise unless ``user`` may change the item's annotation while it is ``status``."""
    role = acting_role(access, user)
    if role == MANAGER:
        return
    if role == ANNOTATOR:
        if status not in ANNOTATOR_EDITS:
            raise Conflict(
                f"item {item_id} is {status}: annotators edit it again only once a "
                "reviewer returns it"
            )
        return
    if role == REVIEWER:
        if status != "in_review":
            raise Conflict(f"item {item_id} is {status}: reviewers edit items only in review")
        if not workflow_settings(session, access.project.id).reviewer_can_edit:
            raise Forbidden(f"reviewers of project {access.project.name!r} comment but do not edit")
        return
    raise Forbidden(f"role {role!r} cannot edit annotations")


def may_edit(
    session: Session, access: ProjectAccess, user: User, item_id: int, status: str
) -> bool:
    try:
        check_can_edit(session, access, user, item_id, status)
    except ServiceError:
        return False
    return True


def allowed_moves(access: ProjectAccess, user: User, status: str) -> list[str]:
    """The states ``user`` may move an item in ``status`` to (for the editor's buttons)."""
    role = acting_role(access, user)
    return [to for (frm, to), roles in TRANSITIONS.items() if frm == status and role in roles]


# --- history bookkeeping (read by services/history.py and the reports) ----------------


def _insert_ignoring_duplicates(session: Session) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING in the session's dialect."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(ItemVersion)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(ItemVersion)


def keep_base_version(session: Session, item_id: int, base_version: int) -> None:
    """Copy the stored document at ``base_version`` into ``item_versions`` unless it is
    there already: items created by imports have no row for their first version, and a
    restore must be able to go back to it. One INSERT ... SELECT; two first saves racing
    on it both succeed (ON CONFLICT DO NOTHING) and the version CAS picks the winner."""
    src = select(
        Item.id,
        Item.version,
        Item.annotation,
        Item.status,
        Item.updated_by,
        literal("created" if base_version == 1 else "save"),
        Item.updated_at,
        Item.skeleton_version,
    ).where(
        Item.id == item_id,
        Item.version == base_version,
        ~exists(
            select(ItemVersion.id).where(
                ItemVersion.item_id == item_id, ItemVersion.version == base_version
            )
        ),
    )
    stmt = _insert_ignoring_duplicates(session).from_select(
        [
            "item_id",
            "version",
            "annotation",
            "status",
            "user_id",
            "action",
            "created_at",
            "skeleton_version",
        ],
        src,
    )
    session.execute(stmt.on_conflict_do_nothing())


def record_version(
    session: Session,
    item_id: int,
    version: int,
    document: Mapping[str, Any],
    status: str,
    user_id: int | None,
    action: str,
) -> None:
    """A stored version; it is written in the skeleton version its item's row holds now
    (every caller has just written that row's document)."""
    written_in = select(Item.skeleton_version).where(Item.id == item_id).scalar_subquery()
    session.add(
        ItemVersion(
            item_id=item_id,
            version=version,
            annotation=document,
            status=status,
            user_id=user_id,
            action=action,
            created_at=utcnow(),
            instances=len(document.get("instances", [])),
            skeleton_version=written_in,
        )
    )


# --- transitions ------------------------------------------------------------------------


def check_transition(access: ProjectAccess, user: User, item_id: int, frm: str, to: str) -> None:
    if to not in ITEM_STATUSES:
        raise BadInput(f"status: expected one of {', '.join(ITEM_STATUSES)}, found {to!r}")
    roles = TRANSITIONS.get((frm, to))
    if roles is None:
        raise Conflict(f"item {item_id} cannot move from {frm} to {to}")
    role = acting_role(access, user)
    if role not in roles:
        raise Forbidden(f"a {role} cannot move an item from {frm} to {to}")


def log_transition(
    session: Session, item_id: int, frm: str, to: str, user_id: int | None
) -> ItemTransition:
    row = ItemTransition(
        item_id=item_id, from_status=frm, to_status=to, user_id=user_id, created_at=utcnow()
    )
    session.add(row)
    return row


def unresolved_comments(session: Session, item_id: int) -> int:
    n = session.scalar(
        select(func.count())
        .select_from(Comment)
        .where(Comment.item_id == item_id, Comment.resolved.is_(False))
    )
    return int(n or 0)


class SubmissionRefused(ServiceError):
    """422: the automated checks the project blocks on found something; ``findings``
    lists every finding (blocking ones flagged), so the annotator can fix them all."""

    status, code = 422, "qa_failed"

    def __init__(self, message: str, findings: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.findings = findings

    def extra(self) -> dict[str, Any]:
        return {"findings": self.findings}


class ReturnNeedsComment(ServiceError):
    status, code = 422, "comment_required"


# --- per-project settings ---------------------------------------------------------------


@dataclass(slots=True)
class WorkflowSettings:
    """``blocking``: checks whose findings refuse a submission; ``thresholds``: QaConfig
    fields that differ from the defaults."""

    reviewer_can_edit: bool = True
    blocking: list[str] = field(default_factory=lambda: list(DEFAULT_BLOCKING))
    thresholds: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "reviewer_can_edit": self.reviewer_can_edit,
            "qa": {"blocking": list(self.blocking), "thresholds": dict(self.thresholds)},
        }

    def qa_config(self) -> QaConfig:
        from posemark.qa.config import QaConfig

        return QaConfig(**self.thresholds)  # type: ignore[arg-type]


def workflow_settings(session: Session, project_id: int) -> WorkflowSettings:
    row = session.get(ProjectWorkflow, project_id)
    if row is None:
        return WorkflowSettings()
    qa = row.qa or {}
    return WorkflowSettings(
        reviewer_can_edit=row.reviewer_can_edit,
        blocking=list(qa.get("blocking", DEFAULT_BLOCKING)),
        thresholds=dict(qa.get("thresholds", {})),
    )


def _check_settings(body: dict[str, Any]) -> WorkflowSettings:
    from posemark.qa import CHECKS
    from posemark.qa.config import QaConfig

    out = WorkflowSettings()
    unknown = sorted(set(body) - {"reviewer_can_edit", "qa"})
    if unknown:
        raise BadInput(f"settings: unknown field(s) {', '.join(unknown)}")
    can_edit = body.get("reviewer_can_edit", True)
    if not isinstance(can_edit, bool):
        raise BadInput(f"reviewer_can_edit: expected true or false, found {can_edit!r}")
    out.reviewer_can_edit = can_edit
    qa = body.get("qa", {})
    if not isinstance(qa, dict) or set(qa) - {"blocking", "thresholds"}:
        raise BadInput('qa: expected {"blocking": [check names], "thresholds": {name: number}}')
    blocking = qa.get("blocking", list(DEFAULT_BLOCKING))
    if not isinstance(blocking, list) or not all(isinstance(b, str) for b in blocking):
        raise BadInput(f"qa.blocking: expected a list of check names, found {blocking!r}")
    bad = [b for b in blocking if b not in CHECKS]
    if bad:
        raise BadInput(
            f"qa.blocking: unknown check(s) {', '.join(bad)}; known: {', '.join(CHECKS)}"
        )
    out.blocking = list(dict.fromkeys(blocking))
    thresholds = qa.get("thresholds", {})
    known = {f.name: f for f in fields(QaConfig)}
    if not isinstance(thresholds, dict):
        raise BadInput(f"qa.thresholds: expected an object, found {thresholds!r}")
    for name, value in thresholds.items():
        if name not in known:
            raise BadInput(f"qa.thresholds: unknown threshold {name!r}; known: {', '.join(known)}")
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise BadInput(f"qa.thresholds.{name}: expected a number >= 0, found {value!r}")
        default = getattr(QaConfig(), name)
        if isinstance(default, int) and not float(value).is_integer():
            raise BadInput(f"qa.thresholds.{name}: expected a whole number, found {value!r}")
        thresholds[name] = type(default)(value)
    out.thresholds = dict(thresholds)
    return out


def update_settings(
    session: Session, access: ProjectAccess, user: User, body: dict[str, Any]
) -> WorkflowSettings:
    """Replace the project's workflow settings (managers only); fields left out get defaults."""
    require_manager(access, user, "change its workflow settings")
    parsed = _check_settings(body)
    row = session.get(ProjectWorkflow, access.project.id)
    if row is None:
        row = ProjectWorkflow(project_id=access.project.id, qa={})
        session.add(row)
    row.reviewer_can_edit = parsed.reviewer_can_edit
    row.qa = {"blocking": parsed.blocking, "thresholds": parsed.thresholds}
    session.commit()
    return parsed


# --- automated checks on submit ---------------------------------------------------------


def submission_findings(
    access: ProjectAccess, item: Item, settings: WorkflowSettings
) -> list[dict[str, Any]]:
    """Every finding of the automated checks on the item's document, each with the
    instance id it concerns and whether it blocks the submission.

    The checks judge the item alone, with the anthropometric body prior (the project's
    own prior would mean reading the whole project on every submission)."""
    from posemark.qa import check_document

    instances = item.annotation.get("instances", [])
    found = check_document(
        item.annotation, access.skeleton, item.width, item.height, settings.qa_config()
    )
    blocking = set(settings.blocking)
    return [
        {
            **f.as_dict(),
            "instance_id": (
                instances[f.annotation_id]["id"] if 0 <= f.annotation_id < len(instances) else None
            ),
            # "info" findings are notes the data itself earns (e.g. a box-only person):
            # shown, never a reason to refuse a submission
            "blocking": f.check in blocking and f.severity != "info",
        }
        for f in found
    ]


# --- the one entry point for a status change --------------------------------------------


def transition(
    session: Session,
    access: ProjectAccess,
    user: User,
    item: Item,
    to: str,
) -> tuple[str, list[dict[str, Any]]]:
    """Move ``item`` to ``to`` and log it; returns (status, non-blocking findings).

    Commits on success. Submitting runs the project's automated checks (422 with every
    finding when a blocking check found something); returning needs an unresolved
    comment on the item (422 otherwise).
    """
    frm = item.status
    check_transition(access, user, item.id, frm, to)
    findings: list[dict[str, Any]] = []
    if to == "submitted":
        findings = submission_findings(access, item, workflow_settings(session, access.project.id))
        blocked = [f for f in findings if f["blocking"]]
        if blocked:
            raise SubmissionRefused(
                f"item {item.id} not submitted: {len(blocked)} finding(s) of blocking "
                f"checks ({', '.join(sorted({f['check'] for f in blocked}))})",
                findings,
            )
    if to == "returned" and unresolved_comments(session, item.id) == 0:
        raise ReturnNeedsComment(
            f"item {item.id}: add a comment saying what to fix before returning it"
        )
    # compare-and-set on the state: of two reviewers claiming at once, one wins
    # an UPDATE's result is a CursorResult (it has the row count)
    moved = cast(
        CursorResult[Any],
        session.execute(
            update(Item)
            .where(Item.id == item.id, Item.status == frm)
            .values(status=to, updated_at=utcnow(), updated_by=user.id)
            .execution_options(synchronize_session=False)
        ),
    ).rowcount
    if moved != 1:
        session.rollback()
        now = session.scalar(select(Item.status).where(Item.id == item.id))
        raise Conflict(f"item {item.id} cannot move from {now} to {to} (it was {frm} a moment ago)")
    move_people(session, access.project.id, item.id, frm, to)
    log_transition(session, item.id, frm, to, user.id)
    session.commit()
    session.refresh(item, ["status", "updated_at", "updated_by"])
    return to, findings


def transitions_of(session: Session, item_ids: Iterable[int]) -> list[ItemTransition]:
    ids = list(item_ids)
    return list(
        session.scalars(
            select(ItemTransition)
            .where(ItemTransition.item_id.in_(ids))
            .order_by(ItemTransition.created_at, ItemTransition.id)
        ).all()
    )
