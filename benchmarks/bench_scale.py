"""Scale benchmark: a project the size of a real dataset, on SQLite and PostgreSQL.

Builds a coco17 project of ``--images`` items and ``--instances`` people (default
250,000 and 1,000,000), then measures what users wait for:

- every route the web pages call (project list and summary, items with status filter,
  search, sort and a deep page, QA findings, dashboard report, keypoint gallery and its
  crops, instance review, jobs, members, one item with its QA, history and comments,
  the export route): one cold call, then ``--samples`` warm calls (p50/p95, body size);
- 20 paced annotators saving (one save per second each, as ``bench_server.py``) while
  a project-wide request runs over and over (``--load``, by default the report);
- ``posemark qa PROJECT`` (the project-wide QA re-run), ``posemark export`` of the
  whole project and ``posemark import`` of a ``--import-images`` COCO subset (time,
  rate, peak RSS);
- the server's RSS (peak while it served everything above).

Each code tree is measured on its own database built from the same seed, so today's
code and a changed one are compared on identical data in one run::

    git -C /path/to/repo worktree add /tmp/posemark-baseline <commit>
    nice -n 10 .venv/bin/python benchmarks/bench_scale.py \\
        --baseline /tmp/posemark-baseline --db sqlite,postgresql --md out.md

``--smoke`` is a 2,500-image, 10,000-instance run that checks the harness in minutes.

How the project is built, once per database: the items table is filled by bulk SQL
inserts through the store's own tables (SQLAlchemy models of the first tree, the
baseline when there is one), at the schema of migration ``0008`` that every tree
compared here shares. Each tree then gets a copy (the SQLite file copied, a PostgreSQL
``CREATE DATABASE ... TEMPLATE``) and runs its own remaining migrations on it, timed,
so a migration that derives data from the documents does so. ``--after-build CMD``
runs a further command (placeholders ``{data}``, ``{db}``, ``{project}``) with the
code on the path, timed, e.g. a backfill a change needs. Images are hard links of the
four photos of ``../shared/testdata/coco/mmpose_coco`` (one shared folder that every
project's media folder links to); poses are the real COCO ground truth of those photos,
moved, scaled and jittered per instance, with some keypoints dropped, a few left/right
swaps and displaced points, so QA finds what it finds on real annotations.

Every request and command has a timeout (``--timeout`` for routes, ``--cli-timeout``
for commands): a slow one is reported as "> T s" and its server restarted, so a run
always finishes. The code under test is chosen by ``PYTHONPATH`` in the child
processes; this script itself imports nothing from posemark.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TESTDATA = ROOT.parent / "shared" / "testdata"
PHOTOS = TESTDATA / "coco" / "mmpose_coco"
GT_FILE = PHOTOS / "test_coco.json"
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
ADMIN_PASSWORD = "bench-scale-admin-password"
PROJECT_NAME = "scale"
BASE_REVISION = "0008"
FLIP_PAIRS = [(1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16)]
STATUS_SHARE = {
    "new": 0.40,
    "annotating": 0.15,
    "submitted": 0.20,
    "in_review": 0.05,
    "accepted": 0.15,
    "returned": 0.05,
}
MIB = 1024 * 1024


# --------------------------------------------------------------------------- poses


def _templates() -> tuple[list[dict[str, Any]], list[np.ndarray]]:
    """The photos (name, size) and the labeled ground-truth poses as (17, 3) arrays in
    box-relative coordinates (0..1 inside the person's box)."""
    gt = json.loads(GT_FILE.read_text())
    photos = [
        {"file": PHOTOS / img["file_name"], "width": img["width"], "height": img["height"]}
        for img in gt["images"]
    ]
    poses = []
    for ann in gt["annotations"]:
        if ann["num_keypoints"] < 8:
            continue
        k = np.asarray(ann["keypoints"], dtype=np.float64).reshape(17, 3)
        bx, by, bw, bh = ann["bbox"]
        rel = np.stack([(k[:, 0] - bx) / bw, (k[:, 1] - by) / bh, k[:, 2]], axis=1)
        poses.append(rel)
    return photos, poses


def _people(
    rng: np.random.Generator, poses: np.ndarray, w: np.ndarray, h: np.ndarray
) -> list[dict[str, Any]]:
    """One instance per entry of ``w``/``h`` (its photo's size): a real pose placed in
    the photo at a random size and jittered; 8% of keypoints dropped, 10% of the visible
    ones marked occluded, 1% of people mirrored left/right (as annotators do) and 0.5%
    with one keypoint put far from its body. All in numpy, a block of people at once."""
    n = len(w)
    pose = poses[rng.integers(len(poses), size=n)]  # (n, 17, 3)
    aspect = 0.45 + 0.25 * rng.random(n)
    bh = h * (0.2 + 0.6 * rng.random(n))
    bw = np.minimum(w * 0.9, bh * aspect)
    bx = rng.random(n) * (w - bw)
    by = rng.random(n) * (h - bh)
    x = bx[:, None] + pose[:, :, 0] * bw[:, None] + rng.normal(0, 1, (n, 17)) * 0.015 * bw[:, None]
    y = by[:, None] + pose[:, :, 1] * bh[:, None] + rng.normal(0, 1, (n, 17)) * 0.015 * bh[:, None]
    v = pose[:, :, 2].astype(np.int64)
    v[rng.random((n, 17)) < 0.08] = 0
    v[(v == 2) & (rng.random((n, 17)) < 0.1)] = 1
    roll = rng.random(n)
    mirrored = roll < 0.01
    flip = np.arange(17)
    for a, b in FLIP_PAIRS:
        flip[a], flip[b] = b, a
    x[mirrored], y[mirrored], v[mirrored] = (
        x[mirrored][:, flip],
        y[mirrored][:, flip],
        v[mirrored][:, flip],
    )
    displaced = np.flatnonzero((roll >= 0.01) & (roll < 0.015))
    joint = rng.integers(17, size=len(displaced))
    x[displaced, joint] = rng.random(len(displaced)) * w[displaced]
    y[displaced, joint] = rng.random(len(displaced)) * h[displaced]
    # (n, 17, 3) Python objects built by numpy: floats for x and y, ints for v, and
    # [None, None, 0] for an unlabeled keypoint, as the editor stores it
    triples = np.empty((n, 17, 3), dtype=object)
    triples[:, :, 0] = np.round(np.clip(x, 0, w[:, None] - 1), 1)
    triples[:, :, 1] = np.round(np.clip(y, 0, h[:, None] - 1), 1)
    triples[:, :, 2] = v
    triples[v == 0, :2] = None
    keypoints = triples.tolist()
    boxes = np.round(np.stack([bx, by, bw, bh], axis=1), 2).tolist()
    return [
        {
            "keypoints": keypoints[r],
            "bbox": boxes[r],
            "bbox_mode": "drawn",
            "source": "human",
            "confirmed": True,
            "track_id": None,
        }
        for r in range(n)
    ]


def file_name(i: int) -> str:
    return f"{i // 1000:04d}/{i:07d}.jpg"


def generate_items(
    n_images: int, n_instances: int, seed: int, start: int = 0
) -> Iterator[tuple[str, int, int, str, dict[str, Any]]]:
    """(file name, width, height, status, annotation document) for each item, in order;
    the same seed gives the same project."""
    photos, pose_list = _templates()
    poses = np.stack(pose_list)
    rng = np.random.default_rng(seed)
    per_image = np.bincount(rng.integers(0, n_images, n_instances), minlength=n_images)
    statuses = list(STATUS_SHARE)
    status_of = rng.choice(len(statuses), size=n_images, p=list(STATUS_SHARE.values()))
    sizes = np.array([[p["width"], p["height"]] for p in photos])
    block = 5000
    for first in range(0, n_images, block):
        items = np.arange(first, min(first + block, n_images))
        counts = per_image[items]
        photo_of = (start + np.repeat(items, counts)) % len(photos)
        people = _people(rng, poses, sizes[photo_of, 0], sizes[photo_of, 1])
        at = 0
        for i, count in zip(items.tolist(), counts.tolist(), strict=True):
            w, h = (
                photos[(start + i) % len(photos)]["width"],
                photos[(start + i) % len(photos)]["height"],
            )
            instances = [{"id": f"i{n + 1}", **people[at + n]} for n in range(count)]
            at += count
            yield file_name(start + i), w, h, statuses[status_of[i]], {"instances": instances}


LINKS_PER_COPY = 40_000


def _link_photo(photo: Path, target: Path, i: int) -> None:
    """Hard-link ``target`` to a private copy of ``photo``, one copy per
    ``LINKS_PER_COPY`` items: a file takes at most 65,000 links (ext4), and the shared
    test data is never linked to directly."""
    copy = target.parents[1] / ".photos" / str(i // LINKS_PER_COPY) / photo.name
    if not copy.exists():
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(photo, copy)
    os.link(copy, target)


def make_image_folder(folder: Path, n_images: int) -> None:
    """``n_images`` hard links of the four photos, named as the items are."""
    photos, _ = _templates()
    for i in range(n_images):
        target = folder / file_name(i)
        if i % 1000 == 0:
            target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            _link_photo(photos[i % len(photos)]["file"], target, i)


def write_coco_subset(path: Path, n_images: int, n_instances: int, seed: int) -> int:
    """A COCO keypoints file of a fresh subset (other names than the project's items),
    its images being hard links in ``path.parent / "images"``; returns the instances."""
    folder = path.parent / "images"
    photos, _ = _templates()
    images, annotations = [], []
    for i, (name, w, h, _status, doc) in enumerate(
        generate_items(n_images, n_instances, seed, start=10_000_000)
    ):
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            _link_photo(photos[(10_000_000 + i) % len(photos)]["file"], target, i)
        images.append({"id": i + 1, "file_name": name, "width": w, "height": h})
        for inst in doc["instances"]:
            flat: list[float] = []
            for x, y, v in inst["keypoints"]:
                flat += [0, 0, 0] if v == 0 else [x, y, v]
            bw, bh = inst["bbox"][2], inst["bbox"][3]
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": i + 1,
                    "category_id": 1,
                    "keypoints": flat,
                    "num_keypoints": sum(1 for v in flat[2::3] if v > 0),
                    "bbox": inst["bbox"],
                    "area": round(bw * bh, 2),
                    "iscrowd": 0,
                }
            )
    gt = json.loads(GT_FILE.read_text())
    coco = {"images": images, "annotations": annotations, "categories": gt["categories"]}
    path.write_text(json.dumps(coco))
    return len(annotations)


