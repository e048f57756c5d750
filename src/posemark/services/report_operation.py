"""The project report as a background operation (kind ``report``): a worker renders it
(JSON, CSV or HTML) into the operation's folder, downloaded like an export's file
(services/export_operation.py). For a project whose figures take a while, so that no
request waits on them; rendering again after a worker died writes the whole file anew.
"""

from __future__ import annotations

import shutil
from typing import Any

from sqlalchemy.orm import Session

from posemark.atomic import atomic_write
from posemark.services.errors import BadInput, Forbidden
from posemark.services.export_operation import files_dir
from posemark.services.operations import Dispatch, OperationContext, submit
from posemark.services.projects import ProjectAccess
from posemark.services.report import project_report
from posemark.services.report_formats import render
from posemark.services.workflow import MANAGER, REVIEWER, acting_role
from posemark.store.models import Project, User
from posemark.store.operation_models import Operation

KIND = "report"
FORMATS = ("json", "csv", "html")


def _check_format(fmt: object) -> str:
    if fmt not in FORMATS:
        raise BadInput(f"format: expected one of {', '.join(FORMATS)}, found {fmt!r}")
    return str(fmt)


def start_report(
    session: Session, dispatch: Dispatch, access: ProjectAccess, user: User, fmt: str = "json"
) -> Operation:
    if acting_role(access, user) not in (MANAGER, REVIEWER):
        raise Forbidden("only the project's managers and reviewers see its quality figures")
    params = {"format": _check_format(fmt)}
    return submit(session, dispatch, KIND, params, project_id=access.project.id, user_id=user.id)


def run_report(ctx: OperationContext) -> dict[str, Any]:
    assert ctx.project_id is not None
    fmt = _check_format(ctx.params.get("format", "json"))
    folder = files_dir(ctx.settings, ctx.operation_id)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    ctx.progress(0, 1, "computing the figures")
    with ctx.sessions() as session:
        project = session.get(Project, ctx.project_id)
        if project is None or project.deleted_at is not None:
            raise BadInput(f"project {ctx.project_id} no longer exists")
        text = render(project_report(session, project), fmt)
        session.commit()
    name = f"report-{ctx.project_id}.{fmt}"
    with atomic_write(folder / name) as fh:
        fh.write(text.encode("utf-8"))
    ctx.progress(1, 1, "written")
    return {"file": name, "bytes": (folder / name).stat().st_size, "format": fmt}
