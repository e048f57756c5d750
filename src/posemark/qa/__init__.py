"""Automated quality checks on annotation files (issue 6, section 2).

Each check is a small vectorised function ``(dataset, config) -> list[Finding]``
registered in :data:`posemark.qa.checks.CHECKS`; :func:`run_checks` runs them.

Not here yet: video checks (per-track jumps between frames, identity switches),
agreement between annotators, gold-standard scoring, and checks on projects.
"""

from posemark.qa.checks import CHECKS
from posemark.qa.config import QaConfig
from posemark.qa.findings import Finding
from posemark.qa.run import run_checks

__all__ = ["CHECKS", "Finding", "QaConfig", "run_checks"]
