"""Annotators saving at a steady pace while a project-wide request runs again and again."""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from typing import Any

import httpx

from scale.routes import percentile
from scale.server import Server


def saves_under_load(server: Server, pid: int, item_ids: list[int], args: Any) -> dict[str, Any]:
    """``--annotators`` annotators, one item and one job each, saving once a second while
    a project-wide request (``--load``) is repeated in the background."""
    admin = server.login()
    clients: list[httpx.Client] = []
    for i, item in enumerate(item_ids):
        name, password = f"annotator{i}-{uuid.uuid4().hex[:12]}", f"pw-{uuid.uuid4().hex}"
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
    if args.load_once:
        _start_job(server, pid, method, path, args)
        load_calls.append({"status": "started", "s": 0.0})
    else:
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
    if loader.is_alive():
        loader.join(timeout=1)
    if loader.is_alive():  # the load request is still running: do not let it linger
        server.restart()
    return result


def _start_job(server: Server, pid: int, method: str, path: str, args: Any) -> None:
    """Send the request that queues a job, then wait until a worker runs it and has done
    ``--load-wait-done`` of its steps (a QA re-run's first pass only reads: its writing
    pass is what saves contend with), so every save runs beside the job."""
    client = server.login()
    r = client.request(method, path, timeout=args.timeout)
    r.raise_for_status()
    operation = r.json()["id"]
    deadline = time.monotonic() + args.timeout * 10
    while time.monotonic() < deadline:
        got = client.get(f"/api/projects/{pid}/operations/{operation}", timeout=args.timeout)
        state = got.json()
        if state["state"] not in ("queued", "running"):
            raise RuntimeError(f"the job ended before the saves began: {state['state']}")
        if state["state"] == "running" and (state["done"] or 0) >= args.load_wait_done:
            return
        time.sleep(0.5)
    raise RuntimeError("the job did not get under way in time")
