"""Route probes: every route the web pages call, one cold call and warm samples each."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import httpx

from scale.server import Server

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
        ("operations (jobs and their progress)", f"{p}/operations", {}),
        ("guidelines", f"{p}/guidelines", {}),
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
