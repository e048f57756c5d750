"""What a check reads: the dataset, the thresholds, and what was learned or seen elsewhere.

Every check is a function ``(CheckInput) -> list[Finding]``. The input carries the
project's body prior (one item alone has too few people to learn one) and the pose
model's view of each person when image evidence was asked for, so no check needs
hidden state to receive them. The rows of each category and the prior learned from the
data are computed once per input and shared by the checks that read them.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from posemark.model.dataset import Dataset
from posemark.qa.config import QaConfig
from posemark.qa.evidence import Poses
from posemark.qa.findings import Finding
from posemark.qa.prior import BodyPrior, fit_prior
from posemark.qa.rows import Rows, categories

_T = TypeVar("_T")


@dataclass(slots=True)
class CheckInput:
    """``prior``: a body prior learned elsewhere (the project's); None learns one from
    ``dataset`` itself. ``poses``: per annotation id, a pose model's prediction for the
    annotation's box; None (or empty) means no image evidence."""

    dataset: Dataset
    config: QaConfig = field(default_factory=QaConfig)
    prior: BodyPrior | None = None
    poses: Poses | None = None
    _rows: list[Rows] | None = field(default=None, init=False, repr=False)
    _learned: dict[int, BodyPrior] = field(default_factory=dict, init=False, repr=False)
    _memo: dict[Hashable, Any] = field(default_factory=dict, init=False, repr=False)

    def shared(self, key: Hashable, compute: Callable[[], _T]) -> _T:
        """``compute()``, once per input: what several checks derive alike from the rows
        (the bone ratios read by the length and the left/right checks)."""
        if key not in self._memo:
            self._memo[key] = compute()
        value: _T = self._memo[key]
        return value

    def categories(self) -> list[Rows]:
        """The rows of each category with non-crowd instances (computed once)."""
        if self._rows is None:
            self._rows = list(categories(self.dataset))
        return self._rows

    def body_prior(self, rows: Rows) -> BodyPrior:
        """The prior that judges ``rows``: the given one, else learned from ``rows``."""
        if self.prior is not None:
            return self.prior
        key = rows.category_id
        if key not in self._learned:
            self._learned[key] = fit_prior(
                rows.skeleton, rows.points, rows.labeled, self.config.prior_min_bones
            )
        return self._learned[key]


Check = Callable[[CheckInput], list[Finding]]
