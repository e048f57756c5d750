"""The registry of automated checks: every check, by name, in the order they report.

Each check is a small vectorised function ``(CheckInput) -> list[Finding]`` living in
the module of its kind: :mod:`~posemark.qa.sides` (left/right), :mod:`~posemark.qa.crowd`
(between people of one image), :mod:`~posemark.qa.body` (against the body prior),
:mod:`~posemark.qa.placement` (image, box, visibility flags), :mod:`~posemark.qa.video`
(jumps, identity switches) and :mod:`~posemark.qa.model_agreement` (image evidence).
The runner, the CLI, the server and the docs read this one table.
"""

from __future__ import annotations

from posemark.qa import body, crowd, model_agreement, placement, sides, video
from posemark.qa.inputs import Check

_ORDER = (
    sides.left_right_inversion,
    crowd.swapped_with_other_person,
    body.bone_length_outlier,
    placement.outside_image,
    placement.outside_box,
    crowd.duplicate_instance,
    placement.too_few_keypoints,
    placement.inconsistent_visibility,
    video.track_jump,
    video.identity_switch,
    model_agreement.model_agreement,
)

CHECKS: dict[str, Check] = {check.__name__: check for check in _ORDER}
"""Check name -> check; a name is what findings, project settings and ``--only`` use."""
