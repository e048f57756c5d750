"""Changing a project's skeleton, and bringing every stored document to it.

The change itself is one small transaction: the project's skeleton and its
``skeleton_version`` move on, a ``skeleton_changes`` row records the keypoint mapping,
an audit entry records who did what. Documents follow in a background operation
(``skeleton-migrate``), a batch at a time, because no request may touch the whole
project. Until it reaches an item, that item still holds a document of the old
skeleton (its own ``skeleton_version`` is lower), and two rules keep skeletons from
mixing:

- **migrated on read**: any access to such an item through the item routes
  (``services/items.get_item``) migrates that one item first (bounded work), so an
  editor never receives an old-layout document under the new skeleton;
- **a save made against the old skeleton is refused** (409): the editor that loaded
  the item before the change saves on a version the migration has moved past; the
  conflict says the skeleton changed and carries the migrated document.

Project-wide readers and writers (export, QA re-run, pre-label, annotations imported
into existing items) refuse to start (409) while items are left to migrate rather than
read or write a mix; a track edit migrates its video's frames first. Each migrated
item gets a history version (action ``skeleton``, by the user who changed the
skeleton), so the version before stays viewable and restorable: a stored version of an
older skeleton is read and restored through the changes since (``bring_to_current``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session

from posemark.services import audit, qa_store, workflow
from posemark.services.errors import Conflict
from posemark.services.operations import Dispatch, Operation, OperationContext, submit
from posemark.services.projects import ProjectAccess, project_skeleton
from posemark.services.qa_rerun import rerun_project_qa
from posemark.services.skeleton_edit import SkeletonPlan, plan_edit, remap_document
from posemark.store.models import Item, Project, User, utcnow
from posemark.store.qa_models import ProjectQa, QaInstance
from posemark.store.review_models import GoldItem, ItemReplica, ReplicaVersion
from posemark.store.skeleton_models import SkeletonChange
from posemark.store.source_models import ProjectSource
from posemark.store.video_models import Video
from posemark.store.workflow_models import Comment

KIND = "skeleton-migrate"
BATCH = 100
"""Items migrated per transaction by the operation."""


class RemovalNeedsConfirmation(Conflict):
    """409: the edit removes keypoints that are labeled somewhere; ``labeled`` counts
    them per keypoint so the page can ask before anything is lost."""

    code = "confirm_removal"

    def __init__(self, message: str, labeled: dict[str, int]) -> None:
        super().__init__(message)
        self.labeled = labeled

    def extra(self) -> dict[str, Any]:
        return {"labeled": self.labeled, "total": sum(self.labeled.values())}


class SkeletonMigrating(Conflict):
    code = "skeleton_migrating"


# --- the change ---------------------------------------------------------------------------


def labeled_counts(session: Session, project_id: int, indices: Sequence[int]) -> dict[int, int]:
    """Labeled points per old keypoint index, from the kept per-person masks
    (``qa_instances.labeled``, one character per keypoint): one aggregate query."""
    if not indices:
        return {}
    sums = [
        func.coalesce(
            func.sum(case((func.substr(QaInstance.labeled, j + 1, 1) == "1", 1), else_=0)), 0
        )
        for j in indices
    ]
    row = session.execute(select(*sums).where(QaInstance.project_id == project_id)).one()
    return {j: int(n) for j, n in zip(indices, row, strict=True)}


def change_skeleton(
    session: Session,
    dispatch: Dispatch,
    access: ProjectAccess,
    user: User | None,
    spec: dict[str, Any],
) -> tuple[Project, SkeletonPlan, Operation | None]:
    """Apply the edit ``spec`` (services/skeleton_edit.plan_edit, plus ``base_version``:
    the skeleton version it was made on, 409 when stale, and ``confirm_removal``) and
    queue the migration of the project's documents. Managers only (``user`` None: the
    operator at the command line). Commits."""
    if user is not None:
        workflow.require_manager(access, user, "change the skeleton")
    project = access.project
    base = spec.get("base_version")
    if base is not None and base != project.skeleton_version:
        raise Conflict(
            f"the skeleton changed since version {base} (now version "
            f"{project.skeleton_version}); reload it and edit again"
        )
    plan = plan_edit(project_skeleton(project), {k: v for k, v in spec.items() if k in _SPEC})
    if plan.removed and not spec.get("confirm_removal"):
        counts = labeled_counts(session, project.id, plan.removed_indices)
        labeled = {
            name: counts[j] for name, j in zip(plan.removed, plan.removed_indices, strict=True)
        }
        if any(labeled.values()):
            total = sum(labeled.values())
            raise RemovalNeedsConfirmation(
                f"removing {', '.join(plan.removed)} drops {total} labeled point(s) "
                f"({', '.join(f'{k}: {n}' for k, n in labeled.items() if n)}); confirm to go on",
                labeled,
            )
    version = project.skeleton_version + 1
    moved = session.execute(
        update(Project)
        .where(Project.id == project.id, Project.skeleton_version == project.skeleton_version)
        .values(skeleton=plan.new.to_dict(), skeleton_version=version)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    if moved != 1:
        session.rollback()
        raise Conflict("the skeleton was changed meanwhile; reload it and edit again")
    session.add(
        SkeletonChange(
            project_id=project.id,
            version=version,
            old_skeleton=plan.old.to_dict(),
            new_skeleton=plan.new.to_dict(),
            mapping=list(plan.mapping),
            renamed=plan.renamed,
            user_id=None if user is None else user.id,
            created_at=utcnow(),
        )
    )
    _update_source_category(session, project.id, plan)
    # the learned body prior describes the old bones: the migration learns it again
    session.execute(update(ProjectQa).where(ProjectQa.project_id == project.id).values(prior=None))
    audit.record(
        session, user, "skeleton_change", "project", project.id, project.id,
        version=version, **plan.summary(),
    )  # fmt: skip
    session.commit()
    session.refresh(project)
    if not _any_stale(session, project):
        return project, plan, None
    # the operation counts what it has to do: this request does no work per item
    user_id = None if user is None else user.id
    op = submit(session, dispatch, KIND, {"version": version}, project.id, user_id)
    return project, plan, op


_SPEC = ("keypoints", "edges", "flip_pairs", "sigmas")


def _update_source_category(session: Session, project_id: int, plan: SkeletonPlan) -> None:
    """An imported COCO file's category for the skeleton lists the new keypoints and
    edges, so exports (which write the file's categories back) describe the documents."""
    source = session.get(ProjectSource, project_id)
    if source is None:
        return
    document = dict(source.document)
    categories = []
    for cat in document.get("categories", []):
        if isinstance(cat, dict) and cat.get("id") == source.category_id:
            cat = {
                **cat,
                "keypoints": list(plan.new.keypoints),
                "skeleton": [[a + 1, b + 1] for a, b in plan.new.edges],
            }
        categories.append(cat)
    document["categories"] = categories
    source.document = document


# --- documents of earlier skeletons -------------------------------------------------------


def pending_items(session: Session, project_id: int, version: int) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(Item)
            .where(Item.project_id == project_id, Item.skeleton_version < version)
        )
        or 0
    )


