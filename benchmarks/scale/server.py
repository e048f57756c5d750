"""Child processes of the tree under test: a measured command, and a server that
restarts when a request times out."""

from __future__ import annotations

import contextlib
import os
import resource
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from scale.build import ADMIN_PASSWORD, MIB

# --------------------------------------------------------------------------- processes


def env_for(code: Path) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(code / "src"), POSEMARK_ADMIN_PASSWORD=ADMIN_PASSWORD)
    return env


def run_measured(
    cmd: list[str], env: dict[str, str], timeout: float, stdout: Any = subprocess.DEVNULL
) -> dict[str, Any]:
    """Run a command; wall time, CPU time (its own and its children's, user + system),
    exit code and its peak RSS (polled every 50 ms), or a timeout (the process is
    killed). With ``stdout=subprocess.PIPE`` its last line is returned as ``stdout``."""
    import psutil

    t0, c0 = time.perf_counter(), _children_cpu()
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
    out, err = proc.communicate()
    result: dict[str, Any] = {
        "seconds": round(time.perf_counter() - t0, 2),
        "cpu_s": round(_children_cpu() - c0, 1),
        "rc": proc.returncode,
        "peak_rss_mib": round(peak / MIB, 1),
        "timed_out": timed_out,
    }
    if proc.returncode and not timed_out:
        result["stderr"] = err.decode(errors="replace")[-2000:]
    if out:
        lines = out.decode(errors="replace").strip().splitlines()
        result["stdout"] = lines[-1] if lines else ""
    return result


def _children_cpu() -> float:
    """CPU seconds of every waited child process so far (a measured command and the
    worker processes it waited for)."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


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
