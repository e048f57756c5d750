"""Proposed positions for an instance's hidden keypoints (services/occluded.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from posemark.server.auth import ItemDep, SettingsDep
from posemark.services.occluded import estimate_for_item

router = APIRouter(prefix="/items", tags=["assist"])


class EstimateBody(BaseModel):
    instance_id: str
    keypoints: list[str] | None = None  # which to estimate; default: every one not visible
    points: Any = None  # the instance's [x, y, v] triples as on screen; default: as stored
    model: str | None = None  # a pose model's name to ask as well (posemark.assist)


@router.post("/{iid}/estimate")
def estimate(body: EstimateBody, access: ItemDep, settings: SettingsDep) -> dict[str, Any]:
    return estimate_for_item(
        settings, access, body.instance_id, body.keypoints, body.points, body.model
    )
