"""Checks on one item's annotation document (what the editor saves), e.g. on submit.

The document becomes a one-image dataset (image id 0, annotation id = the instance's
index in the document) and goes through the same checks as a file, so a project item
and its COCO export get the same findings. One item has too few people to learn a body
prior from, so the caller passes the project's (``project_stats``, from
:func:`project_prior`); without it the anthropometric defaults apply.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

import numpy as np

from posemark.model import Category, Dataset, Frame, Skeleton
from posemark.model.document import AnnotationDocument, to_instance, validate_document
from posemark.qa.config import QaConfig
from posemark.qa.findings import Finding
from posemark.qa.prior import BodyPrior, fit_prior
from posemark.qa.run import run_checks


def document_dataset(
    annotation_doc: Mapping[str, object],
    skeleton: Skeleton,
    width: int,
    height: int,
    validated: bool = False,
) -> Dataset:
    """The document as a one-image dataset; annotation ids are instance indices. Any
    document-like mapping (a request's, a stored one): it is validated here, unless
    ``validated`` says it is what ``validate_document`` returned (a save has just
    validated it: a second pass over every coordinate was a sixth of the save's CPU)."""
    doc = (
        cast(AnnotationDocument, annotation_doc)
        if validated
        else validate_document(annotation_doc, skeleton)
    )
    category = Category(1, skeleton.name, skeleton, supercategory=skeleton.name)
    rows = []
    for n, inst in enumerate(doc["instances"]):
        value = to_instance(inst, skeleton)
        value.id = n
        rows.append((0, 1, value))
    dataset = Dataset.from_instances([category], [Frame(0, "item", width, height)], rows)
    t = dataset.instances
    t.iscrowd[:] = 0
    t.area[:] = np.where(np.isnan(t.bbox).any(axis=1), np.nan, t.bbox[:, 2] * t.bbox[:, 3])
    return dataset


def check_document(
    annotation_doc: Mapping[str, object],
    skeleton: Skeleton,
    width: int,
    height: int,
    config: QaConfig | None = None,
    project_stats: BodyPrior | None = None,
) -> list[Finding]:
    """Findings on one item's document; ``annotation_id`` is the instance's index."""
    dataset = document_dataset(annotation_doc, skeleton, width, height)
    return run_checks(dataset, config, prior=project_stats)


def project_prior(dataset: Dataset) -> BodyPrior:
    """The body prior of a whole project (its export as a dataset), for check_document."""
    prior = BodyPrior()
    t = dataset.instances
    for category in dataset.categories:
        k = category.skeleton.num_keypoints
        rows = (t.category_ids == category.id) & (t.iscrowd != 1)
        fit_prior(category.skeleton, t.points[rows, :k], t.visibility[rows, :k] > 0, prior=prior)
    return prior
