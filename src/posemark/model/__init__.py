"""The pose data model: pure values and columns, no file, database or web imports."""

from posemark.model.columns import RaggedBytes
from posemark.model.dataset import (
    ABSENT,
    Category,
    Dataset,
    ExtraKey,
    FrameTable,
    InstanceTable,
    RowExtras,
)
from posemark.model.errors import PoseValidationError
from posemark.model.frame import Frame
from posemark.model.instance import Instance
from posemark.model.skeleton import KeypointGuideline, Skeleton, infer_flip_pairs
from posemark.model.track import Track
from posemark.model.visibility import Source, Visibility

__all__ = [
    "ABSENT",
    "Category",
    "Dataset",
    "ExtraKey",
    "Frame",
    "FrameTable",
    "Instance",
    "InstanceTable",
    "KeypointGuideline",
    "PoseValidationError",
    "RaggedBytes",
    "RowExtras",
    "Skeleton",
    "Source",
    "Track",
    "Visibility",
    "infer_flip_pairs",
]
