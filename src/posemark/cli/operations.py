"""``posemark operations PROJECT``: a project's background operations, followed with a
Rich progress bar (``--watch ID``) or cancelled (``--cancel ID``): the same rows the
project page shows."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from posemark.cli.console import count_progress, err, fail, out
from posemark.cli.options import DEFAULT_DATA, DataDir, DbUrl, ProjectRef, open_data


def register(app: typer.Typer) -> None:
    app.command("operations")(operations)


def operations(
    project: ProjectRef,
    watch: Annotated[
        int | None,
        typer.Option("--watch", help="Follow this operation until it ends.", show_default=False),
    ] = None,
    cancel: Annotated[
        int | None, typer.Option("--cancel", help="Cancel this operation.", show_default=False)
    ] = None,
    data: DataDir = DEFAULT_DATA,
    db: DbUrl = None,
) -> None:
    """List the project's operations (newest first), follow one, or cancel one."""
    from posemark.services import operations as ops
    from posemark.services.errors import ServiceError
    from posemark.services.projects import find_project

    _settings, store = open_data(data, db)
    try:
        with store.session() as session:
            pid = find_project(session, project).id
            if cancel is not None:
                op = ops.cancel(session, ops.project_operation(session, pid, cancel).id)
                out.print(f"operation {op.id}: {op.state}")
                return
            if watch is None:
                table = Table("id", "kind", "state", "progress", "note", "created")
                for op in ops.list_operations(session, pid):
                    total = "?" if op.total is None else str(op.total)
                    table.add_row(
                        str(op.id),
                        op.kind,
                        op.state,
                        f"{op.done}/{total}",
                        escape(op.error or op.note),
                        op.created_at.isoformat(timespec="seconds"),
                    )
                out.print(table)
                return
            ops.project_operation(session, pid, watch)
        with count_progress() as bar:
            task = bar.add_task(f"operation {watch}", total=None)

            def show(op: ops.Operation) -> None:
                bar.update(
                    task,
                    completed=op.done,
                    total=op.total,
                    description=f"{op.kind} {op.state} {escape(op.note)[:40]}",
                )

            final = ops.wait_for(store.sessionmaker, watch, show)
        err.print(f"operation {final.id} {final.kind}: {final.state} {escape(final.note)}")
        if final.state == "failed":
            fail(escape(final.error or "failed"))
    except ServiceError as exc:
        fail(escape(exc.message))
    finally:
        store.dispose()
