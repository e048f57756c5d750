"""Export a project as COCO keypoints, through the same writer as ``posemark convert``.

The project becomes a posemark Dataset (one frame per item, one instance per annotated
person) and the formats package writes it, so an export from the server and a file
converted on the command line agree to the last digit.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from posemark.formats.coco import dataset_to_dict
from posemark.formats.coco_io import write_coco
from posemark.model import Category, Dataset, Frame, Instance
from posemark.services.annotation import to_instance, validate_document
from posemark.services.projects import project_skeleton
from posemark.store.models import Item, Project

EXPORT_FORMATS: tuple[str, ...] = ("coco",)
HUMAN_SKELETONS = frozenset(
    {"coco17", "coco_wholebody133", "mpii16", "crowdpose14", "aic14", "halpe26", "blazepose33"}
)
"""Built-in skeletons of people: their COCO category is "person", as training code expects."""

_BATCH = 500


def category_name(skeleton_name: str) -> str:
    return "person" if skeleton_name in HUMAN_SKELETONS else skeleton_name


def _items(session: Session, project_id: int) -> Iterator[Row[Any]]:
    """Items in file-name order, read in batches of plain rows (not ORM objects that the
    session would keep), so a big project is never held whole as Python objects."""
    last = ""
    while True:
        batch = session.execute(
            select(Item.id, Item.file_name, Item.width, Item.height, Item.annotation)
            .where(Item.project_id == project_id, Item.file_name > last)
            .order_by(Item.file_name)
            .limit(_BATCH)
        ).all()
        if not batch:
            return
        yield from batch
        last = batch[-1].file_name


UNCONFIRMED_MARK = "posemark"
"""COCO annotation field marking an unconfirmed prediction: ``{"source": "model",
"confirmed": false}``. Training code ignores unknown fields; the COCO reader keeps it in
the instance's extras, so converting the file again keeps the mark."""


def project_dataset(
    session: Session, project: Project, exclude_unconfirmed: bool = False
) -> Dataset:
    """The project as a Dataset: image ids are item ids, annotation ids 1..N in item
    then instance order, ``num_keypoints`` derived, ``area`` the bbox area.

    Instances nobody confirmed yet (model suggestions, propagated ones) carry the
    ``posemark`` mark, or are left out with ``exclude_unconfirmed``."""
    skeleton = project_skeleton(project)
    name = category_name(skeleton.name)
    category = Category(1, name, skeleton, supercategory=name)
    frames: list[Frame] = []
    rows: list[tuple[int, int, Instance]] = []
    for item in _items(session, project.id):
        frames.append(Frame(item.id, item.file_name, item.width, item.height))
        doc = validate_document(item.annotation, skeleton)
        for inst in doc["instances"]:
            if exclude_unconfirmed and not inst["confirmed"]:
                continue
            value = to_instance(inst, skeleton)
            if not inst["confirmed"]:
                value.extras[UNCONFIRMED_MARK] = {"source": inst["source"], "confirmed": False}
            value.id = len(rows) + 1
            rows.append((item.id, 1, value))
    dataset = Dataset.from_instances([category], frames, rows)
    t = dataset.instances
    t.iscrowd[:] = 0
    t.area[:] = np.where(np.isnan(t.bbox).any(axis=1), np.nan, t.bbox[:, 2] * t.bbox[:, 3])
    dataset.extras["info"] = {"description": f"posemark project {project.name!r}"}
    dataset.key_order = ["info", "images", "annotations", "categories"]
    return dataset


def export_coco_dict(
    session: Session, project: Project, exclude_unconfirmed: bool = False
) -> dict[str, Any]:
    out = dataset_to_dict(project_dataset(session, project, exclude_unconfirmed))
    assert isinstance(out, dict)
    return out


def export_coco_file(
    session: Session, project: Project, path: Path, exclude_unconfirmed: bool = False
) -> Dataset:
    """Write the project's COCO file atomically; returns the dataset for reporting."""
    dataset = project_dataset(session, project, exclude_unconfirmed)
    write_coco(dataset, path)
    return dataset
