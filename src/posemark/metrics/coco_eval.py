"""COCO keypoint AP/AR with pycocotools' numbers, bit for bit, at dataset scale.

posemark does not re-implement COCO's matching and precision/recall accumulation. It
runs faster-coco-eval's ``COCOeval_faster``, pycocotools' algorithm with per-image
matching and accumulation in C++ (pycocotools' Python loops take minutes at 100,000
people), and computes the OKS of each image with :func:`posemark.metrics.oks.oks_matrix`
(every detection against every GT at once, in the reference's order of operations, so
the same bits as ``computeOks``). The tests hold the ten stats equal to pycocotools'
own on real files. Around that it only does what pycocotools leaves to the caller:

- choose the OKS sigmas (given, or those of the built-in skeleton whose keypoint names
  equal the category's; a skeleton without known sigmas is an error that says to pass
  ``--sigmas``, since silently using COCO's 17 values would score any other skeleton
  wrongly);
- repair ground-truth quirks that make pycocotools crash or misread a file, each
  reported in ``KeypointStats.notes``: no ``area`` (CrowdPose, AI Challenger) -> bbox
  width * height, no ``bbox`` -> the box around the labeled keypoints, no ``iscrowd``
  -> 0, boolean ``iscrowd`` -> 0/1, no ``num_keypoints`` -> the count of labeled
  keypoints, no annotation ``id`` -> numbered in file order;
- keep the evaluator's progress prints off stdout (to stderr when ``verbose``).

What pycocotools does with the values is untouched: ``num_keypoints == 0`` marks a GT
as ignored even when it disagrees with the visibility flags (CrowdPose files do), and a
stat with no GT in its area range is -1, as in ``COCOeval.summarize``.
"""

from __future__ import annotations

import contextlib
import copy
import io
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "STAT_LABELS",
    "EvaluationError",
    "KeypointStats",
    "evaluate_keypoints",
    "resolve_sigmas",
]

STAT_LABELS: dict[str, str] = {
    "AP": "AP @[IoU=0.50:0.95 | area=all]",
    "AP50": "AP @[IoU=0.50 | area=all]",
    "AP75": "AP @[IoU=0.75 | area=all]",
    "APm": "AP @[IoU=0.50:0.95 | area=medium]",
    "APl": "AP @[IoU=0.50:0.95 | area=large]",
    "AR": "AR @[IoU=0.50:0.95 | area=all]",
    "AR50": "AR @[IoU=0.50 | area=all]",
    "AR75": "AR @[IoU=0.75 | area=all]",
    "ARm": "AR @[IoU=0.50:0.95 | area=medium]",
    "ARl": "AR @[IoU=0.50:0.95 | area=large]",
}
"""The ten stats of ``COCOeval.summarize`` for keypoints (maxDets=20), in its order."""


class EvaluationError(ValueError):
    """The inputs cannot be evaluated; the message names the file and the field."""


