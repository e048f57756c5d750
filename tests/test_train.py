"""Training a pose model for a custom skeleton: geometry, the trainer, the model folder,
and the CLI contract (``posemark train`` then ``posemark predict --model MODEL_DIR``).

Training runs are tiny (a few steps on small generated pictures): what is checked is
that the pieces agree with each other (geometry, both stages' decoding, torch and ONNX
Runtime), not accuracy (benchmarks/bench_train.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from posemark.assist import MissingExtraError, get_model, topdown
from posemark.assist import heatmaps as hm
from posemark.assist.protocol import AssistError
from posemark.assist.trained_dir import read_info
from posemark.assist.trained_model import TrainedPoseModel
from posemark.assist.training import (
    Sample,
    TrainConfig,
    _batch,
    _crop_batch,
    crop_geometry,
    train,
)
from posemark.cli.main import app
from posemark.model import Skeleton
from posemark.services.training import split

GECKO = Skeleton(
    name="gecko",
    keypoints=("head", "left_hand", "right_hand", "tail"),
    edges=((0, 3), (1, 2)),
    flip_pairs=((1, 2),),
)
COLOURS = ((255, 40, 40), (40, 255, 40), (40, 40, 255), (255, 255, 40))
TINY = TrainConfig(
    time_limit_s=60,
    max_steps=3,
    canvas_long_side=64,
    channels=(4, 8, 8),
    centroid_channels=(4, 8, 8),
    batch_size=2,
)


def _picture(rng: np.random.Generator, w: int = 80, h: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """A grey picture with one coloured square per keypoint and the keypoints."""
    image = np.full((h, w, 3), 90, dtype=np.uint8)
    pts = np.column_stack([rng.uniform(6, w - 6, 4), rng.uniform(6, h - 6, 4)])
    for (x, y), colour in zip(pts, COLOURS, strict=True):
        image[int(y) - 2 : int(y) + 3, int(x) - 2 : int(x) + 3] = colour
    return image, pts


def _samples(n: int, seed: int = 0) -> list[Sample]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        image, pts = _picture(rng)
        out.append(Sample(image, pts[None], f"img{i}.png"))
    return out


def test_fit_and_peaks_recover_a_point_to_a_fraction_of_a_pixel() -> None:
    m = hm.fit_matrix(640, 480, 256, 192)
    pts = np.array([[[100.3, 200.7], [630.0, 10.0]]])
    canvas_pts = hm.apply(m, pts)
    np.testing.assert_allclose(hm.apply(hm.invert(m), canvas_pts), pts)
    maps, mask = hm.targets(canvas_pts, 256, 192, sigma=2.0)
    assert mask.tolist() == [1.0, 1.0]
    found, scores = hm.peaks(maps)
    np.testing.assert_allclose(found, canvas_pts[0], atol=0.15)
    assert (scores > 0.8).all()
    # a region leaves the other peak out: the point found lies inside it
    inside, _ = hm.peaks(maps, (0, 0, 100, 192))
    assert inside[1, 0] < 100


def test_unlabeled_keypoints_are_masked_out_of_the_loss() -> None:
    pts = np.array([[[10.0, 10.0], [np.nan, np.nan]]])
    maps, mask = hm.targets(pts, 32, 32, sigma=2.0)
    assert mask.tolist() == [1.0, 0.0]
    assert maps[1].max() == 0.0


def test_mirror_augmentation_swaps_the_flip_pairs() -> None:
    """A mirrored picture's left hand is drawn where the right hand was mirrored to:
    the left hand's heatmap peaks on the right hand's (green vs blue) square."""
    samples = _samples(1)
    perm = GECKO.flip_permutation()
    cfg = TrainConfig(rotation_deg=0, scale_range=(1, 1), shift=0, mirror=True, sigma=1.5)
    rng = np.random.default_rng(3)
    for _ in range(20):
        x, y, _mask = _batch(samples, np.array([0]), (64, 48), perm, cfg, rng)
        left = np.unravel_index(int(np.argmax(y[0, 1])), y[0, 1].shape)
        colour = x[0, :, left[0], left[1]]
        # whatever the draw (mirrored or not), the left-hand map sits on the left hand's
        # own square only when not mirrored; mirrored it must sit on the blue one
        assert colour[1] > 0.7 or colour[2] > 0.7
    seen = set()
    for _ in range(20):
        x, y, _mask = _batch(samples, np.array([0]), (64, 48), perm, cfg, rng)
        left = np.unravel_index(int(np.argmax(y[0, 1])), y[0, 1].shape)
        seen.add("blue" if x[0, 2, left[0], left[1]] > 0.7 else "green")
    assert seen == {"blue", "green"}


def test_trained_folder_serves_the_custom_skeleton_and_matches_torch(tmp_path: Path) -> None:
    import torch

    samples = _samples(6)
    result = train(samples[:4], samples[4:], GECKO, tmp_path / "m", TINY)
    info = read_info(tmp_path / "m")
    assert info.skeleton == GECKO
    assert info.canvas == (64, 48)
    assert info.top_down is not None and info.top_down["max_instances"] == 1
    # served as trained: each crop read in both views, then again re-centred
    assert info.top_down["flip"] is True and info.top_down["recentre"] is True
    crop = tuple(info.top_down["crop"])
    assert crop[0] == crop[1] and crop[0] % 16 == 0
    assert info.validation["images"] == 2 and info.validation_rmse is not None
    t = info.training
    assert t["steps"] == result.steps == t["centroid_steps"] + t["instance_steps"]
    assert 1 <= t["centroid_steps"] <= 3 and 1 <= t["instance_steps"] <= 3
    assert t["cpu_seconds"] > 0 and t["seconds"] > 0
    model = get_model("trained", path=tmp_path / "m")
    assert isinstance(model, TrainedPoseModel) and model.skeleton == GECKO
    assert model.geometry is not None and model.geometry.recentre
    assert model.geometry.flip == tuple(GECKO.flip_permutation())
    image = samples[0].image
    (inst,) = model.predict(image)
    assert inst.skeleton == GECKO and inst.points.shape == (4, 2)
    assert np.isfinite(inst.points).all() and inst.scores is not None
    assert ((inst.scores >= 0) & (inst.scores <= 1)).all()
    # both ONNX graphs compute what the trained networks compute, and the whole
    # pipeline gives the same keypoints under ONNX Runtime as under torch
    maps, m = model.heatmaps(image)
    with torch.no_grad():
        x = torch.from_numpy(hm.warp(image, m, 64, 48)[None])
        expected = result.centroid_network(x)[0].numpy()
    assert maps.shape == (1, 48, 64)
    np.testing.assert_allclose(maps, expected, atol=1e-4)

    def torch_fn(net: object) -> topdown.Net:
        def run(x: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                return net(torch.from_numpy(x)).numpy()  # type: ignore[operator]

        return run

    assert model.geometry is not None
    boxes = np.array([[0.0, 0.0, 40.0, 60.0], [40.0, 0.0, 40.0, 60.0]])
    by_torch, _, _ = topdown.predict(
        model.geometry, torch_fn(result.centroid_network), torch_fn(result.network), image, boxes
    )
    # box-prompted: one instance per box, its crop centred on the box (one ONNX run)
    a, b = model.predict(image, boxes)
    np.testing.assert_allclose(np.stack([a.points, b.points]), by_torch, atol=1e-2)
    np.testing.assert_allclose(a.bbox, boxes[0])
    assert model.predict(image, np.zeros((0, 4))) == []


def _gaussians(points: np.ndarray, w: int, h: int, sigma: float = 2.0) -> np.ndarray:
    maps, _ = hm.targets(points, w, h, sigma)
    return maps


def test_top_down_decoding_recovers_every_animal_to_a_fraction_of_a_pixel() -> None:
    """Networks that answer exactly the training targets: stage 1 finds both animals'
    centres, stage 2's crops give back each animal's own keypoints, sub-pixel."""
    animals = np.array(
        [
            [[100.3, 80.2], [120.7, 95.5], [90.1, 110.4], [130.6, 70.9]],
            [[400.5, 300.25], [420.2, 310.8], [390.9, 330.3], [440.4, 290.6]],
        ]
    )
    geometry = topdown.TopDownGeometry(
        canvas=(160, 128), crop=(64, 64), crop_scale=0.8, max_instances=2
    )
    image = np.zeros((480, 640, 3), dtype=np.uint8)
    centre_pts = topdown.centres(animals)
    fit = hm.fit_matrix(640, 480, *geometry.canvas)

    def centroid_net(x: np.ndarray) -> np.ndarray:
        assert x.shape == (1, 3, 128, 160)
        return _gaussians(hm.apply(fit, centre_pts)[:, None, :], 160, 128)[None]

    found, scores = topdown.locate(geometry, centroid_net, image)
    order = np.argsort(found[:, 0])
    np.testing.assert_allclose(found[order], centre_pts, atol=0.3)
    assert (scores > 0.9).all()
    crops_seen = []

    def instance_net(x: np.ndarray) -> np.ndarray:
        # crop i is centred on the i-th centre found: it answers that animal's keypoints
        out = []
        for c in found[: len(x)]:
            m = topdown.crop_matrix(c, geometry.crop_scale, geometry.crop)
            inst = min(animals, key=lambda a: np.linalg.norm(topdown.centres(a[None])[0] - c))
            out.append(_gaussians(hm.apply(m, inst[None]), 64, 64))
        crops_seen.append(len(x))
        return np.stack(out)

    pts, kp_scores, _ = topdown.predict(geometry, centroid_net, instance_net, image)
    pts = pts[np.argsort(pts[:, 0, 0])]
    np.testing.assert_allclose(pts, animals, atol=0.25)
    assert kp_scores.shape == (2, 4) and (kp_scores > 0.8).all()
    assert crops_seen == [2]  # every animal's crop in one network run


def test_peak_finding_keeps_the_strongest_and_always_answers() -> None:
    heat = np.zeros((40, 40), dtype=np.float32)
    heat[10, 10], heat[30, 30], heat[11, 11] = 0.9, 0.5, 0.8
    pts, vals = topdown.find_peaks(heat, limit=5, threshold=0.2, min_distance=2)
    assert len(pts) == 2 and vals.tolist() == pytest.approx([0.9, 0.5])
    assert tuple(pts[1].round()) == (30, 30)
    pts, vals = topdown.find_peaks(heat, limit=1, threshold=0.2)
    assert len(pts) == 1 and tuple(pts[0].round()) == (10, 10)
    # nothing passes the threshold: the highest point still answers
    pts, vals = topdown.find_peaks(heat * 0.1, limit=3, threshold=0.2)
    assert len(pts) == 1 and tuple(pts[0].round()) == (10, 10)


def test_crop_batch_teaches_only_the_animal_in_the_middle() -> None:
    """Two animals in one picture: each crop's targets are the centred animal's own
    keypoints, never the neighbour's, and a mirrored crop swaps the flip pairs."""
    rng = np.random.default_rng(0)
    image = np.full((120, 200, 3), 90, dtype=np.uint8)
    animals = np.array(
        [
            [[30.0, 40.0], [22.0, 60.0], [38.0, 60.0], [30.0, 80.0]],
            [[150.0, 40.0], [142.0, 60.0], [158.0, 60.0], [150.0, 80.0]],
        ]
    )
    for inst in animals:
        for (x, y), colour in zip(inst, COLOURS, strict=True):
            image[int(y) - 2 : int(y) + 3, int(x) - 2 : int(x) + 3] = colour
    sample = Sample(image, animals)
    geometry = topdown.TopDownGeometry((64, 48), (64, 64), 1.0, 2)
    cfg = TrainConfig(rotation_deg=0, scale_range=(1, 1), centre_jitter=0, sigma=1.5)
    mirrored = 0
    for _ in range(16):
        x, y, mask = _crop_batch(
            [sample], np.array([0]), geometry, GECKO.flip_permutation(), cfg, rng
        )
        assert mask[0].tolist() == [1.0, 1.0, 1.0, 1.0]
        # one peak per map (the other animal is 120 px away, outside the 64 px crop
        # or not taught), each on its keypoint's colour or its flip partner's
        for j in range(4):
            iy, ix = np.unravel_index(int(np.argmax(y[0, j])), y[0, j].shape)
            assert abs(ix - 32) <= 10 and abs(iy - 32) <= 22
            colour = x[0, :, iy, ix]
            if j in (1, 2):
                left = colour[1] > colour[2]  # green: the left hand's own square
                mirrored += int((j == 1) != left)
    assert 0 < mirrored < 32


