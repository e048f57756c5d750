"""Automated quality checks on annotation files and project items.

Each check is a small vectorised function ``(CheckInput) -> list[Finding]`` registered
in :data:`posemark.qa.checks.CHECKS`; :func:`run_checks` runs them, each in isolation.

:func:`check_document` checks one item's annotation document (on submit); the video
checks (``track_jump``, ``identity_switch``) run on instances with track ids.
"""

from posemark.qa.checks import CHECKS
from posemark.qa.config import QaConfig
from posemark.qa.document import check_document, project_prior
from posemark.qa.evidence import ModelPose
from posemark.qa.findings import Finding
from posemark.qa.inputs import CheckInput
from posemark.qa.prior import BodyPrior
from posemark.qa.run import run_checks

__all__ = [
    "CHECKS",
    "BodyPrior",
    "CheckInput",
    "Finding",
    "ModelPose",
    "QaConfig",
    "check_document",
    "project_prior",
    "run_checks",
]
