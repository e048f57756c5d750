"""Run the registered checks on a dataset."""

from __future__ import annotations

from collections.abc import Iterable

from posemark.model.dataset import Dataset
from posemark.qa.checks import CHECKS
from posemark.qa.config import QaConfig
from posemark.qa.findings import Finding
from posemark.qa.model_agreement import ACTIVE_POSES, Poses, temper
from posemark.qa.prior import ACTIVE_PRIOR, BodyPrior


def run_checks(
    dataset: Dataset,
    config: QaConfig | None = None,
    only: Iterable[str] | None = None,
    prior: BodyPrior | None = None,
    poses: Poses | None = None,
) -> list[Finding]:
    """Findings of the checks named in ``only`` (all when None), sorted by image, annotation.

    ``prior``: a body prior learned elsewhere (the project's); None learns it from
    ``dataset`` itself. ``poses``: per annotation id, a pose model's prediction for the
    annotation's box (``posemark.services.qa_model``); with them the ``model_agreement``
    check runs and geometric findings the image contradicts become ``info``
    (:func:`posemark.qa.model_agreement.temper`).
    """
    cfg = config or QaConfig()
    names = list(CHECKS) if only is None else list(dict.fromkeys(only))
    unknown = [n for n in names if n not in CHECKS]
    if unknown:
        raise ValueError(f"unknown check(s) {', '.join(unknown)}; known: {', '.join(CHECKS)}")
    token = ACTIVE_PRIOR.set(prior)
    pose_token = ACTIVE_POSES.set(poses)
    try:
        findings = [f for name in names for f in CHECKS[name](dataset, cfg)]
    finally:
        ACTIVE_POSES.reset(pose_token)
        ACTIVE_PRIOR.reset(token)
    if poses:
        findings = temper(findings, dataset, cfg, poses)
    return sorted(findings, key=lambda f: (f.image_id, f.annotation_id, f.check, f.keypoint or ""))
