"""Annotation server benchmarks: save latency under concurrent annotators, editor start.

1. Save latency: a real ``posemark serve`` process on loopback, one project, 20
   simulated annotators (threads, each with its own login and item) saving an
   annotation of 20 people x 17 keypoints, each save based on the version the previous
   one returned. Reports p50/p90/p99/max per backend (embedded SQLite and PostgreSQL),
   side by side with the same clients calling ``GET /api/health`` (the HTTP floor of
   this server) so the cost of the save itself is visible.
2. Editor start: Chromium (Playwright) opens an item with 20 people x 17 keypoints; the
   time from navigation start until every keypoint element is in the DOM and the editor
   reports ``data-save-state="saved"``, next to the time to load the bare image.

    .venv/bin/python benchmarks/bench_server.py [--saves 50] [--annotators 20] [--no-postgres]

3. Several web processes (``--processes 1,2``): on PostgreSQL only, ``posemark serve
   --workers N`` for each N, the saturated save throughput (saves per second, all
   annotators saving back to back) and its latency. Sessions, CSRF tokens and
   operations live in the database, so any process answers any request.

    .venv/bin/python benchmarks/bench_server.py --processes 1,2 [--saves 50]

Targets: p99 save < 50 ms, editor interactive < 300 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx

ADMIN_PASSWORD = "bench-admin-password"
_JSON = {"Content-Type": "application/json"}
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(
    data_dir: Path, db_url: str | None, processes: int = 1
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    cmd = [sys.executable, "-m", "posemark.cli.main", "serve", "--data", str(data_dir)]
    cmd += ["--port", str(port)] + (["--db", db_url] if db_url else [])
    if processes > 1:
        # web processes only: no background operation runs during the measurement
        cmd += ["--workers", str(processes), "--operation-workers", "0"]
    env = dict(os.environ, POSEMARK_ADMIN_PASSWORD=ADMIN_PASSWORD)
    log = data_dir.parent / "serve.log"
    with log.open("wb") as out:
        # its own session: on failure the whole group goes (uvicorn's children included)
        proc = subprocess.Popen(
            cmd, env=env, stdout=subprocess.DEVNULL, stderr=out, start_new_session=True
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300  # several processes start slowly on a busy machine
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            time.sleep(0.2)
    stop_server(proc)
    raise RuntimeError(f"server did not start: {log.read_text()[-3000:]}")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the server's whole process group, SIGKILL after 30 s."""
    import signal

    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    except ProcessLookupError:
        pass


def login(base: str, username: str, password: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=30)
    r = client.post("/api/auth/login", json={"username": username, "password": password})
    r.raise_for_status()
    client.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    return client


def people_document(n_people: int, k: int, jitter: float) -> dict[str, object]:
    instances = []
    for p in range(n_people):
        kps = [[30.0 + 25 * p + i + jitter, 40.0 + 10 * i + jitter, 2] for i in range(k)]
        instances.append(
            {"id": f"p{p}", "keypoints": kps, "bbox": None, "bbox_mode": "derived",
             "source": "human", "confirmed": True, "track_id": None}
        )  # fmt: skip
    return {"instances": instances}


def make_project(admin: httpx.Client, tmp: Path, annotators: int) -> tuple[int, list[int]]:
    from PIL import Image

    folder = tmp / "images"
    folder.mkdir()
    for i in range(annotators + 1):
        Image.new("RGB", (1280, 720), (40 + i, 90, 140)).save(folder / f"frame{i:03d}.jpg")
    r = admin.post(
        "/api/projects", json={"name": f"bench {uuid.uuid4().hex[:6]}", "skeleton": "coco17"}
    )
    r.raise_for_status()
    pid = r.json()["id"]
    files = [("files", (p.name, p.read_bytes(), "image/jpeg")) for p in sorted(folder.iterdir())]
    admin.headers.pop("Content-Type", None)
    admin.post(f"/api/projects/{pid}/import", files=files).raise_for_status()
    items = admin.get(f"/api/projects/{pid}/items", params={"limit": 1000}).json()["items"]
    return pid, [it["id"] for it in items]


def percentiles(samples: list[float]) -> dict[str, float]:
    s = sorted(samples)

    def q(p: float) -> float:
        return s[min(len(s) - 1, round(p * (len(s) - 1)))]

    return {"n": len(s), "p50": q(0.5), "p90": q(0.9), "p99": q(0.99), "max": s[-1]}