def _any_stale(session: Session, project: Project) -> bool:
    """Whether some item still holds a document of an earlier skeleton (one indexed probe)."""
    stale = session.scalar(
        select(Item.id)
        .where(Item.project_id == project.id, Item.skeleton_version < project.skeleton_version)
        .limit(1)
    )
    return stale is not None


def require_migrated(session: Session, project: Project, doing: str) -> None:
    """409 while some item still holds a document of an earlier skeleton: project-wide
    readers and writers wait for the migration rather than read or write a mix."""
    if _any_stale(session, project):
        raise SkeletonMigrating(
            f"the project's skeleton was changed and its items are still being migrated "
            f"to it; {doing} when the skeleton-migrate operation has finished"
        )


def _changes_after(session: Session, project_id: int, version: int) -> list[SkeletonChange]:
    return list(
        session.scalars(
            select(SkeletonChange)
            .where(SkeletonChange.project_id == project_id, SkeletonChange.version > version)
            .order_by(SkeletonChange.version)
        ).all()
    )


def bring_to_current(
    session: Session, project: Project, document: dict[str, Any], version: int
) -> dict[str, Any]:
    """A document written under skeleton ``version``, remapped through every change since."""
    for change in _changes_after(session, project.id, version):
        document = remap_document(document, change.mapping)
    return document


def migrate_items(
    session: Session,
    project: Project,
    item_ids: Sequence[int],
    user_id: int | None,
    refresh_qa: bool = True,
) -> int:
    """Bring these items (and their overlap copies and gold answers) to the project's
    current skeleton in one transaction; returns how many moved. Each gets a history
    version (action ``skeleton``, by ``user_id``) and, with ``refresh_qa``, fresh kept QA
    findings (the operation leaves them to the project-wide QA run it ends with, which
    judges every item again at a tenth of the cost); comments pinned to a renamed
    keypoint follow the name. An item migrated meanwhile (by a read) is skipped. Commits."""
    current = project.skeleton_version
    skeleton = project_skeleton(project)
    rows = session.execute(
        select(
            Item.id, Item.version, Item.skeleton_version, Item.annotation, Item.width, Item.height
        )
        .where(Item.id.in_(list(item_ids)), Item.skeleton_version < current)
        .order_by(Item.id)
    ).all()
    changes = _changes_after(session, project.id, min((r[2] for r in rows), default=current))
    moved = 0
    for item_id, version, written_in, document, width, height in rows:
        steps = [c for c in changes if c.version > written_in]
        for change in steps:
            document = remap_document(document, change.mapping)
        workflow.keep_base_version(session, item_id, version)
        row = session.execute(
            update(Item)
            .where(
                Item.id == item_id,
                Item.version == version,
                Item.skeleton_version == written_in,
            )
            .values(
                annotation=document,
                version=Item.version + 1,
                skeleton_version=current,
                updated_at=utcnow(),
                updated_by=user_id,
            )
            .returning(Item.version, Item.status)
            .execution_options(synchronize_session=False)
        ).one_or_none()
        if row is None:  # saved or migrated meanwhile: the next pass sees it again
            continue
        workflow.record_version(
            session, item_id, int(row[0]), document, str(row[1]), user_id, "skeleton"
        )
        if refresh_qa:
            qa_store.refresh_item(session, project.id, skeleton, item_id, document, width, height)
        _migrate_copies(session, item_id, steps, user_id)
        moved += 1
    session.commit()
    return moved