@dataclass(frozen=True, slots=True)
class KeypointStats:
    """The ten COCO keypoint stats (``COCOeval.stats``) plus notes on repaired input."""

    AP: float
    AP50: float
    AP75: float
    APm: float
    APl: float
    AR: float
    AR50: float
    AR75: float
    ARm: float
    ARl: float
    notes: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def from_stats(cls, stats: Sequence[float], notes: Sequence[str] = ()) -> KeypointStats:
        if len(stats) != len(STAT_LABELS):
            raise ValueError(f"expected {len(STAT_LABELS)} stats, found {len(stats)}")
        values = {key: float(s) for key, s in zip(STAT_LABELS, stats, strict=True)}
        return cls(**values, notes=tuple(notes))

    def as_dict(self) -> dict[str, float]:
        """The ten stats keyed AP, AP50, AP75, APm, APl, AR, AR50, AR75, ARm, ARl."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "notes"}


def evaluate_keypoints(
    gt: Mapping[str, Any] | str | Path,
    dt: Sequence[Mapping[str, Any]] | Mapping[str, Any] | str | Path,
    sigmas: float | Sequence[float] | np.ndarray | None = None,
    *,
    category_ids: Sequence[int] | None = None,
    area_from_bbox: float = 1.0,
    verbose: bool = False,
) -> KeypointStats:
    """Score keypoint detections against ground truth with pycocotools' COCOeval.

    ``gt`` is a COCO keypoints dict or a path to one. ``dt`` is a COCO results list
    (``image_id``, ``category_id``, ``keypoints``, ``score``), a dict with
    ``"annotations"`` (e.g. another annotator's file; a missing score counts as 1.0),
    or a path to either. ``sigmas`` is one value for every keypoint or one per keypoint;
    None looks them up from the built-in skeletons. ``category_ids`` restricts the
    evaluation (default: every GT category). ``area_from_bbox`` scales the bbox area used
    for GT annotations without ``area`` (xtcocotools' ``use_area=False`` uses 0.53).
    Neither input is modified.
    """
    notes: list[str] = []
    gt_name = str(gt) if isinstance(gt, str | Path) else "ground truth"
    dt_name = str(dt) if isinstance(dt, str | Path) else "detections"
    gt_data = _load_json(gt) if isinstance(gt, str | Path) else gt
    dt_data = _load_json(dt) if isinstance(dt, str | Path) else dt

    # what this call read from a file is its own to change; a caller's dicts are copied
    gt_dict = _normalise_gt(gt_data, gt_name, area_from_bbox, notes, not isinstance(gt, Mapping))
    cat_ids = _evaluated_categories(gt_dict, category_ids, gt_name)
    k = _keypoint_count(gt_dict, cat_ids, gt_name)
    sig = resolve_sigmas(gt_dict, cat_ids, k, sigmas, gt_name)
    owned = isinstance(dt, str | Path)
    results, dt_boxes = _normalise_dt(dt_data, dt_name, gt_dict, k, notes, owned)
    del gt_data, dt_data

    COCO = _faster_coco_eval().COCO

    with _pycocotools_output(verbose):
        coco_gt = COCO()
        coco_gt.dataset = gt_dict
        coco_gt.createIndex()
        coco_dt = _load_results(coco_gt, results, dt_boxes)
        del dt_boxes
        ev = _keypoint_eval_class()(
            coco_gt,
            coco_dt,
            iouType="keypoints",
            print_function=print if verbose else _quiet,
        )
        ev.params.kpt_oks_sigmas = sig
        ev.params.catIds = list(cat_ids)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return KeypointStats.from_stats(list(ev.stats), notes)


def _quiet(*_args: Any, **_kwargs: Any) -> None:
    """The evaluator's progress lines, when nobody asked for them."""


def _keypoint_eval_class() -> type:
    """faster-coco-eval's ``COCOeval_faster`` with the OKS of each image vectorised.

    ``computeOks`` keeps the reference's contract (detections sorted by descending
    score with a stable sort, cut to ``maxDets[-1]``; an empty list when the image has
    no GT or no detection; a (D, G) array otherwise) and its numbers, bit for bit
    (see :mod:`posemark.metrics.oks`), but compares all pairs of an image at once
    instead of looping over the GT in Python. Built on first use: faster-coco-eval is
    imported only when something is evaluated.
    """
    global _EVAL_CLASS
    if _EVAL_CLASS is not None:
        return _EVAL_CLASS
    from posemark.metrics.oks import oks_matrix

    class KeypointEval(_faster_coco_eval().COCOeval_faster):  # type: ignore[misc]
        def computeOks(self, imgId: int, catId: int) -> Any:
            p = self.params
            gts = self.gt_dataset.get(imgId, catId)
            dts = self.dt_dataset.get(imgId, catId)
            order = np.argsort([-d["score"] for d in dts], kind="mergesort")
            dts = [dts[i] for i in order][: p.maxDets[-1]]
            if len(gts) == 0 or len(dts) == 0:
                return []
            k = len(p.kpt_oks_sigmas)
            g = np.asarray([gt["keypoints"] for gt in gts], dtype=np.float64).reshape(-1, k, 3)
            d = np.asarray([dt["keypoints"] for dt in dts], dtype=np.float64).reshape(-1, k, 3)
            if self.use_area:
                areas = np.asarray([gt["area"] for gt in gts], dtype=np.float64)
            else:  # the reference's alternative scale, kept for completeness
                areas = np.asarray(
                    [gt["bbox"][3] * gt["bbox"][2] * 0.53 for gt in gts], dtype=np.float64
                )
            boxes = np.asarray([gt["bbox"] for gt in gts], dtype=np.float64)
            return oks_matrix(g[:, :, :2], g[:, :, 2], areas, d[:, :, :2], p.kpt_oks_sigmas, boxes)

    _EVAL_CLASS = KeypointEval
    return _EVAL_CLASS


_EVAL_CLASS: type | None = None


def _faster_coco_eval() -> Any:
    """faster_coco_eval, imported without OpenCV when nothing has loaded OpenCV yet.

    Its mask module imports cv2 if it can, only for boundary IoU, which keypoint
    evaluation never uses; OpenCV costs about 40 MiB and a quarter of a second at every
    ``posemark eval``. The import is blocked only while faster_coco_eval loads, so later
    imports of cv2 in the same process work as usual.
    """
    if "faster_coco_eval" in sys.modules:
        return sys.modules["faster_coco_eval"]
    blocked = "cv2" not in sys.modules
    if blocked:
        sys.modules["cv2"] = None  # type: ignore[assignment]  # ImportError on import
    try:
        import faster_coco_eval
    finally:
        if blocked:
            del sys.modules["cv2"]
    return faster_coco_eval


def resolve_sigmas(
    gt: Mapping[str, Any],
    category_ids: Sequence[int],
    k: int,
    sigmas: float | Sequence[float] | np.ndarray | None,
    source: str = "ground truth",
) -> np.ndarray:
    """The (K,) float array of OKS sigmas to evaluate with.

    Given sigmas are checked (one value is used for all K keypoints). Otherwise the
    evaluated categories' keypoint names must equal a built-in skeleton that carries
    sigmas (``posemark.schemas.match_builtin``).
    """
    if sigmas is not None:
        sig = np.asarray(sigmas, dtype=np.float64).reshape(-1)
        if sig.size == 1:
            sig = np.full(k, float(sig[0]))
        if sig.size != k:
            raise EvaluationError(
                f"sigmas: expected 1 value or {k} (one per keypoint of {source}), found {sig.size}"
            )
        if not (np.isfinite(sig).all() and (sig > 0).all()):
            raise EvaluationError(f"sigmas: expected positive numbers, found {sig.tolist()}")
        return sig

    from posemark.schemas import match_builtin

    cats = {c["id"]: c for c in gt.get("categories", [])}
    found: dict[tuple[float, ...], str] = {}
    for cid in category_ids:
        cat = cats[cid]
        names = [str(n) for n in cat.get("keypoints") or []]
        skeleton = match_builtin(names) if names else None
        if skeleton is None or skeleton.sigmas is None:
            shown = ", ".join(names[:6]) + (", ..." if len(names) > 6 else "")
            what = f"keypoints [{shown}]" if names else "no keypoint names"
            raise EvaluationError(
                f"{source}: category {cat.get('name', cid)!r} ({what}, K={k}) is not a "
                "built-in skeleton with known OKS sigmas; pass --sigmas with one value "
                f"for all keypoints or {k} comma-separated values"
            )
        found.setdefault(tuple(skeleton.sigmas), str(cat.get("name", cid)))
    if len(found) > 1:
        raise EvaluationError(
            f"{source}: categories {sorted(found.values())} use different skeletons; "
            "evaluate one category at a time (category_ids)"
        )
    return np.asarray(next(iter(found)), dtype=np.float64)


def _load_json(path: str | Path) -> Any:
    """The file's JSON, parsed by msgspec (the same values as ``json``, several times
    faster on a dataset-sized file)."""
    import msgspec

    p = Path(path)
    try:
        return msgspec.json.decode(p.read_bytes())
    except FileNotFoundError:
        raise EvaluationError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise EvaluationError(f"{p}: is a directory, expected a JSON file") from None
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise EvaluationError(f"{p}: not valid JSON ({exc})") from None
    except OSError as exc:
        raise EvaluationError(f"{p}: cannot read ({exc.strerror or exc})") from None


def _normalise_gt(
    data: Any, source: str, area_from_bbox: float, notes: list[str], owned: bool = False
) -> dict[str, Any]:
    """The GT with its quirks repaired; ``owned``: ``data`` was read from a file here and
    is changed in place (a dataset-sized copy saved), else the records are copied."""
    if not isinstance(data, Mapping):
        raise EvaluationError(
            f"{source}: expected a COCO keypoints object with images, annotations and "
            f"categories, found a JSON {type(data).__name__}"
        )
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise EvaluationError(f"{source}: expected a list under {key!r}, found none")
    for i, img in enumerate(data["images"]):
        if not isinstance(img, Mapping) or "id" not in img:
            raise EvaluationError(f"{source}: images[{i}]: expected an object with an 'id'")
    for i, cat in enumerate(data["categories"]):
        if not isinstance(cat, Mapping) or "id" not in cat:
            raise EvaluationError(f"{source}: categories[{i}]: expected an object with an 'id'")

    counts = {"area": 0, "bbox": 0, "iscrowd": 0, "bool": 0, "num_keypoints": 0, "id": 0}
    anns: list[dict[str, Any]] = []
    for i, raw in enumerate(data["annotations"]):
        where = f"{source}: annotations[{i}]"
        if not isinstance(raw, Mapping):
            raise EvaluationError(f"{where}: expected an object, found {type(raw).__name__}")
        for key in ("image_id", "category_id", "keypoints"):
            if key not in raw:
                raise EvaluationError(f"{where}: missing {key!r}")
        ann: dict[str, Any] = raw if owned and isinstance(raw, dict) else dict(raw)
        kps = _keypoint_triples(ann["keypoints"], where)
        if "id" not in ann:
            ann["id"] = i + 1
            counts["id"] += 1
        if not _is_box(ann.get("bbox")):
            ann["bbox"] = _box_around(_keypoint_array(kps, where))
            counts["bbox"] += 1
        if ann.get("area") is None:
            _, _, w, h = ann["bbox"]
            ann["area"] = float(w) * float(h) * area_from_bbox
            counts["area"] += 1
        if "iscrowd" not in ann:
            ann["iscrowd"] = 0
            counts["iscrowd"] += 1
        elif isinstance(ann["iscrowd"], bool):
            ann["iscrowd"] = int(ann["iscrowd"])
            counts["bool"] += 1
        if "num_keypoints" not in ann:
            labeled = _keypoint_array(kps, where)[:, 2] > 0
            ann["num_keypoints"] = int(np.count_nonzero(labeled))
            counts["num_keypoints"] += 1
        anns.append(ann)
    _keypoint_boxes([a["keypoints"] for a in anns], lambda i: f"{source}: annotations[{i}]")

    n = len(anns)
    if counts["area"]:
        factor = "" if area_from_bbox == 1.0 else f" * {area_from_bbox:g}"
        notes.append(
            f"{counts['area']} of {n} GT annotations have no area; used bbox width * "
            f"height{factor} as the OKS scale"
        )
    if counts["bbox"]:
        notes.append(
            f"{counts['bbox']} of {n} GT annotations have no bbox; used the box around "
            "their labeled keypoints"
        )
    if counts["iscrowd"]:
        notes.append(f"{counts['iscrowd']} of {n} GT annotations have no iscrowd; used 0")
    if counts["bool"]:
        notes.append(f"{counts['bool']} of {n} GT annotations have a boolean iscrowd; used 0/1")
    if counts["num_keypoints"]:
        notes.append(
            f"{counts['num_keypoints']} of {n} GT annotations have no num_keypoints; "
            "counted labeled keypoints"
        )
    if counts["id"]:
        notes.append(f"{counts['id']} of {n} GT annotations have no id; numbered in order")
    if owned and isinstance(data, dict):
        data["annotations"] = anns
        return data
    out = dict(data)
    out["images"] = [dict(img) for img in data["images"]]
    out["categories"] = [dict(cat) for cat in data["categories"]]
    out["annotations"] = anns
    return out


def _keypoint_triples(value: Any, where: str) -> Any:
    """The cheap part of :func:`_keypoint_array` (a flat list of triples), checked per
    record; the numbers are checked for all records at once by :func:`_keypoint_rows`."""
    if not isinstance(value, list | tuple) or len(value) % 3:
        return _keypoint_array(value, where)  # raises with the located message
    return value


_ROWS_AT_ONCE = 16384


def _keypoint_boxes(
    values: list[Any], where: Callable[[int], str]
) -> tuple[list[float], list[list[float]]] | None:
    """Checks every record's keypoints (numbers in a flat list), a block of records per
    numpy call instead of one call per record, and returns what ``loadRes`` derives
    from them: the area and ``[x, y, w, h]`` of the box around all keypoints of each
    record. None when the records' lengths differ; a bad value is reported with its
    record."""
    areas: list[float] = []
    boxes: list[list[float]] = []
    for start in range(0, len(values), _ROWS_AT_ONCE):
        block = values[start : start + _ROWS_AT_ONCE]
        try:
            rows = np.asarray(block, dtype=np.float64)
        except (TypeError, ValueError):
            rows = None
        if rows is None or rows.ndim != 2:
            for i, value in enumerate(block):  # find the record, for the message
                _keypoint_array(value, where(start + i))
            return None
        x, y = rows[:, 0::3], rows[:, 1::3]
        x0, x1, y0, y1 = x.min(axis=1), x.max(axis=1), y.min(axis=1), y.max(axis=1)
        areas += ((x1 - x0) * (y1 - y0)).tolist()
        boxes += np.stack([x0, y0, x1 - x0, y1 - y0], axis=1).tolist()
    return areas, boxes


def _keypoint_array(value: Any, where: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise EvaluationError(f"{where}: keypoints: expected numbers") from None
    if arr.ndim != 1 or arr.size % 3:
        raise EvaluationError(
            f"{where}: keypoints: expected a flat list of x, y, v triples, found {arr.size} values"
        )
    return arr.reshape(-1, 3)


def _is_box(value: Any) -> bool:
    return isinstance(value, list | tuple) and len(value) == 4


def _box_around(kps: np.ndarray) -> list[float]:
    pts = kps[kps[:, 2] > 0, :2]
    if len(pts) == 0:
        return [0.0, 0.0, 0.0, 0.0]
    x0, y0 = pts.min(axis=0)
    x1, y1 = pts.max(axis=0)
    return [float(x0), float(y0), float(x1 - x0), float(y1 - y0)]


def _evaluated_categories(
    gt: Mapping[str, Any], category_ids: Sequence[int] | None, source: str
) -> list[int]:
    known = sorted(c["id"] for c in gt["categories"])
    if category_ids is None:
        used = {a["category_id"] for a in gt["annotations"]}
        chosen = [c for c in known if c in used]
        if not chosen:
            raise EvaluationError(f"{source}: no annotations to evaluate")
        return chosen
    unknown = sorted(set(category_ids) - set(known))
    if unknown:
        raise EvaluationError(f"{source}: no category with id(s) {unknown}; known ids: {known}")
    return sorted(set(category_ids))


def _keypoint_count(gt: Mapping[str, Any], cat_ids: Sequence[int], source: str) -> int:
    """K of the evaluated categories: from the keypoint names, else from the annotations."""
    sizes: set[int] = set()
    for cat in gt["categories"]:
        if cat["id"] in cat_ids and cat.get("keypoints"):
            sizes.add(len(cat["keypoints"]))
    wanted = set(cat_ids)
    for i, ann in enumerate(gt["annotations"]):
        if ann["category_id"] in wanted:
            n = len(ann["keypoints"]) // 3
            if sizes and n not in sizes:
                raise EvaluationError(
                    f"{source}: annotations[{i}]: expected {min(sizes)} keypoints "
                    f"(the category's names), found {n}"
                )
            sizes.add(n)
    if len(sizes) != 1:
        raise EvaluationError(
            f"{source}: evaluated categories mix keypoint counts {sorted(sizes)}; "
            "evaluate one category at a time (category_ids)"
        )
    return sizes.pop()


def _normalise_dt(
    data: Any,
    source: str,
    gt: Mapping[str, Any],
    k: int,
    notes: list[str],
    owned: bool = False,
) -> tuple[list[dict[str, Any]], tuple[list[float], list[list[float]]] | None]:
    """A results list ``loadRes`` accepts, as fresh dicts (it mutates them) unless
    ``owned`` (read from a file here), and the area and box of each (None when the
    keypoint counts differ)."""
    from_dataset = isinstance(data, Mapping)
    if from_dataset:
        if not isinstance(data.get("annotations"), list):
            raise EvaluationError(
                f"{source}: expected a COCO results list or an object with 'annotations'"
            )
        items = data["annotations"]
    elif isinstance(data, list):
        items = data
    else:
        raise EvaluationError(
            f"{source}: expected a COCO results list, found a JSON {type(data).__name__}"
        )
    image_ids = {img["id"] for img in gt["images"]}
    cat_ids = {c["id"] for c in gt["categories"]}
    results: list[dict[str, Any]] = []
    no_score = 0
    unknown_images: set[Any] = set()
    unknown_cats: set[Any] = set()
    for i, raw in enumerate(items):
        at = f"{source}: [{i}]" if not from_dataset else f"{source}: annotations[{i}]"
        if not isinstance(raw, Mapping):
            raise EvaluationError(f"{at}: expected an object, found {type(raw).__name__}")
        for key in ("image_id", "category_id", "keypoints"):
            if key not in raw:
                raise EvaluationError(f"{at}: missing {key!r}")
        n = len(_keypoint_triples(raw["keypoints"], at)) // 3
        if n != k:
            raise EvaluationError(
                f"{at}: keypoints: expected {k} keypoints ({3 * k} values) as in the "
                f"ground truth, found {n}"
            )
        if raw["image_id"] not in image_ids:
            unknown_images.add(raw["image_id"])
        if raw["category_id"] not in cat_ids:
            unknown_cats.add(raw["category_id"])
        item: dict[str, Any]
        if from_dataset:
            item = {key: raw[key] for key in ("image_id", "category_id", "keypoints")}
            item["score"] = raw.get("score", 1.0)
        else:
            item = raw if owned and isinstance(raw, dict) else dict(raw)
        if item.get("score") is None:
            item["score"] = 1.0
            no_score += 1
        results.append(item)
    if unknown_images:
        shown = sorted(unknown_images, key=str)[:5]
        raise EvaluationError(
            f"{source}: {len(unknown_images)} image id(s) not in the ground truth, e.g. {shown}"
        )
    if unknown_cats:
        notes.append(
            f"detections with category id(s) {sorted(unknown_cats, key=str)} not in the "
            "ground truth are ignored"
        )
    if no_score:
        notes.append(f"{no_score} detections have no score; used 1.0")

    def where(i: int) -> str:
        return f"{source}: [{i}]" if not from_dataset else f"{source}: annotations[{i}]"

    return results, _keypoint_boxes([r["keypoints"] for r in results], where)


def _load_results(
    coco_gt: Any,
    results: list[dict[str, Any]],
    boxes: tuple[list[float], list[list[float]]] | None,
) -> Any:
    """``COCO.loadRes`` of a keypoint results list, its per-detection loop done on all
    detections at once, plus the empty case ``loadRes`` cannot take (it reads
    ``anns[0]``).

    ``loadRes`` gives each keypoint detection the box around all its keypoints and that
    box's area (the area decides which detections an area range ignores), and numbers
    them from 1. Results whose first entry has a box, a segmentation or a caption take
    another branch of ``loadRes``, which is then called as it is.
    """
    COCO = _faster_coco_eval().COCO

    first = results[0] if results else {}
    by_keypoints = not (
        "caption" in first or first.get("bbox", []) != [] or "segmentation" in first
    )
    if results and (not by_keypoints or boxes is None):
        return coco_gt.loadRes(results)
    if results:
        assert boxes is not None
        for i, (ann, area, box) in enumerate(zip(results, *boxes, strict=True)):
            ann["area"] = area
            ann["id"] = i + 1
            ann["bbox"] = box
    res = COCO()
    res.dataset = {
        "images": list(coco_gt.dataset["images"]),
        "categories": copy.deepcopy(coco_gt.dataset["categories"]),
        "annotations": results,
    }
    res.createIndex()
    return res


@contextlib.contextmanager
def _pycocotools_output(verbose: bool) -> Iterator[None]:
    """The evaluator prints progress with ``print``: drop it, or send it to stderr."""
    target = sys.stderr if verbose else io.StringIO()
    with contextlib.redirect_stdout(target):
        yield
