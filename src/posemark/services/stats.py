"""Dataset statistics and their plot: what was labeled, how visible, and where.

Before training on (or paying for more of) a dataset, teams ask which joints are rarely
labeled, how often they are occluded, how crowded images are, and whether keypoints sit
where they should inside the person box. Everything here is computed from the columns
with numpy (no per-instance Python loops) so a COCO-train-sized dataset of 250,000
instances takes a fraction of a second.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from posemark.atomic import atomic_write
from posemark.model import Dataset, Skeleton
from posemark.services.errors import ServiceError

PLOTS_EXTRA = "pip install 'posemark[plots]'"

# Scatter points drawn per joint; more only slows the plot without changing its look.
PLOT_POINTS_PER_JOINT = 4000


@dataclass(frozen=True, slots=True)
class CategoryStats:
    """Per-joint counts for the instances of one category.

    ``visibility`` has shape (K, 3): column v counts keypoints with COCO visibility v
    (0 not labeled, 1 occluded, 2 visible), so labeled = columns 1 + 2.
    """

    category_id: int
    name: str
    keypoints: tuple[str, ...]
    instances: int
    visibility: NDArray[np.int64]
    zero_keypoint_instances: int
    crowd_instances: int

    @property
    def labeled(self) -> NDArray[np.int64]:
        return self.visibility[:, 1] + self.visibility[:, 2]

    def as_dict(self) -> dict[str, Any]:
        return {
            "category_id": self.category_id,
            "name": self.name,
            "instances": self.instances,
            "zero_keypoint_instances": self.zero_keypoint_instances,
            "crowd_instances": self.crowd_instances,
            "keypoints": [
                {
                    "name": name,
                    "labeled": int(self.labeled[j]),
                    "visible": int(self.visibility[j, 2]),
                    "occluded": int(self.visibility[j, 1]),
                    "not_labeled": int(self.visibility[j, 0]),
                }
                for j, name in enumerate(self.keypoints)
            ],
        }


@dataclass(frozen=True, slots=True)
class DatasetStats:
    """Whole-dataset counts.

    ``people_per_image[n]`` is the number of images with exactly n non-crowd instances
    (a crowd region is many people, not one). For a results list, which has no image
    table, the images are those the detections refer to.
    """

    kind: str
    images: int
    instances: int
    categories: tuple[CategoryStats, ...]
    people_per_image: NDArray[np.int64]
    zero_keypoint_instances: int
    crowd_instances: int
    unmatched_instances: int  # instances whose image is not in the image table

    def visibility_totals(self) -> dict[int, int]:
        total = sum((c.visibility.sum(axis=0) for c in self.categories), np.zeros(3, np.int64))
        return {v: int(total[v]) for v in (0, 1, 2)}

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "images": self.images,
            "instances": self.instances,
            "zero_keypoint_instances": self.zero_keypoint_instances,
            "crowd_instances": self.crowd_instances,
            "unmatched_instances": self.unmatched_instances,
            "visibility_totals": {str(k): v for k, v in self.visibility_totals().items()},
            "people_per_image": {str(n): int(c) for n, c in enumerate(self.people_per_image)},
            "categories": [c.as_dict() for c in self.categories],
        }


def _category_list(dataset: Dataset) -> list[tuple[int, str, tuple[str, ...]]]:
    """Declared categories, plus any id instances use without a declaration (results
    lists carry no categories), named by id with generic keypoint names."""
    out = [(c.id, c.name, c.skeleton.keypoints) for c in dataset.categories]
    declared = {c.id for c in dataset.categories}
    t = dataset.instances
    for cid in np.unique(t.category_ids).tolist():
        if cid not in declared:
            counts = t.keypoint_count[t.category_ids == cid]
            k = int(counts.max()) if len(counts) and counts.max() > 0 else 0
            out.append((int(cid), f"category {cid}", tuple(f"keypoint {j}" for j in range(k))))
    return out


def dataset_stats(dataset: Dataset) -> DatasetStats:
    """Count instances, per-joint visibility and people per image, vectorised."""
    t = dataset.instances
    n = len(t)
    labeled_any = (t.visibility > 0).any(axis=1) if t.max_keypoints else np.zeros(n, bool)
    crowd = t.iscrowd == 1
    cats = []
    for cid, name, names in _category_list(dataset):
        mine = t.category_ids == cid
        k = min(len(names), t.max_keypoints)
        vis = t.visibility[mine, :k]
        counts = np.zeros((len(names), 3), dtype=np.int64)
        for v in (0, 1, 2):
            counts[:k, v] = (vis == v).sum(axis=0)
        counts[k:, 0] = int(mine.sum())  # columns narrower than the skeleton: not labeled
        cats.append(
            CategoryStats(
                category_id=cid,
                name=name,
                keypoints=names,
                instances=int(mine.sum()),
                visibility=counts,
                zero_keypoint_instances=int((mine & ~labeled_any).sum()),
                crowd_instances=int((mine & crowd).sum()),
            )
        )
    image_ids = dataset.images.ids if len(dataset.images) else np.unique(t.image_ids)
    sorted_ids = np.sort(image_ids)
    if len(sorted_ids):
        pos = np.searchsorted(sorted_ids, t.image_ids)
        found = sorted_ids[np.minimum(pos, len(sorted_ids) - 1)] == t.image_ids
    else:
        pos, found = np.zeros(n, dtype=np.intp), np.zeros(n, dtype=bool)
    people = np.bincount(pos[found & ~crowd], minlength=len(sorted_ids))
    histogram = np.bincount(people) if len(people) else np.zeros(1, dtype=np.int64)
    return DatasetStats(
        kind=dataset.kind,
        images=len(image_ids),
        instances=n,
        categories=tuple(cats),
        people_per_image=histogram.astype(np.int64),
        zero_keypoint_instances=int((~labeled_any).sum()),
        crowd_instances=int(crowd.sum()),
        unmatched_instances=int((~found).sum()),
    )


# ---------------------------------------------------------------- plot


def normalised_positions(
    dataset: Dataset, rows: NDArray[np.bool_], k: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Labeled keypoints as ((x - bx) / bw, (y - by) / bh) in each instance's box.

    The box is the instance's bbox when it has a usable one, else the extent of its own
    labeled keypoints. Unlabeled keypoints and degenerate boxes give NaN.
    """
    t = dataset.instances
    pts = t.points[rows, :k]
    labeled = t.visibility[rows, :k] > 0
    xy = np.where(labeled[..., None], pts, np.nan)
    box = t.bbox[rows].copy()
    usable = np.isfinite(box).all(axis=1) & (box[:, 2] > 0) & (box[:, 3] > 0)
    # +/-inf instead of NaN for unlabeled points: min/max then need no NaN handling, and
    # an instance without labeled points gets an infinite (unusable) extent.
    lo = np.where(labeled[..., None], pts, np.inf).min(axis=1, initial=np.inf)
    hi = np.where(labeled[..., None], pts, -np.inf).max(axis=1, initial=-np.inf)
    own = np.concatenate([lo, hi - lo], axis=1)
    box = np.where(usable[:, None], box, own)
    with np.errstate(invalid="ignore"):
        w = np.where(np.isfinite(box[:, 2]) & (box[:, 2] > 0), box[:, 2], np.nan)
        h = np.where(np.isfinite(box[:, 3]) & (box[:, 3] > 0), box[:, 3], np.nan)
    nx = (xy[..., 0] - box[:, :1]) / w[:, None]
    ny = (xy[..., 1] - box[:, 1:2]) / h[:, None]
    return nx, ny


