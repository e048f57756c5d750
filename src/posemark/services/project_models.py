"""A project's own models: trained on its confirmed people, versioned, adopted only when
better.

Each Train operation writes a new version folder ``DATA/models/project-<id>/v<N>/`` (the
``posemark train`` layout: the two stages' ONNX files + model.json). The project uses one
version at a time (``in_use.json`` beside them); a new version replaces it only when its validation
error is lower than the one in use, and the operation's result shows both figures. While
a version is in use, Suggest, Suggest in box and Pre-label with the ``default`` model run
it, in the project's skeleton.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from posemark.services import workflow
from posemark.services.errors import BadInput, Conflict
from posemark.services.operations import Dispatch, OperationContext, active_operation, submit
from posemark.services.projects import ProjectAccess, project_skeleton
from posemark.services.settings import Settings
from posemark.store.models import Item, Project, User
from posemark.store.operation_models import Operation

if TYPE_CHECKING:
    from posemark.assist.training import Sample
    from posemark.model import Skeleton

KIND = "train"
IN_USE = "in_use.json"
_VERSION = re.compile(r"^v(\d+)$")
#: the longest training a person may ask for from the page (minutes)
MAX_MINUTES = 120.0


def models_dir(settings: Settings, project_id: int) -> Path:
    return Path(settings.data_dir) / "models" / f"project-{project_id}"


def _versions(root: Path) -> list[tuple[int, Path]]:
    if not root.is_dir():
        return []
    found = []
    for p in root.iterdir():
        m = _VERSION.match(p.name)
        if m and p.is_dir() and (p / "model.json").is_file():
            found.append((int(m.group(1)), p))
    return sorted(found)


def in_use(settings: Settings, project_id: int) -> int | None:
    """The version the project uses, or None (then ``default`` is the built-in model)."""
    path = models_dir(settings, project_id) / IN_USE
    try:
        value = json.loads(path.read_text(encoding="utf-8")).get("version")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, int) else None


def _set_in_use(settings: Settings, project_id: int, version: int) -> None:
    root = models_dir(settings, project_id)
    fd, tmp = tempfile.mkstemp(dir=root, prefix=".in_use.", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump({"version": version}, fh)
    os.replace(tmp, root / IN_USE)


def model_for(settings: Settings, project_id: int, requested: str) -> str:
    """The model name to run: the project's model in use when ``default`` is asked for
    and the project has one, else what was asked."""
    from posemark.assist.registry import DEFAULT, TRAINED_PREFIX

    if requested != DEFAULT:
        return requested
    version = in_use(settings, project_id)
    if version is None:
        return requested
    path = models_dir(settings, project_id) / f"v{version}"
    return f"{TRAINED_PREFIX}{path}" if (path / "model.json").is_file() else requested


def list_models(settings: Settings, project_id: int) -> list[dict[str, Any]]:
    """Every version, newest first, with its validation figures and whether it is used."""
    from posemark.assist.protocol import AssistError
    from posemark.assist.trained_dir import read_info

    used = in_use(settings, project_id)
    out = []
    for version, path in reversed(_versions(models_dir(settings, project_id))):
        try:
            info = read_info(path)
        except AssistError as exc:
            out.append({"version": version, "in_use": False, "error": str(exc)})
            continue
        out.append(
            {
                "version": version,
                "in_use": version == used,
                "validation": info.validation,
                "train_images": info.training.get("train_images"),
                "seconds": info.training.get("seconds"),
                "keypoints": list(info.skeleton.keypoints),
            }
        )
    return out


def start(
    session: Session,
    dispatch: Dispatch,
    access: ProjectAccess,
    user: User,
    minutes: object = 15.0,
) -> Operation:
    """Queues training on the project's confirmed people; 409 while one runs."""
    workflow.require_manager(access, user, "train a model for the project")
    if (
        not isinstance(minutes, int | float)
        or isinstance(minutes, bool)
        or not 0 < minutes <= MAX_MINUTES
    ):
        raise BadInput(f"minutes: expected a number above 0 and at most {MAX_MINUTES:g}")
    project_id = access.project.id
    active = active_operation(session, project_id, KIND)
    if active is not None:
        raise Conflict(
            f"project {access.project.name!r} is already training a model "
            f"(operation {active.id}); wait for it or cancel it"
        )
    return submit(
        session,
        dispatch,
        KIND,
        {"minutes": float(minutes)},
        project_id=project_id,
        user_id=user.id,
        total=100,
    )


