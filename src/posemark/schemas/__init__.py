"""Built-in skeletons (shipped as YAML data files) and loading of custom skeleton files."""

from posemark.schemas.loader import (
    FIELDS,
    SKELETON_FILE_SUFFIXES,
    list_builtin,
    load_builtin,
    load_skeleton_file,
    match_builtin,
    resolve_skeleton,
    skeleton_from_dict,
    skeleton_from_text,
)

__all__ = [
    "FIELDS",
    "SKELETON_FILE_SUFFIXES",
    "list_builtin",
    "load_builtin",
    "load_skeleton_file",
    "match_builtin",
    "resolve_skeleton",
    "skeleton_from_dict",
    "skeleton_from_text",
]