def make_annotators(
    admin: httpx.Client, base: str, pid: int, n: int, items: list[int]
) -> list[httpx.Client]:
    """``n`` annotators, each given a job holding its own item (annotators see only the
    items of their jobs)."""
    clients = []
    for i in range(n):
        name, password = f"annotator{i}-{uuid.uuid4().hex[:4]}", f"pw-{uuid.uuid4().hex}"
        admin.post("/api/users", json={"username": name, "password": password}).raise_for_status()
        member = {"username": name, "role": "annotator"}
        admin.post(f"/api/projects/{pid}/members", json=member).raise_for_status()
        job = {"item_ids": [items[i]], "annotator": name}
        admin.post(f"/api/projects/{pid}/jobs", json=job).raise_for_status()
        clients.append(login(base, name, password))
    return clients


def run_saves(
    clients: list[httpx.Client], items: list[int], saves: int, interval: float
) -> dict[str, dict[str, float]]:
    """Each annotator saves its own item ``saves`` times, one save per ``interval`` s
    (0: back to back), each based on the version its previous save returned."""
    save_ms: list[float] = []
    health_ms: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(clients))
    errors: list[str] = []

    def annotator(client: httpx.Client, item: int) -> None:
        try:
            version = client.get(f"/api/items/{item}").json()["version"]
            barrier.wait()
            local_save, local_health = [], []
            # Annotators work independently: each starts at its own moment in the interval.
            next_at = time.monotonic() + random.uniform(0, interval)
            time.sleep(max(0.0, next_at - time.monotonic()))
            for s in range(saves):
                doc = people_document(20, 17, jitter=s * 0.25)
                # encoded before the clock starts: the client's own JSON work is not the
                # server's latency (a browser encodes this in well under a millisecond)
                body = json.dumps({"base_version": version, "annotation": doc}).encode()
                t0 = time.perf_counter()
                r = client.put(f"/api/items/{item}/annotation", content=body, headers=_JSON)
                local_save.append((time.perf_counter() - t0) * 1000)
                r.raise_for_status()
                version = r.json()["version"]
                t0 = time.perf_counter()
                client.get("/api/health").raise_for_status()
                local_health.append((time.perf_counter() - t0) * 1000)
                next_at += interval * random.uniform(0.8, 1.2) if interval else 0
                time.sleep(max(0.0, next_at - time.monotonic()))
            with lock:
                save_ms.extend(local_save)
                health_ms.extend(local_health)
        except Exception as exc:  # reported after the run
            errors.append(repr(exc))

    threads = [
        threading.Thread(target=annotator, args=(c, it))
        for c, it in zip(clients, items, strict=False)
    ]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    if errors:
        raise RuntimeError(f"{len(errors)} annotator(s) failed, first: {errors[0]}")
    rate = {"saves_per_s": len(save_ms) / wall, "wall_s": wall}
    return {"save": percentiles(save_ms), "health": percentiles(health_ms), "rate": rate}


def editor_start(base: str, item: int) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run"]  # fmt: skip
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(f"{base}/#/login")
        page.fill("input[name=username]", "admin")
        page.fill("input[name=password]", ADMIN_PASSWORD)
        page.press("input[name=password]", "Enter")
        page.wait_for_url("**/#/projects")
        results: dict[str, list[float]] = {"editor_ms": [], "image_ms": []}
        for _ in range(5):
            page.goto(f"{base}/#/projects")
            page.wait_for_load_state("networkidle")
            t0 = page.evaluate("performance.now()")
            page.evaluate(f"location.hash = '#/items/{item}'")
            page.wait_for_function(
                "document.querySelectorAll('[data-keypoint]').length >= 340 && "
                "document.querySelector('[data-save-state=\"saved\"]') !== null"
            )
            results["editor_ms"].append(page.evaluate("performance.now()") - t0)
            t0 = page.evaluate("performance.now()")
            page.evaluate(
                "url => new Promise(ok => { const i = new Image(); i.onload = ok;"
                " i.src = url + '?' + Math.random(); })",
                f"{base}/api/items/{item}/image",
            )
            results["image_ms"].append(page.evaluate("performance.now()") - t0)
        browser.close()
    return {k: statistics.median(v) for k, v in results.items()}


