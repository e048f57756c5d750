"""Kept QA findings: written with the item they judge, read through indexes.

No request runs the checks on a whole project. A writer of one item's annotation (a
save, a restore, a pre-label, a skeleton migration) calls :func:`refresh_item` in its
own transaction, and a track edit :func:`refresh_items` over its video, so those items'
stored findings (``qa_findings``) describe their stored documents. An import, which
writes thousands of items, marks them instead (:func:`mark_pending`, ``qa_pending``, in
its transaction) and their refresh runs after its commit as an operation
(services/qa_rerun.py, the project-wide run scoped to the marked items): until it has
passed, an item's findings are those of its previous document and the item counts as
awaiting refresh (:func:`pending_count`). What spans the project, the body prior learned
from its people, is kept in ``project_qa`` and changes only in a project-wide run (a
long job: it streams items in batches) or, for a project that has none yet, in the
refresh after its first import. services/qa_read.py reads the findings back.

The video checks (``track_jump``, ``identity_switch``) judge a track over many frames:
a save of one frame refreshes that frame's per-item checks and keeps its sequence
findings as the last run over its frames left them (an import's refresh or a
project-wide run judges whole sequences; a track edit re-judges its video).

Every replacement of rows also moves the project's totals (``qa_counts``) by what it
removed and added, in the same transaction, so the totals always equal a count of the
rows and no request has to count them. The totals include the people of each item
status (``people:STATUS``), so a workflow move of an item moves its people's total too
(:func:`move_people`).

The verification views' order is kept the same way (``qa_risk``, :func:`_risk_rows`):
the rows are derived from the findings and people they replace with, in the same
statements, so the gallery and the review read their first page as an index range.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from operator import itemgetter
from typing import Any, NamedTuple, cast

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import ColumnElement, Table, case, delete, func, insert, select
from sqlalchemy.orm import Session

from posemark.model import Dataset, Skeleton
from posemark.qa import CHECKS, BodyPrior, Finding, QaConfig, run_checks
from posemark.qa.anatomy import bones_of
from posemark.qa.document import document_dataset
from posemark.qa.prior import LEARN_MIN_SAMPLES, implied_heights, reference_height
from posemark.services.projects import project_skeleton
from posemark.services.qa_runs import QA_COLUMNS, rows_dataset
from posemark.services.qa_totals import Counts, people_key, risky_key
from posemark.services.qa_totals import add_counts as _add_counts
from posemark.services.workflow import workflow_settings
from posemark.store.engine import read_snapshot
from posemark.store.models import Item, Project
from posemark.store.qa_models import (
    ProjectQa,
    QaCount,
    QaFinding,
    QaInstance,
    QaPending,
    QaRisk,
)

SEQUENCE_CHECKS: tuple[str, ...] = ("track_jump", "identity_switch")
"""Checks that judge a track across frames, not one item (see module doc)."""
ITEM_CHECKS: tuple[str, ...] = tuple(c for c in CHECKS if c not in SEQUENCE_CHECKS)
BATCH_ITEMS = 500
"""Items read, checked and written at a time by the project-wide run and imports."""
SEVERITY_RISK = {"error": 1.0, "warning": 0.5, "info": 0.0}
"""An instance's review risk: its findings' summed weights (info harms nothing)."""
INSTANCE_FINDING_WEIGHT = 0.3
"""The keypoint gallery weighs a finding on the whole instance by this for each of its
keypoints (a finding on the keypoint itself counts fully)."""
WHOLE_PERSON = ""
"""``qa_risk.keypoint`` of a person's review risk (see store/qa_models.py)."""
RISK_DIGITS = 9
"""Kept risks are rounded: sums of the same weights in another order stay equal."""


# --- what the findings are judged against ------------------------------------------------


def project_state(session: Session, project_id: int) -> ProjectQa | None:
    return session.get(ProjectQa, project_id)