def test_one_stray_keypoint_does_not_set_every_crops_scale() -> None:
    """Forty 100-pixel animals and one whose wing sits on its neighbour (190 px across,
    as in labels taken from a model's predictions): the crop is made for the 100-pixel
    animals, at the resolution it would have without the stray point."""
    cfg = TrainConfig(crop_size=128, crop_margin=0.2)
    image = np.zeros((400, 400, 3), dtype=np.uint8)
    animal = np.array([[100.0, 100.0], [200.0, 100.0], [150.0, 130.0], [150.0, 70.0]])
    clean = [Sample(image, animal[None]) for _ in range(40)]
    stray = animal.copy()
    stray[3] = [10.0, 70.0]
    crop, scale = crop_geometry([*clean, Sample(image, stray[None])], cfg)
    assert (crop, scale) == crop_geometry(clean, cfg)
    assert scale == pytest.approx(128 / 140)


def test_cpu_budget_counts_process_cpu_seconds(tmp_path: Path) -> None:
    cfg = TrainConfig(
        time_limit_s=1e6,
        cpu_budget_s=3.0,
        canvas_long_side=64,
        channels=(4, 8, 8),
        centroid_channels=(4, 8, 8),
        batch_size=2,
        eval_every_s=1.0,
    )
    result = train(_samples(4), [], GECKO, tmp_path / "m", cfg)
    t = result.info.training
    assert t["centroid_steps"] >= 1 and t["instance_steps"] >= 1
    # stops once 3 CPU seconds are spent (plus the step and evaluation under way)
    assert 3.0 <= result.cpu_seconds < 30
    assert t["cpu_seconds"] == pytest.approx(result.cpu_seconds, abs=0.1)