def bench_backend(
    label: str, db_url: str | None, annotators: int, saves: int, editor: bool
) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        proc, base = start_server(tmp / "data", db_url)
        try:
            admin = login(base, "admin", ADMIN_PASSWORD)
            pid, items = make_project(admin, tmp, annotators)
            clients = make_annotators(admin, base, pid, annotators, items)
            result: dict[str, object] = {"backend": label}
            result["paced"] = run_saves(clients, items, saves, interval=1.0)
            result["saturated"] = run_saves(clients, items, saves, interval=0.0)
            if editor:
                item = items[-1]
                version = admin.get(f"/api/items/{item}").json()["version"]
                body = {"base_version": version, "annotation": people_document(20, 17, 0)}
                admin.put(f"/api/items/{item}/annotation", json=body).raise_for_status()
                result["editor"] = editor_start(base, item)
            return result
        finally:
            stop_server(proc)


class CpuAccount:
    """Where the CPU went while saves ran: the server's processes (uvicorn and its
    workers), the PostgreSQL backends serving this benchmark's database, this client
    process, and the whole machine (the rest is other work on it); plus how often a
    backend of this database was seen waiting on a lock (sampled every 20 ms). What
    tells a core-bound run (busy cores, no waits) from a lock- or pool-bound one."""

    def __init__(self, server_pid: int, database: str) -> None:
        self.server_pid, self.database = server_pid, database
        self.samples = {"active": 0, "lock": 0, "lwlock": 0, "io": 0, "n": 0}
        self.stop = threading.Event()
        self.result: dict[str, float] = {}

    def _server(self) -> list[object]:
        import psutil

        root = psutil.Process(self.server_pid)
        return [root, *root.children(recursive=True)]

    def _backend_pids(self) -> list[int]:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s", (self.database,)
            ).fetchall()
        return [int(r[0]) for r in rows]

    def _cpu(self, pids: list[int]) -> float:
        import psutil

        total = 0.0
        for pid in pids:
            try:
                t = psutil.Process(pid).cpu_times()
                total += t.user + t.system
            except psutil.Error:
                pass
        return total

    def _sample(self) -> None:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            while not self.stop.wait(0.02):
                rows = conn.execute(
                    "SELECT state, wait_event_type FROM pg_stat_activity WHERE datname = %s",
                    (self.database,),
                ).fetchall()
                self.samples["n"] += 1
                for state, wait in rows:
                    self.samples["active"] += state == "active"
                    self.samples["lock"] += wait == "Lock"
                    self.samples["lwlock"] += wait == "LWLock"
                    self.samples["io"] += wait == "IO"

    def __enter__(self) -> CpuAccount:
        import psutil

        self.server_pids = [p.pid for p in self._server()]  # type: ignore[attr-defined]
        self.t0 = time.perf_counter()
        self.machine0 = psutil.cpu_times()
        self.server0 = self._cpu(self.server_pids)
        self.client0 = time.process_time()
        self.db_pids = self._backend_pids()
        self.db0 = self._cpu(self.db_pids)
        self.sampler = threading.Thread(target=self._sample, daemon=True)
        self.sampler.start()
        return self

    def __exit__(self, *exc: object) -> None:
        import psutil

        wall = time.perf_counter() - self.t0
        m1 = psutil.cpu_times()
        self.stop.set()
        self.sampler.join()
        busy = (m1.user + m1.system + m1.nice + getattr(m1, "softirq", 0) + m1.irq) - (
            self.machine0.user + self.machine0.system + self.machine0.nice
            + getattr(self.machine0, "softirq", 0) + self.machine0.irq
        )  # fmt: skip
        n = max(self.samples["n"], 1)
        self.result = {
            "wall_s": wall,
            "cores": float(psutil.cpu_count() or 1),
            "machine_busy_cores": busy / wall,
            "server_cores": (self._cpu(self.server_pids) - self.server0) / wall,
            "postgres_cores": (self._cpu(self.db_pids) - self.db0) / wall,
            "client_cores": (time.process_time() - self.client0) / wall,
            "backends_active": self.samples["active"] / n,
            "backends_waiting_lock": self.samples["lock"] / n,
            "backends_waiting_lwlock": self.samples["lwlock"] / n,
            "load_average_1m": os.getloadavg()[0],
        }


def bench_processes(counts: list[int], annotators: int, saves: int) -> list[dict[str, object]]:
    """Saturated saves against ``posemark serve --workers N`` on PostgreSQL, per N."""
    import psycopg

    results = []
    for n in counts:
        name = f"posemark_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            url = f"postgresql://postgres@127.0.0.1:5432/{name}"
            with tempfile.TemporaryDirectory() as tmp_name:
                tmp = Path(tmp_name)
                proc, base = start_server(tmp / "data", url, processes=n)
                try:
                    admin = login(base, "admin", ADMIN_PASSWORD)
                    pid, items = make_project(admin, tmp, annotators)
                    clients = make_annotators(admin, base, pid, annotators, items)
                    run_saves(clients, items, 5, interval=0.0)  # warm every process
                    with CpuAccount(proc.pid, name) as cpu:
                        saturated = run_saves(clients, items, saves, interval=0.0)
                    results.append({"processes": n, "saturated": saturated, "cpu": cpu.result})
                finally:
                    stop_server(proc)
        finally:
            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return results


