"""QA never breaks a save, a page or a submission: every check on random documents
(Hypothesis), the half-placed first person of a new project, and a failing check that
becomes a finding of its own instead of an error."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from posemark.model.skeleton import Skeleton
from posemark.qa import CHECKS, CheckInput, Finding, QaConfig, check_document, run_checks
from posemark.qa.document import document_dataset
from posemark.schemas import load_builtin

# an animal skeleton with no left/right pairs and no sigmas (the checks that need
# names or OKS constants must still run on it)
MOUSE = Skeleton(
    "mouse5",
    ("snout", "ear_a", "ear_b", "tail_base", "tail_tip"),
    edges=((0, 1), (0, 2), (1, 3), (2, 3), (3, 4)),
)
SKELETONS = [load_builtin("coco17"), load_builtin("mpii16"), load_builtin("halpe26"), MOUSE]

coordinate = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
near = st.floats(-5, 700, allow_nan=False, allow_infinity=False)


@st.composite
def documents(draw: st.DrawFn) -> tuple[Skeleton, dict[str, Any]]:
    skeleton = draw(st.sampled_from(SKELETONS))
    k = skeleton.num_keypoints
    crowd = draw(st.integers(0, 3)) == 0
    people = draw(st.integers(1, 25 if crowd else 4))
    instances = []
    for n in range(people):
        xs = near if draw(st.booleans()) else coordinate
        keypoints = []
        for _ in range(k):
            v = draw(st.sampled_from((0, 0, 1, 2, 2)))
            keypoints.append([None, None, 0] if v == 0 else [draw(xs), draw(xs), v])
        box = draw(
            st.one_of(
                st.none(),
                st.tuples(near, near, st.just(0.0), st.just(0.0)),  # degenerate
                st.tuples(coordinate, coordinate, st.floats(0, 1e6), st.floats(0, 1e6)),
            )
        )
        inst: dict[str, Any] = {"id": f"p{n}", "keypoints": keypoints}
        if box is not None:
            inst["bbox"] = list(box)
            inst["bbox_mode"] = "drawn"
        if draw(st.booleans()):
            inst["track_id"] = draw(st.integers(0, 3))
        instances.append(inst)
    return skeleton, {"instances": instances}


def _failed(found: list[Finding]) -> list[Finding]:
    return [f for f in found if "check failed here" in f.message or "failed here" in f.message]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents(), st.integers(1, 4000), st.integers(1, 4000))
def test_every_check_runs_on_any_document(
    case: tuple[Skeleton, dict[str, Any]], width: int, height: int
) -> None:
    """No check raises (numpy warnings are errors in the tests) on 0..K labeled
    keypoints, every visibility, extreme finite coordinates, one to many people,
    boxes absent or degenerate, small and large images."""
    skeleton, doc = case
    found = check_document(doc, skeleton, width, height)
    assert _failed(found) == []
    assert {f.check for f in found} <= set(CHECKS)
    assert all(f.severity in ("error", "warning", "info") for f in found)
    n = len(doc["instances"])
    assert all(-1 <= f.annotation_id < n for f in found)


@pytest.mark.parametrize("labeled", [0, 1, 2])
def test_first_person_of_a_new_project_half_placed(labeled: int) -> None:
    """The state of every new project while its first person is placed: one person
    with 0, 1 or 2 keypoints. Every check runs; nothing fails."""
    skeleton = load_builtin("coco17")
    keypoints: list[list[Any]] = [[None, None, 0]] * 17
    keypoints = [[100.0 + 10 * j, 50.0, 2] if j < labeled else [None, None, 0] for j in range(17)]
    found = check_document({"instances": [{"id": "a", "keypoints": keypoints}]}, skeleton, 640, 480)
    assert _failed(found) == []
    if labeled == 0:
        assert [f.check for f in found] == ["too_few_keypoints"]


def test_a_failing_check_becomes_a_finding_and_a_log_line(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A check that raises loses only its own findings: it reports an info finding (never
    blocking a submission) naming itself and the error, logs the traceback, and the
    other checks still report."""
    skeleton = load_builtin("coco17")

    def broken(inp: CheckInput) -> list[Finding]:
        raise IndexError("boolean index did not match")

    monkeypatch.setitem(CHECKS, "duplicate_instance", broken)
    keypoints = [[None, None, 0]] * 17
    doc = {"instances": [{"id": "a", "keypoints": keypoints}]}
    with caplog.at_level(logging.ERROR, logger="posemark.qa.run"):
        found = check_document(doc, skeleton, 640, 480)
    failed = [f for f in found if f.check == "duplicate_instance"]
    assert len(failed) == 1
    assert failed[0].severity == "info" and failed[0].annotation_id == -1
    assert "IndexError: boolean index did not match" in failed[0].message
    assert any(f.check == "too_few_keypoints" for f in found)
    assert any(r.exc_info and "duplicate_instance" in r.getMessage() for r in caplog.records)


def test_a_check_failing_on_one_image_keeps_the_other_images_findings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On a file or a project, the failure is pinned to the images the check cannot
    judge; it still reports on the others."""
    skeleton = load_builtin("coco17")
    real = CHECKS["too_few_keypoints"]
    empty = {"instances": [{"id": "a", "keypoints": [[None, None, 0]] * 17}]}
    one = document_dataset(empty, skeleton, 640, 480)
    two_images = _two_image_dataset(one)

    def fails_on_image_1(inp: CheckInput) -> list[Finding]:
        if 1 in inp.dataset.instances.image_ids:
            raise ValueError("cannot judge image 1")
        return real(inp)

    monkeypatch.setitem(CHECKS, "too_few_keypoints", fails_on_image_1)
    found = run_checks(two_images, QaConfig(), only=["too_few_keypoints"])
    assert [(f.image_id, f.severity) for f in found] == [(0, "info"), (1, "info")]
    assert "empty" not in found[0].message and "labeled keypoint" in found[0].message
    assert "cannot judge image 1" in found[1].message


def _two_image_dataset(one: Any) -> Any:
    import numpy as np

    from posemark.model import Dataset, Frame

    rows = []
    for image_id in (0, 1):
        inst = one.instance(0)
        inst.id = image_id
        rows.append((image_id, 1, inst))
    frames = [Frame(i, f"im{i}.jpg", 640, 480) for i in (0, 1)]
    ds = Dataset.from_instances(one.categories, frames, rows)
    ds.instances.iscrowd[:] = np.zeros(2, dtype=ds.instances.iscrowd.dtype)
    return ds
