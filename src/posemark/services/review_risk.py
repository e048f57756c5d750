"""QA risk per keypoint of a project's instances, for sorting the verification views.

Risk of a keypoint = the summed severity of the automated checks' findings on it
(error 1, warning 0.5); findings on a whole instance are kept under keypoint None.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from posemark.services.projects import ProjectAccess
from posemark.services.workflow import settings_for
from posemark.store.models import Item

SEVERITY_RISK = {"error": 1.0, "warning": 0.5, "info": 0.0}


@dataclass(slots=True)
class Risk:
    """QA findings of one project as risk per (item, instance, keypoint or None).

    Kept per project and brought up to date item by item: the first request runs the
    checks on the whole project (learning its body prior), later ones re-check only the
    items whose version changed, each against that prior (``check_document``), so a save
    costs one item's checks, not the project's. Many changes at once, or new QA settings,
    rerun the whole project. The video checks (track jumps, identity switches) see
    neighbouring frames only in a whole-project run.
    """

    config: Any
    prior: Any
    versions: dict[int, int] = field(default_factory=dict)
    score: dict[tuple[int, str, str | None], float] = field(default_factory=dict)
    messages: dict[tuple[int, str, str | None], list[str]] = field(default_factory=dict)
    generation: int = 0

    def clear_item(self, item_id: int) -> None:
        for where in [w for w in self.score if w[0] == item_id]:
            del self.score[where]
            self.messages.pop(where, None)

    def add(self, item_id: int, instance_id: str, finding: Any) -> None:
        where = (item_id, instance_id, finding.keypoint)
        self.score[where] = self.score.get(where, 0.0) + SEVERITY_RISK.get(finding.severity, 0.0)
        self.messages.setdefault(where, []).append(f"{finding.check}: {finding.message}")


_RISKS: OrderedDict[tuple[str, int, str], Risk] = OrderedDict()
_RISKS_SIZE = 16
RISK_LOCK = threading.Lock()
"""Guards the in-memory caches of the verification views."""
FULL_RERUN_SHARE = 0.2
"""Re-check the whole project when more than this share of its items changed."""


def _project_prior(dataset: Any, config: Any) -> Any:
    """The body prior the checks learn from the whole project, fitted once: the full run
    hands it to every check (each would fit its own) and the per-item rechecks judge
    against the same one."""
    from posemark.qa.prior import BodyPrior, fit_prior
    from posemark.qa.rows import categories

    prior = BodyPrior()
    for rows in categories(dataset):
        fit_prior(rows.skeleton, rows.points, rows.labeled, config.prior_min_bones, prior)
    return prior


def full_run(session: Session, access: ProjectAccess, config: Any) -> Risk:
    from posemark.qa.run import run_checks
    from posemark.services.qa_runs import project_dataset_for_qa

    dataset, where = project_dataset_for_qa(session, access.project)
    risk = Risk(config, _project_prior(dataset, config))
    for f in run_checks(dataset, config, prior=risk.prior):
        item_id, instance_id, _name = where.get(f.annotation_id, (f.image_id, None, ""))
        if instance_id is not None:
            risk.add(item_id, instance_id, f)
    return risk


def _recheck(session: Session, access: ProjectAccess, risk: Risk, item_ids: list[int]) -> None:
    from posemark.qa.document import check_document

    rows = session.execute(
        select(Item.id, Item.width, Item.height, Item.annotation).where(Item.id.in_(item_ids))
    ).all()
    for row in rows:
        risk.clear_item(row.id)
        instances = row.annotation.get("instances", [])
        found = check_document(
            row.annotation, access.skeleton, row.width, row.height, risk.config, risk.prior
        )
        for f in found:
            if 0 <= f.annotation_id < len(instances):
                risk.add(row.id, instances[f.annotation_id]["id"], f)


def project_risk(session: Session, access: ProjectAccess) -> Risk:
    """The project's risk map, up to date with every item's version."""
    project = access.project
    key = (str(session.get_bind().url), project.id, project.created_at.isoformat())
    config = settings_for(session, project.id).qa_config()
    versions = dict(
        session.execute(select(Item.id, Item.version).where(Item.project_id == project.id)).all()
    )
    with RISK_LOCK:
        risk = _RISKS.get(key)
        changed = (
            [] if risk is None else [i for i, v in versions.items() if risk.versions.get(i) != v]
        )
        gone = [] if risk is None else [i for i in risk.versions if i not in versions]
        if (
            risk is None
            or risk.config != config
            or len(changed) > max(20, FULL_RERUN_SHARE * len(versions))
        ):
            generation = 0 if risk is None else risk.generation + 1
            risk = full_run(session, access, config)
            risk.generation = generation
        elif changed or gone:
            for item_id in gone:
                risk.clear_item(item_id)
            _recheck(session, access, risk, changed)
            risk.generation += 1
        risk.versions = versions
        _RISKS[key] = risk
        _RISKS.move_to_end(key)
        while len(_RISKS) > _RISKS_SIZE:
            _RISKS.popitem(last=False)
        return risk
