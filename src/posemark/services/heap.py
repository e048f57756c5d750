"""The long-lived heap of a server or worker process, kept out of garbage collections.

A full collection of CPython's cyclic collector walks every tracked object alive. A
web process holds a few hundred thousand of them from its start (modules, the ORM's
mappings, numpy, the routes), and each full collection walked them all: 70-150 ms in
which every request of the process stood still, which set a save's 99th percentile
under a steady load of annotators. What a process made while starting stays for its
life, so it is collected once and moved out of the collector's generations
(``gc.freeze``); later collections walk only what requests made since.

Only long-running processes call it (``posemark serve`` and its web processes, the
operation workers): frozen objects are never collected, so a process that builds and
drops applications, like the test suite, must not.
"""

from __future__ import annotations

import gc
import importlib

REQUEST_MODULES = (
    "posemark.services.items",
    "posemark.services.qa_store",
    "posemark.services.qa_read",
    "posemark.services.gallery",
    "posemark.services.exporting",
    "posemark.qa",
)
"""Modules a request imports on first use: imported before the freeze, so they are part
of the frozen heap rather than of every later full collection."""


def freeze_startup_heap() -> int:
    """Collect once, then keep everything alive out of later collections; returns how
    many objects were frozen."""
    for name in REQUEST_MODULES:
        importlib.import_module(name)
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
