"""A project's skeleton taken from the COCO file that starts it.

A file names its keypoints in its category; posemark uses the built-in skeleton when
the names are exactly a built-in's (so the project gets its guidelines and pictures), and
otherwise the category itself as a custom skeleton: its names and edges, flip pairs from
a built-in with the same keypoints spelled differently or inferred from left/right
names, and OKS sigmas when such a built-in has them. The category chosen is the one
most annotations use, so a file with a box-only class or a second skeleton still starts
the project its people need.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from posemark.model import Category, Dataset
from posemark.schemas import match_builtin
from posemark.services.errors import BadInput
from posemark.services.projects import create_project
from posemark.services.settings import Settings
from posemark.store.models import Project, User


def file_category(dataset: Dataset, label: str) -> Category:
    """The category whose skeleton the file's annotations use most."""
    if not dataset.categories:
        raise BadInput(f"{label}: categories: no category, so no skeleton to start a project")
    used = Counter(int(c) for c in dataset.instances.category_ids)
    by_id = {c.id: c for c in dataset.categories}
    best = [cid for cid, _n in used.most_common() if cid in by_id]
    return by_id[best[0]] if best else dataset.categories[0]


def skeleton_spec(category: Category) -> tuple[str | dict[str, Any], str]:
    """A built-in's name or a custom skeleton dict, and a few words saying which."""
    skeleton = category.skeleton
    builtin = match_builtin(skeleton.keypoints)
    if builtin is not None and tuple(builtin.keypoints) == tuple(skeleton.keypoints):
        return builtin.name, f"built-in skeleton {builtin.name}"
    spec = skeleton.to_dict()
    spec["name"] = category.name or skeleton.name
    sigmas = "with" if skeleton.sigmas is not None else "without"
    return spec, (
        f"custom skeleton {spec['name']!r} from category id {category.id}: "
        f"{skeleton.num_keypoints} keypoints, {len(skeleton.edges)} edges, "
        f"{len(skeleton.flip_pairs)} flip pairs, {sigmas} OKS sigmas"
    )


def create_project_from_file(
    session: Session,
    settings: Settings,
    name: str,
    dataset: Dataset,
    source: Path | str,
    creator: User | None = None,
) -> tuple[Project, str]:
    """A new project whose skeleton is the file's (module docstring), and what was chosen."""
    spec, described = skeleton_spec(file_category(dataset, str(source)))
    return create_project(session, settings, name, spec, creator), described
