"""Built-in skeleton data files and custom skeleton files (YAML / JSON)."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path

import pytest

from posemark.model import PoseValidationError, Skeleton
from posemark.schemas import (
    list_builtin,
    load_builtin,
    load_skeleton_file,
    match_builtin,
    resolve_skeleton,
    skeleton_from_dict,
)

EXPECTED_K = {
    "coco17": 17,
    "mpii16": 16,
    "crowdpose14": 14,
    "aic14": 14,
    "halpe26": 26,
    "halpe136": 136,
    "coco_wholebody133": 133,
    "blazepose33": 33,
    "hand21": 21,
    "ap10k17": 17,
    "posetrack17": 17,
}
COCO_SIGMAS = (
    0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072,
    0.062, 0.062, 0.107, 0.107, 0.087, 0.087, 0.089, 0.089,
)  # fmt: skip
SIDE = re.compile(r"(?<![a-z])(left|right)(?![a-z])|^(l|r)_|_(l|r)$|^(L|R)_")
BUILTINS = sorted(EXPECTED_K)


def _other_side(name: str) -> str | None:
    """The mirrored name (left <-> right), or None when the name carries no side marker."""
    match = SIDE.search(name)
    if match is None:
        return None
    token = match.group(0)
    swapped = {"left": "right", "right": "left", "l_": "r_", "r_": "l_", "_l": "_r", "_r": "_l"}
    swapped |= {"L_": "R_", "R_": "L_"}
    return name[: match.start()] + swapped[token] + name[match.end() :]


@pytest.fixture(params=BUILTINS)
def builtin(request: pytest.FixtureRequest) -> Skeleton:
    """Each shipped skeleton in turn."""
    return load_builtin(request.param)


# --- built-ins ---------------------------------------------------------------------


def test_all_builtins_are_listed() -> None:
    assert sorted(s.name for s in list_builtin()) == BUILTINS


def test_every_data_file_is_a_builtin() -> None:
    data = resources.files("posemark.schemas") / "data"
    stems = sorted(e.name.removesuffix(".yaml") for e in data.iterdir() if e.name.endswith(".yaml"))
    assert stems == BUILTINS


def test_keypoint_counts(builtin: Skeleton) -> None:
    assert builtin.num_keypoints == EXPECTED_K[builtin.name]


def test_coco_sigmas_exact() -> None:
    assert load_builtin("coco17").sigmas == COCO_SIGMAS


def test_coco_edges_are_cocos_19() -> None:
    # The skeleton in every COCO person_keypoints file, 1-based.
    coco_1_based = [
        [16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12], [7, 13], [6, 7], [6, 8],
        [7, 9], [8, 10], [9, 11], [2, 3], [1, 2], [1, 3], [2, 4], [3, 5], [4, 6], [5, 7],
    ]  # fmt: skip
    assert [list(e) for e in load_builtin("coco17").edges] == [
        [a - 1, b - 1] for a, b in coco_1_based
    ]


def test_sigmas_of_other_sources() -> None:
    crowd = load_builtin("crowdpose14").sigmas
    assert crowd == (0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107, 0.107, 0.087, 0.087,
                     0.089, 0.089, 0.079, 0.079)  # fmt: skip
    aic = load_builtin("aic14").sigmas
    assert aic is not None and aic[0] == 0.01388152 and aic[-1] == 0.01236173
    ap10k = load_builtin("ap10k17").sigmas
    assert ap10k is not None and ap10k[:3] == (0.025, 0.025, 0.026)
    whole = load_builtin("coco_wholebody133").sigmas
    hand = load_builtin("hand21").sigmas
    assert whole is not None and hand is not None
    assert whole[:17] == COCO_SIGMAS
    assert whole[91:112] == hand and whole[112:] == hand
    assert load_builtin("blazepose33").sigmas is None


def test_keypoint_orders_match_sources() -> None:
    mpii = load_builtin("mpii16").keypoints
    assert mpii[:3] == ("right_ankle", "right_knee", "right_hip")
    assert mpii[6:10] == ("pelvis", "thorax", "upper_neck", "head_top")
    assert mpii[-1] == "left_wrist"
    assert load_builtin("crowdpose14").keypoints[-2:] == ("head", "neck")
    aic = load_builtin("aic14").keypoints
    assert aic[0] == "right_shoulder" and aic[-2:] == ("head_top", "neck")
    assert load_builtin("halpe26").keypoints[:17] == load_builtin("coco17").keypoints
    blaze = load_builtin("blazepose33").keypoints
    assert blaze[:4] == ("nose", "left_eye_inner", "left_eye", "left_eye_outer")
    assert blaze[9:11] == ("mouth_left", "mouth_right") and blaze[32] == "right_foot_index"
    whole = load_builtin("coco_wholebody133").keypoints
    assert whole[17] == "left_big_toe" and whole[23] == "face-0" and whole[90] == "face-67"
    assert whole[91] == "left_hand_root" and whole[112] == "right_hand_root"
    hand = load_builtin("hand21").keypoints
    assert hand[:2] == ("wrist", "thumb1") and hand[-1] == "pinky_finger4"
    ap10k = load_builtin("ap10k17").keypoints
    assert ap10k[4] == "root_of_tail" and ap10k[7] == "left_front_paw"


def test_flip_pairs_are_name_consistent(builtin: Skeleton) -> None:
    names = builtin.keypoints
    paired = {}
    for a, b in builtin.flip_pairs:
        paired[a], paired[b] = b, a
        other_a, other_b = _other_side(names[a]), _other_side(names[b])
        if other_a is None and other_b is None:
            continue  # e.g. wholebody face contour points: no side word in either name
        assert (other_a, other_b) == (names[b], names[a]), (names[a], names[b])
    # permutation is an involution: flipping twice is the identity
    perm = builtin.flip_permutation()
    assert [perm[p] for p in perm] == list(range(len(names)))
    # every left/right keypoint whose mirror exists is paired with it
    for i, name in enumerate(names):
        mirror = _other_side(name)
        if mirror is not None and mirror in names:
            assert paired.get(i) == names.index(mirror), name


def test_edges_are_valid_and_unique(builtin: Skeleton) -> None:
    k = builtin.num_keypoints
    assert builtin.edges
    undirected = [frozenset(e) for e in builtin.edges]
    assert len(set(undirected)) == len(undirected)
    for a, b in builtin.edges:
        assert 0 <= a < k and 0 <= b < k and a != b


def test_sigmas_and_colours_cover_every_keypoint(builtin: Skeleton) -> None:
    if builtin.sigmas is not None:
        assert len(builtin.sigmas) == builtin.num_keypoints
        assert all(0 < s < 0.2 for s in builtin.sigmas)
    colors = dict(builtin.colors)
    assert set(colors) == set(builtin.keypoints)


def test_left_and_right_have_distinct_colours(builtin: Skeleton) -> None:
    sides: dict[str, set[str]] = {"left": set(), "right": set(), "center": set()}
    for i, name in enumerate(builtin.keypoints):
        if _other_side(name) is not None:
            sides[builtin.side(i)].add(builtin.color_of(name) or "")
    assert not sides["left"] & sides["right"]


def test_descriptions_are_one_line_with_source(builtin: Skeleton) -> None:
    assert builtin.description and "\n" not in builtin.description
    assert re.search(r"mmpose|mediapipe|cocoapi", builtin.description)


def test_aliases_are_unique_across_builtins() -> None:
    seen: dict[str, str] = {}
    for s in list_builtin():
        for key in (s.name, *s.aliases):
            assert key.lower() not in seen, (key, seen.get(key.lower()), s.name)
            seen[key.lower()] = s.name


@pytest.mark.parametrize(
    ("spec", "name"),
    [
        ("coco", "coco17"),
        ("COCO", "coco17"),
        (" Coco-17 ", "coco17"),
        ("coco_person", "coco17"),
        ("MPII", "mpii16"),
        ("wholebody", "coco_wholebody133"),
        ("mediapipe_pose", "blazepose33"),
        ("AP-10K", "ap10k17"),
    ],
)
def test_load_by_alias(spec: str, name: str) -> None:
    assert load_builtin(spec).name == name


def test_builtins_are_cached() -> None:
    assert load_builtin("coco17") is load_builtin("coco")


def test_unknown_builtin_lists_known_names() -> None:
    with pytest.raises(
        PoseValidationError, match=r"unknown skeleton 'cocoo'; built-in skeletons: aic14, .*coco17"
    ):
        load_builtin("cocoo")


def test_to_dict_round_trip(builtin: Skeleton) -> None:
    again = skeleton_from_dict(json.loads(json.dumps(builtin.to_dict())), "round trip")
    assert again == builtin
    assert again.aliases == builtin.aliases


# --- match_builtin -------------------------------------------------------------------


def test_match_builtin_on_coco_names() -> None:
    names = list(load_builtin("coco17").keypoints)
    assert match_builtin(names) is load_builtin("coco17")
    assert match_builtin(tuple(names)) is load_builtin("coco17")


def test_match_builtin_needs_the_same_names_in_the_same_order() -> None:
    names = list(load_builtin("coco17").keypoints)
    assert match_builtin(names[::-1]) is None
    assert match_builtin(names[:-1]) is None
    assert match_builtin([*names[:-1], "left_toe"]) is None


def test_match_builtin_ignores_case_spaces_and_hyphens() -> None:
    """AI Challenger files spell 'Right Shoulder'; it is still aic14's right_shoulder."""
    names = list(load_builtin("coco17").keypoints)
    assert match_builtin([n.upper() for n in names]) == load_builtin("coco17")
    assert match_builtin([n.replace("_", "-") for n in names]) == load_builtin("coco17")


