"""The resumable progress log that long file-to-file runs share (``posemark predict``,
``posemark track``): a JSON-lines file next to the output.

Line 1 is a header naming the run: its ``format`` and its ``run`` fingerprint (model,
options and inputs, as the caller describes them). Every further line is one finished
unit ``{"key": ..., "value": ...}``, flushed (and fsynced) as soon as it is done. A
re-run with the same fingerprint skips the units the log holds; a torn last line from
an interruption is ignored (that unit is redone). A log of a run with another
fingerprint is never reused: opening it fails with a message naming every field that
differs, unless the caller asks to start afresh.

It depends on nothing else in posemark, so the assist and track layers both use it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


class ProgressLogMismatch(ValueError):
    """The log belongs to another run (or is not a progress log); says why."""


def log_path(out: Path) -> Path:
    """Where the progress of a run writing ``out`` is kept."""
    return out.with_name(out.name + ".progress.jsonl")


def file_identity(path: Path) -> dict[str, Any]:
    """A file as an input of a run: resolved path, size and modification time, so a file
    replaced under the same name is a different input."""
    resolved = path.resolve()
    try:
        stat = resolved.stat()
    except OSError:
        return {"path": str(resolved)}
    return {"path": str(resolved), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def differences(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Human-readable ``field: old -> new`` lines between two fingerprints."""
    if isinstance(old, dict) and isinstance(new, dict):
        lines: list[str] = []
        for key in sorted(set(old) | set(new), key=str):
            name = f"{prefix}.{key}" if prefix else str(key)
            if key not in old:
                lines.append(f"{name}: absent there, {_short(new[key])} now")
            elif key not in new:
                lines.append(f"{name}: {_short(old[key])} there, absent now")
            else:
                lines.extend(differences(old[key], new[key], name))
        return lines
    if old != new:
        return [f"{prefix or 'run'}: {_short(old)} there, {_short(new)} now"]
    return []


def _short(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class ProgressLog:
    """Finished units of one run, by key (see the module docstring)."""

    def __init__(
        self, path: Path, fmt: str, fingerprint: dict[str, Any], restart: bool = False
    ) -> None:
        self.path = path
        self.format = fmt
        self.fingerprint = fingerprint
        self.done: dict[str, Any] = {}
        if path.exists() and path.read_bytes().strip() and not restart:
            self._load()
        else:
            self._start()

    def _start(self) -> None:
        header = {"format": self.format, "run": self.fingerprint}
        with self.path.open("w", encoding="utf-8") as fh:
            fh.write(json.dumps(header, default=str) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def _load(self) -> None:
        lines = self.path.read_text(encoding="utf-8").split("\n")
        try:
            header = json.loads(lines[0])
        except json.JSONDecodeError:
            header = None
        if not isinstance(header, dict) or header.get("format") != self.format:
            raise ProgressLogMismatch(
                f"{self.path}: line 1: not a {self.format} progress log; delete it, choose "
                "another output, or start afresh"
            )
        # a round trip through JSON, so tuples and lists compare alike
        mine = json.loads(json.dumps(self.fingerprint, default=str))
        if header.get("run") != mine:
            changed = differences(header.get("run"), mine)
            raise ProgressLogMismatch(
                f"{self.path}: progress of another run ({'; '.join(changed)}); its results "
                "are not reused: delete it, choose another output, or start afresh"
            )
        for number, line in enumerate(lines[1:], start=2):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                self.done[str(entry["key"])] = entry["value"]
            except (json.JSONDecodeError, KeyError, TypeError):
                if all(not rest.strip() for rest in lines[number:]):
                    break  # the torn last line of an interrupted run: redo that unit
                raise ProgressLogMismatch(
                    f"{self.path}: line {number}: not a progress record"
                ) from None

    def record(self, key: str, value: Any, sync: bool = False) -> None:
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps({"key": key, "value": value}, separators=(",", ":")) + "\n")
            fh.flush()
            if sync:
                os.fsync(fh.fileno())
        self.done[key] = value

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
