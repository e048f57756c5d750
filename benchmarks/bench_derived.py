"""How fast the routes the web pages call answer on a large project, and how fast the
project-wide QA re-run goes (services/qa_store.py).

Builds a SQLite (or, with ``--db-url``, PostgreSQL) project of ``--items`` images with
``--people`` COCO-17 people each: the labeled people of COCO val2017 in
../shared/testdata/coco/mmpose_coco/test_coco.json placed at random positions and scales
with 2 px jitter, 4 % of them given a typical mistake (a wrist dropped elsewhere, left
and right swapped), and statuses spread over the workflow. Then it times, in this
process (the app through an in-process HTTP client, warm: each route is called once
before it is timed):

- the project-wide QA re-run (instances/s): the findings of a project that has none;
- every list route the web pages call: median, p95 and the largest body of ``--repeat``
  calls each;
- a save (the item's findings replaced in its transaction).

    .venv/bin/python benchmarks/bench_derived.py --items 20000 --people 4
    .venv/bin/python benchmarks/bench_derived.py --items 2000 --routes-only   # any code

``--routes-only`` skips the re-run and the save (the code before kept no findings), so
the same command times the routes of an older checkout for comparison. ``--keep DIR``
keeps the data folder; ``--calls DIR`` then times the services behind the verification
views, the QA page and the report on it, in CPU ms (no HTTP, no rebuilding).
:func:`build_project` and :func:`time_routes` are what a larger benchmark can call.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import insert, select

from posemark.server import create_app
from posemark.services.projects import create_project
from posemark.services.settings import Settings
from posemark.services.users import create_user
from posemark.store import open_store, upgrade_to_head
from posemark.store.engine import Store
from posemark.store.models import Item, utcnow

COCO_SAMPLE = (
    Path(__file__).resolve().parents[1].parent / "shared/testdata/coco/mmpose_coco/test_coco.json"
)
PASSWORD = "bench-password-long-enough"
STATUSES = ["new"] * 4 + ["annotating"] * 2 + ["submitted"] * 2 + ["in_review", "accepted"]
MISTAKE_SHARE = 0.04


def coco_people() -> list[list[list[float]]]:
    """The sample's well-labeled people as [x, y, v] triples around their box's corner."""
    doc = json.loads(COCO_SAMPLE.read_text())
    people = []
    for ann in doc["annotations"]:
        if ann["num_keypoints"] < 10:
            continue
        x0, y0 = ann["bbox"][:2]
        kp = ann["keypoints"]
        people.append([[kp[j] - x0, kp[j + 1] - y0, kp[j + 2]] for j in range(0, len(kp), 3)])
    return people


def placed_person(
    rng: random.Random, people: list[list[list[float]]]
) -> tuple[list[list[Any]], float]:
    """One of ``people`` at a random position and scale with 2 px jitter: its [x, y, v]
    triples and the scale."""
    scale = rng.uniform(0.7, 1.3)
    dx, dy = rng.uniform(0, 300), rng.uniform(0, 150)
    keypoints: list[list[Any]] = [
        [dx + x * scale + rng.gauss(0, 2), dy + y * scale + rng.gauss(0, 2), int(v)]
        if v
        else [None, None, 0]
        for x, y, v in rng.choice(people)
    ]
    return keypoints, scale


def _person(rng: random.Random, n: int, people: list[list[list[float]]]) -> dict[str, Any]:
    keypoints, scale = placed_person(rng, people)
    if rng.random() < MISTAKE_SHARE:
        if rng.random() < 0.5 and keypoints[9][2]:  # left wrist dropped far away
            keypoints[9] = [keypoints[9][0] + 150 * scale, keypoints[9][1] + 200 * scale, 2]
        else:  # every left/right pair swapped
            for a in range(1, 17, 2):
                keypoints[a], keypoints[a + 1] = keypoints[a + 1], keypoints[a]
    return {
        "id": f"p{n}",
        "keypoints": keypoints,
        "bbox": None,
        "bbox_mode": "derived",
        "source": "human",
        "confirmed": True,
        "track_id": None,
    }


def build_project(
    store: Store, settings: Settings, items: int, people: int, seed: int = 0
) -> tuple[int, str]:
    """A project of ``items`` images of ``people`` people each, written straight to the
    database in chunks (the import is timed elsewhere); returns (project id, admin name)."""
    rng = random.Random(seed)
    sample = coco_people()
    with store.session() as s:
        admin = create_user(s, "admin", PASSWORD, True)
        project = create_project(s, settings, "big", "coco17", admin)
        pid = project.id
        s.commit()
        now = utcnow()
        for start in range(0, items, 5000):
            rows = [
                {
                    "project_id": pid,
                    "file_name": f"{i:07d}.jpg",
                    "width": 640,
                    "height": 480,
                    "status": rng.choice(STATUSES),
                    "version": 1,
                    "annotation": {"instances": [_person(rng, n, sample) for n in range(people)]},
                    "updated_at": now,
                }
                for i in range(start, min(items, start + 5000))
            ]
            s.execute(insert(Item), rows)
            s.commit()
    return pid, "admin"


def _cpu_ms(run: Callable[[], Any]) -> tuple[float, float, Any]:
    """(wall ms, CPU ms of this process: the app runs in it, on the client's thread pool)."""
    cpu, wall = time.process_time(), time.perf_counter()
    out = run()
    return (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000, out


def time_routes(client: TestClient, pid: int, repeat: int) -> list[tuple[str, float, float, int]]:
    """(route, median ms, p95 ms, largest body bytes) of each list route the web pages
    call, each called once untimed first (warm)."""
    first = client.get(f"/api/projects/{pid}/items", params={"limit": 1}).json()["items"][0]
    routes = [
        f"/api/projects/{pid}",
        f"/api/projects/{pid}/items?limit=50",
        f"/api/projects/{pid}/items?limit=50&status=submitted",
        f"/api/projects/{pid}/items?limit=50&q=00123",
        f"/api/projects/{pid}/items?limit=50&offset=10000",
        f"/api/projects/{pid}/qa?limit=200",
        f"/api/projects/{pid}/qa?limit=200&check=bone_length_outlier",
        f"/api/projects/{pid}/qa?limit=200&severity=error",
        f"/api/projects/{pid}/report",
        f"/api/projects/{pid}/gallery?keypoint=left_wrist&limit=60",
        f"/api/projects/{pid}/review/instances?limit=50",
        f"/api/projects/{pid}/jobs",
        f"/api/items/{first['id']}/history",
    ]
    out = []
    for route in routes:
        r = client.get(route)
        assert r.status_code == 200, (route, r.status_code, r.text[:300])
        times, cpus, size = [], [], 0
        for _ in range(repeat):
            ms, cpu, r = _cpu_ms(lambda route=route: client.get(route))  # type: ignore[misc]
            times.append(ms)
            cpus.append(cpu)
            size = max(size, len(r.content))
        times.sort()
        p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
        name = route.replace(f"/projects/{pid}", "/projects/{pid}")
        out.append((name, statistics.median(times), p95, statistics.median(cpus), size))
    return out


def time_calls(settings: Settings, repeat: int) -> int:
    """CPU ms per call of the services behind the slow pages, on a kept project."""
    from posemark.services import qa_read
    from posemark.services.gallery import gallery, review_queue
    from posemark.services.projects import get_project
    from posemark.services.report import project_report
    from posemark.store.models import User

    store = open_store(settings.db_url)
    with store.session() as s:
        admin = s.scalar(select(User).where(User.username == "admin"))
        assert admin is not None
        access = get_project(s, admin, 1)
        calls: list[tuple[str, Callable[[], Any]]] = [
            (
                "gallery first page (left_wrist, 60)",
                lambda: gallery(s, access, admin, "left_wrist"),
            ),
            ("instance review first page (50)", lambda: review_queue(s, access, admin)),
            ("QA counts per check and severity", lambda: qa_read.finding_counts(s, 1)),
            ("QA findings page (200)", lambda: qa_read.list_findings(s, 1)),
            (
                "QA findings page (200), one check",
                lambda: qa_read.list_findings(s, 1, None, "bone_length_outlier"),
            ),
            (
                "QA findings page (200), error+warning",
                lambda: qa_read.list_findings(s, 1, None, None, "error,warning"),
            ),
            ("report", lambda: project_report(s, access.project)),
        ]
        for name, call in calls:
            call()
            cpus = [_cpu_ms(call)[1] for _ in range(repeat)]
            print(f"{name:45s} {statistics.median(cpus):8.1f} CPU ms")
    store.dispose()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--people", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--db-url", default=None, help="an empty database (default: SQLite)")
    parser.add_argument("--routes-only", action="store_true")
    parser.add_argument("--keep", type=Path, default=None, help="keep the data folder here")
    parser.add_argument("--calls", type=Path, default=None, help="time services on a kept one")
    args = parser.parse_args(argv)
    if args.calls is not None:
        return time_calls(Settings(data_dir=args.calls), args.repeat)
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        settings = Settings(data_dir=folder, **({"db_url": args.db_url} if args.db_url else {}))
        settings.make_dirs()
        store = open_store(settings.db_url)
        upgrade_to_head(store.engine)
        t = time.perf_counter()
        pid, admin = build_project(store, settings, args.items, args.people)
        print(f"built {args.items} items x {args.people} people in {time.perf_counter() - t:.1f} s")
        if not args.routes_only:
            import resource

            from posemark.services.qa_rerun import rerun_project_qa

            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            with store.session() as s:
                ms, cpu, done = _cpu_ms(lambda: rerun_project_qa(s, pid))
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            workers = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
            n = done["instances"]
            print(
                f"QA re-run: {n} instances, {done['findings']} findings in {ms / 1000:.1f} s "
                f"wall = {n / (ms / 1000):,.0f} instances/s; CPU: this process "
                f"{cpu / 1000:.1f} s, workers {workers:.1f} s = "
                f"{n / ((cpu / 1000 + workers) / 2):,.0f} instances/s on 2 cores at full use"
            )
        store.dispose()
        import os

        os.environ["POSEMARK_ADMIN_PASSWORD"] = PASSWORD
        app = create_app(settings)
        with TestClient(app) as client:
            r = client.post("/api/auth/login", json={"username": admin, "password": PASSWORD})
            assert r.status_code == 200, r.text
            client.headers["X-CSRF-Token"] = r.json().get("csrf_token", "")
            rows = time_routes(client, pid, args.repeat)
            if not args.routes_only:
                item = client.get(f"/api/projects/{pid}/items", params={"limit": 1}).json()
                iid = item["items"][0]["id"]
                saves, cpus = [], []
                url = f"/api/items/{iid}/annotation"
                for _ in range(args.repeat):
                    cur = client.get(f"/api/items/{iid}").json()
                    body = {"base_version": cur["version"], "annotation": cur["annotation"]}
                    put = lambda body=body: client.put(url, json=body)  # type: ignore[misc]  # noqa: E731
                    ms, cpu, r = _cpu_ms(put)
                    assert r.status_code == 200, r.text
                    saves.append(ms)
                    cpus.append(cpu)
                saves.sort()
                median, cpu = statistics.median(saves), statistics.median(cpus)
                rows.append(
                    ("PUT /api/items/{iid}/annotation (p95 = max)", median, saves[-1], cpu, 0)
                )
    print(f"{'route':60s} {'median ms':>10s} {'p95 ms':>8s} {'CPU ms':>8s} {'body':>10s}")
    for route, med, p95, cpu, size in rows:
        print(f"{route:60s} {med:10.1f} {p95:8.1f} {cpu:8.1f} {size:10,d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
