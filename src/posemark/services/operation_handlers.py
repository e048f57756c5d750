"""The built-in operation kinds: one line each wires a plain service function (taking
``progress`` and ``should_stop`` callbacks) to the operation layer.

Registered once per process, on first use of the registry (no import side effects):
workers and web processes alike resolve a kind through ``operation_kind``.
"""

from __future__ import annotations

import threading
from dataclasses import asdict
from typing import Any

from posemark.services.operations import OperationContext, register_operation

_DONE = False
_LOCK = threading.Lock()


def _prelabel(ctx: OperationContext) -> dict[str, Any]:
    from posemark.services.prelabel import run_prelabel

    return run_prelabel(ctx)


def _predict(ctx: OperationContext) -> dict[str, Any]:
    from posemark.services.predict_files import PredictRequest, predict_files

    outcome = predict_files(PredictRequest.from_params(ctx.params), ctx.progress, ctx.should_stop)
    return {"stopped": True} if outcome is None else asdict(outcome)


def _track(ctx: OperationContext) -> dict[str, Any]:
    from posemark.services.track_files import TrackRequest, track_video

    outcome = track_video(TrackRequest.from_params(ctx.params), ctx.progress, ctx.should_stop)
    return asdict(outcome)


def _skeleton_migrate(ctx: OperationContext) -> dict[str, Any]:
    from posemark.services.skeleton_migrate import run_operation

    return run_operation(ctx)


def _qa_rerun(ctx: OperationContext) -> dict[str, Any]:
    from posemark.services.qa_operation import run_qa_rerun

    return run_qa_rerun(ctx)


def _export(ctx: OperationContext) -> dict[str, Any]:
    from posemark.services.export_operation import run_export

    return run_export(ctx)


def _import(ctx: OperationContext) -> dict[str, Any]:
    from posemark.services.import_operation import run_import

    return run_import(ctx)


def _report(ctx: OperationContext) -> dict[str, Any]:
    from posemark.services.report_operation import run_report

    return run_report(ctx)


def _remove_project(ctx: OperationContext) -> dict[str, Any]:
    from posemark.services.project_removal import remove_project

    return remove_project(ctx)


def _train(ctx: OperationContext) -> dict[str, Any]:
    from posemark.services.project_models import run_train

    return run_train(ctx)


def _label_next(ctx: OperationContext) -> dict[str, Any]:
    from posemark.services.label_next import run_label_next

    return run_label_next(ctx)


def register_builtin() -> None:
    """Registers every built-in kind once. A feature whose long work is a plain service
    function joins with one line here, e.g.
    ``register_operation("export", _export, "Export")`` with ``_export(ctx)`` calling
    the service with ``ctx.progress`` and ``ctx.should_stop``."""
    global _DONE
    with _LOCK:
        if _DONE:
            return
        register_operation("prelabel", _prelabel, "Pre-label")
        register_operation("predict", _predict, "Predict")
        register_operation("track", _track, "Track")
        register_operation("skeleton-migrate", _skeleton_migrate, "Skeleton change")
        register_operation("qa-rerun", _qa_rerun, "QA re-run")
        register_operation("qa-refresh", _qa_rerun, "QA refresh of imported items")
        register_operation("export", _export, "Export")
        register_operation("import", _import, "Import")
        register_operation("report", _report, "Report")
        register_operation("project-delete", _remove_project, "Project removal")
        register_operation("train", _train, "Train")
        register_operation("label-next", _label_next, "Label next")
        _DONE = True
