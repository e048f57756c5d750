"""Model-assisted keypoints: pose models behind one protocol, a registry open to plugins,
mapping to the project's skeleton, and ``suggest`` for the editor and batch jobs."""

from posemark.assist.mapping import map_instances, mapping_table
from posemark.assist.protocol import AssistError, MissingExtraError, PoseModel, UnknownModelError
from posemark.assist.registry import ENTRY_POINT_GROUP, available_models, get_model
from posemark.assist.suggest import suggest

__all__ = [
    "ENTRY_POINT_GROUP",
    "AssistError",
    "MissingExtraError",
    "PoseModel",
    "UnknownModelError",
    "available_models",
    "get_model",
    "map_instances",
    "mapping_table",
    "suggest",
]
