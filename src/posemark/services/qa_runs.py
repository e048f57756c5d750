"""The checks on a whole project (``posemark qa PROJECT``, GET /api/projects/{pid}/qa).

The project becomes one dataset (image id = item id, annotation ids 1..N in file-name
then instance order), so the body prior is learned from every item of the project and
the video checks see frame order (an item's video and frame index when it is a video
frame, else file-name order) and the instances' track ids. Each finding is returned
with the item id and the instance id of the annotation document it concerns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any, cast

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import select
from sqlalchemy.orm import Session

from posemark.model import (
    Category,
    Dataset,
    Frame,
    FrameTable,
    InstanceTable,
    RowExtras,
    Skeleton,
    Source,
)
from posemark.qa.config import QaConfig
from posemark.qa.findings import Finding, Severity
from posemark.qa.run import run_checks
from posemark.services.annotation import DocumentInstance, validate_document
from posemark.services.projects import project_skeleton
from posemark.store.models import Item, Project

_BATCH = 50
"""Items decoded at a time: their raw documents are dropped batch by batch."""


@dataclass(frozen=True, slots=True)
class ProjectFinding:
    finding: Finding
    item_id: int
    instance_id: str | None
    file_name: str

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.finding.as_dict(),
            "item_id": self.item_id,
            "instance_id": self.instance_id,
            "file_name": self.file_name,
        }


def _compact(instances: list[dict[str, Any]], k: int) -> NDArray[np.float64]:
    """One item's (N, K, 3) keypoint triples as an array (null x, y of unlabeled keypoints
    become NaN), taken out of its validated instances, scores made arrays too.

    Done item by item so the per-keypoint lists of a validated document die young: kept
    for the whole project they would be hundreds of thousands of objects, and the
    garbage collector's full passes over them cost more than building the table.
    """
    for inst in instances:
        if "scores" in inst:  # a confirmed keypoint's null score becomes NaN
            inst["scores"] = np.array(inst["scores"], dtype=np.float64)
    triples = np.array([inst.pop("keypoints") for inst in instances], dtype=np.float64)
    return triples.reshape(len(instances), k, 3)


def _instance_table(
    instances: list[dict[str, Any]], triples: NDArray[np.float64], image_ids: list[int], k: int
) -> InstanceTable:
    """The validated document instances (their keypoints as ``triples``, see
    ``_compact``) as table columns, filled whole-array at a time.

    The same values as ``services.annotation.to_instance`` per instance and
    ``Dataset.from_instances`` (unlabeled points 0, the drawn box in "drawn" mode or when
    nothing is labeled, else the tight box around the labeled keypoints), without one
    Instance object per person: on a project of thousands of people those objects cost
    more than the checks that read the table.
    """
    n = len(instances)
    table = InstanceTable.allocate(n, k)
    if not n:
        return table
    visibility = triples[:, :, 2].astype(np.uint8)
    labeled = visibility > 0
    points = np.where(labeled[:, :, None], triples[:, :, :2], 0.0)
    lo = np.where(labeled[:, :, None], points, np.inf).min(axis=1)
    hi = np.where(labeled[:, :, None], points, -np.inf).max(axis=1)
    derived = np.concatenate([lo, hi - lo], axis=1)
    any_labeled = labeled.any(axis=1)
    derived[~any_labeled] = np.nan
    nan_box = [np.nan] * 4
    drawn = np.array([inst["bbox"] or nan_box for inst in instances], dtype=np.float64)
    has_drawn = np.array([inst["bbox"] is not None for inst in instances])
    drawn_mode = np.array([inst["bbox_mode"] == "drawn" for inst in instances])
    use_drawn = has_drawn & (drawn_mode | ~any_labeled)
    table.points[:] = points
    table.visibility[:] = visibility
    table.bbox[:] = np.where(use_drawn[:, None], drawn, derived)
    table.ids[:] = np.arange(1, n + 1)
    table.image_ids[:] = image_ids
    table.category_ids[:] = 1
    table.keypoint_count[:] = k
    table.source[:] = [int(Source.parse(inst["source"])) for inst in instances]
    table.confirmed[:] = [inst["confirmed"] for inst in instances]
    table.track_ids[:] = [
        -1 if inst["track_id"] is None else inst["track_id"] for inst in instances
    ]
    scored = [(row, inst["scores"]) for row, inst in enumerate(instances) if "scores" in inst]
    if scored:
        table.scores = np.full((n, k), np.nan)
        table.scores[[row for row, _ in scored]] = [scores for _, scores in scored]
    return table


QA_COLUMNS = (
    Item.id,
    Item.file_name,
    Item.width,
    Item.height,
    Item.annotation,
    Item.video_id,
    Item.frame_index,
)
"""What the checks read of an item (rows given to :func:`rows_dataset`)."""


def project_dataset_for_qa(
    session: Session, project: Project, item_id: int | None = None
) -> tuple[Dataset, dict[int, tuple[int, str, str]]]:
    """The project (or, with ``item_id``, that item only) as a dataset, and annotation
    id -> (item id, instance id, file name).

    Every document is validated as on save; the table is built column-wise
    (``_instance_table``) so a whole-project run does not wait on per-person objects."""
    query = select(*QA_COLUMNS).where(Item.project_id == project.id).order_by(Item.file_name)
    if item_id is not None:
        query = query.where(Item.id == item_id)
    rows = session.execute(query.execution_options(yield_per=_BATCH))
    dataset, where, _index = rows_dataset(project_skeleton(project), rows)
    return dataset, {a: (item, iid, name) for a, (item, _n, iid, name) in where.items()}


def _rows(instances: list[DocumentInstance]) -> list[dict[str, Any]]:
    """Validated instances as the working rows ``_compact`` reshapes in place (their
    keypoints taken out, scores made arrays): no longer document instances after it."""
    return cast(list[dict[str, Any]], instances)


def _stored_instances(
    doc: dict[str, Any], skeleton: Skeleton
) -> tuple[list[dict[str, Any]], NDArray[np.float64]]:
    """A stored document's instances and keypoint triples (``_compact``), trusting the
    canonical form every writer stores (validate_document's); a document off that shape
    goes through validate_document. Validating keypoint by keypoint in Python was most
    of the time of a project-wide run."""
    k = skeleton.num_keypoints
    try:
        out = []
        for inst in doc["instances"]:
            entry = {
                "id": str(inst["id"]),
                "keypoints": inst["keypoints"],
                "bbox": inst.get("bbox"),
                "bbox_mode": inst.get("bbox_mode", "derived"),
                "source": inst.get("source", "human"),
                "confirmed": bool(inst.get("confirmed", True)),
                "track_id": inst.get("track_id"),
            }
            if inst.get("scores") is not None:
                entry["scores"] = inst["scores"]
            out.append(entry)
        triples = _compact(out, k)
        if triples.shape != (len(out), k, 3):
            raise ValueError("not N x K triples")
        return out, triples
    except (KeyError, TypeError, ValueError):
        valid = _rows(validate_document(doc, skeleton)["instances"])
        return valid, _compact(valid, k)


def rows_dataset(
    skeleton: Skeleton, rows: Iterable[Any], first_position: int = 0, trusted: bool = False
) -> tuple[Dataset, dict[int, tuple[int, int, str, str]], int]:
    """Items (rows of :data:`QA_COLUMNS`) as one dataset; annotation id -> (item id,
    instance index, instance id, file name); and the position after the last row.

    A still image's frame number is its position in the order the rows come in (from
    ``first_position``), a video frame's its frame index, as the video checks expect.
    ``trusted``: the documents come from the database, where every writer stored them
    validated (see ``_stored_instances``)."""
    category = Category(1, skeleton.name, skeleton, supercategory=skeleton.name)
    frames: list[Frame] = []
    extras: dict[int, RowExtras] = {}
    instances: list[dict[str, Any]] = []
    triples: list[NDArray[np.float64]] = [np.zeros((0, skeleton.num_keypoints, 3))]
    image_ids: list[int] = []
    where: dict[int, tuple[int, int, str, str]] = {}
    for n, item in enumerate(rows, start=first_position):
        frames.append(Frame(item.id, item.file_name, item.width, item.height))
        video = "" if item.video_id is None else str(item.video_id)
        frame = n if item.frame_index is None else int(item.frame_index)
        extras[len(frames) - 1] = {"video": video, "frame_index": frame}
        if trusted:
            doc, compact = _stored_instances(item.annotation, skeleton)
        else:
            doc = _rows(validate_document(item.annotation, skeleton)["instances"])
            compact = _compact(doc, skeleton.num_keypoints)
        triples.append(compact)
        for index, inst in enumerate(doc):
            instances.append(inst)
            image_ids.append(item.id)
            where[len(instances)] = (item.id, index, inst["id"], item.file_name)
    images = FrameTable(
        ids=np.array([f.id for f in frames], dtype=np.int64),
        file_names=[f.file_name for f in frames],
        widths=np.array([f.width or 0 for f in frames], dtype=np.int64),
        heights=np.array([f.height or 0 for f in frames], dtype=np.int64),
        extras=extras,
    )
    table = _instance_table(instances, np.concatenate(triples), image_ids, skeleton.num_keypoints)
    dataset = Dataset([category], images, table)
    t = dataset.instances
    t.iscrowd[:] = 0
    t.area[:] = np.where(np.isnan(t.bbox).any(axis=1), np.nan, t.bbox[:, 2] * t.bbox[:, 3])
    return dataset, where, first_position + len(frames)


def project_findings(
    session: Session,
    project: Project,
    config: QaConfig | None = None,
    only: list[str] | None = None,
) -> list[ProjectFinding]:
    """Every finding on the project, located by item and instance."""
    dataset, where = project_dataset_for_qa(session, project)
    return _located(where, run_checks(dataset, config, only))


def _located(
    where: dict[int, tuple[int, str, str]], findings: list[Finding]
) -> list[ProjectFinding]:
    out = []
    for f in findings:
        item_id, instance_id, file_name = where.get(f.annotation_id, (f.image_id, None, ""))
        out.append(ProjectFinding(f, item_id, instance_id, file_name))
    return out


def item_findings(
    session: Session,
    project: Project,
    item_id: int,
    config: QaConfig | None = None,
    pixels: Callable[[], NDArray[np.uint8]] | None = None,
    model: str = "default",
) -> list[ProjectFinding]:
    """Findings on one item, judged against the body prior the project keeps
    (services/qa_store.py); the video checks, which need the neighbouring frames, are
    the item's stored ones. With ``pixels`` (the item's image, read only when needed)
    the pose model looks at the item's people too: image evidence
    (``qa.model_agreement``) for this item, about 20-50 ms per person with the default
    model. ``model`` is what the server passes: the project's adopted trained model when
    it has one (``project_models.model_for``), else ``default``. A model that cannot
    run, or whose scores QA cannot trust (BlazePose, the fallback when YOLO's weights
    are absent; a trained model on another skeleton), leaves the geometric findings
    alone."""
    from posemark.assist.protocol import AssistError
    from posemark.assist.suggest import cached_model
    from posemark.services.qa_model import rows_poses, trusted
    from posemark.services.qa_store import ITEM_CHECKS, item_sequence_findings, stored_prior

    dataset, where = project_dataset_for_qa(session, project, item_id)
    poses = None
    rows = np.arange(len(dataset.instances.ids), dtype=np.int64)
    if pixels is not None and len(rows):
        try:
            pose_model = cached_model(model)
            skeletons = [c.skeleton for c in dataset.categories]
            if trusted(pose_model, skeletons):  # else no image evidence: geometry alone
                poses = rows_poses(dataset, rows, pixels(), pose_model.predict)
        except AssistError:
            poses = None
    prior = stored_prior(session, project.id)
    checked = run_checks(dataset, config, ITEM_CHECKS, prior=prior, poses=poses)
    # annotation ids 1..N are the item's instances in order: shown as their index
    found = [
        replace(p, finding=replace(p.finding, annotation_id=p.finding.annotation_id - 1))
        for p in _located(where, checked)
    ]
    file_name = dataset.images.file_names[0] if len(dataset.images.ids) else ""
    for kept in item_sequence_findings(session, item_id):
        severity = cast(Severity, kept.severity)
        finding = Finding(
            kept.check, severity, item_id, kept.instance_index, kept.keypoint, kept.message
        )
        found.append(ProjectFinding(finding, item_id, kept.instance_id, file_name))
    return found
