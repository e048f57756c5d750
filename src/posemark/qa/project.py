"""The checks on a whole project (``posemark qa PROJECT``, GET /api/projects/{pid}/qa).

The project becomes one dataset (image id = item id, annotation ids 1..N in file-name
then instance order), so the body prior is learned from every item of the project and
the video checks see frame order (an item's video and frame index when it is a video
frame, else file-name order) and the instances' track ids. Each finding is returned
with the item id and the instance id of the annotation document it concerns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from posemark.model import Category, Dataset, Frame, Instance
from posemark.qa.config import QaConfig
from posemark.qa.findings import Finding
from posemark.qa.run import run_checks
from posemark.services.annotation import to_instance, validate_document
from posemark.services.projects import project_skeleton
from posemark.store.models import Item, Project


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


def project_dataset_for_qa(
    session: Session, project: Project, item_id: int | None = None
) -> tuple[Dataset, dict[int, tuple[int, str, str]]]:
    """The project (or, with ``item_id``, that item only) as a dataset, and annotation
    id -> (item id, instance id, file name)."""
    skeleton = project_skeleton(project)
    category = Category(1, skeleton.name, skeleton, supercategory=skeleton.name)
    query = (
        select(
            Item.id,
            Item.file_name,
            Item.width,
            Item.height,
            Item.annotation,
            Item.video_id,
            Item.frame_index,
        )
        .where(Item.project_id == project.id)
        .order_by(Item.file_name)
    )
    if item_id is not None:
        query = query.where(Item.id == item_id)
    frames: list[Frame] = []
    rows: list[tuple[int, int, Instance]] = []
    where: dict[int, tuple[int, str, str]] = {}
    extras: dict[int, dict[str, Any]] = {}
    for n, item in enumerate(session.execute(query)):
        frames.append(Frame(item.id, item.file_name, item.width, item.height))
        video = "" if item.video_id is None else str(item.video_id)
        frame = n if item.frame_index is None else int(item.frame_index)
        extras[len(frames) - 1] = {"video": video, "frame_index": frame}
        doc = validate_document(item.annotation, skeleton)
        for inst in doc["instances"]:
            value = to_instance(inst, skeleton)
            value.id = len(rows) + 1
            rows.append((item.id, 1, value))
            where[value.id] = (item.id, inst["id"], item.file_name)
    dataset = Dataset.from_instances([category], frames, rows)
    dataset.images.extras.update(extras)
    t = dataset.instances
    t.iscrowd[:] = 0
    t.area[:] = np.where(np.isnan(t.bbox).any(axis=1), np.nan, t.bbox[:, 2] * t.bbox[:, 3])
    return dataset, where


def project_findings(
    session: Session,
    project: Project,
    config: QaConfig | None = None,
    only: list[str] | None = None,
) -> list[ProjectFinding]:
    """Every finding on the project, located by item and instance."""
    dataset, where = project_dataset_for_qa(session, project)
    out = []
    for f in run_checks(dataset, config, only):
        item_id, instance_id, file_name = where.get(f.annotation_id, (f.image_id, None, ""))
        out.append(ProjectFinding(f, item_id, instance_id, file_name))
    return out


def item_findings(
    session: Session, project: Project, item_id: int, config: QaConfig | None = None
) -> list[ProjectFinding]:
    """Findings on one item, judged against the body prior of the whole project (the
    video checks need the neighbouring frames, so they run on the project and are
    filtered to the item)."""
    return [f for f in project_findings(session, project, config) if f.item_id == item_id]