class PlotsUnavailable(ServiceError):
    """The plot's library (matplotlib, about 80 MB with its fonts) is an extra: the
    counts need only NumPy, and the server's report draws its own SVG."""

    status, code = 501, "missing_extra"


def plots_available() -> bool:
    return importlib.util.find_spec("matplotlib") is not None


def _joint_colors(skeleton: Skeleton | None, names: tuple[str, ...]) -> list[Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab20"]
    given = dict(skeleton.colors) if skeleton is not None else {}
    return [given.get(name, cmap(j % 20)) for j, name in enumerate(names)]


def plot_stats(dataset: Dataset, stats: DatasetStats, out_png: str | Path) -> Path:
    """Per category: stacked per-joint visibility bars and where each joint falls inside
    the normalised person box, written atomically as one PNG."""
    if not plots_available():
        raise PlotsUnavailable(f"the stats plot needs matplotlib, the plots extra: {PLOTS_EXTRA}")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    cats = [c for c in stats.categories if c.instances] or list(stats.categories[:1])
    tallest = max([len(c.keypoints) for c in cats] + [4])
    height = max(4.5, 0.22 * tallest + 1.5)
    fig = Figure(figsize=(13, height * max(len(cats), 1)), layout="constrained")
    FigureCanvasAgg(fig)
    if not cats:
        ax = fig.add_subplot(1, 1, 1)
        ax.text(0.5, 0.5, "no categories and no instances", ha="center", va="center")
        ax.set_axis_off()
    skeletons = {c.id: c.skeleton for c in dataset.categories}
    for i, cs in enumerate(cats):
        skeleton = skeletons.get(cs.category_id)
        _visibility_bars(fig.add_subplot(len(cats), 2, 2 * i + 1), cs)
        _positions(fig.add_subplot(len(cats), 2, 2 * i + 2), dataset, cs, skeleton)
    target = Path(out_png)
    with atomic_write(target) as fh:
        fig.savefig(fh, format="png", dpi=100)
    return target


def _visibility_bars(ax: Any, cs: CategoryStats) -> None:
    y = np.arange(len(cs.keypoints))
    vis, occ, nol = cs.visibility[:, 2], cs.visibility[:, 1], cs.visibility[:, 0]
    ax.barh(y, vis, color="#2ca02c", label="visible (2)")
    ax.barh(y, occ, left=vis, color="#ff7f0e", label="occluded (1)")
    ax.barh(y, nol, left=vis + occ, color="#c7c7c7", label="not labeled (0)")
    ax.set_yticks(y, labels=list(cs.keypoints), fontsize=7 if len(y) > 30 else 9)
    ax.invert_yaxis()
    ax.set_xlabel("instances")
    ax.set_title(f"{cs.name}: visibility per keypoint ({cs.instances} instances)")
    if len(y):
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncols=3, fontsize=8)