def test_aic_file_categories_get_aic14_sigmas_and_flip_pairs(testdata: Path) -> None:
    from posemark.formats.coco_io import read_coco

    dataset = read_coco(testdata / "aic/mmpose_aic/test_aic.json")
    skeleton = dataset.categories[0].skeleton
    aic = load_builtin("aic14")
    assert skeleton.keypoints[0] == "Right Shoulder"  # the file's own spelling is kept
    assert skeleton.sigmas == aic.sigmas
    assert skeleton.flip_pairs == aic.flip_pairs
    assert [c for _, c in skeleton.colors] == [dict(aic.colors)[n] for n in aic.keypoints]


def test_match_builtin_on_real_category_names(testdata: Path) -> None:
    """Category names of real COCO and CrowdPose files find their skeleton."""
    coco = json.loads((testdata / "coco/mmpose_coco/test_coco.json").read_text())
    assert match_builtin(coco["categories"][0]["keypoints"]) == load_builtin("coco17")
    crowd = json.loads((testdata / "crowdpose/mmpose_crowdpose/test_crowdpose.json").read_text())
    assert match_builtin(crowd["categories"][0]["keypoints"]) == load_builtin("crowdpose14")


# --- custom skeleton files ---------------------------------------------------------

CUSTOM_YAML = """\
name: mouse
description: lab mouse, top view
keypoints: [snout, left_ear, right_ear, tail_base]
edges:
  - [snout, left_ear]
  - [snout, right_ear]
  - [0, 3]
flip_pairs:
  - [left_ear, right_ear]
sigmas: [0.05, 0.04, 0.04, 0.06]
colors:
  snout: '#ff0000'
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_custom_yaml_loads(tmp_path: Path) -> None:
    s = load_skeleton_file(write(tmp_path, "mouse.yaml", CUSTOM_YAML))
    assert s.name == "mouse" and s.description == "lab mouse, top view"
    assert s.keypoints == ("snout", "left_ear", "right_ear", "tail_base")
    assert s.edges == ((0, 1), (0, 2), (0, 3))
    assert s.flip_pairs == ((1, 2),)
    assert s.sigmas == (0.05, 0.04, 0.04, 0.06)
    assert s.color_of("snout") == "#ff0000"


def test_custom_json_loads(tmp_path: Path) -> None:
    data = {"name": "fly", "keypoints": ["head", "thorax", "left_wing", "right_wing"]}
    data["edges"] = [[0, 1], ["thorax", "left_wing"], ["thorax", "right_wing"]]
    s = load_skeleton_file(write(tmp_path, "fly.json", json.dumps(data)))
    assert s.edges == ((0, 1), (1, 2), (1, 3))
    assert s.flip_pairs == ((2, 3),)  # absent flip_pairs are inferred from names
    assert s.sigmas is None


def test_yml_suffix_and_explicit_empty_flip_pairs(tmp_path: Path) -> None:
    text = "name: x\nkeypoints: [left_a, right_a]\nflip_pairs: []\n"
    assert load_skeleton_file(write(tmp_path, "x.YML", text)).flip_pairs == ()


def test_resolve_skeleton(tmp_path: Path) -> None:
    assert resolve_skeleton("CrowdPose") is load_builtin("crowdpose14")
    path = write(tmp_path, "mouse.yaml", CUSTOM_YAML)
    assert resolve_skeleton(str(path)).name == "mouse"
    with pytest.raises(
        PoseValidationError,
        match=r"unknown skeleton 'nothing': not a built-in name .*built-in skeletons: aic14",
    ):
        resolve_skeleton("nothing")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            CUSTOM_YAML + "skeleton: []\n",
            r"my\.yaml: unknown field 'skeleton'; known fields: name, description",
        ),
        (
            CUSTOM_YAML.replace("[0, 3]", "[snout, elbw]"),
            r"my\.yaml: edges\[2\]: names unknown keypoint 'elbw'; known keypoints: snout",
        ),
        (
            CUSTOM_YAML.replace("[0, 3]", "[0, 9]"),
            r"my\.yaml: edges\[2\]: keypoint index 9 is outside 0\.\.3",
        ),
        (
            CUSTOM_YAML.replace("[0, 3]", "[0, 1, 2]"),
            r"my\.yaml: edges\[2\]: expected a pair of keypoint names or 0-based indices",
        ),
        (
            CUSTOM_YAML.replace(
                "  - [left_ear, right_ear]", "  - [left_ear, right_ear]\n  - [left_ear, tail_base]"
            ),
            r"my\.yaml: flip_pairs\[1\]: flip pairs must be symmetric: 'left_ear' is paired",
        ),
        (
            CUSTOM_YAML.replace("[0.05, 0.04, 0.04, 0.06]", "[0.05, 0.04]"),
            r"my\.yaml: sigmas: expected 4 values \(one per keypoint\), found 2",
        ),
        (
            CUSTOM_YAML.replace("[0.05, 0.04, 0.04, 0.06]", "[0.05, big, 0.04, 0.06]"),
            r"my\.yaml: sigmas\[1\]: expected a number, found 'big'",
        ),
        (
            CUSTOM_YAML.replace("tail_base]", "snout]"),
            r"my\.yaml: keypoints: names must be unique, found duplicates \['snout'\]",
        ),
        (
            CUSTOM_YAML.replace(
                "keypoints: [snout, left_ear, right_ear, tail_base]", "keypoints: snout"
            ),
            r"my\.yaml: keypoints: expected a list of keypoint names, found 'snout'",
        ),
        (
            CUSTOM_YAML.replace("name: mouse\n", ""),
            r"my\.yaml: name: required field is missing",
        ),
        (
            CUSTOM_YAML.replace("snout: '#ff0000'", "snout: red"),
            r"my\.yaml: colors\['snout'\]: expected '#rrggbb', found 'red'",
        ),
        (
            CUSTOM_YAML.replace("snout: '#ff0000'", "nose: '#ff0000'"),
            r"my\.yaml: colors: names unknown keypoint 'nose'",
        ),
        (
            "- just\n- a list\n",
            r"my\.yaml: expected a mapping with fields name, .*; found a list",
        ),
        ("", r"my\.yaml: expected a mapping .*; found an empty document"),
        (
            "name: x\nkeypoints: [a, b\nedges: []\n",
            r"my\.yaml: line \d+, column \d+: invalid YAML: ",
        ),
    ],
)
def test_custom_yaml_errors_name_file_and_field(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, "my.yaml", text)
    with pytest.raises(PoseValidationError, match=message) as info:
        load_skeleton_file(path)
    assert str(info.value).startswith(str(path))


def test_bad_json_names_line(tmp_path: Path) -> None:
    path = write(tmp_path, "my.json", '{\n  "name": "x",\n  "keypoints": ["a",]\n}\n')
    with pytest.raises(PoseValidationError, match=r"my\.json: line 3, column \d+: invalid JSON"):
        load_skeleton_file(path)


def test_unsupported_extension(tmp_path: Path) -> None:
    path = write(tmp_path, "my.txt", "name: x\n")
    with pytest.raises(
        PoseValidationError, match=r"my\.txt: expected a skeleton file ending in \.yaml, \.yml"
    ):
        load_skeleton_file(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PoseValidationError, match=r"absent\.yaml: file not found"):
        load_skeleton_file(tmp_path / "absent.yaml")


def test_from_dict_uses_source_prefix() -> None:
    with pytest.raises(PoseValidationError, match=r"^project 3: keypoints\[1\]: expected a non-"):
        skeleton_from_dict({"name": "x", "keypoints": ["a", 5]}, "project 3")