# --------------------------------------------------------------------------- build


def upgrade_main(db_url: str) -> None:
    """Runs the code under test's migrations on a copy of the built database."""
    from posemark.store import open_store, upgrade_to_head

    t0 = time.perf_counter()
    store = open_store(db_url)
    upgrade_to_head(store.engine)
    store.dispose()
    print(json.dumps({"upgrade_s": round(time.perf_counter() - t0, 1)}))


def build_main(args: argparse.Namespace) -> None:
    """Runs in a child process with a code tree on the path: the schema of migration
    ``0008`` (what every tree compared here shares), the project, the bulk insert."""
    from alembic import command
    from sqlalchemy import func, insert, select

    from posemark.services.projects import create_project
    from posemark.services.settings import Settings
    from posemark.store import open_store
    from posemark.store.migrate import alembic_config
    from posemark.store.models import Item

    t0 = time.perf_counter()
    settings = Settings(data_dir=Path(args.data), db_url=args.db_url)
    settings.make_dirs()
    store = open_store(settings.db_url)
    config = alembic_config()
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        try:
            command.upgrade(config, BASE_REVISION)
        except Exception:  # a tree without that revision: its own head
            command.upgrade(config, "heads")
    with store.session() as session:
        project = create_project(session, settings, PROJECT_NAME, "coco17")
        pid, media = project.id, project.media_dir
    link = settings.media_dir / media
    link.rmdir()
    link.symlink_to(Path(args.images_dir).resolve(), target_is_directory=True)
    now = __import__("datetime").datetime.now(__import__("datetime").UTC)
    batch: list[dict[str, Any]] = []
    instances = 0

    def flush() -> None:
        with store.engine.begin() as connection:
            connection.execute(insert(Item.__table__), batch)
        batch.clear()

    for name, w, h, status, doc in generate_items(args.images, args.instances, args.seed):
        instances += len(doc["instances"])
        batch.append(
            {
                "project_id": pid,
                "file_name": name,
                "width": w,
                "height": h,
                "status": status,
                "version": 1,
                "annotation": doc,
                "updated_at": now,
                "updated_by": None,
            }
        )
        if len(batch) >= 2000:
            flush()
    if batch:
        flush()
    with store.session() as session:
        first = session.scalar(select(func.min(Item.id)).where(Item.project_id == pid))
        fresh = session.scalars(
            select(Item.id).where(Item.project_id == pid, Item.status == "new").order_by(Item.id)
        ).all()
    store.dispose()
    every = max(1, len(fresh) // max(1, args.annotators))
    report = {
        "project_id": pid,
        "first_item_id": first,
        "new_item_ids": list(fresh[::every][: args.annotators]),
        "images": args.images,
        "instances": instances,
        "media_dir": media,
        "build_s": round(time.perf_counter() - t0, 1),
    }
    print(json.dumps(report))


# --------------------------------------------------------------------------- processes


def env_for(code: Path) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(code / "src"), POSEMARK_ADMIN_PASSWORD=ADMIN_PASSWORD)
    return env


