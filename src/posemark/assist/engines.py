"""Where :func:`~posemark.assist.batch.predict_frame` runs: this process, a process pool,
or Ray tasks (a local Ray, or a cluster when ``RAY_ADDRESS``/``address`` is given).

Every engine calls ``on_done(task, results)`` in the calling process, one frame at a
time, so progress recording and the progress bar never need a lock. Work is submitted
with a bounded number in flight so millions of frames never sit in memory at once.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any

from posemark.assist.batch import THREADS_ENV, FrameTask, JobSpec, predict_frame
from posemark.assist.protocol import MissingExtraError

OnDone = Callable[[FrameTask, list[dict[str, Any]]], None]
ENGINES = ("local", "ray")


def run_local(tasks: Sequence[FrameTask], spec: JobSpec, workers: int, on_done: OnDone) -> None:
    """In-process when ``workers`` is 1 (no start-up cost), else a pool of spawned
    processes that each build the model once."""
    if workers <= 1:
        for task in tasks:
            on_done(task, predict_frame(task, spec))
        return
    pending: dict[Future[list[dict[str, Any]]], FrameTask] = {}
    queue = iter(tasks)
    # spawn, not fork: a forked child inherits MediaPipe's running graph threads and crashes
    context = multiprocessing.get_context("spawn")
    threads = worker_threads(workers)
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=_set_threads, initargs=(threads,)
    ) as pool:
        while True:
            while len(pending) < 2 * workers:
                queued = next(queue, None)
                if queued is None:
                    break
                pending[pool.submit(predict_frame, queued, spec)] = queued
            if not pending:
                return
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                on_done(pending.pop(future), future.result())


def worker_threads(workers: int) -> int:
    """Cores per worker: the machine's cores shared out, at least one."""
    return max(1, (os.cpu_count() or 1) // max(1, workers))


def _set_threads(threads: int) -> None:
    os.environ[THREADS_ENV] = str(threads)


def run_ray(
    tasks: Sequence[FrameTask],
    spec: JobSpec,
    workers: int,
    on_done: OnDone,
    address: str | None = None,
) -> None:
    """The same frames as Ray tasks. Joins a running Ray (``ray.init`` already called,
    or ``address``); otherwise starts a local one with ``workers`` CPUs and stops it."""
    try:
        import ray
    except ImportError as exc:
        raise MissingExtraError("--engine ray needs Ray: pip install 'posemark[ray]'") from exc
    started = False
    if not ray.is_initialized():
        if address:
            ray.init(address=address)
        else:
            ray.init(num_cpus=max(1, workers), include_dashboard=False, log_to_driver=False)
        started = True
    try:
        # one CPU per task, so the model runs one thread (Ray schedules tasks per CPU)
        remote = ray.remote(num_cpus=1, runtime_env={"env_vars": {THREADS_ENV: "1"}})(predict_frame)
        spec_ref = ray.put(spec)
        # ray's cluster_resources carries no annotations
        cpus = ray.cluster_resources().get("CPU", 1)  # type: ignore[no-untyped-call]
        in_flight = max(2, 2 * int(cpus))
        pending: dict[Any, FrameTask] = {}
        queue = iter(tasks)
        while True:
            while len(pending) < in_flight:
                task = next(queue, None)
                if task is None:
                    break
                pending[remote.remote(task, spec_ref)] = task
            if not pending:
                return
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                on_done(pending.pop(ref), ray.get(ref))
    finally:
        if started:
            ray.shutdown()
