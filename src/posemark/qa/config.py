"""Thresholds of the automated checks; every number a check uses lives here."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class QaConfig:
    """Thresholds; distances are relative to the person scale (see ``checks.person_scale``).
    The values were chosen on the injected mistakes and clean people of
    ``benchmarks/bench_qa.py``; its figures are in ``benchmarks/RESULTS.md``.

    - ``min_labeled``: ``too_few_keypoints`` flags non-crowd instances with fewer labeled
      keypoints than this (default 1: only instances with no keypoint at all).
    - ``outside_box_margin``: ``outside_box`` tolerates a keypoint this fraction of the
      box's width (x) / height (y) outside the box (a finding of severity info) ...
    - ``outside_box_warn_margin``: ... and warns beyond this fraction.
    - ``duplicate_oks``: ``duplicate_instance`` flags two instances of one image and
      category whose OKS is above this.
    - ``default_sigma``: OKS sigma per keypoint when the skeleton has none.
    - ``bone_ratio``: ``bone_length_outlier`` flags a body bone whose implied body height
      (length / its share of height, learned from the data, see ``qa.prior``) is more than
      this times the largest implied by the bones touching neither of its ends.
    - ``face_bone_ratio``: the same for face bones (nose, eyes, ears), whose few-pixel
      lengths carry more annotation noise.
    - ``bone_support_ratio``: a keypoint with a long bone is reported as displaced when all
      its other bones and chains imply at least this times the reference height.
    - ``neighbour_anchors``, ``neighbour_min_samples``, ``neighbour_min_gap``: keypoints no
      anatomical bone covers are judged against their nearest keypoints in the data
      (see ``qa.body.far_from_neighbours``).
    - ``prior_min_bones``: a bone is judged only when at least this many other bones are
      labeled (the reference height needs them).
    - ``swap_fix_ratio``: ``left_right_inversion`` flags a flip pair whose bones are long as
      labeled and, swapped, at most this share of the allowed length.
    - ``min_root_width``: the limb-side cue of ``left_right_inversion`` needs the shoulders
      (arms) or hips (legs) at least this far apart (x scale); profile views are skipped.
    - ``jump_z``, ``jump_min``, ``jump_min_mad``, ``jump_min_steps``: ``track_jump`` flags a
      keypoint whose steps into and out of a frame both have a robust z above ``jump_z``
      (MAD floored at ``jump_min_mad`` x scale) and exceed ``jump_min`` x scale; tracks
      with fewer than ``jump_min_steps`` one-frame steps are skipped.
    - ``switch_ratio``, ``switch_min``: ``identity_switch`` flags two tracks whose poses
      are this many times closer exchanged than kept, moving more than ``switch_min`` x
      scale (see ``qa.video``).
    - ``swap_ratio``: ``swapped_with_other_person`` flags a keypoint whose distance to
      its own skeleton neighbours is more than this times its distance to another
      instance's corresponding chain ...
    - ``swap_min_gap``: ... and the two distances differ by more than this (x scale), so
      crowded, correctly labeled people are not flagged.
    - ``limb_swap_ratio``: ``left_right_inversion`` flags a limb pair (elbows, wrists,
      knees, ankles) when attaching each side to the other side's parent joint makes the
      two bones shorter in total than this fraction of the labeled attachment ...
    - ``limb_swap_min_bone``: ... and the labeled bones average more than this x scale.
    - ``min_orientation_sin``: an orientation cue (a left-right vector against the torso
      vector) counts only when |sin| of their angle is at least this (profile views give
      nearly parallel vectors whose sign is noise).
    - ``limb_fold_ratio``: the limb-side cue of ``left_right_inversion`` stays silent when
      swapping the pair would put a limb end within this share of the longer labeled bone
      of its own parent joint (each wrist on its own elbow): crossed arms look like that,
      a swap of arms held apart does not.
    - ``min_torso_pair_width``: shoulders or hips count as an orientation cue only when their
      width across the torso is at least this times the torso length (profile views put
      both hips on one spot).
    - ``model_*``: ``model_agreement`` (image evidence, when a pose model's predictions
      are given); its distances are x sqrt(area) (COCO's area, else the box's, else the
      labeled points' box's), so files without boxes measure like COCO ones.
    - ``model_min_score``: a model keypoint counts only when it scores at least this ...
    - ``model_min_points``: ... and judges an instance only with at least this many such
      keypoints labeled ...
    - ``model_agree``: ... whose median distance to the model's (x scale) is at most this:
      the instance agrees with the model, so the model found the same person.
    - ``model_far``: a keypoint of an agreeing instance this far (x scale) from the model's
      is reported as displaced (clean occluded knees and ankles stay nearer).
    - ``model_flip_agree``, ``model_flip_gap``, ``model_flip_ratio``: a whole-body
      inversion needs the sided keypoints to match the model mirrored (median distance
      at most ``model_flip_agree`` x scale) and as labeled at least ``model_flip_gap``
      farther and ``model_flip_ratio`` times as far (the 2D ambiguity of a back view is
      the image's, not the model's).
    - ``model_side_ratio``: the model overrules a left/right finding when the labeled
      keypoints lie at most this share as far from its keypoints (summed) as swapped.
    """

    min_labeled: int = 1
    outside_box_margin: float = 0.1
    outside_box_warn_margin: float = 0.5
    duplicate_oks: float = 0.9
    default_sigma: float = 0.05
    bone_ratio: float = 1.3
    face_bone_ratio: float = 1.6
    bone_support_ratio: float = 1.0
    neighbour_anchors: int = 3
    neighbour_min_samples: int = 4
    neighbour_min_gap: float = 0.15
    prior_min_bones: int = 2
    swap_fix_ratio: float = 1.0
    min_root_width: float = 0.15
    jump_z: float = 8.0
    jump_min: float = 0.25
    jump_min_mad: float = 0.01
    jump_min_steps: int = 5
    switch_ratio: float = 2.0
    switch_min: float = 0.2
    swap_ratio: float = 3.0
    swap_min_gap: float = 0.75
    limb_swap_ratio: float = 0.5
    limb_swap_min_bone: float = 0.4
    min_orientation_sin: float = 0.3
    limb_fold_ratio: float = 0.35
    min_torso_pair_width: float = 0.2
    model_min_score: float = 0.5
    model_min_points: int = 4
    model_agree: float = 0.15
    model_far: float = 0.35
    model_flip_agree: float = 0.125
    model_flip_gap: float = 0.05
    model_flip_ratio: float = 2.0
    model_side_ratio: float = 0.6