def _confirmed_points(document: dict[str, Any], k: int) -> list[np.ndarray]:
    """(K, 2) points of each confirmed instance with a labeled keypoint (NaN: not labeled)."""
    out = []
    for inst in document.get("instances") or []:
        if not isinstance(inst, dict) or not inst.get("confirmed"):
            continue
        pts = np.full((k, 2), np.nan)
        for j, kp in enumerate((inst.get("keypoints") or [])[:k]):
            if isinstance(kp, list) and len(kp) >= 3 and kp[2] and kp[0] is not None:
                pts[j] = (float(kp[0]), float(kp[1]))
        if np.isfinite(pts).all(axis=1).any():
            out.append(pts)
    return out


def confirmed_samples(
    session: Session,
    settings: Settings,
    project: Project,
    on_start: Callable[[int], None] | None = None,
) -> tuple[Skeleton, list[Sample], list[str]]:
    """The project's skeleton, a training sample per item with a confirmed labeled
    person (its image and those people), and why items were left out (an unreadable
    image). What the Train operation and ``posemark train PROJECT`` both train on.
    ``on_start`` hears the number of items before they are read."""
    from posemark.assist.training import Sample
    from posemark.services.errors import ServiceError
    from posemark.services.suggest import load_rgb

    skeleton = project_skeleton(project)
    k = skeleton.num_keypoints
    rows = session.execute(
        select(Item.id, Item.annotation).where(Item.project_id == project.id).order_by(Item.id)
    ).all()
    if on_start is not None:
        on_start(len(rows))
    samples: list[Sample] = []
    unreadable: list[str] = []
    for item_id, document in rows:
        pts = _confirmed_points(document or {}, k)
        if not pts:
            continue
        item = session.get(Item, item_id)
        assert item is not None
        try:
            image = load_rgb(settings, project, item)
        except ServiceError as exc:
            unreadable.append(exc.message)
            continue
        samples.append(Sample(image, np.stack(pts), item.file_name))
    if not samples:
        raise BadInput(
            f"project {project.name!r}: no confirmed person to train on: "
            "confirm some labeled people first"
        )
    return skeleton, samples, unreadable


def run_train(ctx: OperationContext) -> dict[str, Any]:
    """The operation's handler: gather, train with a validation slice, version, adopt."""
    from posemark.assist.protocol import AssistError
    from posemark.assist.training import TrainConfig, train
    from posemark.services.training import split

    minutes = float(ctx.params["minutes"])
    project_id = ctx.project_id
    if project_id is None:
        raise BadInput("a train operation belongs to a project")
    with ctx.sessions() as session:
        project = session.get(Project, project_id)
        if project is None or project.deleted_at is not None:
            raise BadInput(f"project {project_id} no longer exists")
        skeleton, samples, unreadable = confirmed_samples(
            session,
            ctx.settings,
            project,
            lambda n: ctx.progress(0, 100, f"reading the confirmed people of {n} items"),
        )
        session.commit()
    train_idx, val_idx = split(len(samples), 0.2, seed=0)
    root = models_dir(ctx.settings, project_id)
    root.mkdir(parents=True, exist_ok=True)
    version = max((v for v, _ in _versions(root)), default=0) + 1
    out = root / f"v{version}"

    def progress(fraction: float, note: str) -> None:
        ctx.progress(int(fraction * 99), 100, note)

    try:
        result = train(
            [samples[i] for i in train_idx],
            [samples[i] for i in val_idx],
            skeleton,
            out,
            TrainConfig(time_limit_s=minutes * 60),
            progress=progress,
            should_stop=ctx.should_stop,
        )
    except AssistError as exc:
        raise BadInput(str(exc)) from exc
    new_error = result.info.validation_rmse
    used = in_use(ctx.settings, project_id)
    used_error = None
    if used is not None:
        from posemark.assist.trained_dir import read_info

        try:
            used_error = read_info(root / f"v{used}").validation_rmse
        except AssistError:
            used_error = None
    adopted = new_error is not None and (
        used is None or used_error is None or new_error < used_error
    )
    if adopted:
        _set_in_use(ctx.settings, project_id, version)
    return {
        "version": version,
        "adopted": adopted,
        "validation_rmse": new_error,
        "in_use_version": version if adopted else used,
        "in_use_validation_rmse": new_error if adopted else used_error,
        "previous_version": used,
        "previous_validation_rmse": used_error,
        "train_images": len(train_idx),
        "validation_images": len(val_idx),
        "steps": result.steps,
        "unreadable": unreadable[-20:],
    }
