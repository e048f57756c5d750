"""Generated COCO documents survive read + write and the dict converters unchanged.

Documents hold 1-3 categories of different K (K=1 included), images and annotations with
random subsets of the optional fields, visibilities 0/1/2 (occluded points keep their
coordinates), integer and 2-decimal coordinates, and extra fields of any JSON value.
Compared as parsed JSON with booleans kept apart from numbers.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from jsonstrict import strict
from posemark.formats.coco import dataset_from_dict, dataset_to_dict
from posemark.formats.coco_context import ANNOTATION_FIELDS
from posemark.formats.coco_io import read_coco, write_coco
from posemark.formats.errors import Problem

IMAGE_FIELDS = {"id", "file_name", "width", "height"}
CATEGORY_FIELDS = {"id", "name", "supercategory", "keypoints", "skeleton"}
TOP_FIELDS = {"images", "annotations", "categories"}


# ---------------------------------------------------------------- strategies

COORD = st.one_of(
    st.integers(-50, 5000),
    st.integers(-5000, 500_000).map(lambda i: i / 100),
)
POSITIVE = st.one_of(st.integers(1, 5000), st.integers(1, 500_000).map(lambda i: i / 100))
JSON_VALUES = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(10**9), 10**9),
        st.floats(allow_nan=False, allow_infinity=False, width=64),
        st.text(max_size=6),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)


def extra_fields(reserved: set[str]) -> st.SearchStrategy[dict[str, Any]]:
    # names starting with "__" have their own test below
    keys = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8).filter(
        lambda k: k not in reserved and not k.startswith("__")
    )
    return st.dictionaries(keys, JSON_VALUES, max_size=3)


@st.composite
def categories(draw: st.DrawFn) -> list[dict[str, Any]]:
    n = draw(st.integers(1, 3))
    ids = draw(st.lists(st.integers(1, 100), min_size=n, max_size=n, unique=True))
    ks = draw(st.lists(st.integers(1, 6), min_size=n, max_size=n, unique=True))
    out = []
    for cid, k in zip(ids, ks, strict=True):
        pairs = [(a, b) for a in range(1, k + 1) for b in range(1, k + 1) if a != b]
        edges = draw(st.lists(st.sampled_from(pairs), unique=True, max_size=5)) if pairs else []
        cat: dict[str, Any] = {"id": cid, "name": f"animal{cid}"}
        if draw(st.booleans()):
            cat["supercategory"] = draw(st.sampled_from(["", "animal", "person"]))
        cat["keypoints"] = [f"c{cid}_point{i}" for i in range(k)]
        cat["skeleton"] = [list(e) for e in edges]
        cat.update(draw(extra_fields(CATEGORY_FIELDS)))
        out.append(cat)
    return out


@st.composite
def images(draw: st.DrawFn) -> list[dict[str, Any]]:
    ids = draw(st.lists(st.integers(0, 10**12), min_size=1, max_size=4, unique=True))
    out = []
    for iid in ids:
        img: dict[str, Any] = {"id": iid}
        if draw(st.integers(0, 3)):  # file_name is usually there
            img["file_name"] = draw(st.sampled_from(["a.jpg", "dir/b.png", "ü ]}.jpg"]))
        if draw(st.booleans()):
            img["width"] = draw(st.integers(1, 10_000))
        if draw(st.booleans()):
            img["height"] = draw(st.integers(1, 10_000))
        img.update(draw(extra_fields(IMAGE_FIELDS)))
        out.append(img)
    return out


@st.composite
def keypoints(draw: st.DrawFn, k: int) -> tuple[list[Any], int]:
    flat: list[Any] = []
    labeled = 0
    for _ in range(k):
        v = draw(st.sampled_from([0, 1, 2]))
        if v == 0:
            flat += [0, 0, 0]
        else:
            flat += [draw(COORD), draw(COORD), v]  # occluded (1) points keep coordinates too
            labeled += 1
    return flat, labeled


SEGMENTATION = st.one_of(
    st.lists(st.lists(COORD, min_size=6, max_size=8), min_size=1, max_size=2),
    st.fixed_dictionaries(
        {
            "counts": st.one_of(st.lists(st.integers(0, 99), max_size=5), st.just("abc]}")),
            "size": st.tuples(st.integers(1, 99), st.integers(1, 99)).map(list),
        }
    ),
    st.just([]),
)
OPTIONAL = ("keypoints", "num_keypoints", "bbox", "area", "iscrowd", "segmentation", "track_id")


@st.composite
def coco_documents(draw: st.DrawFn) -> dict[str, Any]:
    cats = draw(categories())
    imgs = draw(images())
    n = draw(st.integers(0, 6))
    ann_ids = draw(st.lists(st.integers(1, 10**13), min_size=n, max_size=n, unique=True))
    anns = []
    for aid in ann_ids:
        cat = draw(st.sampled_from(cats))
        k = len(cat["keypoints"])
        ann: dict[str, Any] = {
            "id": aid,
            "image_id": draw(st.sampled_from(imgs))["id"],
            "category_id": cat["id"],
        }
        present = draw(st.sets(st.sampled_from(OPTIONAL)))
        flat, labeled = draw(keypoints(k))
        if "keypoints" in present:
            ann["keypoints"] = flat
        if "num_keypoints" in present:
            ann["num_keypoints"] = labeled if "keypoints" in present else draw(st.integers(0, k))
        if "bbox" in present:
            ann["bbox"] = [draw(COORD), draw(COORD), draw(POSITIVE), draw(POSITIVE)]
        if "area" in present:
            ann["area"] = draw(POSITIVE)
        if "iscrowd" in present:
            ann["iscrowd"] = draw(st.sampled_from([0, 1]))
        if "segmentation" in present:
            ann["segmentation"] = draw(SEGMENTATION)
        if "track_id" in present:
            ann["track_id"] = draw(st.integers(0, 10**6))
        ann.update(draw(extra_fields(set(ANNOTATION_FIELDS))))
        anns.append(ann)
    parts: dict[str, Any] = {"images": imgs, "annotations": anns, "categories": cats}
    if draw(st.booleans()):
        parts["info"] = {"description": "generated", "year": 2024}
    if draw(st.booleans()):
        parts["licenses"] = [{"id": 1, "name": "CC", "url": ""}]
    parts.update(draw(extra_fields(TOP_FIELDS | {"info", "licenses"})))
    order = draw(st.permutations(list(parts)))
    return {key: parts[key] for key in order}


# ---------------------------------------------------------------- properties


@settings(max_examples=50, deadline=None)
@given(doc=coco_documents())
def test_file_round_trip(doc: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.json"
        out = Path(tmp) / "out.json"
        src.write_text(json.dumps(doc), encoding="utf-8")
        problems: list[Problem] = []
        dataset = read_coco(src, on_warning=problems.append)
        write_coco(dataset, out)
        with open(out, encoding="utf-8") as fh:
            written = json.load(fh)
    assert strict(written) == strict(doc)
    assert list(written) == list(doc), "top-level members keep their order"
    assert problems == [], [str(p) for p in problems]


@settings(max_examples=50, deadline=None)
@given(doc=coco_documents())
def test_dict_round_trip(doc: dict[str, Any]) -> None:
    snapshot = json.dumps(doc)
    back = dataset_to_dict(dataset_from_dict(doc))
    assert json.dumps(doc) == snapshot, "dataset_from_dict must not modify its input"
    assert strict(back) == strict(doc)


@settings(max_examples=50, deadline=None)
@given(doc=coco_documents())
def test_model_view(doc: dict[str, Any]) -> None:
    """Visibility 0/1/2 and coordinates of labeled points are what the document says."""
    dataset = dataset_from_dict(doc)
    for row, ann in enumerate(doc["annotations"]):
        if "keypoints" not in ann:
            assert dataset.instances.keypoint_count[row] == -1
            continue
        inst = dataset.instance(row)
        flat = ann["keypoints"]
        assert inst.visibility.tolist() == flat[2::3]
        labeled = inst.visibility > 0
        assert inst.points[labeled, 0].tolist() == [
            x for x, v in zip(flat[0::3], flat[2::3], strict=True) if v
        ]
        assert inst.points[labeled, 1].tolist() == [
            y for y, v in zip(flat[1::3], flat[2::3], strict=True) if v
        ]
        assert inst.id == ann["id"]
        assert inst.track_id == ann.get("track_id")


def test_double_underscore_extra_fields_are_kept() -> None:
    """Fields posemark does not model are kept, whatever their name."""
    doc = {
        "images": [{"id": 1, "file_name": "a.jpg", "__source": "cvat"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "keypoints": [1, 2, 2], "__note": "x"},
            {"id": 2, "image_id": 1, "category_id": 1, "keypoints": [3, 4, 1], "__no_id__": True},
        ],
        "categories": [{"id": 1, "name": "dot", "keypoints": ["dot"], "skeleton": [], "__v": 2}],
    }
    assert strict(dataset_to_dict(dataset_from_dict(doc))) == strict(doc)
