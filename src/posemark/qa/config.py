"""Thresholds of the automated checks; every number a check uses lives here."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class QaConfig:
    """Thresholds; distances are relative to the person scale (see ``checks.person_scale``).

    - ``min_labeled``: ``too_few_keypoints`` flags non-crowd instances with fewer labeled
      keypoints than this (default 1: only instances with no keypoint at all).
    - ``outside_box_margin``: ``outside_box`` tolerates a keypoint this fraction of the
      box's width (x) / height (y) outside the box.
    - ``duplicate_oks``: ``duplicate_instance`` flags two instances of one image and
      category whose OKS is above this.
    - ``default_sigma``: OKS sigma per keypoint when the skeleton has none.
    - ``bone_z``: ``bone_length_outlier`` flags a robust z above this (long bones); the z-score is
      of log(bone length / scale) against the category's median, MAD * 1.4826 as spread.
    - ``bone_min_samples``: an edge needs this many measured instances to be judged.
    - ``bone_min_mad``: floor of the MAD in log units (0.05 ~ 5 %), so that a handful of
      near-identical bones does not make every small difference an outlier.
    - ``swap_ratio``: ``swapped_with_other_person`` flags a keypoint whose distance to
      its own skeleton neighbours is more than this times its distance to another
      instance's corresponding chain ...
    - ``swap_min_gap``: ... and the two distances differ by more than this (x scale).
      Measured: 0.3 flagged 6 keypoints of crowded, correctly labeled people in
      xtcocoapi's example_wholebody_val.json, 0.75 none; moving each keypoint of one
      person of test_coco.json's 5-person image onto another's joint is still caught
      242 times out of 288 (0.5: 248).
    - ``limb_swap_ratio``: ``left_right_inversion`` flags a limb pair (elbows, wrists,
      knees, ankles) when attaching each side to the other side's parent joint makes the
      two bones shorter in total than this fraction of the labeled attachment ...
    - ``limb_swap_min_bone``: ... and the labeled bones average more than this x scale.
    - ``min_orientation_sin``: an orientation cue (a left-right vector against the torso
      vector) counts only when |sin| of their angle is at least this (profile views give
      nearly parallel vectors whose sign is noise).
    """

    min_labeled: int = 1
    outside_box_margin: float = 0.1
    duplicate_oks: float = 0.9
    default_sigma: float = 0.05
    bone_z: float = 5.0
    bone_min_samples: int = 8
    bone_min_mad: float = 0.05
    swap_ratio: float = 3.0
    swap_min_gap: float = 0.75
    limb_swap_ratio: float = 0.5
    limb_swap_min_bone: float = 0.4
    min_orientation_sin: float = 0.3