def test_whole_frame_folders_still_load(tmp_path: Path) -> None:
    """A folder of the earlier format (one model.onnx on the whole frame) serves as it
    did: one animal from the strongest peaks, or the peaks inside each box."""
    import torch

    from posemark.assist.trained_dir import WHOLE_FRAME_FORMAT, TrainedModelInfo, write_info
    from posemark.assist.training import _network, export_onnx

    folder = tmp_path / "old"
    folder.mkdir()
    net = _network(4, TINY)
    export_onnx(torch, net, (64, 48), folder / "model.onnx")
    info = TrainedModelInfo(GECKO, (64, 48), {"rmse_px": 3.0}, {"steps": 1})
    write_info(folder, info)
    assert json.loads((folder / "model.json").read_text())["format"] == WHOLE_FRAME_FORMAT
    model = TrainedPoseModel(folder)
    assert model.geometry is None and read_info(folder).validation_rmse == 3.0
    image = _samples(1)[0].image
    (inst,) = model.predict(image)
    assert inst.points.shape == (4, 2)
    boxes = np.array([[0.0, 0.0, 40.0, 60.0], [40.0, 0.0, 40.0, 60.0]])
    a, b = model.predict(image, boxes)
    assert (a.points[:, 0] <= 41).all() and (b.points[:, 0] >= 39).all()
    (folder / "model.json").write_text(json.dumps({"format": "posemark-heatmap-0"}))
    with pytest.raises(AssistError, match=r"model\.json: format: expected 'posemark-topdown-1'"):
        TrainedPoseModel(folder)


