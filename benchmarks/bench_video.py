"""Benchmark video frame fetching while scrubbing, and filling in tracks between keyframes.

Part 1, frame fetch latency. A 1080p H.264 video (``--frames`` frames at 30 fps, a
keyframe every ``--gop`` frames, B-frames on) is generated with PyAV into a temporary
folder; every frame draws its own index as black/white blocks so each fetch is checked.
The scrub pattern is what an annotator does in the editor: play 150 frames in order,
50 random jumps, then step back one frame at a time 30 times from frame 200. Readers:

* ``posemark``       ``posemark.video.open_video`` (packet index, keyframe seek, LRU cache);
* ``opencv``         ``cv2.VideoCapture``: ``CAP_PROP_POS_FRAMES`` set when the wanted
  frame is not the next one, else ``read()`` (the usual hand-written reader);
* ``pyav-reopen``    naive PyAV: open the file, seek to the frame's timestamp, decode
  forward to it, close; per fetch;
* posemark on the all-intra proxy it builds (``posemark.video.proxy.make_proxy``,
  Motion JPEG): what the editor gets once a proxy exists.

Each fetch's latency is timed alone; the table gives p50/p99 per reader and how many
fetches returned a wrong frame. Target: posemark p99 < 60 ms.

Part 2, filling in tracks. The SLEAP centered-pair tracks (2 flies, 1100 frames, 24
keypoints) with every Nth frame kept as keyframe (N = 5, 10, 20); the frames between are
filled by holding the last keyframe, linear interpolation, LK optical flow forward from
each keyframe, and flow from both keyframes blended by distance. Error against the full
tracks: pixels over keypoints labeled in both, and OKS per frame (sigma 0.08 for every
keypoint, the fly skeleton has none; keypoints a method left unlabeled count 0). Target:
flow beats plain interpolation at spacing 20.

    .venv/bin/python benchmarks/bench_video.py [--frames 300] [--gop 60] [--workdir DIR]
        [--skip-scrub] [--skip-fill]
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from posemark.formats.sleap import read_sleap
from posemark.metrics.tracking import keypoint_error
from posemark.track.interpolate import hold_track, interpolate_track
from posemark.track.propagate import propagate_flow, propagate_flow_between
from posemark.track.tracks import tracks_from_dataset
from posemark.video import open_video
from posemark.video.proxy import DEFAULT_QUALITY, make_proxy, max_gop

TESTDATA = Path(__file__).resolve().parents[2] / "shared" / "testdata"
W, H = 1920, 1080
CELL = 40
BITS = 12


def frame_image(i: int) -> np.ndarray:
    yy, xx = np.mgrid[0:H:4, 0:W:4]
    small = np.empty((H // 4, W // 4, 3), dtype=np.uint8)
    small[..., 0] = ((xx + 8 * i) % 256).astype(np.uint8)
    small[..., 1] = ((yy + 3 * i) % 256).astype(np.uint8)
    small[..., 2] = ((xx + yy) // 8 % 256).astype(np.uint8)
    img = np.repeat(np.repeat(small, 4, axis=0), 4, axis=1)
    for bit in range(BITS):
        img[CELL : 2 * CELL, CELL * (bit + 1) : CELL * (bit + 2)] = 255 if (i >> bit) & 1 else 0
    return img


def read_index(img: np.ndarray) -> int:
    out = 0
    for bit in range(BITS):
        x0 = CELL * (bit + 1)
        if img[CELL + 10 : 2 * CELL - 10, x0 + 10 : x0 + CELL - 10].mean() > 127:
            out |= 1 << bit
    return out


def make_video(path: Path, n: int, gop: int) -> None:
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=Fraction(30))
        s.width, s.height, s.pix_fmt, s.gop_size = W, H, "yuv420p", gop
        s.options = {"preset": "ultrafast", "bf": "2", "crf": "23"}
        for i in range(n):
            for p in s.encode(av.VideoFrame.from_ndarray(frame_image(i), format="rgb24")):
                out.mux(p)
        for p in s.encode():
            out.mux(p)


def scrub_pattern(n: int, seed: int = 0) -> list[int]:
    rng = np.random.default_rng(seed)
    play = list(range(min(150, n)))
    jumps = [int(i) for i in rng.integers(0, n, 50)]
    back = list(range(min(200, n - 1), max(min(200, n - 1) - 30, -1), -1))
    return play + jumps + back


class OpenCVReader:
    def __init__(self, path: Path) -> None:
        self.cap = cv2.VideoCapture(str(path))
        self.next = 0

    def frame(self, i: int) -> np.ndarray:
        if i != self.next:
            self.cap.set(cv2.CAP_PROP_POS_FRAMES, i)
        ok, bgr = self.cap.read()
        if not ok:
            raise RuntimeError(f"opencv could not read frame {i}")
        self.next = i + 1
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


class ReopenReader:
    def __init__(self, path: Path) -> None:
        self.path = path

    def frame(self, i: int) -> np.ndarray:
        with av.open(str(self.path)) as c:
            s = c.streams.video[0]
            tb = s.time_base
            target = round(Fraction(i, 30) / tb) + (s.start_time or 0)
            c.seek(target, stream=s, backward=True)
            for f in c.decode(s):
                if f.pts is not None and f.pts >= target:
                    return f.to_ndarray(format="rgb24")
        raise RuntimeError(f"frame {i} not found")


def scrub(reader: object, pattern: list[int]) -> tuple[np.ndarray, np.ndarray, int]:
    """Wall and CPU milliseconds per fetch (CPU time of all threads: the work, without the
    time spent waiting for a core on a loaded machine), and the wrong frames."""
    wall, cpu, wrong = [], [], 0
    for i in pattern:
        t0, c0 = time.perf_counter(), time.process_time()
        img = reader.frame(i)  # type: ignore[attr-defined]
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        wrong += read_index(np.asarray(img)) != i
    return np.array(wall) * 1000, np.array(cpu) * 1000, wrong


def timing_cells(wall: np.ndarray, cpu: np.ndarray, wrong: int) -> str:
    """p50, p99 and max wall ms, p50 and p99 CPU ms, wrong frames: one table row's tail."""
    p50, p99 = np.percentile(wall, [50, 99])
    c50, c99 = np.percentile(cpu, [50, 99])
    return f"{p50:.1f} | {p99:.1f} | {wall.max():.1f} | {c50:.1f} | {c99:.1f} | {wrong} |"