def run_measured(
    cmd: list[str], env: dict[str, str], timeout: float, stdout: Any = subprocess.DEVNULL
) -> dict[str, Any]:
    """Run a command; wall time, exit code and its peak RSS (polled every 50 ms), or a
    timeout (the process is killed)."""
    import psutil

    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=stdout, stderr=subprocess.PIPE)
    ps = psutil.Process(proc.pid)
    peak = 0
    timed_out = False
    while proc.poll() is None:
        with contextlib.suppress(psutil.Error):
            peak = max(peak, ps.memory_info().rss)
        if time.perf_counter() - t0 > timeout:
            proc.kill()
            timed_out = True
            break
        time.sleep(0.05)
    _, err = proc.communicate()
    result: dict[str, Any] = {
        "seconds": round(time.perf_counter() - t0, 2),
        "rc": proc.returncode,
        "peak_rss_mib": round(peak / MIB, 1),
        "timed_out": timed_out,
    }
    if proc.returncode and not timed_out:
        result["stderr"] = err.decode(errors="replace")[-2000:]
    return result


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``posemark serve`` of one code tree; restartable, with its peak RSS tracked."""

    def __init__(self, code: Path, data: Path, db_url: str) -> None:
        self.code, self.data, self.db_url = code, data, db_url
        self.proc: subprocess.Popen[bytes] | None = None
        self.peak_rss = 0
        self.restarts = 0
        self._stop = threading.Event()
        self._watch: threading.Thread | None = None

    def start(self) -> None:
        port = free_port()
        cmd = [sys.executable, "-m", "posemark.cli.main", "serve", "--data", str(self.data)]
        cmd += ["--port", str(port), "--db", self.db_url]
        self.proc = subprocess.Popen(
            cmd, env=env_for(self.code), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            self.stop()
            raise RuntimeError("server did not start within 120 s")
        self._stop.clear()
        self._watch = threading.Thread(target=self._poll_rss, daemon=True)
        self._watch.start()

    def _poll_rss(self) -> None:
        import psutil

        assert self.proc is not None
        ps = psutil.Process(self.proc.pid)
        while not self._stop.is_set():
            with contextlib.suppress(psutil.Error):
                self.peak_rss = max(self.peak_rss, ps.memory_info().rss)
            time.sleep(0.1)

    def rss(self) -> int:
        import psutil

        assert self.proc is not None
        return int(psutil.Process(self.proc.pid).memory_info().rss)

    def stop(self) -> None:
        self._stop.set()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def restart(self) -> None:
        self.stop()
        self.restarts += 1
        self.start()

    def login(self, username: str = "admin", password: str = ADMIN_PASSWORD) -> httpx.Client:
        client = httpx.Client(base_url=self.base, timeout=60)
        r = client.post("/api/auth/login", json={"username": username, "password": password})
        r.raise_for_status()
        client.headers["X-CSRF-Token"] = r.json()["csrf_token"]
        return client


# --------------------------------------------------------------------------- routes


def percentile(samples: list[float], p: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, round(p * (len(s) - 1)))]


def routes(pid: int, iid: int, n_images: int) -> list[tuple[str, str, dict[str, Any]]]:
    """(label, path, query) of every read the web pages make, with the UI's page sizes."""
    deep = max(0, n_images // 2)
    p = f"/api/projects/{pid}"
    return [
        ("projects list", "/api/projects", {}),
        ("project summary + counts", p, {}),
        ("items, first page", f"{p}/items", {"limit": 48}),
        ("items, status filter", f"{p}/items", {"status": "submitted", "limit": 48}),
        ("items, search", f"{p}/items", {"q": "0123", "limit": 48}),
        ("items, sort by last change", f"{p}/items", {"sort": "-updated_at", "limit": 48}),
        ("items, page at the middle", f"{p}/items", {"offset": deep, "limit": 48}),
        ("QA findings", f"{p}/qa", {"limit": 50}),
        (
            "QA findings, check + severity",
            f"{p}/qa",
            {"check": "left_right_inversion", "severity": "error", "limit": 50},
        ),
        ("dashboard report", f"{p}/report", {"format": "json"}),
        ("agreement", f"{p}/agreement", {}),
        ("gold list", f"{p}/gold", {}),
        ("keypoint gallery, first page", f"{p}/gallery", {"keypoint": "nose", "limit": 60}),
        ("instance review, first page", f"{p}/review/instances", {"offset": 0, "limit": 50}),
        ("annotation jobs", f"{p}/jobs", {}),
        ("prelabel jobs", f"{p}/prelabel/jobs", {}),
        ("workflow settings", f"{p}/workflow", {}),
        ("members", f"{p}/members", {}),
        ("videos", f"{p}/videos", {}),
        ("one item", f"/api/items/{iid}", {}),
        ("one item's QA", f"/api/items/{iid}/qa", {}),
        ("one item's history", f"/api/items/{iid}/history", {}),
        ("one item's comments", f"/api/items/{iid}/comments", {}),
        ("thumbnail", f"/api/items/{iid}/thumbnail", {"size": 240}),
    ]


def first_crop(body: bytes) -> str | None:
    """The first ``/api/items/.../crop`` URL in a gallery answer (the page loads each)."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    stack: list[Any] = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(reversed(node))
        elif isinstance(node, str) and node.startswith("/api/items/") and "/crop" in node:
            return node
    return None


def measure_route(
    server: Server, client: httpx.Client, path: str, query: dict[str, Any], args: Any
) -> tuple[dict[str, Any], httpx.Client, bytes]:
    """One cold call, then warm ones; a timeout restarts the server (returned client)."""
    try:
        t0 = time.perf_counter()
        r = client.get(path, params=query, timeout=args.timeout)
        cold = (time.perf_counter() - t0) * 1000
    except httpx.TimeoutException:
        server.restart()
        return {"timed_out": True, "timeout_s": args.timeout}, server.login(), b""
    result: dict[str, Any] = {"status": r.status_code, "cold_ms": round(cold, 1)}
    result["bytes"] = len(r.content)
    if r.status_code != 200:
        return result, client, b""
    warm: list[float] = []
    if cold > 10_000:  # far over any budget: the cold call says enough, the run goes on
        result.update(cold_only=True, n=0)
        return result, client, r.content
    samples = args.samples if cold < 2000 else 2
    for _ in range(samples):
        try:
            t0 = time.perf_counter()
            r = client.get(path, params=query, timeout=args.timeout)
            warm.append((time.perf_counter() - t0) * 1000)
        except httpx.TimeoutException:
            server.restart()
            result["timed_out_warm"] = True
            return result, server.login(), b""
    result.update(p50_ms=round(percentile(warm, 0.5), 1), p95_ms=round(percentile(warm, 0.95), 1))
    result["n"] = len(warm)
    return result, client, r.content


def measure_routes(server: Server, pid: int, iid: int, args: Any) -> dict[str, Any]:
    client = server.login()
    out: dict[str, Any] = {}
    extra = []
    for spec in args.route or []:  # "label=/api/...?a=1": routes of newer trees
        label, _, url = spec.partition("=")
        path, _, text = url.format(pid=pid, iid=iid).partition("?")
        extra.append((label, path, dict(x.split("=", 1) for x in text.split("&") if "=" in x)))
    for label, path, query in routes(pid, iid, args.images) + extra:
        print(f"    {label}", file=sys.stderr, flush=True)
        result, client, body = measure_route(server, client, path, query, args)
        out[label] = result
        if label.startswith("keypoint gallery") and body:
            crop = first_crop(body)
            if crop:
                crop_path, _, crop_query = crop.partition("?")
                params = dict(x.split("=", 1) for x in crop_query.split("&") if "=" in x)
                out["gallery crop"], client, _ = measure_route(
                    server, client, crop_path, params, args
                )
    print("    export route", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    try:
        with client.stream(
            "GET", f"/api/projects/{pid}/export", params={"format": "coco"}, timeout=args.timeout
        ) as r:
            size = sum(len(chunk) for chunk in r.iter_raw())
        out["export route"] = {
            "status": r.status_code,
            "seconds": round(time.perf_counter() - t0, 2),
            "bytes": size,
        }
    except httpx.TimeoutException:
        out["export route"] = {"timed_out": True, "timeout_s": args.timeout}
        server.restart()
    return out


def saves_under_load(server: Server, pid: int, item_ids: list[int], args: Any) -> dict[str, Any]:
    """``--annotators`` annotators, one item and one job each, saving once a second while
    a project-wide request (``--load``) is repeated in the background."""
    admin = server.login()
    clients: list[httpx.Client] = []
    for i, item in enumerate(item_ids):
        name, password = f"annotator{i}-{uuid.uuid4().hex[:4]}", f"pw-{uuid.uuid4().hex}"
        admin.post("/api/users", json={"username": name, "password": password}).raise_for_status()
        member = {"username": name, "role": "annotator"}
        admin.post(f"/api/projects/{pid}/members", json=member).raise_for_status()
        job = {"item_ids": [item], "annotator": name}
        admin.post(f"/api/projects/{pid}/jobs", json=job).raise_for_status()
        clients.append(server.login(name, password))
    method, _, path = args.load.partition(" ")
    path = path.format(pid=pid)
    done = threading.Event()
    load_calls: list[dict[str, Any]] = []

    def load() -> None:
        loader = server.login()
        while not done.is_set():
            t0 = time.perf_counter()
            try:
                r = loader.request(method, path, timeout=args.timeout)
                load_calls.append({"status": r.status_code, "s": time.perf_counter() - t0})
            except httpx.HTTPError:
                load_calls.append({"status": "timeout", "s": time.perf_counter() - t0})
            if args.load_once:  # a request that starts a job: once, the job runs on
                break

    saves: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def annotator(client: httpx.Client, item: int) -> None:
        try:
            got = client.get(f"/api/items/{item}", timeout=args.timeout).json()
            version, doc = got["version"], got["annotation"]
            next_at = time.monotonic() + random.uniform(0, 1.0)
            for s in range(args.saves):
                time.sleep(max(0.0, next_at - time.monotonic()))
                for inst in doc["instances"]:
                    for kp in inst["keypoints"]:
                        if kp[2]:
                            kp[0] = round(kp[0] + (0.5 if s % 2 else -0.5), 1)
                body = json.dumps({"base_version": version, "annotation": doc}).encode()
                t0 = time.perf_counter()
                r = client.put(
                    f"/api/items/{item}/annotation",
                    content=body,
                    headers={"Content-Type": "application/json"},
                    timeout=args.timeout,
                )
                elapsed = (time.perf_counter() - t0) * 1000
                r.raise_for_status()
                version = r.json()["version"]
                with lock:
                    saves.append(elapsed)
                next_at += random.uniform(0.8, 1.2)
        except Exception as exc:  # reported with the figures
            errors.append(repr(exc)[:300])

    loader = threading.Thread(target=load, daemon=True)
    loader.start()
    time.sleep(1.0)  # the project-wide work is under way before the first save
    pairs = zip(clients, item_ids, strict=True)
    threads = [threading.Thread(target=annotator, args=pair) for pair in pairs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    result: dict[str, Any] = {"load": args.load, "saves": len(saves), "errors": errors[:3]}
    if saves:
        result.update(
            p50_ms=round(percentile(saves, 0.5), 1),
            p99_ms=round(percentile(saves, 0.99), 1),
            max_ms=round(max(saves), 1),
        )
    result["load_calls_finished"] = len(load_calls)
    loader.join(timeout=1)
    if loader.is_alive():  # the load request is still running: do not let it linger
        server.restart()
    return result


# --------------------------------------------------------------------------- one run


def pg_url(name: str) -> str:
    return f"postgresql://postgres@127.0.0.1:5432/{name}"


def pg_admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql)


@contextlib.contextmanager
def template(db_kind: str, code: Path, work: Path, args: Any) -> Iterator[dict[str, Any]]:
    """The project built once per database (with ``code``), copied for each tree."""
    data = work / f"template-{db_kind}"
    data.mkdir(parents=True, exist_ok=True)
    name = f"posemark_scale_tpl_{uuid.uuid4().hex[:6]}"
    if db_kind == "sqlite":
        db_url = f"sqlite:///{data / 'posemark.db'}"
    else:
        pg_admin(f'CREATE DATABASE "{name}"')
        db_url = pg_url(name)
    try:
        step("build", db_kind)
        cmd = [sys.executable, __file__, "_build", "--data", str(data), "--db-url", db_url]
        cmd += ["--images-dir", str(work / "images"), "--images", str(args.images)]
        cmd += ["--instances", str(args.instances), "--seed", str(args.seed)]
        cmd += ["--annotators", str(args.annotators)]
        built = subprocess.run(cmd, env=env_for(code), capture_output=True, text=True, check=False)
        if built.returncode:
            raise RuntimeError(f"build failed: {built.stderr[-3000:]}")
        info = json.loads(built.stdout.strip().splitlines()[-1])
        yield {"info": info, "data": data, "db_url": db_url, "pg_name": name}
    finally:
        if db_kind == "postgresql":
            pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        shutil.rmtree(data, ignore_errors=True)


@contextlib.contextmanager
def clone(db_kind: str, tpl: dict[str, Any], work: Path, tag: str) -> Iterator[tuple[Path, str]]:
    """A copy of the built project (database and data folder) for one code tree."""
    data = work / tag
    media = data / "media"
    media.mkdir(parents=True, exist_ok=True)
    (media / tpl["info"]["media_dir"]).symlink_to((work / "images").resolve())
    name = f"posemark_scale_{tag.replace('-', '_')}_{uuid.uuid4().hex[:6]}"
    if db_kind == "sqlite":
        shutil.copyfile(tpl["data"] / "posemark.db", data / "posemark.db")
        db_url = f"sqlite:///{data / 'posemark.db'}"
    else:
        pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{tpl["pg_name"]}"')
        db_url = pg_url(name)
    try:
        yield data, db_url
    finally:
        if db_kind == "postgresql":
            pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        shutil.rmtree(data, ignore_errors=True)


def posemark_cmd(*parts: str) -> list[str]:
    return [sys.executable, "-m", "posemark.cli.main", *parts]


def run_one(
    code: Path,
    db_kind: str,
    tpl: dict[str, Any],
    work: Path,
    tag: str,
    args: Any,
    save: Callable[[], None],
    out: dict[str, Any],
) -> dict[str, Any]:
    """Everything measured for one code tree on its copy of the built project, written
    into ``out`` as it goes (``save`` keeps a partial run's figures)."""
    out.update(code=str(code), commit=commit_of(code))
    env = env_for(code)
    info = dict(tpl["info"])
    out["build"] = {k: v for k, v in info.items() if k != "new_item_ids"}
    with clone(db_kind, tpl, work, tag) as (data, db_url):
        step("migrate the copy to this tree's head", tag)
        cmd = [sys.executable, __file__, "_upgrade", db_url]
        upgraded = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if upgraded.returncode:
            out["error"] = f"migration failed: {upgraded.stderr[-3000:]}"
            return out
        out["upgrade"] = json.loads(upgraded.stdout.strip().splitlines()[-1])
        save()
        pid, first = info["project_id"], info["first_item_id"]
        common = ["--data", str(data), "--db", db_url]
        if args.after_build:
            step("after-build", tag)
            text = args.after_build.format(data=data, db=db_url, project=pid)
            cmd = ["bash", "-c", text]
            out["after build"] = run_measured(cmd, env, args.cli_timeout)
        step("QA re-run (posemark qa)", tag)
        out["qa re-run"] = run_measured(
            posemark_cmd("qa", str(pid), *common, "--json"), env, args.cli_timeout
        )
        save()
        server = Server(code, data, db_url)
        step("server routes", tag)
        server.start()
        try:
            out["routes"] = measure_routes(server, pid, first + 7, args)
            out["server rss after routes (MiB)"] = round(server.rss() / MIB, 1)
            save()
            step("saves under load", tag)
            items = info["new_item_ids"]
            out["saves under load"] = saves_under_load(server, pid, items, args)
            out["server peak rss (MiB)"] = round(server.peak_rss / MIB, 1)
            out["server restarts (timeouts)"] = server.restarts
        finally:
            server.stop()
        save()
        step("export (posemark export)", tag)
        target = data / "export.json"
        result = run_measured(
            posemark_cmd("export", str(pid), str(target), *common), env, args.cli_timeout
        )
        if result["rc"] == 0 and not result["timed_out"]:
            result["instances_per_s"] = round(info["instances"] / result["seconds"])
            result["bytes"] = target.stat().st_size
        target.unlink(missing_ok=True)
        out["export"] = result
        save()
        step("import (posemark import)", tag)
        coco = work / "subset" / "subset.json"
        result = run_measured(
            posemark_cmd(
                "import", f"import-{tag}", str(coco), "--images", str(coco.parent / "images"),
                "--create-with-skeleton", "coco17", *common,
            ),
            env,
            args.cli_timeout,
        )  # fmt: skip
        if result["rc"] == 0 and not result["timed_out"]:
            result["images_per_s"] = round(args.import_images / result["seconds"])
        out["import"] = result
        save()
    return out


def commit_of(code: Path) -> str:
    r = subprocess.run(
        ["git", "-C", str(code), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    dirty = subprocess.run(
        ["git", "-C", str(code), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return r.stdout.strip() + ("+changes" if dirty else "")


def step(what: str, tag: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {tag}: {what}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- report


def _route_cell(r: dict[str, Any] | None, budget_ms: float, max_bytes: int) -> str:
    if not r:
        return "-"
    if r.get("timed_out"):
        return f"> {r['timeout_s']:g} s"
    if r.get("status") != 200:
        return f"HTTP {r.get('status')}"
    if "seconds" in r:
        return f"{r['seconds']:.1f} s, {r['bytes'] / MIB:.1f} MiB"
    if r.get("timed_out_warm"):
        return f"cold {r['cold_ms']:.0f} ms, warm > timeout"
    size = r["bytes"]
    shown = f"{size / 1024:.0f} KiB" if size < MIB else f"{size / MIB:.1f} MiB"
    if r.get("cold_only"):
        return f"cold {r['cold_ms'] / 1000:.1f} s, {shown} ✗"
    ok = r["p95_ms"] <= budget_ms and size <= max_bytes
    mark = "" if ok else " ✗"
    return f"{r['p50_ms']:.0f} / {r['p95_ms']:.0f} ms, {shown}{mark}"


def _cli_cell(r: dict[str, Any] | None, rate_key: str = "") -> str:
    if not r:
        return "-"
    if r.get("timed_out"):
        return f"> {r['seconds']:.0f} s (peak {r['peak_rss_mib']:.0f} MiB)"
    if r.get("rc"):
        return f"failed (rc {r['rc']})"
    rate = f", {r[rate_key]:,}/s" if rate_key and rate_key in r else ""
    return f"{r['seconds']:.1f} s{rate}, peak {r['peak_rss_mib']:.0f} MiB"


def markdown(results: dict[str, Any]) -> str:
    runs = results["runs"]
    cols = [(db, code) for db in results["dbs"] for code in results["codes"]]
    head = "| measurement | " + " | ".join(f"{db} {code}" for db, code in cols) + " |"
    lines = [head, "|" + " --- |" * (len(cols) + 1)]

    def row(label: str, cell: Callable[[dict[str, Any]], str]) -> None:
        cells = []
        for db, code in cols:
            run = runs.get(f"{code}-{db}")
            cells.append("-" if not run or ("error" in run and len(run) <= 3) else cell(run))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")

    labels: list[str] = []
    for run in runs.values():
        for label in run.get("routes", {}):
            if label not in labels:
                labels.append(label)
    row(
        "build (bulk insert, once per database), s",
        lambda r: f"{r.get('build', {}).get('build_s', '-')}",
    )
    row(
        "migrate the copy to the tree's head, s",
        lambda r: f"{r.get('upgrade', {}).get('upgrade_s', '-')}",
    )
    for label in labels:
        row(
            f"GET {label}",
            lambda r, lb=label: _route_cell(r.get("routes", {}).get(lb), 300, 2 * MIB),
        )

    def saves(r: dict[str, Any]) -> str:
        s = r.get("saves under load")
        if not s or "p99_ms" not in s:
            return f"failed: {s.get('errors') if s else '-'}"
        mark = "" if s["p99_ms"] <= 50 else " ✗"
        return f"p50 {s['p50_ms']:.0f} / p99 {s['p99_ms']:.0f} ms ({s['saves']} saves){mark}"

    row(f"{results.get('annotators', 20)} paced annotators' saves under load", saves)
    row("QA re-run (`posemark qa`)", lambda r: _cli_cell(r.get("qa re-run")))
    row("`posemark export` (instances/s)", lambda r: _cli_cell(r.get("export"), "instances_per_s"))
    row("`posemark import` subset (images/s)", lambda r: _cli_cell(r.get("import"), "images_per_s"))
    row("server RSS after routes, MiB", lambda r: f"{r.get('server rss after routes (MiB)', '-')}")
    row("server peak RSS, MiB", lambda r: f"{r.get('server peak rss (MiB)', '-')}")
    row("server restarts (timeouts)", lambda r: f"{r.get('server restarts (timeouts)', '-')}")
    errors = [f"- {key}: {run['error'][:500]}" for key, run in runs.items() if "error" in run]
    return "\n".join(lines + (["", *errors] if errors else [])) + "\n"


# --------------------------------------------------------------------------- main


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "_upgrade":
        upgrade_main(sys.argv[2])
        return
    if len(sys.argv) > 1 and sys.argv[1] == "_build":
        ap = argparse.ArgumentParser()
        ap.add_argument("_build")
        for name in ("--data", "--db-url", "--images-dir"):
            ap.add_argument(name, required=True)
        for name in ("--images", "--instances", "--seed", "--annotators"):
            ap.add_argument(name, type=int, required=True)
        build_main(ap.parse_args())
        return
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--images", type=int, default=250_000)
    ap.add_argument("--instances", type=int, default=1_000_000)
    ap.add_argument("--smoke", action="store_true", help="2,500 images, 10,000 instances")
    ap.add_argument("--db", default="sqlite,postgresql", help="sqlite, postgresql or both")
    ap.add_argument("--current", type=Path, default=ROOT, help="code tree under test")
    ap.add_argument("--baseline", type=Path, help="a second code tree, measured side by side")
    ap.add_argument("--timeout", type=float, default=60.0, help="per request, seconds")
    ap.add_argument("--cli-timeout", type=float, default=600.0, help="per command, seconds")
    ap.add_argument("--samples", type=int, default=10, help="warm calls per route")
    ap.add_argument("--annotators", type=int, default=20)
    ap.add_argument("--saves", type=int, default=30, help="saves per annotator")
    ap.add_argument(
        "--load",
        default="GET /api/projects/{pid}/report",
        help="the project-wide request repeated while annotators save",
    )
    ap.add_argument(
        "--load-once",
        action="store_true",
        help="send --load once (it starts a project-wide job) instead of over and over",
    )
    ap.add_argument(
        "--route",
        action="append",
        help="another GET to measure, 'label=/api/projects/{pid}/...?k=v' (repeatable)",
    )
    ap.add_argument("--import-images", type=int, default=5000)
    ap.add_argument("--after-build", help="command run after the build ({data} {db} {project})")
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--work", type=Path, help="work folder (default: a temporary one)")
    ap.add_argument("--json", type=Path, help="write every figure here (updated as it goes)")
    ap.add_argument("--md", type=Path, help="write the markdown table here")
    ap.add_argument("--render", type=Path, help="only print the table of a --json file")
    args = ap.parse_args()
    if args.render is not None:
        print(markdown(json.loads(args.render.read_text())))
        return
    if args.smoke:
        args.images, args.instances = 2500, 10_000
        args.import_images = min(args.import_images, 500)
    dbs = [d.strip() for d in args.db.split(",") if d.strip()]
    codes = {"current": args.current.resolve()}
    if args.baseline is not None:
        codes = {"baseline": args.baseline.resolve(), **codes}
    work = args.work or Path(tempfile.mkdtemp(prefix="posemark-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "images": args.images,
        "instances": args.instances,
        "dbs": dbs,
        "codes": list(codes),
        "argv": sys.argv[1:],
        "annotators": args.annotators,
        "cpus": os.cpu_count(),
        "builds": {},
        "runs": {},
    }

    def save() -> None:
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))

    try:
        step(f"image folder ({args.images} hard links)", "setup")
        make_image_folder(work / "images", args.images)
        subset = work / "subset" / "subset.json"
        subset.parent.mkdir(parents=True, exist_ok=True)
        ratio = args.instances / max(1, args.images)
        n = write_coco_subset(
            subset, args.import_images, round(args.import_images * ratio), args.seed + 1
        )
        results["import subset"] = {"images": args.import_images, "instances": n}
        builder = next(iter(codes.values()))  # the baseline when there is one
        for db in dbs:
            try:
                with template(db, builder, work, args) as tpl:
                    results["builds"][db] = tpl["info"]
                    for name, code in codes.items():
                        key = f"{name}-{db}"
                        out = results["runs"].setdefault(key, {})
                        try:
                            run_one(code, db, tpl, work, key, args, save, out)
                        except Exception as exc:  # one failed run must not lose the others
                            out["error"] = repr(exc)
                        save()
            except Exception as exc:
                for name in codes:
                    results["runs"][f"{name}-{db}"] = {"error": repr(exc)}
                save()
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    save()
    table = markdown(results)
    head = (
        f"{args.images:,} images, {args.instances:,} instances; routes: p50 / p95 of "
        f"{args.samples} warm calls and body size (✗: over 300 ms or 2 MiB); "
        f"timeouts {args.timeout:g} s per request, {args.cli_timeout:g} s per command\n\n"
    )
    if args.md:
        args.md.write_text(head + table)
    print(head + table)


if __name__ == "__main__":
    main()
