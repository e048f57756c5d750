"""Child processes that end with the process that started them.

``posemark serve`` starts its web processes (uvicorn) and its operation workers as
children. Stopped normally, it stops them; killed (SIGKILL, the OOM killer), it cannot,
and they lived on as orphans: holding the database and their port, and, for a worker,
taking operations. Each child therefore watches its parent and stops itself when the
parent is gone.
"""

from __future__ import annotations

import os
import signal
import threading
import time

STOP_GRACE = 10.0
"""Seconds a child whose parent is gone has to stop cleanly before it exits anyway."""


def stop_with_parent(parent: int, grace: float = STOP_GRACE) -> None:
    """Once ``parent`` is no longer this process's parent: SIGTERM to itself (the
    process's own clean stop: uvicorn's, a worker's), then an exit after ``grace``
    seconds (a clean stop can hang on a database that went too). An operation a worker
    was running is queued again by the heartbeat rule."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(grace)
        os._exit(1)

    threading.Thread(target=watch, name="posemark-parent-watch", daemon=True).start()
