"""Pose metrics: OKS, COCO keypoint AP/AR (pycocotools' numbers) and PCK/PCKh.

``coco_eval`` imports its evaluator (faster-coco-eval) lazily, so importing this
package stays cheap.
"""

from posemark.metrics.coco_eval import (
    STAT_LABELS,
    EvaluationError,
    KeypointStats,
    evaluate_keypoints,
)
from posemark.metrics.oks import oks, oks_matrix
from posemark.metrics.pck import (
    PCKResult,
    head_size_from_boxes,
    head_size_from_keypoints,
    pck,
    pckh,
)

__all__ = [
    "STAT_LABELS",
    "EvaluationError",
    "KeypointStats",
    "PCKResult",
    "evaluate_keypoints",
    "head_size_from_boxes",
    "head_size_from_keypoints",
    "oks",
    "oks_matrix",
    "pck",
    "pckh",
]