def stored_prior(session: Session, project_id: int) -> BodyPrior:
    """The project's learned body prior; empty (the anthropometric defaults) when none."""
    state = project_state(session, project_id)
    if state is None or not state.prior:
        return BodyPrior()
    return BodyPrior.from_dict(state.prior)


def qa_thresholds(session: Session, project_id: int) -> tuple[QaConfig, dict[str, Any]]:
    settings = workflow_settings(session, project_id)
    return settings.qa_config(), dict(settings.thresholds)


def stored_form(prior: BodyPrior) -> dict[str, Any] | None:
    """The prior as ``project_qa`` keeps it; None when too few people labeled any bone
    to learn from (the defaults apply, and the next import tries again)."""
    return prior.as_dict() if prior.fractions else None


class PriorFit:
    """The body prior learned over items seen batch by batch: per bone, the ratios of
    :func:`posemark.qa.prior.fit_prior`, kept until :meth:`prior` takes their 90th
    percentile (one float per bone and labeled person, never the documents)."""

    def __init__(self, skeleton: Skeleton, min_bones: int) -> None:
        self.skeleton = skeleton
        self.min_bones = min_bones
        self.bones = bones_of(skeleton)
        self.touches = [
            np.array([bool({x.a, x.b} & {bone.a, bone.b}) for x in self.bones])
            for bone in self.bones
        ]
        self.ratios: list[list[NDArray[np.float64]]] = [[] for _ in self.bones]

    def add(self, dataset: Dataset) -> None:
        t = dataset.instances
        k = self.skeleton.num_keypoints
        rows = t.iscrowd != 1
        points, labeled = t.points[rows, :k], t.visibility[rows, :k] > 0
        heights = implied_heights(points, labeled, self.bones)
        for i, touches in enumerate(self.touches):
            ref = reference_height(heights, touches, self.min_bones)
            with np.errstate(invalid="ignore", divide="ignore"):
                ratio = heights[:, i] / ref
            self.ratios[i].append(ratio[np.isfinite(ratio) & (ratio > 0)])

    def prior(self) -> BodyPrior:
        prior = BodyPrior()
        names = self.skeleton.keypoints
        for bone, parts in zip(self.bones, self.ratios, strict=True):
            ratio = np.concatenate(parts) if parts else np.zeros(0)
            if len(ratio) >= LEARN_MIN_SAMPLES:
                q = float(np.quantile(ratio, 0.9))
                key = (names[bone.a], names[bone.b])
                prior.fractions[key] = bone.fraction * float(np.clip(q, 0.7, 2.0))
                prior.samples[key] = len(ratio)
        return prior


# --- writing one item's findings -----------------------------------------------------------


def _finding_rows(
    project_id: int,
    found: Iterable[Finding],
    where: Callable[[Finding], tuple[int, int, str | None] | None],
) -> list[dict[str, Any]]:
    rows = []
    for f in found:
        at = where(f)
        if at is None:
            continue
        item_id, index, instance_id = at
        rows.append(
            {
                "project_id": project_id,
                "item_id": item_id,
                "instance_index": index,
                "instance_id": instance_id,
                "keypoint": f.keypoint,
                "check": f.check,
                "severity": f.severity,
                "message": f.message,
            }
        )
    return rows


