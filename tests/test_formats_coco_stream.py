"""Streaming COCO conversion: same output as read + write, located errors, bounded memory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from posemark.formats.coco_io import read_coco, write_coco
from posemark.formats.coco_stream import stream_convert_coco
from posemark.formats.errors import FormatError, Problem

REPO = Path(__file__).resolve().parents[1]
COCO_STYLE = [
    "coco/mmpose_coco/test_coco.json",
    "coco/mmpose_coco/test_coco_wholebody.json",
    "coco/mmpose_coco/test_keypoint_partition_metric.json",
    "coco/mmpose_coco/test_coco_det_AP_H_56.json",
    "coco/datumaro_coco_person_keypoints/annotations/person_keypoints_train.json",
    "coco/datumaro_coco_person_keypoints/annotations/person_keypoints_val.json",
    "coco/xtcocoapi_examples/example_coco_preds.json",
    "crowdpose/mmpose_crowdpose/test_crowdpose.json",
    "aic/mmpose_aic/test_aic.json",
    "halpe/mmpose_halpe/test_halpe.json",
    "posetrack/mmpose_posetrack18/annotations/test_posetrack18_val.json",
    "mpii/mmpose_mpii/test_mpii_trb.json",
]


@pytest.mark.parametrize("name", COCO_STYLE)
def test_stream_equals_read_then_write(testdata: Path, tmp_path: Path, name: str) -> None:
    src = testdata / name
    warnings_read: list[Problem] = []
    write_coco(read_coco(src, on_warning=warnings_read.append), tmp_path / "whole.json")
    warnings_stream: list[Problem] = []
    counts = stream_convert_coco(src, tmp_path / "stream.json", on_warning=warnings_stream.append)
    whole = json.loads((tmp_path / "whole.json").read_text())
    streamed = json.loads((tmp_path / "stream.json").read_text())
    assert streamed == whole
    assert sorted(str(w) for w in warnings_stream) == sorted(str(w) for w in warnings_read)
    records = whole if isinstance(whole, list) else whole["annotations"]
    assert counts.instances == len(records)


def _doc(**overrides: object) -> dict[str, object]:
    doc: dict[str, object] = {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 10, "height": 10}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "keypoints": [1, 2, 2, 3, 4, 1]},
            {"id": 2, "image_id": 1, "category_id": 1, "keypoints": [1, 2, 2, 0, 0, 0]},
        ],
        "categories": [{"id": 1, "name": "p", "keypoints": ["a", "b"], "skeleton": [[1, 2]]}],
    }
    doc.update(overrides)
    return doc


@pytest.mark.parametrize(
    ("change", "record", "field", "message"),
    [
        (
            {"annotations": [
                {"id": 1, "image_id": 7, "category_id": 1, "keypoints": [1, 1, 2, 1, 1, 2]},
            ]},
            "annotation id 1",
            "image_id",
            "image id 7, which is not in 'images'",
        ),
        (
            {"annotations": [
                {"id": 3, "image_id": 1, "category_id": 1, "keypoints": [1, 1, 2, 1, 1, 2]},
                {"id": 3, "image_id": 1, "category_id": 1, "keypoints": [1, 1, 2, 1, 1, 2]},
            ]},
            "annotation id 3",
            "id",
            "duplicate annotation id 3",
        ),
        (
            {"annotations": [
                {"id": 1, "image_id": 1, "category_id": 1, "keypoints": [1, 1, 2, 1, 1, 2]},
                {"id": 2, "image_id": 1, "category_id": 1, "keypoints": [1, 1, 2] * 3},
                {"id": 4, "image_id": 1, "category_id": 1, "keypoints": [1, 1, 2, 1, 1, 2]},
            ]},  # more keypoints than names and than most annotations: an error
            "category id 1",
            "keypoints",
            "expected 6 keypoint values",
        ),
    ],
)  # fmt: skip
def test_stream_errors_are_located_and_leave_no_output(
    tmp_path: Path, change: dict[str, object], record: str, field: str, message: str
) -> None:
    src = tmp_path / "bad.json"
    src.write_text(json.dumps(_doc(**change)))
    dst = tmp_path / "out.json"
    with pytest.raises(FormatError, match=message) as info:
        stream_convert_coco(src, dst)
    assert info.value.problem.file == str(src)
    assert info.value.problem.record == record
    assert info.value.problem.field == field
    assert not dst.exists()
    assert list(tmp_path.iterdir()) == [src]  # no temporary file left behind


_MEASURE = """
import resource, sys
sys.path.insert(0, {bench!r})
from make_synthetic_coco import generate
from pathlib import Path
src, dst, n = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
generate(src, n, 10_000, keypoints=1, polygon=2)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
from posemark.formats.coco_stream import stream_convert_coco
counts = stream_convert_coco(src, dst)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(counts.instances, dst.stat().st_size, base // 1024, peak // 1024)
"""


def _stream_peak_mib(tmp_path: Path, n: int) -> tuple[int, int, int]:
    script = _MEASURE.format(bench=str(REPO / "benchmarks"))
    src, dst = tmp_path / f"in{n}.json", tmp_path / f"out{n}.json"
    done = subprocess.run(
        [sys.executable, "-c", script, str(src), str(dst), str(n)],
        capture_output=True, text=True, check=True, timeout=600,
    )  # fmt: skip
    instances, size, _base, peak = (int(x) for x in done.stdout.split())
    src.unlink()
    dst.unlink()
    return instances, size, peak


def test_streaming_memory_does_not_grow_with_the_file(tmp_path: Path) -> None:
    """1,000,000 annotations stream through in about the memory of 100,000.

    The only per-record state is 8 bytes of id for the duplicate check, so ten times the
    annotations may add about 7 MB; holding the data would add hundreds of MB.
    """
    small_n, small_size, small_peak = _stream_peak_mib(tmp_path, 100_000)
    big_n, big_size, big_peak = _stream_peak_mib(tmp_path, 1_000_000)
    assert (small_n, big_n) == (100_000, 1_000_000)
    assert big_size > 9 * small_size  # the output really is ten times larger
    assert big_size > 150_000_000
    assert big_peak - small_peak < 20, (small_peak, big_peak)


def test_read_reports_byte_progress_up_to_the_file_size(testdata: Path) -> None:
    """Long reads drive the CLI's progress bar: calls grow monotonically to the size."""
    src = testdata / "coco/mmpose_coco/test_coco.json"
    seen: list[tuple[int, int]] = []
    read_coco(src, progress=lambda done, total: seen.append((done, total)), block_size=4096)
    size = src.stat().st_size
    assert len(seen) > 3
    assert all(total == size for _, total in seen)
    done = [d for d, _ in seen]
    assert done == sorted(done)
    assert size - 64 <= done[-1] <= size
