"""Keeping an imported COCO file's records in the store, with ids that never collide.

The first COCO file imported into a project gives the project its document-level
members (``info``, ``licenses``, ``categories``, members of its own); a later file adds
the categories and licenses whose ids are new. Image and annotation ids are kept as the
file has them unless the project already uses one: those are renumbered above the
largest id the project has seen, with a warning, because an export with two images or
two annotations of one id is no longer a COCO file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from posemark.services.coco_import import CocoImport
from posemark.store.models import Project
from posemark.store.source_models import ItemSource, ProjectSource

_IN_CHUNK = 500


def prepare_sources(
    session: Session,
    project: Project,
    planned: list[tuple[Mapping[str, Any], dict[str, Any]]],
    coco: CocoImport,
) -> tuple[ProjectSource, list[str]]:
    """The project's source row (new or merged) and warnings; renumbers colliding ids in
    the ``(document, source record)`` pairs in place, before they are stored."""
    placer = SourcePlacer(
        session,
        project,
        coco,
        lambda: (
            [int(rec["image"].get("id", 0)) for _, rec in planned],
            [int(r["id"]) for _, rec in planned for r in _records(rec) if "id" in r],
        ),
    )
    placer.place(planned)
    return placer.src, placer.warnings()


class SourcePlacer:
    """The project's source row for one import, and the placing of its records chunk
    by chunk: ids the project already uses are renumbered above its largest, positions
    number on after the project's. ``incoming``: every image id and annotation id of
    the import (asked only when the project has records already)."""

    def __init__(
        self,
        session: Session,
        project: Project,
        coco: CocoImport,
        incoming: Callable[[], tuple[Iterable[int], Iterable[int]]],
    ) -> None:
        self.used: tuple[set[int], set[int]] | None = None
        self.moved = [0, 0]
        src = session.get(ProjectSource, project.id)
        if src is None:
            src = ProjectSource(
                project_id=project.id,
                document=coco.document,
                key_order=coco.key_order,
                max_image_id=0,
                max_annotation_id=0,
                category_id=coco.category_id,
                next_position=0,
                in_order=True,
            )
            session.add(src)
        else:
            src.document = _merged(src.document, coco.document)
            used_images, used_anns = _used_ids(session, project.id)
            images, anns = incoming()
            self.next_image = max([int(src.max_image_id or 0), *used_images]) + 1
            self.next_ann = max([int(src.max_annotation_id or 0), *used_anns]) + 1
            self.next_image = max([self.next_image, *(i + 1 for i in images)])
            self.next_ann = max([self.next_ann, *(i + 1 for i in anns)])
            self.used = (used_images, used_anns)
        self.src = src
        # positions number on across imports; an out-of-order file, or a file whose
        # first image does not come after the project's items, needs the export to sort
        self.offset = int(src.next_position or 0)
        src.next_position = self.offset + coco.annotation_count
        src.in_order = bool(src.in_order) and coco.in_order

    def place(self, planned: list[tuple[Mapping[str, Any], dict[str, Any]]]) -> None:
        """Renumbers and positions one chunk's ``(document, source record)`` pairs in
        place, before they are stored."""
        if self.used is not None:
            self._renumber(planned, *self.used)
        for _, rec in planned:
            for entry in rec["instances"].values():
                entry[2] += self.offset
            for entry in rec["others"]:
                entry[0] += self.offset
        src = self.src
        image_ids = [int(rec["image"].get("id", 0)) for _, rec in planned]
        ann_ids = [
            int(r["id"])
            for _, rec in planned
            for r in _records(rec)
            if isinstance(r.get("id"), int) and not isinstance(r.get("id"), bool)
        ]
        src.max_image_id = max([int(src.max_image_id or 0), *image_ids])
        src.max_annotation_id = max([int(src.max_annotation_id or 0), *ann_ids])

    def warnings(self) -> list[str]:
        images_moved, anns_moved = self.moved
        if not (images_moved or anns_moved):
            return []
        return [
            f"{images_moved} image id(s) and {anns_moved} annotation id(s) of this file were "
            "already used in the project and were given new ids above the project's largest"
        ]

    def _renumber(
        self,
        planned: list[tuple[Mapping[str, Any], dict[str, Any]]],
        used_images: set[int],
        used_anns: set[int],
    ) -> None:
        for doc, rec in planned:
            image = rec["image"]
            if int(image.get("id", 0)) in used_images:
                image = rec["image"] = {**image, "id": self.next_image}
                self.next_image += 1
                self.moved[0] += 1
                for r in _records(rec):
                    r["image_id"] = image["id"]
            renamed: dict[str, str] = {}
            kept: dict[str, Any] = {}
            for iid, entry in rec["instances"].items():
                record = entry[1]
                if record.get("id") in used_anns:
                    record["id"] = self.next_ann
                    self.next_ann += 1
                    self.moved[1] += 1
                    renamed[iid] = f"a{record['id']}"
                kept[renamed.get(iid, iid)] = entry
            rec["instances"] = kept
            for _pos, r in rec["others"]:
                if r.get("id") in used_anns:
                    r["id"] = self.next_ann
                    self.next_ann += 1
                    self.moved[1] += 1
            for inst in doc["instances"]:
                inst["id"] = renamed.get(inst["id"], inst["id"])


def store_sources(
    session: Session, project_id: int, rows: Iterable[tuple[int, dict[str, Any]]]
) -> None:
    """``(item id, source record)`` rows, inserted in bulk."""
    values = [
        {
            "item_id": item_id,
            "project_id": project_id,
            "image_id": int(rec["image"].get("id", 0)),
            "image": rec["image"],
            "instances": rec["instances"],
            "others": rec["others"],
        }
        for item_id, rec in rows
    ]
    if values:
        session.execute(insert(ItemSource), values)


def _records(rec: dict[str, Any]) -> Iterable[dict[str, Any]]:
    for entry in rec["instances"].values():
        yield entry[1]
    for entry in rec["others"]:
        yield entry[1]


def _merged(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    out = dict(old)
    for key in ("categories", "licenses"):
        have = out.get(key)
        incoming = new.get(key)
        if isinstance(have, list) and isinstance(incoming, list):
            ids = {c.get("id") for c in have if isinstance(c, dict)}
            added = [c for c in incoming if isinstance(c, dict) and c.get("id") not in ids]
            out[key] = have + added
    for key, value in new.items():
        out.setdefault(key, value)
    return out


def _used_ids(session: Session, project_id: int) -> tuple[set[int], set[int]]:
    images: set[int] = set()
    annotations: set[int] = set()
    rows = session.execute(
        select(ItemSource.image_id, ItemSource.instances, ItemSource.others).where(
            ItemSource.project_id == project_id
        )
    )
    for image_id, instances, others in rows:
        images.add(int(image_id))
        for rec in _records({"instances": instances, "others": others}):
            if isinstance(rec.get("id"), int):
                annotations.add(int(rec["id"]))
    return images, annotations