def _migrate_copies(
    session: Session, item_id: int, steps: Sequence[SkeletonChange], user_id: int | None
) -> None:
    """The item's per-annotator replicas, its gold answer and its comments."""
    for replica in session.scalars(select(ItemReplica).where(ItemReplica.item_id == item_id)):
        document = replica.annotation
        for change in steps:
            document = remap_document(document, change.mapping)
        replica.annotation = document
        replica.version += 1
        replica.updated_at = utcnow()
        session.add(
            ReplicaVersion(
                replica_id=replica.id,
                item_id=item_id,
                user_id=replica.user_id if user_id is None else user_id,
                version=replica.version,
                annotation=document,
                instances=len(document.get("instances", [])),
            )
        )
    gold = session.get(GoldItem, item_id)
    if gold is not None:
        answer = gold.answer
        for change in steps:
            answer = remap_document(answer, change.mapping)
        gold.answer = answer
    for change in steps:
        for old, new in change.renamed.items():
            session.execute(
                update(Comment)
                .where(Comment.item_id == item_id, Comment.keypoint == old)
                .values(keypoint=new)
            )


def _changer(session: Session, project_id: int) -> int | None:
    return session.scalar(
        select(SkeletonChange.user_id)
        .where(SkeletonChange.project_id == project_id)
        .order_by(SkeletonChange.version.desc())
        .limit(1)
    )


def migrate_video_frames(session: Session, video_id: int) -> int:
    """Before a track edit reads a video's frames: those still of an earlier skeleton
    are migrated first (the edit's work is a whole video anyway)."""
    project = session.scalar(
        select(Project).join(Video, Video.project_id == Project.id).where(Video.id == video_id)
    )
    if project is None:
        return 0
    stale = list(
        session.scalars(
            select(Item.id).where(
                Item.video_id == video_id, Item.skeleton_version < project.skeleton_version
            )
        ).all()
    )
    if not stale:
        return 0
    return migrate_items(session, project, stale, _changer(session, project.id))


def migrate_on_read(session: Session, item: Item, project: Project) -> bool:
    """Migrate one item whose document is of an earlier skeleton, before anyone reads or
    saves it (the history version is the skeleton changer's). True when it moved."""
    if item.skeleton_version >= project.skeleton_version:
        return False
    moved = migrate_items(session, project, [item.id], _changer(session, project.id))
    session.refresh(item)
    return moved > 0


def migrate_project(
    session: Session,
    project_id: int,
    user_id: int | None,
    progress: Callable[..., None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> dict[str, Any]:
    """The operation's work: every item of an earlier skeleton, in id order, ``BATCH``
    per transaction (a re-run after a dead worker picks up what is left), then the
    project's QA run (the body prior and every item's findings under the new skeleton)."""
    project = session.get(Project, project_id)
    if project is None:
        return {"items": 0}
    total = pending_items(session, project_id, project.skeleton_version)
    done = migrated = 0
    last = 0
    while True:
        if should_stop is not None and should_stop():
            return {"items": migrated, "stopped": True}
        session.refresh(project)
        ids = list(
            session.scalars(
                select(Item.id)
                .where(
                    Item.project_id == project_id,
                    Item.skeleton_version < project.skeleton_version,
                    Item.id > last,
                )
                .order_by(Item.id)
                .limit(BATCH)
            ).all()
        )
        if not ids:
            break
        migrated += migrate_items(session, project, ids, user_id, refresh_qa=False)
        done += len(ids)
        last = ids[-1]
        if progress is not None:
            progress(done, max(total, done), "migrating documents")
    qa = rerun_project_qa(session, project_id, should_stop=should_stop)
    return {"items": migrated, "findings": qa.get("findings", 0)}


def run_operation(ctx: OperationContext) -> dict[str, Any]:
    with ctx.sessions() as session:
        assert ctx.project_id is not None
        return migrate_project(
            session, ctx.project_id, ctx.created_by, ctx.progress, ctx.should_stop
        )
