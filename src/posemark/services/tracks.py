"""Tracks of a video: summaries and the bulk edits (interpolate, propagate, split, merge,
swap, end) that change many frames at once.

A track is the set of instances with the same ``track_id`` across a video's frame items.
Its keyframes are the frames where its instance is a human one: interpolation and
propagation only ever write ``interpolated`` / ``propagated`` instances (unconfirmed) and
never overwrite a human one.

Every bulk edit reads the frames it needs, computes the new documents, and writes each
changed frame with the same compare-and-set a save uses (``WHERE version = read
version``), all in one transaction: either every frame changes and gets a new version,
or none does. The caller needs the same right a save of each written frame needs (an
annotator their jobs' frames while they annotate them, a reviewer frames in review),
and each new version goes to the frame's history like a save's, so it can be restored.
An editor holding an older version of a touched frame then gets 409 on its next save
instead of silently overwriting the bulk edit.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import and_, select, update
from sqlalchemy.orm import Session

from posemark.services import qa_store, workflow
from posemark.services.annotation import validate_document
from posemark.services.errors import BadInput, Conflict, Forbidden
from posemark.services.settings import Settings
from posemark.services.skeleton_migrate import migrate_video_frames
from posemark.services.video import VideoAccess, video_source
from posemark.store.models import Item, User, utcnow

MACHINE_SOURCES = ("interpolated", "propagated")


@dataclass(slots=True)
class _Frame:
    item_id: int
    index: int
    version: int
    doc: dict[str, Any]
    status: str = "new"
    changed: bool = False


def _frames(session: Session, video_id: int) -> list[_Frame]:
    # frames of an earlier skeleton are brought to the current one before an edit reads them
    migrate_video_frames(session, video_id)
    rows = session.execute(
        select(Item.id, Item.frame_index, Item.version, Item.annotation, Item.status)
        .where(Item.video_id == video_id)
        .order_by(Item.frame_index)
    ).all()
    return [_Frame(int(i), int(f), int(v), copy.deepcopy(a), str(s)) for i, f, v, a, s in rows]


def _of_track(frame: _Frame, track_id: int) -> dict[str, Any] | None:
    return next((i for i in frame.doc["instances"] if i.get("track_id") == track_id), None)


def _track_ids(frames: Iterable[_Frame]) -> set[int]:
    return {
        int(i["track_id"])
        for f in frames
        for i in f.doc["instances"]
        if i.get("track_id") is not None
    }


def next_track_id(frames: Iterable[_Frame]) -> int:
    return max(_track_ids(frames), default=0) + 1


def tracks_summary(session: Session, video_id: int) -> list[dict[str, Any]]:
    """Per track: first and last frame, keyframes (human instances), the runs of frames
    filled by machine instances (``filled``: ``[first, last]`` pairs, so a timeline can
    mark them without one entry per frame) and counts by source."""
    found: dict[int, dict[str, Any]] = {}
    for frame in _frames(session, video_id):
        for inst in frame.doc["instances"]:
            tid = inst.get("track_id")
            if tid is None:
                continue
            entry = found.setdefault(
                tid,
                {"track_id": tid, "frames": [], "keyframes": [], "filled": []}
                | {"sources": Counter()},
            )
            entry["frames"].append(frame.index)
            entry["sources"][inst.get("source", "human")] += 1
            if inst.get("source", "human") == "human":
                entry["keyframes"].append(frame.index)
            else:
                entry["filled"].append(frame.index)
    return [
        {
            "track_id": tid,
            "first_frame": e["frames"][0],
            "last_frame": e["frames"][-1],
            "frame_count": len(e["frames"]),
            "keyframes": e["keyframes"],
            "filled": _runs(e["filled"]),
            "sources": dict(e["sources"]),
        }
        for tid, e in sorted(found.items())
    ]


def _runs(frames: list[int]) -> list[list[int]]:
    """Ascending frame numbers as ``[first, last]`` runs of consecutive frames."""
    runs: list[list[int]] = []
    for n in frames:
        if runs and runs[-1][1] == n - 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    return runs


# ------------------------------------------------------------------ writing


def _check_rights(session: Session, access: VideoAccess, touched: list[_Frame], user: User) -> None:
    """The caller must be allowed to edit every frame the edit writes, as a save of
    that frame would be (services/workflow.py); otherwise nothing is written."""
    project = access.project
    if workflow.acting_role(project, user) == workflow.MANAGER:
        return
    ids = [f.item_id for f in touched]
    visible = set(
        session.scalars(
            select(Item.id).where(Item.id.in_(ids), workflow.visible_items(project, user))
        ).all()
    )
    for frame in touched:
        if frame.item_id not in visible:
            raise Forbidden(
                f"video {access.video.id}: frame {frame.index} is not one you work on; "
                "nothing was changed"
            )
        try:
            workflow.check_can_edit(session, project, user, frame.item_id, frame.status)
        except (Conflict, Forbidden) as exc:
            where = f"video {access.video.id}: frame {frame.index}"
            raise type(exc)(f"{where}: {exc.message}; nothing was changed") from None


def _commit(
    session: Session,
    access: VideoAccess,
    frames: list[_Frame],
    user: User | None,
    action: str = "track_edit",
) -> list[int]:
    """Writes every changed frame (compare-and-set on its version) in one transaction,
    each new version recorded in the frame's history (``action`` names the edit)."""
    skeleton = access.project.skeleton
    touched = [f for f in frames if f.changed]
    if user is not None and touched:
        _check_rights(session, access, touched, user)
    user_id = user.id if user is not None else None
    now = utcnow()
    try:
        for frame in touched:
            doc = validate_document(frame.doc, skeleton)
            workflow.keep_base_version(session, frame.item_id, frame.version)
            row = session.execute(
                update(Item)
                .where(
                    and_(
                        Item.id == frame.item_id,
                        Item.version == frame.version,
                        Item.status == frame.status,
                    )
                )
                .values(
                    annotation=doc,
                    version=Item.version + 1,
                    updated_at=now,
                    updated_by=user_id,
                )
                .returning(Item.version)
                .execution_options(synchronize_session=False)
            ).one_or_none()
            if row is None:
                raise Conflict(
                    f"video {access.video.id}: frame {frame.index} (item {frame.item_id}) "
                    "changed while this edit ran; nothing was changed, try again"
                )
            workflow.record_version(
                session, frame.item_id, int(row[0]), doc, frame.status, user_id, action
            )
        if touched:  # the video checks judge whole tracks: the video is judged again
            qa_store.refresh_items(session, access.project.project, [f.item_id for f in frames])
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return [f.index for f in touched]