def test_top_down_folder_without_its_stage_2_says_so(tmp_path: Path) -> None:
    train(_samples(3), [], GECKO, tmp_path / "m", TINY)
    data = json.loads((tmp_path / "m" / "model.json").read_text())
    data["top_down"]["flip"] = "yes"
    (tmp_path / "m" / "model.json").write_text(json.dumps(data))
    with pytest.raises(AssistError, match=r"top_down\.flip: expected true or false"):
        read_info(tmp_path / "m")
    # a folder from before the mirrored and second readings reads each crop once
    del data["top_down"]["flip"], data["top_down"]["recentre"]
    (tmp_path / "m" / "model.json").write_text(json.dumps(data))
    old = read_info(tmp_path / "m").top_down
    assert old is not None and old["flip"] is False and old["recentre"] is False
    (tmp_path / "m" / "instance.onnx").unlink()
    with pytest.raises(AssistError, match=r"instance\.onnx is missing"):
        TrainedPoseModel(tmp_path / "m")
    data["top_down"]["crop"] = [0, 64]
    (tmp_path / "m" / "model.json").write_text(json.dumps(data))
    with pytest.raises(AssistError, match=r"model\.json: top_down\.crop"):
        read_info(tmp_path / "m")


def test_trained_model_needs_a_folder(tmp_path: Path) -> None:
    with pytest.raises(AssistError, match="needs path="):
        get_model("trained")
    with pytest.raises(AssistError, match="not a trained model folder"):
        get_model("trained", path=tmp_path)
    (tmp_path / "model.json").write_text('{"format": "posemark-heatmap-1", "skeleton": 3}')
    with pytest.raises(AssistError, match=r"model\.json: skeleton"):
        get_model("trained", path=tmp_path)


