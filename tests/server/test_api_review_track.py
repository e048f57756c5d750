"""The track strip without a keypoint (the instance review's strip), on SQLite and
PostgreSQL: one whole-instance crop per frame where the person is labeled, in frame
order, at the asked size; other tracks and empty instances left out."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from fastapi.testclient import TestClient
from PIL import Image

from videogen import write_video

KEYPOINTS = 17


def _person(iid: str, track: int, n: int, labeled: bool = True) -> dict[str, Any]:
    points = [
        [50.0 + 3 * k + n, 20.0 + 6 * k, 2] if labeled else [None, None, 0]
        for k in range(KEYPOINTS)
    ]
    return {"id": iid, "keypoints": points, "track_id": track}


def test_whole_instance_strip_of_a_track(admin: TestClient, tmp_path: Path) -> None:
    from posemark.services.video import close_sources

    clip = write_video(tmp_path / "clip.mp4", 5)
    pid = admin.post("/api/projects", json={"name": "vid", "skeleton": "coco17"}).json()["id"]
    files = [("files", ("clip.mp4", clip.read_bytes(), "video/mp4"))]
    assert admin.post(f"/api/projects/{pid}/import", files=files).status_code == 200
    try:
        (video,) = admin.get(f"/api/projects/{pid}/videos").json()
        items = {}
        for n in range(5):
            iid = admin.get(f"/api/videos/{video['id']}/frames/{n}/item").json()["item_id"]
            version = admin.get(f"/api/items/{iid}").json()["version"]
            # frame 2: the tracked person is there but nothing of them is labeled yet
            instances = [_person("p1", 3, n, labeled=n != 2), _person("p2", 4, n)]
            body = {"base_version": version, "annotation": {"instances": instances}}
            assert admin.put(f"/api/items/{iid}/annotation", json=body).status_code == 200
            items[n] = iid
        url = f"/api/projects/{pid}/gallery/track"
        answer = admin.get(url, params={"video_id": video["id"], "track_id": 3, "size": 64})
        assert answer.status_code == 200, answer.text
        strip = answer.json()
        assert strip["keypoint"] is None
        frames = strip["frames"]
        assert [f["frame_index"] for f in frames] == [0, 1, 3, 4]
        assert [f["item_id"] for f in frames] == [items[n] for n in (0, 1, 3, 4)]
        assert {f["instance_id"] for f in frames} == {"p1"}
        assert all(f["x"] is None and f["y"] is None for f in frames)
        query = parse_qs(urlparse(frames[1]["crop_url"]).query)
        assert "keypoint" not in query and query["size"] == ["64"]
        crop = admin.get(frames[1]["crop_url"])
        assert crop.status_code == 200, crop.text
        assert Image.open(io.BytesIO(crop.content)).size == (64, 64)

        # with a keypoint the strip is the gallery's: centred crops, the keypoint's position
        wrist = admin.get(
            url, params={"video_id": video["id"], "track_id": 4, "keypoint": "left_wrist"}
        ).json()["frames"]
        assert [f["frame_index"] for f in wrist] == list(range(5))
        assert wrist[2]["x"] == 50.0 + 3 * 9 + 2
        assert "keypoint=left_wrist" in wrist[2]["crop_url"]

        bad = admin.get(url, params={"video_id": video["id"], "track_id": 3, "size": 9})
        assert bad.status_code == 400 and "size" in bad.json()["detail"], bad.text
    finally:
        close_sources()
