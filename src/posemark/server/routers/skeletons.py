"""The built-in skeletons a new project can use."""

from __future__ import annotations

from fastapi import APIRouter

from posemark.schemas import list_builtin
from posemark.server.auth import CurrentUser

router = APIRouter(tags=["skeletons"])


@router.get("/skeletons")
def skeletons(caller: CurrentUser) -> list[dict[str, object]]:
    return [
        {"name": s.name, "keypoints": list(s.keypoints), "description": s.description}
        for s in list_builtin()
    ]