def _positions(ax: Any, dataset: Dataset, cs: CategoryStats, skeleton: Skeleton | None) -> None:
    k = min(len(cs.keypoints), dataset.instances.max_keypoints)
    rows = dataset.instances.category_ids == cs.category_id
    nx, ny = normalised_positions(dataset, rows, k)
    colors = _joint_colors(skeleton, cs.keypoints)
    rng = np.random.default_rng(0)
    means = np.full((k, 2), np.nan)
    for j in range(k):
        ok = np.isfinite(nx[:, j]) & np.isfinite(ny[:, j])
        xs, ys = nx[ok, j], ny[ok, j]
        if not len(xs):
            continue
        means[j] = np.median(xs), np.median(ys)
        if len(xs) > PLOT_POINTS_PER_JOINT:
            pick = rng.choice(len(xs), PLOT_POINTS_PER_JOINT, replace=False)
            xs, ys = xs[pick], ys[pick]
        ax.scatter(xs, ys, s=6, alpha=0.4, color=colors[j], linewidths=0)
    if skeleton is not None:
        for a, b in skeleton.edges:
            if a < k and b < k and np.isfinite(means[[a, b]]).all():
                ax.plot(means[[a, b], 0], means[[a, b], 1], color="#444444", lw=1)
    for j in range(k):
        if np.isfinite(means[j]).all():
            ax.scatter(*means[j], s=30, color=colors[j], edgecolors="black", linewidths=0.6)
            if k <= 40:
                ax.annotate(
                    cs.keypoints[j], means[j], fontsize=7, xytext=(3, 3), textcoords="offset points"
                )
    ax.add_patch(_unit_box())
    ax.set_xlim(-0.25, 1.25)
    ax.set_ylim(1.25, -0.25)  # image y grows downwards
    ax.set_aspect("equal")
    ax.set_xlabel("(x - box x) / box width")
    ax.set_ylabel("(y - box y) / box height")
    ax.set_title(f"{cs.name}: labeled keypoints in the person box (median marked)")


def _unit_box() -> Any:
    from matplotlib.patches import Rectangle

    return Rectangle((0, 0), 1, 1, fill=False, ls="--", lw=1, ec="#888888")