def row(name: str, wall: np.ndarray, cpu: np.ndarray, wrong: int) -> str:
    return f"| {name} | {timing_cells(wall, cpu, wrong)}"


def scrub_video(folder: Path, n: int, gop: int) -> Path:
    """The generated 1080p video, made once per folder (--workdir keeps it for the next run)."""
    path = folder / f"scrub1080p_{n}_{gop}.mp4"
    if not path.exists():
        t0 = time.perf_counter()
        make_video(path, n, gop)
        print(f"generated in {time.perf_counter() - t0:.1f} s")
    print(f"video: {n} frames 1920x1080 (gop {gop}, B-frames), {path.stat().st_size / 1e6:.1f} MB")
    return path


def bench_scrub(n: int, gop: int, workdir: Path | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = scrub_video(workdir or Path(tmp), n, gop)
        pattern = scrub_pattern(n)
        t0 = time.perf_counter()
        video = open_video(path)
        print(f"posemark open (packet index): {1000 * (time.perf_counter() - t0):.1f} ms")
        readers = {
            "posemark": video,
            "opencv": OpenCVReader(path),
            "pyav-reopen": ReopenReader(path),
        }
        print(f"\nscrub: {len(pattern)} fetches (150 play, 50 jumps, 30 step back)")
        print("| reader | p50 ms | p99 ms | max ms | CPU p50 ms | CPU p99 ms | wrong frames |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for name, reader in readers.items():
            print(row(name, *scrub(reader, pattern)))
        t0 = time.perf_counter()
        longest = max_gop(video)
        proxy = make_proxy(video, Path(tmp) / "proxy.mkv")
        built = time.perf_counter() - t0
        video.close()
        with open_video(proxy) as fast:
            print(row("posemark, all-intra proxy", *scrub(fast, pattern)))
        print(
            f"\nproxy (Motion JPEG, quality {DEFAULT_QUALITY}): built in {built:.1f} s, "
            f"{proxy.stat().st_size / 1e6:.1f} MB; longest GOP of the source: {longest} frames"
        )


def bench_fill() -> None:
    root = TESTDATA / "sleap/sleap-io.js"
    ds = read_sleap(root / "slp/centered_pair_predictions.slp")
    tracks = [t for t in tracks_from_dataset(ds) if t.track_id in (1, 2)]
    video = open_video(root / "videos/centered_pair_low_quality.mp4", cache_frames=1200)
    print("\nfilling in between keyframes, centered pair (2 tracks x 1100 frames)")
    print("| spacing | method | mean px | median px | p90 px | mean OKS | missed | s |")
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for spacing in (5, 10, 20):
        results: dict[str, list] = {"hold": [], "linear": [], "flow fwd": [], "flow both": []}
        seconds = dict.fromkeys(results, 0.0)
        gts = []
        for t in tracks:
            keys = np.arange(0, t.frames[-1] + 1, spacing)
            kp, kv = t.at(keys)
            between = np.setdiff1d(np.arange(keys[0], keys[-1] + 1), keys)
            gts.append(t.at(between))
            row = {int(f): i for i, f in enumerate(between)}
            t0 = time.perf_counter()
            results["hold"].append(hold_track(keys, kp, kv, between))
            seconds["hold"] += time.perf_counter() - t0
            t0 = time.perf_counter()
            results["linear"].append(interpolate_track(keys, kp, kv, between))
            seconds["linear"] += time.perf_counter() - t0
            for name in ("flow fwd", "flow both"):
                p = np.full((len(between), kp.shape[1], 2), np.nan)
                v = np.zeros((len(between), kp.shape[1]), np.uint8)
                t0 = time.perf_counter()
                for m in range(len(keys) - 1):
                    a, b = int(keys[m]), int(keys[m + 1])
                    if name == "flow fwd":
                        steps = propagate_flow(video, a, kp[m], kv[m], b - a - 1)
                    else:
                        steps = propagate_flow_between(
                            video, a, kp[m], kv[m], b, kp[m + 1], kv[m + 1]
                        )
                    for f, sp, sv, _ in steps:
                        p[row[f]], v[row[f]] = sp, sv
                seconds[name] += time.perf_counter() - t0
                results[name].append((p, v))
        gp = np.concatenate([g[0] for g in gts])
        gv = np.concatenate([g[1] for g in gts])
        for name, parts in results.items():
            p = np.concatenate([x[0] for x in parts])
            v = np.concatenate([x[1] for x in parts])
            e = keypoint_error(gp, gv, p, v)
            print(
                f"| {spacing} | {name} | {e.mean_px:.2f} | {e.median_px:.2f} | {e.p90_px:.2f} "
                f"| {e.mean_oks:.3f} | {e.missed} | {seconds[name]:.1f} |"
            )
    video.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--gop", type=int, default=60)
    parser.add_argument("--skip-scrub", action="store_true")
    parser.add_argument("--skip-fill", action="store_true")
    parser.add_argument("--workdir", type=Path, help="keep the generated video here")
    args = parser.parse_args()
    print(
        f"python {platform.python_version()}, PyAV {av.__version__}, OpenCV {cv2.__version__}, "
        f"{platform.processor() or platform.machine()}"
    )
    if not args.skip_scrub:
        bench_scrub(args.frames, args.gop, args.workdir)
    if not args.skip_fill:
        bench_fill()


if __name__ == "__main__":
    main()
