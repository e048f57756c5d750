"""Media backends measured: the image route and thumbnails per backend, imports by
reference, and the S3 client that services/media.py uses.

Everything runs on loopback against a local S3 server started here (``--s3-server``:
moto's server mode, or s3rver from npm, which ``npm ci`` installs under node_modules)
and a real ``posemark serve`` subprocess; images are the real COCO val2017 pictures of
../shared/testdata/coco/mmpose_coco, written under distinct names (``--scale`` shrinks
them first, for the 10,000-image import).

    .venv/bin/python benchmarks/bench_media.py serve --images 1000
    .venv/bin/python benchmarks/bench_media.py import --images 10000 --scale 0.5
    .venv/bin/python benchmarks/bench_media.py import --scale 0.5 --s3-server moto,s3rver
    .venv/bin/python benchmarks/bench_media.py clients --images 300
    .venv/bin/python benchmarks/bench_media.py video
    .venv/bin/python benchmarks/bench_media.py video --synthetic --frames 250 --gop 50

``serve``: per backend (copied, in place, S3) the time to the first byte and to the
last byte of ``GET /api/items/{iid}/image`` for every image, one request at a time,
and the thumbnail route cold (made from the original) and warm (cached): p50 and p95.
``import``: images per second of ``import_reference`` for a folder in place and for a
bucket prefix (COCO file stating the sizes, and without one, which reads every header),
posemark's disk use after it against the images' size, and the ceiling each S3 server
sets (obstore alone listing the prefix and reading 4 KiB of each object); with
``--s3-server moto,s3rver`` both servers in turn, side by side in one table.
``clients``: GET latency of one image and of a 64 KB range with boto3 and obstore.
``video``: a real clip of the test data (or ``--synthetic`` 720p) in the bucket: open,
first frame, random frames and playback decoded by PyAV over ranged reads of the
object, against a local all-intra proxy built at import from the same reads (and the
local file itself as the floor).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "testdata" / "coco" / "mmpose_coco"
BUCKET = "bench-media"
PASSWORD = "bench-media-password"


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while True:
        if process.poll() is not None:
            raise SystemExit(f"{url}: the process exited")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if time.monotonic() > deadline:
                raise SystemExit(f"{url} did not answer") from None
            time.sleep(0.1)


S3RVER = Path(__file__).resolve().parents[1] / "node_modules" / ".bin" / "s3rver"
"""s3rver (npm, a devDependency in package.json; ``npm ci`` installs it): a second local
S3 server, files on disk behind Node's HTTP server, to tell what moto costs from what
posemark costs."""
SERVERS = ("moto", "s3rver")


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except urllib.error.HTTPError:
        return True  # an error status is still an answer: the server is up
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def _start(command: list[str], url: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 120
    while not _answers(url):
        if process.poll() is not None:
            raise SystemExit(f"{command[0]}: the server exited ({process.returncode})")
        if time.monotonic() > deadline:
            process.terminate()
            raise SystemExit(f"{url} did not answer")
        time.sleep(0.1)
    return process


@contextlib.contextmanager
def s3_server(kind: str = "moto") -> Iterator[None]:
    """``kind``'s S3 server on a free loopback port, with the bucket made and the AWS
    environment (and posemark's cached clients) pointing at it; stopped on exit."""
    from posemark.storage.s3 import forget_stores

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    folder = Path(tempfile.mkdtemp(prefix=f"bench-{kind}-"))
    env = dict(os.environ)
    if kind == "moto":
        command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
        key, secret = "bench", "bench-secret"
    elif kind == "s3rver":
        if not S3RVER.exists():
            raise SystemExit(f"{S3RVER}: missing; run `npm ci` in the repository root")
        command = [str(S3RVER), "-d", str(folder), "-a", "127.0.0.1", "-p", str(port), "-s"]
        command += ["--configure-bucket", BUCKET]
        key = secret = "S3RVER"  # the only credentials s3rver accepts
        # its listing continuation tokens are DES-encrypted, which OpenSSL 3 (Node 17+)
        # only offers from its legacy provider: without it a second page answers 500
        env["NODE_OPTIONS"] = "--openssl-legacy-provider"
    else:
        raise SystemExit(f"--s3-server: {kind!r} is not one of {', '.join(SERVERS)}")
    process = _start(command, url + ("/moto-api/" if kind == "moto" else "/"), env)
    try:
        os.environ.update(
            AWS_ENDPOINT_URL=url,
            AWS_ACCESS_KEY_ID=key,
            AWS_SECRET_ACCESS_KEY=secret,
            AWS_DEFAULT_REGION="us-east-1",
        )
        forget_stores()
        if kind == "moto":
            request = urllib.request.Request(f"{url}/{BUCKET}", method="PUT")
            urllib.request.urlopen(request, timeout=10).close()
        yield
    finally:
        forget_stores()
        process.terminate()
        process.wait()
        shutil.rmtree(folder, ignore_errors=True)


def _servers(value: str) -> list[str]:
    kinds = [k.strip() for k in value.split(",") if k.strip()]
    for kind in kinds:
        if kind not in SERVERS:
            raise SystemExit(f"--s3-server: {kind!r} is not one of {', '.join(SERVERS)}")
    return kinds


def make_images(folder: Path, count: int, scale: float) -> tuple[dict[str, Any], int]:
    """``count`` real JPEGs (the samples in turn, optionally shrunk) and a COCO file
    stating their sizes; returns the COCO document and the images' total bytes."""
    from PIL import Image

    sources = []
    for path in sorted(SAMPLES.glob("*.jpg")):
        with Image.open(path) as im:
            if scale != 1:
                im = im.resize((round(im.width * scale), round(im.height * scale)))
            buffer = io.BytesIO()
            im.convert("RGB").save(buffer, "JPEG", quality=90)
            sources.append((buffer.getvalue(), im.width, im.height))
    images, total = [], 0
    for i in range(count):
        data, width, height = sources[i % len(sources)]
        name = f"d{i // 1000:03d}/img{i:06d}.jpg"
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        total += len(data)
        images.append({"id": i + 1, "file_name": name, "width": width, "height": height})
    coco = {
        "images": images,
        "annotations": [],
        "categories": [
            {
                "id": 1,
                "name": "person",
                "keypoints": list(_coco17()),
                "skeleton": [],
            }
        ],
    }
    (folder / "coco.json").write_text(json.dumps(coco))
    return coco, total


def _coco17() -> tuple[str, ...]:
    from posemark.schemas import load_builtin

    return tuple(load_builtin("coco17").keypoints)


def upload(folder: Path, prefix: str) -> float:
    import obstore

    from posemark.storage.s3 import store_for

    store = store_for(BUCKET)
    files = [p for p in folder.rglob("*") if p.is_file()]
    start = time.perf_counter()
    with ThreadPoolExecutor(16) as pool:
        list(
            pool.map(
                lambda p: obstore.put(
                    store, prefix + p.relative_to(folder).as_posix(), p.read_bytes()
                ),
                files,
            )
        )
    return time.perf_counter() - start


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def serve_bench(args: argparse.Namespace) -> None:
    import httpx

    from posemark.services.import_refs import import_reference
    from posemark.services.importing import import_path
    from posemark.services.projects import create_project
    from posemark.services.settings import Settings
    from posemark.store import open_store, upgrade_to_head

    work = Path(tempfile.mkdtemp(prefix="bench-media-"))
    try:
        images = work / "images"
        _coco, total = make_images(images, args.images, args.scale)
        with s3_server(args.s3_server):
            took = upload(images, "people/")
            print(f"uploaded {args.images} images ({total / 2**20:.1f} MiB) in {took:.1f} s")
            data = work / "data"
            settings = Settings(data_dir=data)
            settings.make_dirs()
            store = open_store(settings.db_url)
            upgrade_to_head(store.engine)
            with store.session() as session:
                copy = create_project(session, settings, "copy", "coco17")
                import_path(session, settings, copy, images / "coco.json")
                link = create_project(session, settings, "link", "coco17")
                import_reference(session, settings, link, str(images), images / "coco.json")
                s3 = create_project(session, settings, "s3", "coco17")
                import_reference(session, settings, s3, f"s3://{BUCKET}/people/", "coco.json")
                projects = {"copied": copy.id, "in place": link.id, "S3": s3.id}
            store.dispose()
            port = _free_port()
            command = [sys.executable, "-m", "posemark.cli.main", "serve", "--data", str(data)]
            command += ["--port", str(port), "--allow-media-root", str(images)]
            command += ["--allow-media-root", f"s3://{BUCKET}/people/"]
            env = {**os.environ, "POSEMARK_ADMIN_PASSWORD": PASSWORD}
            process = subprocess.Popen(
                command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            url = f"http://127.0.0.1:{port}"
            try:
                _wait(f"{url}/api/health", process)
                client = httpx.Client(base_url=url, timeout=60)
                client.post("/api/auth/login", json={"username": "admin", "password": PASSWORD})
                print(
                    f"\n{args.images} images of {total / args.images / 1024:.0f} KB on average, "
                    "one request at a time over loopback (ms)"
                )
                print(
                    "| backend | image first byte p50 / p95 | image full p50 / p95 | "
                    "thumbnail cold p50 / p95 | thumbnail cached p50 / p95 |"
                )
                print("| --- | --- | --- | --- | --- |")
                for label, pid in projects.items():
                    ids = _item_ids(client, pid)
                    first, full = _image_latency(client, ids)
                    cold = _timed(client, [f"/api/items/{i}/thumbnail?size=160" for i in ids])
                    warm = _timed(client, [f"/api/items/{i}/thumbnail?size=160" for i in ids])
                    cells = [
                        f"{pct(v, 0.5):.1f} / {pct(v, 0.95):.1f}" for v in (first, full, cold, warm)
                    ]
                    print(f"| {label} | " + " | ".join(cells) + " |")
            finally:
                process.terminate()
                process.wait()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _item_ids(client: Any, pid: int) -> list[int]:
    ids: list[int] = []
    while True:
        page = client.get(f"/api/projects/{pid}/items", params={"offset": len(ids), "limit": 1000})
        batch = [i["id"] for i in page.json()["items"]]
        ids += batch
        if len(batch) < 1000:
            return ids


def _image_latency(client: Any, ids: list[int]) -> tuple[list[float], list[float]]:
    first, full = [], []
    for iid in ids:
        start = time.perf_counter()
        with client.stream("GET", f"/api/items/{iid}/image") as answer:
            assert answer.status_code == 200, answer.status_code
            chunks = answer.iter_raw()
            next(chunks)
            first.append(time.perf_counter() - start)
            for _chunk in chunks:
                pass
        full.append(time.perf_counter() - start)
    return first, full


def _timed(client: Any, paths: list[str]) -> list[float]:
    times = []
    for path in paths:
        start = time.perf_counter()
        answer = client.get(path)
        assert answer.status_code == 200, answer.text
        times.append(time.perf_counter() - start)
    return times


def _disk(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def import_bench(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-media-"))
    try:
        images = work / "images"
        _coco, total = make_images(images, args.images, args.scale)
        each = total / args.images / 1024
        print(f"{args.images} images, {total / 2**20:.1f} MiB ({each:.0f} KB each)")
        print(
            "| source | sizes from | seconds | images/s | of which listing (s) | "
            "images/s after listing | posemark's disk | share of images |"
        )
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        if "in-place" in args.sources:
            for coco, sizes in ((images / "coco.json", "COCO file"), (None, "image headers")):
                print(_import_row(args, work, total, "in place", str(images), coco, sizes))
        if "S3" not in args.sources:
            return
        for kind in _servers(args.s3_server):
            with s3_server(kind):
                took = upload(images, "people/")
                print(f"(uploaded to {kind} in {took:.1f} s)", file=sys.stderr)
                location = f"s3://{BUCKET}/people/"
                for coco_key, sizes in (("coco.json", "COCO file"), (None, "image headers")):
                    label = f"S3 ({kind})"
                    print(_import_row(args, work, total, label, location, coco_key, sizes))
                _ceiling(args.images, kind)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _import_row(
    args: argparse.Namespace,
    work: Path,
    total: int,
    label: str,
    location: str,
    coco: Path | str | None,
    sizes: str,
) -> str:
    """One import into a fresh data folder and project: its table row."""
    from posemark.services.import_refs import import_reference
    from posemark.services.projects import create_project
    from posemark.services.settings import Settings
    from posemark.store import open_store, upgrade_to_head

    data = work / f"data-{len(list(work.glob('data-*')))}"
    settings = Settings(data_dir=data)
    settings.make_dirs()
    store = open_store(settings.db_url)
    upgrade_to_head(store.engine)
    marks: dict[str, float] = {}

    def progress(stage: str, done: int, total: int) -> None:
        marks.setdefault(f"{stage}-{'end' if done else 'start'}", time.perf_counter())

    with store.session() as session:
        project = create_project(session, settings, "bench", "coco17")
        start = time.perf_counter()
        report = import_reference(session, settings, project, location, coco, progress=progress)
        took = time.perf_counter() - start
        listing = marks["listing-end"] - marks["listing-start"]
    store.dispose()
    assert report.items_created == args.images
    used = _disk(data)
    shutil.rmtree(data, ignore_errors=True)
    return (
        f"| {label} | {sizes} | {took:.2f} | {args.images / took:,.0f} | "
        f"{listing:.2f} | {args.images / (took - listing):,.0f} | "
        f"{used / 2**20:.1f} MiB | {100 * used / total:.1f} % |"
    )


def _ceiling(count: int, kind: str) -> None:
    """What the S3 server itself allows: obstore alone listing the prefix, then reading
    each object's first 4 KiB (32 requests at once), with no posemark code around it."""
    import obstore

    from posemark.storage.s3 import store_for

    store = store_for(BUCKET)
    start = time.perf_counter()
    keys = [m["path"] for batch in obstore.list(store, prefix="people/") for m in batch]
    listed = time.perf_counter() - start
    images = [k for k in keys if k.endswith(".jpg")]
    start = time.perf_counter()
    with ThreadPoolExecutor(32) as pool:
        list(pool.map(lambda k: obstore.get_range(store, k, start=0, length=4096), images))
    heads = time.perf_counter() - start
    print(
        f"| {kind} ceiling: obstore alone, list | - | {listed:.2f} | {count / listed:,.0f} | "
        f"{listed:.2f} | - | - | - |"
    )
    print(
        f"| {kind} ceiling: obstore alone, list + 4 KiB of each | - | {listed + heads:.2f} | "
        f"{count / (listed + heads):,.0f} | {listed:.2f} | {count / heads:,.0f} | - | - |"
    )


def clients_bench(args: argparse.Namespace) -> None:
    import boto3
    import obstore
    from obstore.store import S3Store

    with s3_server(args.s3_server):
        work = Path(tempfile.mkdtemp(prefix="bench-media-"))
        try:
            make_images(work, args.images, 1.0)
            upload(work, "c/")
            keys = [f"c/{p.relative_to(work).as_posix()}" for p in sorted(work.rglob("*.jpg"))]
        finally:
            shutil.rmtree(work, ignore_errors=True)
        s3 = boto3.client("s3")
        store = S3Store(
            BUCKET,
            config={"endpoint": os.environ["AWS_ENDPOINT_URL"]},
            client_options={"allow_http": True},
        )
        runs = {
            "boto3 whole": lambda k: s3.get_object(Bucket=BUCKET, Key=k)["Body"].read(),
            "obstore whole": lambda k: bytes(obstore.get(store, k).bytes()),
            "boto3 64 KB range": lambda k: s3.get_object(
                Bucket=BUCKET, Key=k, Range="bytes=0-65535"
            )["Body"].read(),
            "obstore 64 KB range": lambda k: bytes(
                obstore.get_range(store, k, start=0, length=65536)
            ),
        }
        print(f"{len(keys)} GETs each, one at a time (ms)")
        print("| client | p50 | p95 | mean |")
        print("| --- | --- | --- | --- |")
        for label, get in runs.items():
            times = []
            for key in keys:
                start = time.perf_counter()
                get(key)
                times.append(time.perf_counter() - start)
            print(
                f"| {label} | {pct(times, 0.5):.2f} | {pct(times, 0.95):.2f} | "
                f"{statistics.mean(times) * 1000:.2f} |"
            )


def _write_video(path: Path, frames: int, width: int, height: int, gop: int) -> None:
    """A camera-like H.264 video: a moving gradient with noise, a keyframe every ``gop``."""
    from fractions import Fraction

    import av
    import numpy as np

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(25))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.gop_size = gop
        stream.options = {"preset": "veryfast", "crf": "23", "bf": "2"}
        for i in range(frames):
            img = np.stack([(xx + 3 * i) % 256, (yy + 2 * i) % 256, (xx + yy) % 256], -1)
            img = (img + rng.integers(0, 24, img.shape)).clip(0, 255).astype(np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


REAL_CLIP = SAMPLES.parents[1] / "dlc/training/openfield-Pranav-2018-10-30/videos/m3v1mp4.mp4"
"""A real camera clip: 2,330 frames of 640 x 480 H.264, a keyframe every 250 frames."""


def _video_row(label: str, setup: float, opener: Any, indices: list[int], run: int) -> str:
    """One way of reading the video: open (index scan), first frame, random frames after
    a jump, and ``run`` frames in order (playback) in frames per second; ms."""
    start = time.perf_counter()
    source = opener()
    opened = time.perf_counter() - start
    with source:
        start = time.perf_counter()
        source.frame(0)
        first = time.perf_counter() - start
        jumps = []
        for index in indices:
            start = time.perf_counter()
            source.frame(index)
            jumps.append(time.perf_counter() - start)
        begin = max(0, min(source.frame_count // 2, source.frame_count - run))
        run = min(run, source.frame_count - begin)
        start = time.perf_counter()
        for index in range(begin, begin + run):
            source.frame(index)
        fps = run / (time.perf_counter() - start)
    return (
        f"| {label} | {setup * 1000:,.0f} | {opened * 1000:,.0f} | {first * 1000:.1f} | "
        f"{pct(jumps, 0.5):.1f} | {pct(jumps, 0.95):.1f} | {fps:,.0f} |"
    )


def video_bench(args: argparse.Namespace) -> None:
    import random

    import obstore

    from posemark.services.video import open_backend_video
    from posemark.storage.s3 import S3Backend, store_for
    from posemark.video import open_video
    from posemark.video.proxy import make_proxy

    work = Path(tempfile.mkdtemp(prefix="bench-media-"))
    try:
        if args.synthetic:
            video = work / "clip.mp4"
            _write_video(video, args.frames, 1280, 720, args.gop)
        else:
            video = REAL_CLIP
        with open_video(video) as probe:
            count, described = probe.frame_count, repr(probe)
        indices = random.Random(1).sample(range(count), args.seeks)
        with s3_server(args.s3_server):
            obstore.put(store_for(BUCKET), "videos/clip.mp4", video.read_bytes())
            backend = S3Backend(f"s3://{BUCKET}/videos/")
            print(
                f"{described}, {video.stat().st_size / 2**20:.1f} MiB; {args.seeks} random "
                f"frames, {args.run} frames in order (ms; playback in frames/s)"
            )
            print(
                "| frames decoded from | setup at import | open | first frame | random p50 "
                "| random p95 | playback fps |"
            )
            print("| --- | --- | --- | --- | --- | --- | --- |")
            print(_video_row("the local file", 0, lambda: open_video(video), indices, args.run))
            print(
                _video_row(
                    "the object by ranged reads (PyAV over obstore's reader, 256 KiB read-ahead)",
                    0,
                    lambda: open_backend_video(backend, "clip.mp4"),
                    indices,
                    args.run,
                )
            )
            start = time.perf_counter()
            with open_backend_video(backend, "clip.mp4") as source:
                proxy = make_proxy(source, work / "proxy.mkv")
            built = time.perf_counter() - start
            print(
                _video_row(
                    f"a local all-intra proxy ({proxy.stat().st_size / 2**20:.1f} MiB) built at "
                    "import from ranged reads",
                    built,
                    lambda: open_video(proxy),
                    indices,
                    args.run,
                )
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    serve = sub.add_parser("serve")
    serve.add_argument("--images", type=int, default=1000)
    serve.add_argument("--scale", type=float, default=1.0)
    imports = sub.add_parser("import")
    imports.add_argument("--images", type=int, default=10000)
    imports.add_argument("--scale", type=float, default=1.0)
    imports.add_argument("--sources", default="in-place,S3", help="in-place, S3 or both")
    imports.add_argument(
        "--s3-server", default="moto", help="moto, s3rver or both (moto,s3rver), in turn"
    )
    clients = sub.add_parser("clients")
    clients.add_argument("--images", type=int, default=300)
    videos = sub.add_parser("video")
    videos.add_argument("--synthetic", action="store_true", help="a generated 720p clip")
    videos.add_argument("--frames", type=int, default=250, help="with --synthetic")
    videos.add_argument("--gop", type=int, default=50, help="with --synthetic")
    videos.add_argument("--seeks", type=int, default=30)
    videos.add_argument("--run", type=int, default=150, help="frames played in order")
    for command in (serve, clients, videos):
        command.add_argument("--s3-server", choices=SERVERS, default="moto")
    args = parser.parse_args()
    runs = {
        "serve": serve_bench,
        "import": import_bench,
        "clients": clients_bench,
        "video": video_bench,
    }
    runs[args.what](args)


if __name__ == "__main__":
    main()
