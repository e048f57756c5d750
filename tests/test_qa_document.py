"""check_document: the checks on one item's annotation document (what submit runs),
on real COCO people turned into documents, with and without the project's prior."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from posemark import formats
from posemark.model.dataset import Dataset
from posemark.model.errors import PoseValidationError
from posemark.qa import BodyPrior, check_document, project_prior
from posemark.schemas import load_builtin

SK = load_builtin("coco17")
KP = {n: i for i, n in enumerate(SK.keypoints)}
IMAGE_197388 = (640, 480)  # test_coco.json: 5 people in image 197388


@pytest.fixture(scope="module")
def coco(testdata: Path) -> Dataset:
    return formats.read(testdata / "coco/mmpose_coco/test_coco.json", on_warning=lambda *a: None)


def document(ds: Dataset, image_id: int) -> dict[str, Any]:
    t = ds.instances
    out = []
    for r in np.flatnonzero(t.image_ids == image_id):
        kps = [
            [float(x), float(y), int(v)] if v > 0 else [None, None, 0]
            for (x, y), v in zip(t.points[r, :17], t.visibility[r, :17], strict=True)
        ]
        out.append({"id": f"ann-{int(t.ids[r])}", "keypoints": kps})
    return {"instances": out}


def keys(found: list[Any]) -> set[tuple[str, int, str | None]]:
    return {(f.check, f.annotation_id, f.keypoint) for f in found}


def test_clean_document_and_ids_are_indices(coco: Dataset) -> None:
    doc = document(coco, 197388)
    assert len(doc["instances"]) == 5
    found = check_document(doc, SK, *IMAGE_197388)
    assert all(f.image_id == 0 for f in found)
    assert keys(found) == set()


def test_injected_errors_are_found_on_their_instance(coco: Dataset) -> None:
    doc = document(coco, 197388)
    broken = copy.deepcopy(doc)
    kps = broken["instances"][2]["keypoints"]
    kps[KP["left_knee"]], kps[KP["right_knee"]] = kps[KP["right_knee"]], kps[KP["left_knee"]]
    broken["instances"][4]["keypoints"][KP["nose"]] = [700.0, 10.0, 2]
    found = keys(check_document(broken, SK, *IMAGE_197388))
    assert ("left_right_inversion", 2, "left_knee") in found
    assert ("outside_image", 4, "nose") in found
    assert {f[1] for f in found} == {2, 4}


def test_project_prior_is_learned_and_used(coco: Dataset, testdata: Path) -> None:
    whole = formats.read(
        testdata / "coco/xtcocoapi_examples/example_wholebody_val.json",
        on_warning=lambda *a: None,
    )
    prior = project_prior(whole)
    assert isinstance(prior, BodyPrior) and prior.samples
    assert all(n >= 8 for n in prior.samples.values())
    assert BodyPrior.from_dict(prior.as_dict()) == prior
    doc = document(coco, 197388)
    assert check_document(doc, SK, *IMAGE_197388, project_stats=prior) == []
    broken = copy.deepcopy(doc)
    broken["instances"][1]["keypoints"][KP["left_ankle"]] = [20.0, 20.0, 2]
    found = keys(check_document(broken, SK, *IMAGE_197388, project_stats=prior))
    assert ("bone_length_outlier", 1, "left_ankle") in found


def test_bad_document_names_the_field() -> None:
    with pytest.raises(PoseValidationError, match="keypoints: expected 17"):
        check_document({"instances": [{"id": "a", "keypoints": []}]}, SK, 10, 10)


def test_a_validated_document_gives_the_same_dataset_without_a_second_validation(
    coco: Dataset,
) -> None:
    """A save validates its document once and hands it to the checks as validated: the
    people, boxes and visibilities are those the checks read from the raw document."""
    from posemark.model.document import validate_document
    from posemark.qa.document import document_dataset

    raw = document(coco, 197388)
    again = document_dataset(raw, SK, *IMAGE_197388)
    once = document_dataset(validate_document(raw, SK), SK, *IMAGE_197388, validated=True)
    assert len(once.instances.ids) == len(again.instances.ids) == 5
    for field in ("points", "visibility", "bbox", "area", "iscrowd"):
        np.testing.assert_array_equal(
            getattr(once.instances, field), getattr(again.instances, field), err_msg=field
        )
    assert check_document(raw, SK, *IMAGE_197388) == check_document(
        validate_document(raw, SK), SK, *IMAGE_197388
    )
