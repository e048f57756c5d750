"""CVAT for images 1.1 XML: the real datumaro sample, round trips, hostile and broken files.

The sample (``cvat/datumaro_cvat_for_images/train.xml``) has one skeleton label "skeleton"
with sublabels "1".."4", svg edges 3->2 and 1->4, two images with one ``<skeleton>``
each (one point ``outside="1"`` in each), plus a box, polyline, polygon and stand-alone
points that do not map to keypoint instances.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import posemark.formats.cvat as cvat
from posemark.formats.cvat import (
    SPEC,
    cvat_losses,
    read_cvat,
    sniff_cvat,
    write_cvat,
)
from posemark.formats.errors import FormatError, FormatWarning, Problem
from posemark.model import Dataset
from posemark.model.dataset import Category
from posemark.model.frame import Frame
from posemark.model.instance import Instance
from posemark.model.skeleton import Skeleton
from posemark.model.visibility import Source

SAMPLE = "cvat/datumaro_cvat_for_images/train.xml"


@pytest.fixture
def sample(testdata: Path) -> Path:
    """The datumaro CVAT-for-images asset: skeleton with per-point outside flags."""
    return testdata / SAMPLE


def _read(path: Path) -> tuple[Dataset, list[Problem]]:
    problems: list[Problem] = []
    return read_cvat(path, on_warning=problems.append), problems


def _doc(images: str, labels: str | None = None) -> str:
    labels = labels or (
        "<label><name>person</name><type>skeleton</type><attributes/>"
        '<svg>&lt;line data-node-from="1" data-node-to="2"&gt;&lt;/line&gt;</svg></label>'
        "<label><name>nose</name><type>points</type><parent>person</parent></label>"
        "<label><name>neck</name><type>points</type><parent>person</parent></label>"
        "<label><name>person bbox</name><type>rectangle</type></label>"
    )
    return (
        "<annotations><version>1.1</version><meta><task><labels>"
        f"{labels}</labels></task></meta>{images}</annotations>"
    )


def _skel(nose: str = 'points="1,2"', neck: str = 'points="3,4"', extra: str = "") -> str:
    return (
        f'<skeleton label="person" {extra}><points label="nose" {nose}/>'
        f'<points label="neck" {neck}/></skeleton>'
    )


def _write_text(tmp_path: Path, text: str, name: str = "a.xml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


# ---------------------------------------------------------------- the real file


def test_real_file_every_point_and_flag(sample: Path) -> None:
    ds, problems = _read(sample)
    points_cat, cat = ds.categories
    assert cat.id == 2 and cat.name == "skeleton" and cat.extras == {"color": "#0c81b5"}
    assert cat.skeleton.keypoints == ("1", "2", "3", "4")
    # <line data-node-from="3" data-node-to="2">, <line data-node-from="1" data-node-to="4">
    assert cat.skeleton.edges == ((2, 1), (0, 3))
    assert ds.images.ids.tolist() == [0, 1]
    assert ds.images.file_names == ["img0.jpg", "img1.jpg"]
    assert ds.images.widths.tolist() == [8, 10] and ds.images.heights.tolist() == [8, 10]
    # <points label="label2" points="1,2;3,4;5,6"/>: one keypoint per point
    assert points_cat.id == 1 and points_cat.name == "label2"
    assert points_cat.skeleton.keypoints == ("1", "2", "3")
    assert points_cat.extras == {"cvat_shape": "points"}
    t = ds.instances
    assert t.image_ids.tolist() == [0, 1, 1]
    assert t.category_ids.tolist() == [2, 1, 2]
    # img0: 1 (1,1) outside=1; 2 (2,2); 3 (3,3); 4 (4,4), all occluded=0
    assert t.points[0].tolist() == [[1, 1], [2, 2], [3, 3], [4, 4]]
    assert t.visibility[0].tolist() == [0, 2, 2, 2]
    assert t.points[1, :3].tolist() == [[1, 2], [3, 4], [5, 6]]
    assert t.visibility[1, :3].tolist() == [2, 2, 2]
    # img1: 1 (3,3); 2 (4,4); 3 (5,5) outside=1; 4 (6,6)
    assert t.points[2].tolist() == [[3, 3], [4, 4], [5, 5], [6, 6]]
    assert t.visibility[2].tolist() == [2, 2, 0, 2]
    assert t.source.tolist() == [int(Source.HUMAN)] * 3
    assert np.isnan(t.bbox).all()  # the sample's box has no group_id
    assert sorted(p.record or "" for p in problems) == [
        "<box> shapes",
        "<polygon> shapes",
        "<polyline> shapes",
    ]
    assert all(p.severity == "warning" and "1 <" in p.message for p in problems)


def test_real_file_warns_by_default(sample: Path) -> None:
    with pytest.warns(FormatWarning) as record:
        read_cvat(sample)
    assert len(record) == 3
    assert any("1 <polygon> shape(s) skipped" in str(w.message) for w in record)


def test_real_file_write_then_read_back_equal(sample: Path, tmp_path: Path) -> None:
    ds, _ = _read(sample)
    out = tmp_path / "out.xml"
    write_cvat(ds, out)
    back, problems = _read(out)
    assert problems == []
    assert back.categories == ds.categories
    assert back.images.ids.tolist() == ds.images.ids.tolist()
    assert back.images.file_names == ds.images.file_names
    np.testing.assert_array_equal(back.instances.points, ds.instances.points)
    np.testing.assert_array_equal(back.instances.visibility, ds.instances.visibility)
    assert out.read_text(encoding="utf-8").startswith('<?xml version="1.0" encoding="utf-8"?>')
    text = out.read_text(encoding="utf-8")
    assert "\n    <skeleton " in text  # pretty-printed
    assert '<points label="label2" source="manual" occluded="0" z_order="0" ' in text


def test_sniff(sample: Path, tmp_path: Path) -> None:
    assert sniff_cvat(sample)
    assert not sniff_cvat(_write_text(tmp_path, '{"images": []}', "a.json"))
    assert not sniff_cvat(tmp_path)
    assert SPEC.name == "cvat" and SPEC.extensions == (".xml",)
    assert "track ids" in SPEC.what_it_loses and "<points>" in SPEC.what_it_loses


# ---------------------------------------------------------------- mapping details


def test_occluded_outside_and_grouped_box(tmp_path: Path) -> None:
    images = (
        '<image id="7" name="a.jpg" width="100" height="50">'
        + _skel('points="1.5,2.25" occluded="1"', 'points="3,4" outside="1"', 'group_id="3"')
        + '<box label="person bbox" group_id="3" xtl="1" ytl="2" xbr="11" ybr="22"/>'
        + '<box label="person bbox" group_id="4" xtl="0" ytl="0" xbr="1" ybr="1"/>'
        + "</image>"
    )
    ds, problems = _read(_write_text(tmp_path, _doc(images)))
    assert ds.instances.visibility.tolist() == [[1, 0]]
    assert ds.instances.points[0, 0].tolist() == [1.5, 2.25]
    assert ds.instances.bbox.tolist() == [[1, 2, 10, 20]]
    assert ds.categories[0].skeleton.edges == ((0, 1),)
    assert [p.message for p in problems] == [
        "1 <box> shape(s) skipped: only <skeleton> shapes, <points> of a plain points "
        "label, and boxes grouped with either map to keypoint instances"
    ]


def test_points_labels(tmp_path: Path) -> None:
    labels = (
        "<label><name>dots</name><type>points</type></label>"
        "<label><name>mixed</name><type>any</type></label>"
    )
    images = (
        '<image id="0" name="a.jpg" width="9" height="9">'
        '<points label="dots" points="1,1;2,2" occluded="1" group_id="2"/>'
        '<box label="x" group_id="2" xtl="0" ytl="0" xbr="3" ybr="4"/>'
        '<points label="mixed" points="1,1"/><points label="mixed" points="1,1;2,2"/>'
        "</image>"
    )
    ds, problems = _read(_write_text(tmp_path, _doc(images, labels)))
    assert [c.name for c in ds.categories] == ["dots"]
    assert ds.instances.visibility.tolist() == [[1, 1]]
    assert ds.instances.bbox.tolist() == [[0, 0, 3, 4]]
    assert [(p.record, p.message) for p in problems] == [
        (
            "label 'mixed'",
            "stand-alone <points> shapes hold differing numbers of points [1, 2], so they "
            "fit no one skeleton; skipped",
        ),
        (
            "<points> shapes",
            "2 <points> shape(s) skipped: only <skeleton> shapes, <points> of a plain "
            "points label, and boxes grouped with either map to keypoint instances",
        ),
    ]
    # an edited instance whose points no longer share one flag goes back as a skeleton
    ds.instances.visibility[0] = [1, 0]
    assert cvat_losses(ds) == [
        "1 points categories have instances whose points differ in visibility, which one "
        "<points> shape cannot hold; they are written as skeletons"
    ]
    out = tmp_path / "o.xml"
    write_cvat(ds, out)
    back, _ = _read(out)
    assert back.categories[0].extras == {}
    assert back.instances.visibility.tolist() == [[1, 0]]
    assert back.instances.bbox.tolist() == [[0, 0, 3, 4]]


def test_nested_sublabels_and_circle_names(tmp_path: Path) -> None:
    """Edges name svg node ids; circles map them to sublabels (here not in node order)."""
    svg = (
        '&lt;line data-node-from="1" data-node-to="3"/&gt;'
        '&lt;line data-node-from="2" data-node-to="9"/&gt;'
        '&lt;circle data-node-id="1" data-label-name="c"/&gt;'
        '&lt;circle data-node-id="3" data-label-name="a"/&gt;'
    )
    labels = (
        f"<label><name>s</name><type>skeleton</type><svg>{svg}</svg><sublabels>"
        "<label><name>a</name></label><label><name>b</name></label>"
        "<label><name>c</name></label></sublabels></label>"
    )
    ds, problems = _read(_write_text(tmp_path, _doc("", labels)))
    assert ds.categories[0].skeleton.keypoints == ("a", "b", "c")
    assert ds.categories[0].skeleton.edges == ((2, 0),)
    assert [(p.record, p.field, p.message) for p in problems] == [
        ("label 's'", "svg", "edge '2'-'9' does not join two of the 3 keypoints; dropped")
    ]


def test_missing_sublabel_point_is_not_labeled(tmp_path: Path) -> None:
    images = (
        '<image id="0" name="a.jpg" width="9" height="9"><skeleton label="person">'
        '<points label="neck" points="3,4"/></skeleton></image>'
    )
    ds, _ = _read(_write_text(tmp_path, _doc(images)))
    assert ds.instances.visibility.tolist() == [[0, 2]]


def test_losses_count_tracks_scores_z() -> None:
    sk = Skeleton("p", ("a", "b"))
    cat = Category(1, "p", sk)
    pts = np.array([[1.0, 2.0], [3.0, 4.0]])
    vis = np.array([2, 1], dtype=np.uint8)
    insts = [
        (1, 1, Instance(sk, pts, vis, track_id=4, score=0.5, z=np.array([1.0, 2.0]))),
        (1, 1, Instance(sk, pts, vis)),
    ]
    ds = Dataset.from_instances([cat], [Frame(1, "a.jpg", 10, 10)], insts)
    assert cvat_losses(ds) == [
        "1 instances carry track ids, which CVAT for images does not keep",
        "1 instances carry scores, which CVAT for images does not keep",
        "1 instances carry z coordinates, which CVAT for images does not keep",
    ]


# ---------------------------------------------------------------- broken and hostile files


def test_truncated_xml(sample: Path, tmp_path: Path) -> None:
    text = sample.read_text(encoding="utf-8")
    p = _write_text(tmp_path, text[: len(text) // 2])
    with pytest.raises(FormatError, match=r"a\.xml: XML: invalid XML at line \d+, column \d+"):
        read_cvat(p)


def test_missing_points_attribute_names_image_and_shape(tmp_path: Path) -> None:
    images = '<image id="5" name="b.jpg" width="9" height="9">' + _skel(neck="") + "</image>"
    p = _write_text(tmp_path, _doc(images))
    with pytest.raises(FormatError) as info:
        read_cvat(p)
    problem = info.value.problem
    assert problem.file == str(p)
    assert problem.record == (
        "image id 5 (b.jpg): <skeleton> #1 (label 'person'): <points label='neck'>"
    )
    assert problem.field == "points"
    assert problem.message == "missing required attribute"


@pytest.mark.parametrize(
    ("images", "match"),
    [
        (
            '<image id="1" name="a" width="9" height="9">' + _skel('points="1;2"') + "</image>",
            r"<points label='nose'>: field 'points': expected one point 'x,y', found '1;2'",
        ),
        (
            '<image id="1" name="a" width="9" height="9"><skeleton label="person">'
            '<points label="ear" points="1,1"/></skeleton></image>',
            r"field 'label': keypoint is not a sublabel of 'person'; known: nose, neck",
        ),
        (
            '<image id="1" name="a" width="9" height="9"><skeleton label="cat"/></image>',
            r"<skeleton> #1 \(label 'cat'\): field 'label': not a skeleton label",
        ),
        ('<image name="a" width="9" height="9"/>', r"image #0: field 'id': missing required"),
        ('<image id="x" name="a"/>', r"image #0: field 'id': expected an integer, found 'x'"),
        (
            '<image id="1" name="a"/><image id="1" name="b"/>',
            r"image: field 'id': duplicate image id\(s\) \[1\]",
        ),
    ],
)
def test_bad_records(tmp_path: Path, images: str, match: str) -> None:
    with pytest.raises(FormatError, match=match):
        read_cvat(_write_text(tmp_path, _doc(images)))


def test_skeleton_without_sublabels(tmp_path: Path) -> None:
    labels = "<label><name>person</name><type>skeleton</type></label>"
    with pytest.raises(FormatError, match=r"label 'person': field 'parent': skeleton label has no"):
        read_cvat(_write_text(tmp_path, _doc("", labels)))


def test_billion_laughs_refused(tmp_path: Path) -> None:
    lol = (
        '<?xml version="1.0"?>\n<!DOCTYPE lolz [\n<!ENTITY lol "lol">\n'
        + "".join(
            f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n'
            for i in range(1, 10)
        )
        + "]>\n<annotations>&lol9;</annotations>\n"
    )
    p = _write_text(tmp_path, lol, "lol.xml")
    with pytest.raises(FormatError, match=r"lol\.xml: refused: the file declares a DTD"):
        read_cvat(p)


def test_external_entity_refused(tmp_path: Path) -> None:
    secret = _write_text(tmp_path, "secret", "secret.txt")
    xxe = (
        f'<?xml version="1.0"?>\n<!DOCTYPE a [<!ENTITY x SYSTEM "file://{secret}">]>\n'
        "<annotations><version>&x;</version></annotations>\n"
    )
    p = _write_text(tmp_path, xxe, "xxe.xml")
    with pytest.raises(FormatError, match=r"xxe\.xml: refused: the file declares a DTD"):
        read_cvat(p)


def test_oversized_file_refused_before_parsing(tmp_path: Path) -> None:
    p = _write_text(tmp_path, "<annotations" + " " * 100)  # not even valid XML
    with pytest.raises(FormatError, match=r"a\.xml: file is 112 bytes, over the 100-byte limit"):
        read_cvat(p, max_bytes=100)


def test_failed_write_leaves_nothing(tmp_path: Path) -> None:
    sk = Skeleton("p", ("a",))
    cats = [Category(1, "p", sk), Category(2, "p", sk)]
    ds = Dataset.from_instances(cats, [Frame(1, "a.jpg", 5, 5)], [])
    out = tmp_path / "out.xml"
    with pytest.raises(FormatError, match=r"category id 2: field 'name': .* named 'p'"):
        write_cvat(ds, out)
    assert list(tmp_path.iterdir()) == []
    out.write_text("old", encoding="utf-8")
    with pytest.raises(FormatError):
        write_cvat(ds, out)
    assert out.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.xml"]


def test_failure_while_writing_leaves_old_file(
    sample: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ds, _ = _read(sample)
    out = _write_text(tmp_path, "old", "out.xml")

    def broken(tree: object, fh: BinaryIO) -> None:
        fh.write(b"<annotations><version>1.1")
        raise OSError("disk full")

    monkeypatch.setattr(cvat, "_serialize", broken)
    with pytest.raises(OSError, match="disk full"):
        write_cvat(ds, out)
    assert out.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.xml"]


def test_instance_on_unknown_frame_refused(tmp_path: Path) -> None:
    sk = Skeleton("p", ("a",))
    inst = Instance(sk, np.array([[1.0, 1.0]]), np.array([2], dtype=np.uint8))
    ds = Dataset.from_instances([Category(1, "p", sk)], [Frame(1, "a.jpg", 5, 5)], [(9, 1, inst)])
    with pytest.raises(FormatError, match=r"image id\(s\) \[9\] that no frame has"):
        write_cvat(ds, tmp_path / "o.xml")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- generated round trip

NAME = st.text(alphabet="abcXYZ019_-<>&\"'é", min_size=1, max_size=6)
COORD = st.integers(-100_000, 500_000).map(lambda i: i / 100)


@st.composite
def datasets(draw: st.DrawFn) -> Dataset:
    n_cat = draw(st.integers(1, 3))
    cat_names = draw(st.lists(NAME, min_size=n_cat, max_size=n_cat, unique=True))
    cats = []
    for i, name in enumerate(cat_names):
        k = draw(st.integers(1, 5))
        kps = draw(st.lists(NAME, min_size=k, max_size=k, unique=True))
        pairs = [(a, b) for a in range(k) for b in range(a + 1, k)]
        edges = draw(st.lists(st.sampled_from(pairs), unique=True, max_size=4)) if pairs else []
        cats.append(Category(i + 1, name, Skeleton(name, tuple(kps), tuple(edges))))
    n_img = draw(st.integers(1, 3))
    frames = [
        Frame(i, f"img{i}.jpg", draw(st.integers(1, 4000)), draw(st.integers(1, 4000)))
        for i in range(n_img)
    ]
    insts = []
    for frame in frames:
        for _ in range(draw(st.integers(0, 3))):
            cat = draw(st.sampled_from(cats))
            k = cat.skeleton.num_keypoints
            vis = np.array(draw(st.lists(st.sampled_from([0, 1, 2]), min_size=k, max_size=k)))
            pts = np.array(draw(st.lists(st.tuples(COORD, COORD), min_size=k, max_size=k)))
            pts[vis == 0] = np.nan
            bbox = None
            if draw(st.booleans()):
                bbox = np.array([draw(COORD), draw(COORD), 5.25, 7.5])
            source = draw(st.sampled_from([Source.HUMAN, Source.MODEL]))
            inst = Instance(cat.skeleton, pts, vis.astype(np.uint8), bbox=bbox, source=source)
            insts.append((frame.id, cat.id, inst))
    return Dataset.from_instances(cats, frames, insts)


@settings(max_examples=40, deadline=None)
@given(datasets())
def test_generated_round_trip(ds: Dataset) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "g.xml"
        write_cvat(ds, out)
        back, problems = _read(out)
    assert problems == []
    assert [(c.id, c.name, c.skeleton) for c in back.categories] == [
        (c.id, c.name, c.skeleton) for c in ds.categories
    ]
    assert back.images.ids.tolist() == ds.images.ids.tolist()
    assert back.images.file_names == ds.images.file_names
    assert back.images.widths.tolist() == ds.images.widths.tolist()
    a, b = ds.instances, back.instances
    assert b.image_ids.tolist() == a.image_ids.tolist()
    assert b.category_ids.tolist() == a.category_ids.tolist()
    assert b.source.tolist() == a.source.tolist()
    np.testing.assert_array_equal(b.visibility, a.visibility)
    labeled = a.visibility > 0
    np.testing.assert_allclose(b.points[labeled], a.points[labeled], atol=0.005)
    # not-labeled keypoints come back at 0,0 (CVAT needs a position for every point)
    in_skeleton = np.arange(a.max_keypoints) < a.keypoint_count[:, None]
    assert (b.points[(a.visibility == 0) & in_skeleton] == 0).all()
    np.testing.assert_allclose(b.bbox, a.bbox, atol=0.011, equal_nan=True)
