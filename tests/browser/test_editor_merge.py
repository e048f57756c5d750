"""The conflict merge behind "Re-apply my changes on the latest version", run in the
browser on the editor's own module (editor/document.js): my edits are replayed onto the
newer server document without dropping either side's work."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page

K = 3  # a three-keypoint skeleton keeps the cases readable


def instance(iid: str, *keypoints: list[Any], bbox_mode: str = "derived") -> dict[str, Any]:
    kps = [list(kp) for kp in keypoints] + [[None, None, 0]] * (K - len(keypoints))
    return {
        "id": iid,
        "keypoints": kps,
        "bbox": None,
        "bbox_mode": bbox_mode,
        "source": "human",
        "confirmed": True,
        "track_id": None,
    }


def merge(page: Page, base: list, mine: list, theirs: list) -> dict[str, Any]:
    return page.evaluate(
        """async ([base, mine, theirs]) => {
            const m = await import('/editor/document.js');
            const doc = (instances) => m.normalizeDocument({instances}, 3);
            const out = m.mergeMyChanges(doc(base), doc(mine), doc(theirs));
            return {doc: out.doc, renamed: Object.fromEntries(out.renamed)};
        }""",
        [base, mine, theirs],
    )


def by_id(result: dict[str, Any]) -> dict[str, list]:
    return {inst["id"]: inst["keypoints"] for inst in result["doc"]["instances"]}


@pytest.fixture
def module_page(page: Page) -> Page:
    page.goto("/index.html#/login")
    return page


def test_edits_to_different_keypoints_of_one_instance_both_survive(module_page: Page) -> None:
    base = [instance("i1", [10, 10, 2], [20, 20, 2])]
    mine = [instance("i1", [11, 12, 2], [20, 20, 2])]
    theirs = [instance("i1", [10, 10, 2], [20, 20, 1], [30, 30, 2])]
    assert by_id(merge(module_page, base, mine, theirs)) == {
        "i1": [[11, 12, 2], [20, 20, 1], [30, 30, 2]]
    }


def test_the_same_keypoint_takes_mine_and_the_box_follows(module_page: Page) -> None:
    base = [instance("i1", [10, 10, 2], [20, 20, 2])]
    mine = [instance("i1", [10, 10, 2], [25, 26, 2])]
    theirs = [instance("i1", [10, 10, 2], [22, 22, 2])]
    result = merge(module_page, base, mine, theirs)
    assert by_id(result)["i1"][1] == [25, 26, 2]
    assert result["doc"]["instances"][0]["bbox"] == [10, 10, 15, 16]


def test_added_instances_are_kept_and_renamed_on_an_id_clash(module_page: Page) -> None:
    base: list = []
    mine = [instance("i1", [1, 1, 2])]
    theirs = [instance("i1", [50, 50, 2])]
    result = merge(module_page, base, mine, theirs)
    assert by_id(result) == {
        "i1": [[50, 50, 2], [None, None, 0], [None, None, 0]],
        "i2": [[1, 1, 2], [None, None, 0], [None, None, 0]],
    }
    assert result["renamed"] == {"i1": "i2"}


def test_deletions_apply_but_an_instance_i_edited_is_not_lost(module_page: Page) -> None:
    base = [instance("i1", [1, 1, 2]), instance("i2", [5, 5, 2])]
    mine = [instance("i2", [6, 6, 2])]  # I deleted i1 and moved i2's first keypoint
    theirs = [instance("i1", [1, 1, 2]), instance("i3", [9, 9, 2])]  # they deleted i2
    assert by_id(merge(module_page, base, mine, theirs)) == {
        "i3": [[9, 9, 2], [None, None, 0], [None, None, 0]],
        "i2": [[6, 6, 2], [None, None, 0], [None, None, 0]],
    }


def test_a_drawn_box_is_replayed(module_page: Page) -> None:
    base = [instance("i1", [10, 10, 2])]
    drawn = instance("i1", [10, 10, 2], bbox_mode="drawn")
    drawn["bbox"] = [0, 0, 40, 30]
    theirs = [instance("i1", [10, 10, 2], [12, 14, 2])]
    result = merge(module_page, base, [drawn], theirs)
    (inst,) = result["doc"]["instances"]
    assert inst["bbox_mode"] == "drawn"
    assert inst["bbox"] == [0, 0, 40, 30]
    assert inst["keypoints"][1] == [12, 14, 2]