def _instance_rows(
    project_id: int,
    dataset: Dataset,
    locate: Callable[[int], tuple[int, int, str | None] | None],
    findings: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """One ``qa_instances`` row per instance of ``dataset`` (``locate``: annotation id ->
    item id, instance index, instance id), its risk summed from ``findings``."""
    risk: dict[tuple[int, int], float] = {}
    for f in findings:
        at = (f["item_id"], f["instance_index"])
        risk[at] = risk.get(at, 0.0) + SEVERITY_RISK.get(f["severity"], 0.0)
    t = dataset.instances
    k = dataset.categories[0].skeleton.num_keypoints if dataset.categories else 0
    masks = np.where(t.visibility[:, :k] > 0, ord("1"), ord("0")).astype(np.uint8)
    rows = []
    for r, annotation_id in enumerate(t.ids.tolist()):
        located = locate(int(annotation_id))
        if located is None:
            continue
        item_id, index, instance_id = located
        track = int(t.track_ids[r])
        rows.append(
            {
                "project_id": project_id,
                "item_id": item_id,
                "instance_index": index,
                "instance_id": instance_id,
                "labeled": masks[r].tobytes().decode(),
                "risk": risk.get((item_id, index), 0.0),
                "track_id": None if track < 0 else track,
            }
        )
    return rows


def _risk_rows(
    project_id: int,
    keypoints: tuple[str, ...],
    people: list[dict[str, Any]],
    findings: Iterable[Mapping[str, Any]],
    file_names: Mapping[int, str],
) -> list[dict[str, Any]]:
    """The ``qa_risk`` rows of ``people`` (their ``qa_instances`` rows) judged by
    ``findings``: the person's review risk when above zero (``WHOLE_PERSON``), and for each
    of its labeled keypoints that a harmful finding on that keypoint or on the whole
    person concerns, the gallery's risk of that keypoint."""
    on: dict[tuple[int, int], dict[str | None, float]] = defaultdict(dict)
    for f in findings:
        weight = SEVERITY_RISK.get(f["severity"], 0.0)
        if weight > 0:
            sums = on[(f["item_id"], f["instance_index"])]
            sums[f["keypoint"]] = sums.get(f["keypoint"], 0.0) + weight
    rows = []
    for person in people:
        at = (person["item_id"], person["instance_index"])
        base = {
            "project_id": project_id,
            "item_id": at[0],
            "instance_index": at[1],
            "file_name": file_names[at[0]],
        }
        if person["risk"] > 0:
            rows.append(
                {**base, "keypoint": WHOLE_PERSON, "risk": round(person["risk"], RISK_DIGITS)}
            )
        concern = on.get(at)
        if not concern:
            continue
        whole = concern.get(None)
        for j, name in enumerate(keypoints):
            if person["labeled"][j : j + 1] != "1":
                continue
            own = concern.get(name)
            if own is None and whole is None:
                continue
            risk = (own or 0.0) + INSTANCE_FINDING_WEIGHT * (whole or 0.0)
            rows.append({**base, "keypoint": name, "risk": round(risk, RISK_DIGITS)})
    return rows


class ItemChecked(NamedTuple):
    """A document's per-item findings, judged before its writer writes anything."""

    dataset: Dataset
    found: list[Finding]


def check_item(
    session: Session,
    project_id: int,
    skeleton: Skeleton,
    document: Mapping[str, Any],
    width: int,
    height: int,
    validated: bool = False,
) -> ItemChecked:
    """The per-item checks of ``document`` (reads only): a writer that runs them before
    its first write holds SQLite's write lock for its writes alone, not for the checks
    too (most of a save's time), so the other writers wait less. ``validated``: the
    document is what ``validate_document`` returned (see ``document_dataset``)."""
    config, _ = qa_thresholds(session, project_id)
    dataset = document_dataset(document, skeleton, width, height, validated=validated)
    found = run_checks(dataset, config, only=ITEM_CHECKS, prior=stored_prior(session, project_id))
    return ItemChecked(dataset, found)


def refresh_item(
    session: Session,
    project_id: int,
    skeleton: Skeleton,
    item_id: int,
    document: Mapping[str, Any],
    width: int,
    height: int,
    checked: ItemChecked | None = None,
) -> None:
    """Replace the item's per-item findings by those of ``document`` (no commit): called
    by every writer of one item's annotation, in the transaction that writes it.
    ``checked``: :func:`check_item` of the same document, run before the writes."""
    if checked is None:
        checked = check_item(session, project_id, skeleton, document, width, height)
    dataset, found = checked
    instances = document["instances"]

    def where(f: Finding) -> tuple[int, int, str | None] | None:
        n = f.annotation_id
        return (item_id, n, instances[n]["id"]) if 0 <= n < len(instances) else None

    replaced = [QaFinding.item_id == item_id, QaFinding.check.in_(ITEM_CHECKS)]
    delta = _stored_counts(
        session, replaced, [QaInstance.item_id == item_id], [QaRisk.item_id == item_id]
    )
    file_name, status = session.execute(
        select(Item.file_name, Item.status).where(Item.id == item_id)
    ).one()
    session.execute(delete(QaFinding).where(*replaced))
    rows = _finding_rows(project_id, found, where)
    _insert_plain(session, cast(Table, QaFinding.__table__), rows)
    kept = [
        {
            "item_id": item_id,
            "instance_index": f.instance_index,
            "keypoint": f.keypoint,
            "severity": f.severity,
        }
        for f in item_sequence_findings(session, item_id)
    ]

    def locate(n: int) -> tuple[int, int, str | None] | None:
        return (item_id, n, instances[n]["id"]) if 0 <= n < len(instances) else None

    session.execute(delete(QaInstance).where(QaInstance.item_id == item_id))
    session.execute(delete(QaRisk).where(QaRisk.item_id == item_id))
    people = _instance_rows(project_id, dataset, locate, rows + kept)
    _insert_plain(session, cast(Table, QaInstance.__table__), people)
    risks = _risk_rows(project_id, skeleton.keypoints, people, rows + kept, {item_id: file_name})
    _in_states(risks, {item_id: status})
    _insert_plain(session, cast(Table, QaRisk.__table__), risks)
    _add_counts(session, _row_counts(rows, people, delta, {item_id: status}, risks))


class Kept(NamedTuple):
    """What a batch of items leaves in the database: its findings, its people and their
    place in the verification views."""

    findings: list[dict[str, Any]]
    instances: list[dict[str, Any]]
    risks: list[dict[str, Any]]

    def of(self, item_ids: set[int]) -> Kept:
        return Kept(
            [r for r in self.findings if r["item_id"] in item_ids],
            [r for r in self.instances if r["item_id"] in item_ids],
            [r for r in self.risks if r["item_id"] in item_ids],
        )

    def split(self, parts: list[list[int]]) -> list[Kept]:
        """The rows of each part's items (parts of item ids, disjoint), in one pass."""
        part_of = {item: k for k, ids in enumerate(parts) for item in ids}
        out = [Kept([], [], []) for _ in parts]
        for field in range(3):
            for row in self[field]:
                k = part_of.get(row["item_id"])
                if k is not None:
                    out[k][field].append(row)
        return out


def check_batch(
    project_id: int,
    dataset: Dataset,
    where: dict[int, tuple[int, int, str, str]],
    config: QaConfig,
    prior: BodyPrior,
) -> Kept:
    """Every check on a batch of items made one dataset (``rows_dataset``)."""
    found = run_checks(dataset, config, prior=prior)
    located = {a: at[:3] for a, at in where.items()}
    locate = located.get
    findings = _finding_rows(project_id, found, lambda f: locate(f.annotation_id))
    people = _instance_rows(project_id, dataset, locate, findings)
    file_names = {at[0]: at[3] for at in where.values()}
    keypoints = dataset.categories[0].skeleton.keypoints if dataset.categories else ()
    return Kept(findings, people, _risk_rows(project_id, keypoints, people, findings, file_names))


def replace_kept(session: Session, item_ids: list[int], kept: Kept) -> None:
    """The items' stored findings and people replaced by ``kept`` (:func:`insert_rows`).
    The totals move last: on PostgreSQL their rows stay locked only for the commit."""
    delta = forget_items(session, item_ids, apply=False)
    statuses = item_statuses(session, item_ids)
    _in_states(kept.risks, statuses)
    insert_rows(session, kept)
    _add_counts(session, _row_counts(kept.findings, kept.instances, delta, statuses, kept.risks))


def _in_states(risks: list[dict[str, Any]], statuses: Mapping[int, str]) -> None:
    """Give each ``qa_risk`` row its item's workflow state (the review's order is kept
    per state), just before the rows are written."""
    for row in risks:
        row["status"] = statuses[row["item_id"]]


def forget_items(session: Session, item_ids: list[int], apply: bool = True) -> Counts:
    """Delete the items' stored findings and people, taking them off the totals (with
    ``apply``; else the change is returned for the caller to apply): called before the
    items themselves are deleted, whose rows would otherwise go by cascade uncounted."""
    if not item_ids:
        return defaultdict(int)
    delta = _stored_counts(
        session,
        [QaFinding.item_id.in_(item_ids)],
        [QaInstance.item_id.in_(item_ids)],
        [QaRisk.item_id.in_(item_ids)],
    )
    session.execute(delete(QaFinding).where(QaFinding.item_id.in_(item_ids)))
    session.execute(delete(QaInstance).where(QaInstance.item_id.in_(item_ids)))
    session.execute(delete(QaRisk).where(QaRisk.item_id.in_(item_ids)))
    if apply:
        _add_counts(session, delta)
    return delta


# --- the kept totals -----------------------------------------------------------------------


def finding_key(check: str, severity: str) -> str:
    return f"finding:{check}:{severity}"


def labeled_key(k: int) -> str:
    return f"labeled:{k}"


def item_statuses(session: Session, item_ids: list[int]) -> dict[int, str]:
    """The items' workflow states by id (their people's totals are kept per state)."""
    out: dict[int, str] = {}
    for start in range(0, len(item_ids), BATCH_ITEMS):
        part = item_ids[start : start + BATCH_ITEMS]
        rows = session.execute(select(Item.id, Item.status).where(Item.id.in_(part))).all()
        out.update((int(i), str(s)) for i, s in rows)
    return out


def _add_labeled(counts: Counts, project_id: int, masks: list[str], sign: int) -> None:
    """Count the "1" of each position of ``masks`` (one string per person) into
    ``counts``, a block of equal-length masks at a time (a batch is one skeleton)."""
    by_length: dict[int, list[str]] = defaultdict(list)
    for mask in masks:
        by_length[len(mask)].append(mask)
    for length, same in by_length.items():
        if not length:
            continue
        table = np.frombuffer("".join(same).encode(), dtype=np.uint8).reshape(-1, length)
        for j, n in enumerate((table == ord("1")).sum(axis=0).tolist()):
            if n:
                counts[(project_id, labeled_key(j))] += sign * int(n)


def _stored_counts(
    session: Session,
    findings: list[ColumnElement[bool]],
    instances: list[ColumnElement[bool]],
    risks: list[ColumnElement[bool]],
) -> Counts:
    """Minus the totals of the stored rows matching the conditions (about to be deleted)."""
    out: Counts = defaultdict(int)
    for project_id, check, severity, n in session.execute(
        select(QaFinding.project_id, QaFinding.check, QaFinding.severity, func.count())
        .where(*findings)
        .group_by(QaFinding.project_id, QaFinding.check, QaFinding.severity)
    ).all():
        out[(int(project_id), finding_key(check, severity))] -= int(n)
    masks: dict[int, list[str]] = defaultdict(list)
    for project_id, labeled, status in session.execute(
        select(QaInstance.project_id, QaInstance.labeled, Item.status)
        .join(Item, Item.id == QaInstance.item_id)
        .where(*instances)
    ).all():
        masks[int(project_id)].append(labeled)
        out[(int(project_id), people_key(status))] -= 1
    for project_id, found in masks.items():
        _add_labeled(out, project_id, found, -1)
    for project_id, status, keypoint, n in session.execute(
        select(QaRisk.project_id, QaRisk.status, QaRisk.keypoint, func.count())
        .where(*risks)
        .group_by(QaRisk.project_id, QaRisk.status, QaRisk.keypoint)
    ).all():
        out[(int(project_id), risky_key(status, keypoint))] -= int(n)
    return out


def _row_counts(
    findings: list[dict[str, Any]],
    instances: list[dict[str, Any]],
    counts: Counts,
    statuses: Mapping[int, str],
    risks: Iterable[Mapping[str, Any]] = (),
) -> Counts:
    """``counts`` plus the totals of rows about to be (or just) inserted (``statuses``:
    their items' states; ``risks``: ``qa_risk`` rows, their states given)."""
    for row in findings:
        counts[(row["project_id"], finding_key(row["check"], row["severity"]))] += 1
    masks: dict[int, list[str]] = defaultdict(list)
    for row in instances:
        masks[row["project_id"]].append(row["labeled"])
        counts[(row["project_id"], people_key(statuses[row["item_id"]]))] += 1
    for project_id, found in masks.items():
        _add_labeled(counts, project_id, found, 1)
    for risk in risks:
        counts[(risk["project_id"], risky_key(risk["status"], risk["keypoint"]))] += 1
    return counts


def heal_totals(session: Session, project_id: int) -> Counts:
    """Bring the project's totals back in step with its rows (no commit): what a
    project-wide run starts with, so totals that drifted (rows removed behind the
    store's back) heal. Returns the correction applied (empty when none was needed).

    The rows are counted in one read snapshot, beside the totals as that snapshot saw
    them; their difference is the drift, applied as a change to the live totals. The
    counting (seconds at a million people) so holds no lock: saves go on meanwhile,
    each moving the totals by its own change, which the correction leaves in place. A
    recount that replaced the totals would have had to lock them (and, on SQLite, the
    whole database) for the whole count."""
    with read_snapshot(session):
        counted = row_totals(session, project_id)
        kept = {
            (project_id, str(key)): int(n)
            for key, n in session.execute(
                select(QaCount.key, QaCount.n).where(QaCount.project_id == project_id)
            ).all()
        }
    drift: Counts = defaultdict(int)
    for key in counted.keys() | kept.keys():
        change = counted.get(key, 0) - kept.get(key, 0)
        if change:
            drift[key] = change
    _add_counts(session, drift)
    return drift


def row_totals(session: Session, project_id: int) -> Counts:
    """The project's totals counted from its stored findings and people."""
    counts: Counts = defaultdict(int)
    for check, severity, n in session.execute(
        select(QaFinding.check, QaFinding.severity, func.count())
        .where(QaFinding.project_id == project_id)
        .group_by(QaFinding.check, QaFinding.severity)
    ).all():
        counts[(project_id, finding_key(check, severity))] = int(n)
    length = session.scalar(
        select(func.max(func.length(QaInstance.labeled))).where(QaInstance.project_id == project_id)
    )
    if length:
        sums = [
            func.coalesce(func.sum(case((func.substr(QaInstance.labeled, j + 1, 1) == "1", 1))), 0)
            for j in range(int(length))
        ]
        row = session.execute(select(*sums).where(QaInstance.project_id == project_id)).one()
        for j, n in enumerate(row):
            counts[(project_id, labeled_key(j))] = int(n)
    for status, n in session.execute(
        select(Item.status, func.count())
        .select_from(QaInstance)
        .join(Item, Item.id == QaInstance.item_id)
        .where(QaInstance.project_id == project_id)
        .group_by(Item.status)
    ).all():
        counts[(project_id, people_key(status))] = int(n)
    for status, keypoint, n in session.execute(
        select(QaRisk.status, QaRisk.keypoint, func.count())
        .where(QaRisk.project_id == project_id)
        .group_by(QaRisk.status, QaRisk.keypoint)
    ).all():
        counts[(project_id, risky_key(status, keypoint))] = int(n)
    return counts


def kept_counts(session: Session, project_id: int, prefix: str) -> dict[str, int]:
    """The project's totals whose key starts with ``prefix`` (the prefix cut off)."""
    rows = session.execute(
        select(QaCount.key, QaCount.n).where(
            QaCount.project_id == project_id, QaCount.key.startswith(prefix, autoescape=True)
        )
    ).all()
    return {key[len(prefix) :]: int(n) for key, n in rows if n}


def insert_rows(session: Session, kept: Kept) -> None:
    """The rows through the driver's executemany on the session's connection: the ORM's
    bulk insert builds a mapper state per row, and even Core's executemany processes
    each row's parameters in Python; on an import of thousands of people with a dozen
    findings each that cost more than running the checks."""
    _insert_plain(session, cast(Table, QaFinding.__table__), kept.findings)
    _insert_plain(session, cast(Table, QaInstance.__table__), kept.instances)
    _insert_plain(session, cast(Table, QaRisk.__table__), kept.risks)


def _insert_plain(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """``rows`` (dicts of the same keys) inserted by one driver executemany."""
    if not rows:
        return
    connection = session.connection()
    columns = list(rows[0])
    compiled = insert(table).compile(dialect=connection.dialect, column_keys=columns)
    if compiled.positional:
        order = list(compiled.positiontup or ())
        # one C call per row (a generator per row cost more than the driver's insert)
        pick = itemgetter(*order)
        params: list[Any] = (
            [pick(row) for row in rows] if len(order) > 1 else [(pick(row),) for row in rows]
        )
    else:
        params = rows
    connection.exec_driver_sql(str(compiled), params)


def refresh_items(session: Session, project: Project, item_ids: list[int]) -> int:
    """Replace every finding of ``item_ids`` (no commit): a video whose tracks were
    edited, checked batch by batch in file-name order with every check, against the
    project's prior. Returns the number of instances checked."""
    if not item_ids:
        return 0
    skeleton = project_skeleton(project)
    config, _ = qa_thresholds(session, project.id)
    prior = stored_prior(session, project.id)
    checked = position = 0
    ordered = list(
        session.scalars(select(Item.id).where(Item.id.in_(item_ids)).order_by(Item.file_name))
    )
    for start in range(0, len(ordered), BATCH_ITEMS):
        part = ordered[start : start + BATCH_ITEMS]
        batch = session.execute(
            select(*QA_COLUMNS).where(Item.id.in_(part)).order_by(Item.file_name)
        ).all()
        dataset, where, position = rows_dataset(skeleton, batch, position, trusted=True)
        replace_kept(session, part, check_batch(project.id, dataset, where, config, prior))
        checked += len(dataset.instances.ids)
    return checked


def item_sequence_findings(session: Session, item_id: int) -> list[QaFinding]:
    """The item's stored findings of the video checks (see module doc)."""
    return list(
        session.scalars(
            select(QaFinding)
            .where(QaFinding.item_id == item_id, QaFinding.check.in_(SEQUENCE_CHECKS))
            .order_by(QaFinding.id)
        )
    )


# --- items awaiting their refresh -----------------------------------------------------------


def mark_pending(
    session: Session, project_id: int, item_ids: Iterable[int], new: bool = False
) -> None:
    """Mark items whose findings no longer describe their documents (no commit): an
    import's items, in its transaction, so the mark is all or nothing with the import.
    A mark already there stays (one row per item); ``new``: the items were just created,
    so none is marked yet and nothing is looked up."""
    ids = sorted(set(item_ids))
    if not ids:
        return
    marked: set[int] = set()
    for start in range(0, 0 if new else len(ids), BATCH_ITEMS):
        part = ids[start : start + BATCH_ITEMS]
        marked.update(session.scalars(select(QaPending.item_id).where(QaPending.item_id.in_(part))))
    rows = [{"item_id": i, "project_id": project_id} for i in ids if i not in marked]
    _insert_plain(session, cast(Table, QaPending.__table__), rows)


def unmark_pending(session: Session, item_ids: list[int]) -> None:
    """The items' findings are fresh again (no commit)."""
    if item_ids:
        session.execute(delete(QaPending).where(QaPending.item_id.in_(item_ids)))


def pending_count(session: Session, project_id: int) -> int:
    """How many of the project's items await their refresh (an index range count: as
    many rows as items waiting, none once the refresh has passed)."""
    return int(
        session.scalar(
            select(func.count()).select_from(QaPending).where(QaPending.project_id == project_id)
        )
        or 0
    )
