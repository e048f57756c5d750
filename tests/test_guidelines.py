"""Guidelines travel with the skeleton: per-keypoint rules, occlusion rules and pictures
survive to_dict/from_dict, the built-in COCO-17 and MPII-16 carry a rule for every
keypoint, and the shipped pictures are exactly what the generator draws."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from posemark.model import KeypointGuideline, PoseValidationError, Skeleton
from posemark.schemas import load_builtin, skeleton_from_dict, skeleton_from_text
from posemark.schemas.picture_drawing import pictures_for


def _arm() -> Skeleton:
    return Skeleton(
        name="arm",
        keypoints=("neck", "left_wrist", "right_wrist"),
        guidelines=(
            ("right_wrist", KeypointGuideline("centre of the joint", "estimate", "a/b.svg")),
            ("neck", KeypointGuideline("base of the neck")),
        ),
        guideline_text="person's own left and right",
    )


def test_round_trip_keeps_guidelines_in_schema_order() -> None:
    arm = _arm()
    assert [name for name, _ in arm.guidelines] == ["neck", "right_wrist"]
    data = json.loads(json.dumps(arm.to_dict()))
    assert data["guidelines"] == {
        "general": "person's own left and right",
        "keypoints": {
            "neck": {"rule": "base of the neck"},
            "right_wrist": {
                "rule": "centre of the joint",
                "occlusion_rule": "estimate",
                "picture": "a/b.svg",
            },
        },
    }
    again = skeleton_from_dict(data, "round trip")
    assert again.guidelines == arm.guidelines
    assert again.guideline_text == arm.guideline_text
    assert again.guideline_of("right_wrist") == KeypointGuideline(
        "centre of the joint", "estimate", "a/b.svg"
    )
    assert again.guideline_of("left_wrist") is None


def test_guidelines_are_documentation_not_schema() -> None:
    """A skeleton read from a COCO file (no guidelines) still equals the built-in."""
    arm = _arm()
    bare = Skeleton(name="arm", keypoints=arm.keypoints)
    assert bare == arm and hash(bare) == hash(arm)
    assert "guidelines" not in bare.to_dict()


@pytest.mark.parametrize("name", ["coco17", "mpii16"])
def test_builtins_carry_a_rule_occlusion_rule_and_picture_for_every_keypoint(name: str) -> None:
    skeleton = load_builtin(name)
    assert [kp for kp, _ in skeleton.guidelines] == list(skeleton.keypoints)
    assert "person's" in skeleton.guideline_text.lower()
    pictures = resources.files("posemark.schemas") / "pictures"
    for kp, guide in skeleton.guidelines:
        assert len(guide.rule) > 20 and guide.occlusion_rule, kp
        assert guide.picture == f"{name}/{kp}.svg"
        assert (pictures / name / f"{kp}.svg").is_file(), kp
    again = skeleton_from_dict(json.loads(json.dumps(skeleton.to_dict())), "round trip")
    assert again.guidelines == skeleton.guidelines


def test_coco_guidelines_use_cocos_visibility_definitions() -> None:
    text = load_builtin("coco17").guideline_text
    for phrase in ("2 = labeled and visible", "1 = labeled but not visible", "0 = not"):
        assert phrase in text


def test_mpii_guidelines_follow_mpii_joint_definitions() -> None:
    mpii = load_builtin("mpii16")
    assert "two hip joints" in mpii.guideline_of("pelvis").rule  # type: ignore[union-attr]
    assert "PCKh" in mpii.guideline_text
    assert "person's perspective" in mpii.guideline_text


@pytest.mark.parametrize("name", ["coco17", "mpii16"])
def test_shipped_pictures_are_what_the_generator_draws(name: str) -> None:
    skeleton = load_builtin(name)
    pictures = resources.files("posemark.schemas") / "pictures"
    drawn = pictures_for(skeleton)
    assert set(drawn) == {g.picture for _, g in skeleton.guidelines}
    for picture, svg in drawn.items():
        folder, file = picture.split("/")
        assert (pictures / folder / file).read_text("utf-8") == svg, picture


@pytest.mark.parametrize(
    ("guidelines", "message"),
    [
        ("be careful", r"custom.yaml: guidelines: expected a mapping"),
        ({"keypoints": {"tail": "x"}}, r"custom.yaml: guidelines: names unknown keypoint 'tail'"),
        ({"keypoints": {"a": {"rule": 3}}}, r"guidelines.keypoints\['a'\].rule: expected text"),
        ({"keypoints": {"a": {"occlusion_rule": "x"}}}, r"guidelines.keypoints\['a'\].rule: req"),
        ({"rules": {}}, r"guidelines: unknown field 'rules'"),
    ],
)
def test_bad_guidelines_name_file_and_field(guidelines: object, message: str) -> None:
    data = {"name": "custom", "keypoints": ["a", "b"], "guidelines": guidelines}
    with pytest.raises(PoseValidationError, match=message):
        skeleton_from_dict(data, "custom.yaml")


def test_a_plain_text_rule_is_accepted_in_a_hand_written_file() -> None:
    text = "name: s\nkeypoints: [a]\nguidelines:\n  keypoints:\n    a: tip of the nose\n"
    skeleton = skeleton_from_text(text, "s.yaml")
    assert skeleton.guideline_of("a") == KeypointGuideline("tip of the nose")