def test_training_without_torch_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'posemark\[train\]'"):
        train(_samples(2), [], GECKO, tmp_path / "m", TINY)


def test_split_is_seeded_and_holds_out_a_share() -> None:
    tr, val = split(116, 0.2, 0)
    assert len(val) == 23 and len(tr) == 93 and not set(tr) & set(val)
    assert split(116, 0.2, 0) == (tr, val)
    assert split(3, 0.2, 0) == ([0, 1, 2], [])


def _coco_project(tmp_path: Path, n: int) -> Path:
    rng = np.random.default_rng(1)
    images, annotations = [], []
    (tmp_path / "pics").mkdir()
    for i in range(n):
        image, pts = _picture(rng)
        Image.fromarray(image).save(tmp_path / "pics" / f"p{i}.png")
        images.append({"id": i + 1, "file_name": f"p{i}.png", "width": 80, "height": 60})
        kps = [v for x, y in pts for v in (round(x, 2), round(y, 2), 2)]
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        annotations.append(
            {
                "id": i + 1,
                "image_id": i + 1,
                "category_id": 1,
                "keypoints": kps,
                "num_keypoints": 4,
                "bbox": [*lo.tolist(), *(hi - lo).tolist()],
                "area": float(np.prod(hi - lo)),
                "iscrowd": 0,
            }
        )
    cat = {
        "id": 1,
        "name": "gecko",
        "keypoints": list(GECKO.keypoints),
        "skeleton": [[1, 4], [2, 3]],
    }
    path = tmp_path / "labels.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": [cat]}))
    return path


