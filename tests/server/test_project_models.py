"""A project's own model: Train on its confirmed people (a custom skeleton), versions
listed, adoption only when the validation error beats the one in use, and Suggest on an
unlabeled item answering in the project's keypoints. The handler runs in-process (the
operation layer itself is tested in test_operations.py); training is a few seconds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from serverkit import Server, upload

from posemark.services import operations
from posemark.services.project_models import models_dir, start
from posemark.services.projects import get_project
from posemark.store.models import User

GECKO = {
    "name": "gecko",
    "keypoints": ["head", "left_hand", "right_hand", "tail"],
    "edges": [["head", "tail"], ["left_hand", "right_hand"]],
}
COLOURS = ((255, 40, 40), (40, 255, 40), (40, 40, 255), (255, 255, 40))


def _pictures(folder: Path, n: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    folder.mkdir()
    truth = {}
    for i in range(n):
        image = np.full((60, 80, 3), 90, dtype=np.uint8)
        pts = np.column_stack([rng.uniform(6, 74, 4), rng.uniform(6, 54, 4)])
        for (x, y), colour in zip(pts, COLOURS, strict=True):
            image[int(y) - 2 : int(y) + 3, int(x) - 2 : int(x) + 3] = colour
        Image.fromarray(image).save(folder / f"g{i}.png")
        truth[f"g{i}.png"] = pts
    return truth


@pytest.fixture
def project(admin: TestClient, tmp_path: Path) -> tuple[int, dict[str, dict[str, Any]]]:
    """Seven pictures; six carry one confirmed gecko, one is left unlabeled."""
    truth = _pictures(tmp_path / "pics", 7)
    r = admin.post("/api/projects", json={"name": "geckos", "skeleton": GECKO})
    assert r.status_code == 201, r.text
    pid: int = r.json()["id"]
    r = admin.post(f"/api/projects/{pid}/import", files=upload(tmp_path / "pics"))
    assert r.status_code == 200, r.text
    listing = admin.get(f"/api/projects/{pid}/items").json()["items"]
    items = {i["file_name"]: admin.get(f"/api/items/{i['id']}").json() for i in listing}
    for name, pts in truth.items():
        if name == "g6.png":
            continue
        inst = {
            "id": "i1",
            "keypoints": [[float(x), float(y), 2] for x, y in pts],
            "bbox": None,
            "bbox_mode": "derived",
            "source": "human",
            "confirmed": True,
            "track_id": None,
        }
        r = admin.put(
            f"/api/items/{items[name]['id']}/annotation",
            json={"base_version": items[name]["version"], "annotation": {"instances": [inst]}},
        )
        assert r.status_code == 200, r.text
    return pid, items


def _train(server: Server, pid: int) -> dict[str, Any]:
    queued: list[int] = []
    with server.session() as session:
        admin_user = session.get(User, 1)
        assert admin_user is not None
        access = get_project(session, admin_user, pid)
        oid = start(session, queued.append, access, admin_user, 0.02).id
    assert queued == [oid]
    assert operations.execute(server.store.sessionmaker, server.settings, oid) == "done"
    op: dict[str, Any] = server.admin().get(f"/api/projects/{pid}/operations/{oid}").json()
    assert op["kind"] == "train" and op["state"] == "done"
    return op["result"]  # type: ignore[no-any-return]


def test_train_versions_adopts_and_suggests_in_the_project_skeleton(
    server: Server, admin: TestClient, project: tuple[int, dict[str, dict[str, Any]]]
) -> None:
    pid, items = project
    assert admin.get(f"/api/projects/{pid}/models").json() == {"in_use": None, "models": []}
    first = _train(server, pid)
    assert (first["version"], first["adopted"], first["previous_version"]) == (1, True, None)
    assert (first["train_images"], first["validation_images"]) == (5, 1)
    assert first["validation_rmse"] is not None
    listed = admin.get(f"/api/projects/{pid}/models").json()
    assert listed["in_use"] == 1
    (v1,) = listed["models"]
    assert v1["in_use"] and v1["keypoints"] == GECKO["keypoints"]
    assert v1["validation"]["rmse_px"] == first["validation_rmse"]

    # Suggest on the unlabeled picture runs the project's model, in its keypoints
    r = admin.post(f"/api/items/{items['g6.png']['id']}/suggest", json={"min_score": 0})
    assert r.status_code == 200, r.text
    (inst,) = r.json()["instances"]
    assert len(inst["keypoints"]) == 4 and inst["source"] == "model"
    assert all(kp[2] == 2 for kp in inst["keypoints"])

    # a second version replaces the first only when its validation error is lower
    second = _train(server, pid)
    assert second["version"] == 2 and second["previous_version"] == 1
    assert second["previous_validation_rmse"] == first["validation_rmse"]
    better = second["validation_rmse"] < first["validation_rmse"]
    assert second["adopted"] == better
    listed = admin.get(f"/api/projects/{pid}/models").json()
    assert listed["in_use"] == (2 if better else 1)
    assert [m["version"] for m in listed["models"]] == [2, 1]


def test_train_needs_confirmed_people_and_sane_minutes(server: Server, admin: TestClient) -> None:
    r = admin.post("/api/projects", json={"name": "empty", "skeleton": GECKO})
    pid = r.json()["id"]
    for minutes in (0, -1, 1e6, "soon"):
        r = admin.post(f"/api/projects/{pid}/train", json={"minutes": minutes})
        assert r.status_code in (400, 422), (minutes, r.text)
    r = admin.post(f"/api/projects/{pid}/train", json={"minutes": 0.01})
    assert r.status_code == 202, r.text
    oid = r.json()["id"]
    assert operations.execute(server.store.sessionmaker, server.settings, oid) == "failed"
    op = admin.get(f"/api/projects/{pid}/operations/{oid}").json()
    assert "no confirmed person" in str(op)


def test_deleting_the_project_removes_its_trained_models(
    server: Server, admin: TestClient, project: tuple[int, dict[str, dict[str, Any]]]
) -> None:
    pid, _ = project
    assert _train(server, pid)["version"] == 1
    folder = models_dir(server.settings, pid)
    assert (folder / "v1" / "model.json").is_file()
    r = admin.delete(f"/api/projects/{pid}", params={"confirm": "geckos"})
    assert r.status_code == 200, r.text
    assert folder.is_dir()  # removed with the rest, by the worker
    assert server.run_operations() == ["done"]
    assert not folder.exists()
    assert (server.settings.data_dir / "models").is_dir()  # other projects' models stay


def test_qa_image_evidence_takes_the_adopted_model_in_the_project_skeleton(
    server: Server,
    admin: TestClient,
    project: tuple[int, dict[str, dict[str, Any]]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from posemark.assist.protocol import AssistError
    from posemark.assist.trained_model import TrainedPoseModel
    from posemark.formats import registry
    from posemark.schemas import load_builtin
    from posemark.services.qa_model import model_poses, trusted

    pid, items = project
    assert _train(server, pid)["adopted"]
    folder = models_dir(server.settings, pid) / "v1"
    model = TrainedPoseModel(folder)
    gecko = model.skeleton
    assert trusted(model, [gecko])
    assert not trusted(model, [load_builtin("coco17")])  # its keypoints mean nothing there
    assert not trusted(model, [])

    # posemark qa FILE --images DIR --model trained:DIR on the project's own export
    exported = tmp_path / "geckos.json"
    exported.write_bytes(admin.get(f"/api/projects/{pid}/export").content)
    dataset = registry.read(exported)
    poses = model_poses(dataset, tmp_path / "pics", f"trained:{folder}")
    assert set(poses) == {int(i) for i in dataset.instances.ids}
    for pose in poses.values():
        assert pose.points.shape == (4, 2) and np.isfinite(pose.points).all()
        assert ((pose.scores >= 0) & (pose.scores <= 1)).all()
        assert (pose.slack == 0).all()  # the model's own keypoints, none stood in

    # data in another skeleton is refused, naming both skeletons
    coco = tmp_path / "coco.json"
    coco.write_text(
        '{"images": [{"id": 1, "file_name": "g0.png", "width": 80, "height": 60}],'
        '"annotations": [{"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0,'
        '"bbox": [1, 1, 70, 50], "area": 3500, "num_keypoints": 1,'
        '"keypoints": [10, 10, 2' + ", 0, 0, 0" * 16 + "]}],"
        '"categories": [{"id": 1, "name": "person", "keypoints": '
        + str(list(load_builtin("coco17").keypoints)).replace("'", '"')
        + ', "skeleton": []}]}'
    )
    with pytest.raises(AssistError, match="trained on the keypoints head, left_hand"):
        model_poses(registry.read(coco), tmp_path / "pics", f"trained:{folder}")

    # the item's QA (the editor's) runs the adopted model on the item's person
    from posemark.assist.suggest import cached_model
    from posemark.services.project_models import model_for

    name = model_for(server.settings, pid, "default")
    assert name == f"trained:{folder}"
    served = cached_model(name)
    asked: list[int] = []
    real = served.predict

    def counted(image: np.ndarray, boxes: np.ndarray | None = None) -> list[Any]:
        asked.append(0 if boxes is None else len(boxes))
        return real(image, boxes)

    monkeypatch.setattr(served, "predict", counted)
    r = admin.get(f"/api/items/{items['g0.png']['id']}/qa")
    assert r.status_code == 200, r.text
    assert asked == [1]  # one call, prompted with the item's one gecko


def test_cli_train_from_a_project_trains_on_its_confirmed_people(
    server: Server, project: tuple[int, dict[str, dict[str, Any]]], tmp_path: Path
) -> None:
    """``posemark train PROJECT --data DIR --db URL --out MODEL_DIR``: the project's own
    skeleton and its confirmed people (six items; the unlabeled seventh is not used)."""
    from typer.testing import CliRunner

    from posemark.assist.trained_dir import read_info
    from posemark.cli.main import app

    pid, _ = project
    where = ["--data", str(server.settings.data_dir), "--db", server.settings.db_url]
    runner = CliRunner()
    out = tmp_path / "model"
    args = ["train", "geckos", "--out", str(out), "--time-limit", "0.01", "--canvas", "64"]
    res = runner.invoke(app, [*args, *where])
    assert res.exit_code == 0, res.output
    assert "validation RMSE" in res.output
    info = read_info(out)
    assert info.skeleton.keypoints == tuple(GECKO["keypoints"])
    assert info.training["train_images"] == 5 and info.validation["images"] == 1
    # by id too; the project's folder of models is not touched (nothing adopted)
    res = runner.invoke(app, ["train", str(pid), "--out", str(tmp_path / "m2"), *args[4:], *where])
    assert res.exit_code == 0, res.output
    assert not models_dir(server.settings, pid).exists()

    res = runner.invoke(app, ["train", "no-such", "--out", str(tmp_path / "m3"), *where])
    assert res.exit_code == 1
    assert "no-such: no such file, and no project of that name or id" in res.output
    res = runner.invoke(app, [*args, "--images", str(tmp_path), *where])
    assert res.exit_code == 1 and "--images: only for an annotation file" in res.output
    empty = server.admin().post("/api/projects", json={"name": "bare", "skeleton": GECKO})
    assert empty.status_code == 201
    res = runner.invoke(app, ["train", "bare", "--out", str(tmp_path / "m4"), *where])
    assert res.exit_code == 1 and "'bare': no confirmed person to train on" in res.output
    assert not (tmp_path / "m3").exists() and not (tmp_path / "m4").exists()
