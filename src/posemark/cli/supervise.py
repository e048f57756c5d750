"""The local worker processes ``posemark serve`` starts, so the embedded install runs
background operations with no other command; one that dies is started again."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from types import TracebackType

from posemark.services.settings import Settings

RESTART_AFTER = 1.0


class LocalWorkers:
    """``count`` ``posemark worker`` processes for the server's lifetime."""

    def __init__(self, settings: Settings, count: int) -> None:
        self.command = [
            sys.executable,
            "-m",
            "posemark.cli.main",
            "worker",
            "--data",
            str(settings.data_dir),
            "--db",
            settings.db_url,
        ]
        if settings.redis_url:
            self.command += ["--redis", settings.redis_url]
        # uvicorn ends the server by re-raising SIGTERM, which skips __exit__: the
        # workers watch their parent and stop when it is gone
        self.command += ["--parent", str(os.getpid())]
        self.count = count
        self.processes: list[subprocess.Popen[bytes]] = []
        self.stop = threading.Event()
        self.watcher = threading.Thread(target=self._watch, name="posemark-workers", daemon=True)

    def __enter__(self) -> LocalWorkers:
        self.processes = [subprocess.Popen(self.command) for _ in range(self.count)]
        if self.count:
            self.watcher.start()
        return self

    def _watch(self) -> None:
        while not self.stop.wait(RESTART_AFTER):
            for i, process in enumerate(self.processes):
                if process.poll() is not None and not self.stop.is_set():
                    self.processes[i] = subprocess.Popen(self.command)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop.set()
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
