"""Benchmark frame fetch through the app, as the editor gets frames while scrubbing.

``bench_video.py`` times the readers alone; this times what the editor waits for: the
frame's JPEG (``services.media.frame_image``, quality 92) and the HTTP route
``GET /api/videos/{vid}/frames/{n}/image`` through FastAPI's TestClient (login, access
check, item lookup, JPEG). The same generated 1080p H.264 video (``--frames`` frames at
30 fps, a keyframe every ``--gop`` frames, B-frames; every frame draws its index, so each
fetch is checked) is imported twice into one project on a temporary SQLite database:

* ``original``  ``import_video(..., proxy=False)``: frames decode from the long-GOP file;
* ``proxy``     ``import_video(...)``: the import built the all-intra proxy and frames
  decode from it (what a project gets by default for a GOP over 8 frames).

Scrub patterns, each started with cold frame caches (sources re-opened before timing,
opening not timed): ``sequential`` plays frames 0..149; ``random`` jumps to 100 random
frames; ``backward`` steps back one frame at a time 60 times from frame 200 (the arrow
key held down). Each fetch is timed alone: wall and CPU (all threads) milliseconds.
Target: p99 < 60 ms.

    .venv/bin/python benchmarks/bench_video_app.py [--frames 300] [--gop 60] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
from bench_video import read_index, scrub_video, timing_cells
from fastapi.testclient import TestClient
from PIL import Image

from posemark.server.app import create_app
from posemark.services.media import frame_image
from posemark.services.projects import get_project
from posemark.services.settings import Settings
from posemark.services.video import close_sources, import_video, video_source
from posemark.store.models import Item, Project, User
from posemark.store.video_models import Video

ADMIN_PASSWORD = "bench-admin-password"


def patterns(n: int, seed: int = 0) -> dict[str, list[int]]:
    rng = np.random.default_rng(seed)
    start = min(200, n - 1)
    return {
        "sequential": list(range(min(150, n))),
        "random": [int(i) for i in rng.integers(0, n, 100)],
        "backward": list(range(start, max(start - 60, -1), -1)),
    }


def timed(fetch: Callable[[int], bytes], pattern: list[int]) -> tuple[np.ndarray, np.ndarray, int]:
    """Wall and CPU ms per fetch, and how many JPEGs showed another frame than asked."""
    wall, cpu, wrong = [], [], 0
    for i in pattern:
        t0, c0 = time.perf_counter(), time.process_time()
        data = fetch(i)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        wrong += read_index(np.asarray(Image.open(io.BytesIO(data)))) != i
    return np.array(wall) * 1000, np.array(cpu) * 1000, wrong


def row(path: str, video: str, pattern: str, result: tuple[np.ndarray, np.ndarray, int]) -> str:
    wall, cpu, wrong = result
    return f"| {path} | {video} | {pattern} | {len(wall)} | {timing_cells(wall, cpu, wrong)}"


def bench(n: int, gop: int, workdir: Path | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        clip = scrub_video(workdir or Path(tmp), n, gop)
        settings = Settings(data_dir=Path(tmp) / "data")
        os.environ["POSEMARK_BENCH_ADMIN"] = ADMIN_PASSWORD
        app = create_app(settings, password_env="POSEMARK_BENCH_ADMIN")
        client = TestClient(app)
        r = client.post("/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
        r.raise_for_status()
        client.headers["X-CSRF-Token"] = r.json()["csrf_token"]
        r = client.post("/api/projects", json={"name": "scrub", "skeleton": "coco17"})
        r.raise_for_status()
        pid = r.json()["id"]
        store = app.state.store
        videos: dict[str, int] = {}
        with store.session() as session:
            project = session.get(Project, pid)
            for label, build in (("original", False), ("proxy", True)):
                t0 = time.perf_counter()
                imported = import_video(
                    session, settings, project, clip, f"{label}.mp4", proxy=build
                )
                seconds = time.perf_counter() - t0
                videos[label] = imported.video_id
                what = f"proxy {imported.proxy}" if imported.proxy else "no proxy"
                print(f"import {label}: {seconds:.1f} s ({what})")
            size = (settings.media_dir / project.media_dir / ".proxies/proxy.mp4.mkv").stat()
            print(f"proxy size: {size.st_size / 1e6:.1f} MB")

        print(f"\nfetches: {', '.join(f'{k} {len(v)}' for k, v in patterns(n).items())}")
        print(
            "| path | video | pattern | fetches | p50 ms | p99 ms | max ms "
            "| CPU p50 ms | CPU p99 ms | wrong |"
        )
        print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        with store.session() as session:
            admin = session.query(User).filter_by(username="admin").one()
            project = get_project(session, admin, pid).project
            for label, vid in videos.items():
                video = session.get(Video, vid)
                items = {
                    it.frame_index: it
                    for it in session.query(Item).filter(Item.video_id == vid).all()
                }

                def service(i: int, items: dict[int, Item] = items) -> bytes:
                    return frame_image(settings, project, items[i], "jpeg")[0]

                def http(i: int, vid: int = vid) -> bytes:
                    r = client.get(f"/api/videos/{vid}/frames/{i}/image")
                    r.raise_for_status()
                    return r.content

                for path, fetch in (("frame_image", service), ("HTTP route", http)):
                    for name, pattern in patterns(n).items():
                        close_sources()  # cold frame caches; opening is not timed
                        video_source(settings, project, video)
                        print(row(path, label, name, timed(fetch, pattern)))
        close_sources()
        client.close()
        store.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--gop", type=int, default=60)
    parser.add_argument("--workdir", type=Path, help="keep the generated video here")
    args = parser.parse_args()
    print(
        f"python {platform.python_version()}, PyAV {av.__version__}, "
        f"{platform.processor() or platform.machine()}, load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    bench(args.frames, args.gop, args.workdir)


if __name__ == "__main__":
    main()
