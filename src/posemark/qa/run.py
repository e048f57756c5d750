"""Run the registered checks on a dataset, each in isolation.

QA reports on the work; it must never stop it. A check that raises (a bug, or a state
of the data nobody foresaw, such as a project's first half-placed person) loses only its
own findings: its error becomes a finding of its own (severity ``info``, so it never
blocks a submission) on each image where it failed, with a log line carrying the
traceback, and every other check still reports.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import numpy as np

from posemark.model.dataset import Dataset, FrameTable
from posemark.qa.checks import CHECKS
from posemark.qa.config import QaConfig
from posemark.qa.evidence import Poses
from posemark.qa.findings import Finding
from posemark.qa.inputs import CheckInput
from posemark.qa.model_agreement import temper
from posemark.qa.prior import BodyPrior

log = logging.getLogger(__name__)

FAILED_IMAGES_SHOWN = 20
"""After this many images on which a check failed, the rest get one finding together:
a check broken for every image would otherwise be re-run image by image to the end."""


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
    inp = CheckInput(dataset, cfg, prior, poses)
    findings = [f for name in names for f in _isolated(name, inp)]
    if poses:
        try:
            findings = temper(findings, inp)
        except Exception:  # the findings stand untempered; the failure is logged
            log.exception("qa: tempering findings with the pose model's evidence failed")
    return sorted(findings, key=lambda f: (f.image_id, f.annotation_id, f.check, f.keypoint or ""))


def _judge(name: str, inp: CheckInput) -> list[Finding]:
    # Extreme but finite coordinates (a point 1e-300 px from another, a box 1e6 px wide)
    # overflow or divide by ~0 in ratios; inf and NaN then compare as "beyond any
    # threshold" or "cannot judge", which is each check's answer for such geometry.
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        return CHECKS[name](inp)


def _isolated(name: str, inp: CheckInput) -> list[Finding]:
    try:
        return _judge(name, inp)
    except Exception as exc:
        log.exception(
            "qa check %s failed on a dataset of %d image(s)", name, len(inp.dataset.images)
        )
        if len(inp.dataset.images) <= 1:
            image_id = int(inp.dataset.images.ids[0]) if len(inp.dataset.images) else -1
            return [failure(name, image_id, exc)]
        return _image_by_image(name, inp)


def _image_by_image(name: str, inp: CheckInput) -> list[Finding]:
    """The check run on each image alone, to keep the findings of the images it can judge
    and to say which ones it cannot."""
    out: list[Finding] = []
    failed = 0
    frames = inp.dataset.images
    image_of = inp.dataset.instances.image_ids
    for i, image_id in enumerate(frames.ids):
        one = _one_image(inp.dataset, frames, i, np.flatnonzero(image_of == image_id))
        try:
            out.extend(_judge(name, CheckInput(one, inp.config, inp.prior, inp.poses)))
        except Exception as exc:
            failed += 1
            if failed > FAILED_IMAGES_SHOWN:
                rest = len(frames) - i
                out.append(failure(name, -1, exc, f" (and on the {rest} image(s) not yet run)"))
                break
            log.exception("qa check %s failed on image %d", name, int(image_id))
            out.append(failure(name, int(image_id), exc))
    return out


def _one_image(dataset: Dataset, frames: FrameTable, i: int, rows: np.ndarray) -> Dataset:
    frame = FrameTable(
        frames.ids[i : i + 1],
        frames.file_names[i : i + 1],
        frames.widths[i : i + 1],
        frames.heights[i : i + 1],
        extras={0: frames.row_extras(i)},
    )
    return Dataset(
        dataset.categories, frame, dataset.instances.take(rows), dataset.tracks, kind=dataset.kind
    )


def failure(name: str, image_id: int, exc: BaseException, more: str = "") -> Finding:
    """The finding that stands for a check that could not judge an image."""
    message = (
        f"the {name} check failed here ({type(exc).__name__}: {exc}){more}; its findings are "
        "missing, the other checks ran"
    )
    return Finding(name, "info", image_id, -1, None, message)