def test_cli_train_then_predict_writes_the_training_skeleton(tmp_path: Path) -> None:
    labels = _coco_project(tmp_path, 6)
    runner = CliRunner()
    model_dir = tmp_path / "model"
    res = runner.invoke(
        app,
        [
            "train",
            str(labels),
            "--out",
            str(model_dir),
            "--images",
            str(tmp_path / "pics"),
            "--time-limit",
            "0.01",
            "--canvas",
            "64",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "validation RMSE" in res.output
    info = read_info(model_dir)
    assert info.skeleton.keypoints == GECKO.keypoints
    assert info.training["train_images"] == 5 and info.validation["images"] == 1
    preds = tmp_path / "preds.json"
    res = runner.invoke(
        app, ["predict", str(tmp_path / "pics"), "--model", str(model_dir), "--out", str(preds)]
    )
    assert res.exit_code == 0, res.output
    results = json.loads(preds.read_text())
    assert len(results) == 6
    assert all(len(r["keypoints"]) == 3 * 4 for r in results)


def test_cli_train_missing_images_says_where_it_looked(tmp_path: Path) -> None:
    labels = _coco_project(tmp_path, 2)
    res = CliRunner().invoke(app, ["train", str(labels), "--out", str(tmp_path / "m")])
    assert res.exit_code == 1
    assert "no labeled image found" in res.output and "--images" in res.output


def _dot_reader(bias: float) -> topdown.Net:
    """A stage-2 'network' that reads the picture the way a trained one would, left and
    right included: red is the head, yellow the tail, and of the two green squares the
    left hand is the one on the left of the head -> tail line (so mirroring the crop
    turns the left hand into a right hand, as it does for an animal). Each peak lands
    ``bias`` pixels right of its square: the kind of error the mirrored view cancels."""

    def run(x: np.ndarray) -> np.ndarray:
        out = np.zeros((len(x), 4, x.shape[2], x.shape[3]), dtype=np.float32)
        ys, xs = np.mgrid[: x.shape[2], : x.shape[3]]

        def middle(mask: np.ndarray) -> np.ndarray:
            return np.array([xs[mask].mean(), ys[mask].mean()])

        for b, crop in enumerate(x):
            r, g = crop[0], crop[1]

            head, tail = middle((r > 0.7) & (g < 0.3)), middle((r > 0.7) & (g > 0.7))
            green = (r < 0.3) & (g > 0.7)
            axis = tail - head
            side = axis[0] * (ys - head[1]) - axis[1] * (xs - head[0])
            left, right = middle(green & (side > 0)), middle(green & (side < 0))
            pts = np.stack([head, left, right, tail]) + np.array([bias, 0.0])
            out[b] = _gaussians(pts[None], crop.shape[2], crop.shape[1])
        return out

    return run


def _dots(animal: np.ndarray) -> np.ndarray:
    """A grey picture with a 5x5 square on each keypoint, both hands green."""
    image = np.full((120, 120, 3), 90, dtype=np.uint8)
    both_hands_green = (COLOURS[0], COLOURS[1], COLOURS[1], COLOURS[3])
    for (x, y), colour in zip(animal, both_hands_green, strict=True):
        image[int(y) - 2 : int(y) + 3, int(x) - 2 : int(x) + 3] = colour
    return image


def test_mirrored_view_averages_out_a_sideways_bias_and_keeps_left_and_right() -> None:
    animal = np.array([[60.0, 40.0], [50.0, 60.0], [70.0, 60.0], [60.0, 80.0]])
    image = _dots(animal)
    perm = tuple(GECKO.flip_permutation())
    one = topdown.TopDownGeometry((64, 64), (64, 64), 1.0)
    both = topdown.TopDownGeometry((64, 64), (64, 64), 1.0, flip=perm)
    reader = _dot_reader(bias=2.0)
    centre = topdown.centres(animal[None])
    single, _ = topdown.keypoints(one, reader, image, centre)
    averaged, scores = topdown.keypoints(both, reader, image, centre)
    np.testing.assert_allclose(single[0], animal + np.array([2.0, 0.0]), atol=0.2)
    # the mirrored view's left hand is read as a right hand and swapped back: each
    # hand stays on its own square, the bias cancels
    np.testing.assert_allclose(averaged[0], animal, atol=0.3)
    assert scores.shape == (1, 4) and (scores > 0.5).all()


def test_second_reading_recentres_on_the_animal_and_reads_a_cut_keypoint_whole() -> None:
    """Stage 1 put the centre 3 px off: the tail's square is cut by the crop's lower
    edge, so the first reading places it too high; the second crop, centred on the
    first reading's keypoints, holds the whole square."""
    animal = np.array([[60.0, 36.0], [52.0, 56.0], [68.0, 56.0], [60.0, 76.0]])
    image = _dots(animal)
    off_centre = np.array([[60.0, 53.0]])
    once = topdown.TopDownGeometry((64, 64), (48, 48), 1.0)
    twice = topdown.TopDownGeometry((64, 64), (48, 48), 1.0, recentre=True)
    reader = _dot_reader(bias=0.0)
    first, _ = topdown.keypoints(once, reader, image, off_centre)
    second, _ = topdown.keypoints(twice, reader, image, off_centre)
    assert first[0, 3, 1] < 75.5  # the tail, read from its visible rows only
    np.testing.assert_allclose(second[0], animal, atol=0.3)
