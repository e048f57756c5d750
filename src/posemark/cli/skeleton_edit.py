"""``posemark skeleton edit PROJECT``: change a project's skeleton from the command line.

The options build the same edit the project page sends (services/skeleton_edit.edit_spec);
the documents are migrated by the ``skeleton-migrate`` operation, run here in this
process with a progress bar unless ``--background`` leaves it to the workers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer
from rich.markup import escape

from posemark.cli.console import count_progress, err, fail, out
from posemark.cli.options import DEFAULT_DATA, DataDir, DbUrl, open_data

skeleton_app = typer.Typer(help="Change a project's skeleton after creation.")


def register(app: typer.Typer) -> None:
    app.add_typer(skeleton_app, name="skeleton")


@skeleton_app.command("edit")
def edit(
    project: Annotated[str, typer.Argument(help="Project name or id.", show_default=False)],
    rename: Annotated[
        list[str] | None, typer.Option("--rename", help="OLD=NEW", show_default=False)
    ] = None,
    remove: Annotated[
        list[str] | None, typer.Option("--remove", help="a keypoint to drop", show_default=False)
    ] = None,
    add: Annotated[
        list[str] | None,
        typer.Option("--add", help="NAME (at the end) or NAME:AFTER", show_default=False),
    ] = None,
    flip: Annotated[
        list[str] | None, typer.Option("--flip", help="LEFT:RIGHT flip pair", show_default=False)
    ] = None,
    unflip: Annotated[
        list[str] | None,
        typer.Option("--unflip", help="drop this keypoint's flip pair", show_default=False),
    ] = None,
    edge: Annotated[
        list[str] | None, typer.Option("--edge", help="A-B edge to add", show_default=False)
    ] = None,
    drop_edge: Annotated[
        list[str] | None, typer.Option("--drop-edge", help="A-B edge to drop", show_default=False)
    ] = None,
    yes: Annotated[
        bool, typer.Option("--yes", help="Remove keypoints even where they are labeled.")
    ] = False,
    background: Annotated[
        bool,
        typer.Option("--background", help="Queue the migration for the workers; do not wait."),
    ] = False,
    data: DataDir = DEFAULT_DATA,
    db: DbUrl = None,
) -> None:
    """Rename, add, remove keypoints, change flip pairs and edges; every annotation of the
    project is migrated (with a history version each)."""
    from posemark.services import operations as ops
    from posemark.services.errors import ServiceError
    from posemark.services.projects import ADMIN_ROLE, ProjectAccess, find_project, project_skeleton
    from posemark.services.skeleton_edit import edit_spec
    from posemark.services.skeleton_migrate import RemovalNeedsConfirmation, change_skeleton

    settings, store = open_data(data, db)
    try:
        with store.session() as session:
            target = find_project(session, project)
            spec = edit_spec(
                project_skeleton(target),
                rename or [],
                remove or [],
                add or [],
                flip or [],
                unflip or [],
                edge or [],
                drop_edge or [],
            )
            spec |= {"base_version": target.skeleton_version, "confirm_removal": yes}
            dispatch: Callable[[int], None] = _no_dispatch
            if background:
                from posemark.services.operation_engines import open_engine

                dispatch = open_engine(settings).dispatch
            try:
                changed, plan, op = change_skeleton(
                    session, dispatch, ProjectAccess(target, ADMIN_ROLE), None, spec
                )
            except RemovalNeedsConfirmation as exc:
                fail(escape(exc.message) + " (pass --yes)")
            out.print(
                f"{escape(changed.name)}: skeleton version {changed.skeleton_version}: "
                + escape(", ".join(plan.new.keypoints))
            )
            if op is None:
                return
            op_id = op.id
        if background:
            err.print(f"migration queued as operation {op_id}: posemark operations {project}")
            return
        with count_progress() as bar:
            task = bar.add_task("migrating", total=None)
            state = ops.execute(store.sessionmaker, settings, op_id)
            bar.update(task, completed=1, total=1)
        with store.session() as session:
            final = ops.project_operation(session, changed.id, op_id)
        if state != "done":
            fail(escape(final.error or state))
        err.print(f"migrated {final.result.get('items', 0) if final.result else 0} item(s)")
    except ServiceError as exc:
        fail(escape(exc.message))
    finally:
        store.dispose()


def _no_dispatch(op_id: int) -> None:
    """The command runs the operation itself (``operations.execute``)."""