def _free_instance_id(doc: dict[str, Any]) -> str:
    taken = {i["id"] for i in doc["instances"]}
    n = 1
    while f"i{n}" in taken:
        n += 1
    return f"i{n}"


def _derived_bbox(keypoints: list[list[Any]]) -> list[float] | None:
    """The tight box around labeled keypoints, as the editor derives it."""
    xy = [(k[0], k[1]) for k in keypoints if k[2] > 0]
    if not xy:
        return None
    xs, ys = [p[0] for p in xy], [p[1] for p in xy]
    return [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)]


def _triples(points: np.ndarray, visibility: np.ndarray) -> list[list[Any]]:
    out: list[list[Any]] = []
    for (x, y), v in zip(points.tolist(), visibility.tolist(), strict=True):
        if int(v) == 0 or not (np.isfinite(x) and np.isfinite(y)):
            out.append([None, None, 0])
        else:
            out.append([float(x), float(y), int(v)])
    return out


def _arrays(inst: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    kps = inst["keypoints"]
    points = np.array(
        [[np.nan, np.nan] if k[2] == 0 else [k[0], k[1]] for k in kps], dtype=np.float64
    )
    return points, np.array([k[2] for k in kps], dtype=np.uint8)


def _put_machine_instance(
    frame: _Frame, track_id: int, keypoints: list[list[Any]], source: str
) -> None:
    """Replaces the track's machine-made instance on ``frame`` (or adds one)."""
    instances = frame.doc["instances"]
    old = _of_track(frame, track_id)
    new = {
        "id": old["id"] if old is not None else _free_instance_id(frame.doc),
        "keypoints": keypoints,
        "bbox": _derived_bbox(keypoints),
        "bbox_mode": "derived",
        "source": source,
        "confirmed": False,
        "track_id": track_id,
    }
    if old is not None:
        instances[instances.index(old)] = new
    else:
        instances.append(new)
    frame.changed = True


def _frame_range(access: VideoAccess, frame: int, what: str) -> int:
    count = access.video.frame_count
    if not 0 <= frame < count:
        raise BadInput(f"{what}: frame {frame} is outside 0..{count - 1}")
    return frame


def _require_track(frames: list[_Frame], track_id: int, video_id: int) -> None:
    if not any(_of_track(f, track_id) for f in frames):
        raise BadInput(f"video {video_id}: no instance has track_id {track_id}")


# ------------------------------------------------------------------ operations


def interpolate(
    session: Session, access: VideoAccess, track_id: int, user: User | None
) -> dict[str, Any]:
    """Fills every frame strictly between consecutive keyframes with an interpolated
    instance (replacing an earlier interpolated one). Frames where the track has a
    propagated or model instance are left alone and reported as ``skipped``."""
    from posemark.track.interpolate import interpolate_track

    frames = _frames(session, access.video.id)
    _require_track(frames, track_id, access.video.id)
    keys = [
        (f.index, inst)
        for f in frames
        if (inst := _of_track(f, track_id)) is not None and inst.get("source") == "human"
    ]
    if len(keys) < 2:
        raise BadInput(
            f"track {track_id}: interpolation needs two keyframes (human instances), "
            f"found {len(keys)}"
        )
    key_frames = [k for k, _ in keys]
    arrays = [_arrays(inst) for _, inst in keys]
    key_points = np.stack([p for p, _ in arrays])
    key_vis = np.stack([v for _, v in arrays])
    keyset = set(key_frames)
    wanted: list[_Frame] = []
    skipped: list[int] = []
    for f in frames:
        if f.index <= key_frames[0] or f.index >= key_frames[-1] or f.index in keyset:
            continue
        inst = _of_track(f, track_id)
        if inst is not None and inst.get("source") != "interpolated":
            skipped.append(f.index)
            continue
        wanted.append(f)
    if wanted:
        points, vis = interpolate_track(key_frames, key_points, key_vis, [f.index for f in wanted])
        for row, f in enumerate(wanted):
            _put_machine_instance(f, track_id, _triples(points[row], vis[row]), "interpolated")
    touched = _commit(session, access, frames, user, "track_interpolate")
    return {"frames": touched, "keyframes": key_frames, "skipped": skipped}


def propagate(
    session: Session,
    settings: Settings,
    access: VideoAccess,
    track_id: int,
    from_frame: int,
    n_frames: int,
    user: User | None,
) -> dict[str, Any]:
    """Carries the track's keypoints from ``from_frame`` forward (n > 0) or backward
    (n < 0) by optical flow. Frames where the track has a human instance are kept."""
    from posemark.track.propagate import propagate_flow

    _frame_range(access, from_frame, "from_frame")
    if n_frames == 0:
        raise BadInput("n_frames: expected a non-zero number of frames (negative: backward)")
    last = access.video.frame_count - 1
    n = min(n_frames, last - from_frame) if n_frames > 0 else max(n_frames, -from_frame)
    frames = _frames(session, access.video.id)
    start = _of_track(frames[from_frame], track_id)
    if start is None:
        raise BadInput(f"track {track_id} has no instance on frame {from_frame} to propagate")
    points, vis = _arrays(start)
    skipped: list[int] = []
    if n != 0:
        source = video_source(settings, access.project.project, access.video)
        results = propagate_flow(source, from_frame, points, vis, n)
        for index, pts, v, _confidence in results:
            frame = frames[int(index)]
            inst = _of_track(frame, track_id)
            if inst is not None and inst.get("source") == "human":
                skipped.append(frame.index)
                continue
            _put_machine_instance(frame, track_id, _triples(pts, v), "propagated")
    touched = _commit(session, access, frames, user, "track_propagate")
    return {"frames": touched, "skipped": skipped}


def _retag(
    session: Session,
    access: VideoAccess,
    user: User | None,
    change: Callable[[list[_Frame]], dict[str, Any]],
    action: str,
) -> dict[str, Any]:
    frames = _frames(session, access.video.id)
    extra = change(frames)
    return {"frames": _commit(session, access, frames, user, action), **extra}


def split(
    session: Session, access: VideoAccess, track_id: int, frame: int, user: User | None
) -> dict[str, Any]:
    """From ``frame`` on, the track's instances get a new track id (the next free one)."""
    _frame_range(access, frame, "frame")

    def change(frames: list[_Frame]) -> dict[str, Any]:
        _require_track(frames, track_id, access.video.id)
        new_id = next_track_id(frames)
        for f in frames[frame:]:
            inst = _of_track(f, track_id)
            if inst is not None:
                inst["track_id"] = new_id
                f.changed = True
        return {"new_track_id": new_id}

    return _retag(session, access, user, change, "track_split")


def merge(
    session: Session, access: VideoAccess, track_a: int, track_b: int, user: User | None
) -> dict[str, Any]:
    """Track ``b`` becomes track ``a``; refused (409) where both have an instance on one
    frame, since a frame cannot show one person twice."""
    if track_a == track_b:
        raise BadInput(f"merge: track_a and track_b are both {track_a}")

    def change(frames: list[_Frame]) -> dict[str, Any]:
        _require_track(frames, track_a, access.video.id)
        _require_track(frames, track_b, access.video.id)
        both = [f.index for f in frames if _of_track(f, track_a) and _of_track(f, track_b)]
        if both:
            raise Conflict(
                f"tracks {track_a} and {track_b} both have an instance on frame(s) "
                f"{', '.join(map(str, both[:10]))}{' ...' if len(both) > 10 else ''}; "
                "end or delete one of them there first"
            )
        for f in frames:
            inst = _of_track(f, track_b)
            if inst is not None:
                inst["track_id"] = track_a
                f.changed = True
        return {"track_id": track_a}

    return _retag(session, access, user, change, "track_merge")


def swap(
    session: Session,
    access: VideoAccess,
    track_a: int,
    track_b: int,
    from_frame: int,
    user: User | None,
) -> dict[str, Any]:
    """From ``from_frame`` on, the two tracks exchange their ids: the fix for an identity
    switch (the tracker followed the wrong person after two crossed)."""
    _frame_range(access, from_frame, "from_frame")
    if track_a == track_b:
        raise BadInput(f"swap: track_a and track_b are both {track_a}")

    def change(frames: list[_Frame]) -> dict[str, Any]:
        _require_track(frames, track_a, access.video.id)
        _require_track(frames, track_b, access.video.id)
        for f in frames[from_frame:]:
            a, b = _of_track(f, track_a), _of_track(f, track_b)
            if a is not None:
                a["track_id"] = track_b
                f.changed = True
            if b is not None:
                b["track_id"] = track_a
                f.changed = True
        return {}

    return _retag(session, access, user, change, "track_swap")


def end(
    session: Session, access: VideoAccess, track_id: int, frame: int, user: User | None
) -> dict[str, Any]:
    """Deletes the track's instances after ``frame`` (the person left the scene)."""
    _frame_range(access, frame, "frame")

    def change(frames: list[_Frame]) -> dict[str, Any]:
        _require_track(frames, track_id, access.video.id)
        for f in frames[frame + 1 :]:
            inst = _of_track(f, track_id)
            if inst is not None:
                f.doc["instances"].remove(inst)
                f.changed = True
        return {}

    return _retag(session, access, user, change, "track_end")