def print_processes(results: list[dict[str, object]], annotators: int, saves: int) -> None:
    print(f"PostgreSQL, {annotators} annotators saving back to back, {saves} saves each")
    print(f"{'processes':>9} {'saves/s':>9} {'p50 ms':>9} {'p99 ms':>9} {'max ms':>9}")
    for r in results:
        sat = r["saturated"]
        st, rate = sat["save"], sat["rate"]  # type: ignore[index]
        print(
            f"{r['processes']:>9} {rate['saves_per_s']:>9.1f} {st['p50']:>9.1f}"
            f" {st['p99']:>9.1f} {st['max']:>9.1f}"
        )
    print("where the CPU went during the saturated run (cores busy on average):")
    print(
        f"{'processes':>9} {'machine':>8} {'server':>8} {'postgres':>9} {'client':>8}"
        f" {'other':>8} {'pg active':>10} {'pg lockwait':>12} {'load 1m':>8}"
    )
    for r in results:
        c = r["cpu"]  # type: ignore[index]
        other = c["machine_busy_cores"] - c["server_cores"] - c["postgres_cores"]
        other -= c["client_cores"]
        print(
            f"{r['processes']:>9} {c['machine_busy_cores']:>8.2f} {c['server_cores']:>8.2f}"
            f" {c['postgres_cores']:>9.2f} {c['client_cores']:>8.2f} {other:>8.2f}"
            f" {c['backends_active']:>10.2f} {c['backends_waiting_lock']:>12.2f}"
            f" {c['load_average_1m']:>8.1f}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--saves", type=int, default=50, help="saves per annotator")
    ap.add_argument("--annotators", type=int, default=20)
    ap.add_argument("--no-postgres", action="store_true")
    ap.add_argument("--json", action="store_true")
    ap.add_argument(
        "--processes",
        help="comma-separated web process counts (e.g. 1,2): the PostgreSQL throughput run",
    )
    args = ap.parse_args()
    if args.processes:
        counts = [int(n) for n in args.processes.split(",")]
        found = bench_processes(counts, args.annotators, args.saves)
        if args.json:
            print(json.dumps(found, indent=2))
        else:
            print_processes(found, args.annotators, args.saves)
        return
    results = [bench_backend("sqlite", None, args.annotators, args.saves, editor=True)]
    if not args.no_postgres:
        import psycopg

        name = f"posemark_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            url = f"postgresql://postgres@127.0.0.1:5432/{name}"
            results.append(
                bench_backend("postgresql", url, args.annotators, args.saves, editor=False)
            )
        finally:
            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"{args.annotators} annotators, {args.saves} saves each of 20 people x 17 keypoints,")
    print(
        "paced: one save per second per annotator (autosave while editing); saturated: back to back"
    )
    head = f"{'backend':<11} {'mode':<10} {'call':<7} {'n':>5}"
    print(head + "".join(f"{c:>9}" for c in ("p50 ms", "p90 ms", "p99 ms", "max ms")))
    for r in results:
        for mode in ("paced", "saturated"):
            for call in ("save", "health"):
                st = r[mode][call]  # type: ignore[index]
                row = f"{r['backend']:<11} {mode:<10} {call:<7} {st['n']:>5}"
                print(row + "".join(f"{st[k]:>9.1f}" for k in ("p50", "p90", "p99", "max")))
    for r in results:
        p99 = r["paced"]["save"]["p99"]  # type: ignore[index]
        verdict = "PASS" if p99 < 50 else "MISS"
        print(f"{verdict}  p99 save < 50 ms, paced, {r['backend']} (measured {p99:.1f} ms)")
    editor = results[0].get("editor")
    if isinstance(editor, dict):
        print(
            f"editor interactive (20 people x 17 keypoints): median {editor['editor_ms']:.0f} ms;"
            f" the bare image alone {editor['image_ms']:.0f} ms"
        )
        verdict = "PASS" if editor["editor_ms"] < 300 else "MISS"
        print(f"{verdict}  editor interactive < 300 ms")


if __name__ == "__main__":
    main()
