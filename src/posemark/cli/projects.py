"""``posemark import`` and ``posemark export``: move images and annotations in and out of
a project without the web UI, through the same services the API uses."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.text import Text

from posemark.cli.console import count_progress, err, fail, out, warn
from posemark.cli.options import DEFAULT_DATA, DataDir, DbUrl, ProjectRef, open_data

if TYPE_CHECKING:
    from posemark.services.settings import Settings
    from posemark.store.engine import Store


def register(app: typer.Typer) -> None:
    app.command("import")(import_command)
    app.command("export")(export_command)


@contextlib.contextmanager
def _import_progress() -> Iterator[Callable[[str, int, int], None]]:
    """A transient bar per stage (checking, copying, saving) on a terminal's stderr."""
    progress = count_progress()
    task = progress.add_task("checking", total=None)

    def update(stage: str, done: int, total: int) -> None:
        progress.update(task, description=stage, completed=done, total=total or None)

    with progress:
        yield update


def _refresh_findings(settings: Settings, store: Store, project_id: int) -> str | None:
    """After the import's commit: the QA findings of the items it marked, refreshed here
    by the ``qa-refresh`` operation (a row like a worker's, so a killed command leaves
    it to be queued again and resumed, its items still marked) with a bar following the
    row; the line to print, None when nothing awaited refresh."""
    from posemark.services import operations as ops
    from posemark.services.qa_operation import queue_refresh

    with store.session() as session:
        op = queue_refresh(session, _run_here, project_id)
        if op is None:
            return None
        op_id = op.id
    start = time.perf_counter()
    runner = threading.Thread(
        target=ops.execute,
        args=(store.sessionmaker, settings, op_id),
        name="posemark-qa-refresh",
        daemon=True,  # Ctrl-C leaves the row to be resumed, not a process to wait for
    )
    with count_progress() as bar:
        task = bar.add_task("checking", total=None)

        def show(row: ops.Operation) -> None:
            bar.update(task, completed=row.done, total=row.total)

        runner.start()
        final = ops.wait_for(store.sessionmaker, op_id, show)
        runner.join()
    seconds = time.perf_counter() - start
    result = final.result or {}
    if final.state != "done":
        return (
            f"QA refresh (operation {op_id}) {final.state}: {final.error or ''}; its items "
            "stay marked awaiting refresh and a worker takes them up"
        )
    return (
        f"QA findings of {result.get('items', 0)} items ({result.get('instances', 0)} "
        f"instances) refreshed in {seconds:.1f} s"
    )


def _run_here(op_id: int) -> None:
    """The command runs the refresh itself (``operations.execute``), not a worker."""


def import_command(
    project: ProjectRef,
    source: Annotated[
        str,
        typer.Argument(
            help="A folder of images, a COCO .json file, a video (.mp4 .mov .avi .mkv "
            ".webm), or s3://BUCKET/PREFIX (its images, or a COCO .json object there).",
            show_default=False,
        ),
    ],
    images: Annotated[
        str | None,
        typer.Option(
            "--images",
            help="Image folder (or s3://BUCKET/PREFIX) of a COCO file (default: its folder).",
            show_default=False,
        ),
    ] = None,
    link: Annotated[
        bool,
        typer.Option(
            "--link",
            help="Reference the images where they are instead of copying them (the server "
            "reads them with --allow-media-root).",
        ),
    ] = False,
    video: Annotated[
        bool,
        typer.Option("--video", help="SOURCE is a folder of numbered frames of one video."),
    ] = False,
    frames: Annotated[
        str,
        typer.Option(
            "--frames",
            help="Which frames of a video become items: all, every:N (every N-th frame) or "
            "kmeans:N (the frame nearest each of N clusters of similar-looking frames).",
        ),
    ] = "all",
    verify: Annotated[
        bool,
        typer.Option(
            "--verify",
            help="With --link or s3://: decode every image at import (default: headers only; "
            "a broken image is then reported when it is opened).",
        ),
    ] = False,
    no_proxy: Annotated[
        bool,
        typer.Option(
            "--no-proxy",
            help="With --link or s3://: decode video frames from the original where it is "
            "(ranged reads from a bucket) instead of a local scrubbing proxy.",
        ),
    ] = False,
    data: DataDir = DEFAULT_DATA,
    db: DbUrl = None,
    create_with_skeleton: Annotated[
        str | None,
        typer.Option(
            "--create-with-skeleton",
            help="Create PROJECT with this built-in skeleton when it does not exist (without "
            "it, a COCO file's own skeleton starts the project).",
            show_default=False,
        ),
    ] = None,
    into_existing: Annotated[
        bool,
        typer.Option(
            "--into-existing",
            help="SOURCE is a COCO file (or results list) for items PROJECT has already, "
            "matched by file name (video + frame_id) or, for results, by image id.",
        ),
    ] = False,
    as_suggestions: Annotated[
        bool,
        typer.Option(
            "--as-suggestions",
            help="With --into-existing: unconfirmed suggestions, not people's work "
            "(a results list always is).",
        ),
    ] = False,
    policy: Annotated[
        str | None,
        typer.Option(
            "--policy",
            help="With --into-existing, for items that have instances already: add, "
            "replace or skip.",
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="With --into-existing: say what would happen, write nothing."
        ),
    ] = False,
) -> None:
    """Import SOURCE into PROJECT: everything or, on any problem, nothing."""
    if into_existing:
        _import_into_existing(project, Path(source), data, db, as_suggestions, policy, dry_run)
        return
    if as_suggestions or policy is not None or dry_run:
        fail("--as-suggestions, --policy and --dry-run go with --into-existing")
    if (verify or no_proxy) and _reference(source, images, link) is None:
        fail("--verify and --no-proxy go with --link or s3://")
    if frames != "all" and _reference(source, images, link) is not None:
        fail("--frames goes with a copied video, not with --link or s3://")
    from posemark.services.errors import NotFound, ServiceError
    from posemark.services.file_skeleton import create_project_from_file
    from posemark.services.import_formats import other_format, read_other
    from posemark.services.import_refs import import_reference, normalise_location
    from posemark.services.importing import import_path, read_coco_file
    from posemark.services.projects import create_project, find_project
    from posemark.services.video import is_video_file

    settings, store = open_data(data, db)
    refreshed: str | None = None
    try:
        start = time.perf_counter()
        with store.session() as session:
            created = None
            try:
                target = find_project(session, project)
            except NotFound:
                if create_with_skeleton is not None:
                    target = create_project(session, settings, project, create_with_skeleton)
                    created = create_with_skeleton
                elif Path(source).is_file() and not is_video_file(Path(source)):
                    spec = other_format(Path(source))
                    dataset = (
                        read_other(Path(source), spec, [])
                        if spec is not None
                        else read_coco_file(Path(source), [])
                    )
                    target, created = create_project_from_file(
                        session, settings, project, dataset, Path(source)
                    )
                else:
                    raise
            with _import_progress() as progress:
                by_reference = _reference(source, images, link)
                if by_reference is not None:
                    location, coco = by_reference
                    report = import_reference(
                        session,
                        settings,
                        target,
                        location,
                        coco,
                        progress=progress,
                        verify=verify,
                        proxy=not no_proxy,
                    )
                else:
                    report = import_path(
                        session,
                        settings,
                        target,
                        Path(source),
                        None if images is None else Path(images),
                        progress=progress,
                        video=video,
                        frames=frames,
                    )
            name, target_id = target.name, target.id
        imported_in = time.perf_counter() - start
        refreshed = _refresh_findings(settings, store, target_id)
    except ServiceError as exc:
        fail(
            escape(exc.message)
            + ("; nothing was imported" if not isinstance(exc, NotFound) else "")
        )
    finally:
        store.dispose()
    if created is not None:
        err.print(Text(f"created project {name!r} ({created})"))
    for w in report.warnings:
        warn(escape(w))
    if report.ignored:
        first = report.ignored[0]
        warn(escape(f"ignored {len(report.ignored)} file(s) that are not images, e.g. {first}"))
    what = "video frames" if video or is_video_file(Path(source)) else "images"
    if by_reference is not None and report.notes and what == "images":
        what = "images and video frames"
    done = f"{report.items_created} {what} with {report.instances} instances"
    out.print(Text(f"imported {done} into {name!r} in {imported_in:.1f} s"))
    if by_reference is not None:
        out.print(
            Text(
                f"referenced in place, not copied: the server reads them with "
                f"--allow-media-root {normalise_location(by_reference[0])}"
            )
        )
    for note in report.notes:
        out.print(Text(note))
    if refreshed is not None:
        out.print(Text(refreshed))


def _reference(source: str, images: str | None, link: bool) -> tuple[str, Path | str | None] | None:
    """(location, COCO file or key, or a video's key) when SOURCE is imported by
    reference, else None."""
    from posemark.services.video import is_video_file

    if source.startswith("s3://"):
        if is_video_file(Path(source)):
            prefix, _, key = source.rpartition("/")
            return prefix, key
        if source.lower().endswith(".json"):
            if images is not None:
                fail("--images is not taken with a COCO object: its images are beside it")
            prefix, _, key = source.rpartition("/")
            return prefix, key
        return source, None
    path = Path(source)
    if images is not None and images.startswith("s3://"):
        return images, path
    if not link:
        return None
    if path.is_file() and is_video_file(path):
        return str(path.parent), path.name
    if path.is_file() and path.suffix.lower() == ".json":
        return images or str(path.parent), path
    if images is not None:
        fail("--images is for COCO files; a folder import takes the folder itself")
    return source, None


def _import_into_existing(
    project: str,
    source: Path,
    data: Path,
    db: str | None,
    as_suggestions: bool,
    policy: str | None,
    dry_run: bool,
) -> None:
    from posemark.services.errors import ServiceError
    from posemark.services.import_existing import import_into_existing
    from posemark.services.projects import find_project

    settings, store = open_data(data, db)
    refreshed: str | None = None
    try:
        start = time.perf_counter()
        with store.session() as session:
            target = find_project(session, project)
            report = import_into_existing(
                session,
                target,
                source,
                as_suggestions=as_suggestions,
                policy=policy,
                dry_run=dry_run,
            )
            target_id = target.id
        imported_in = time.perf_counter() - start
        if not dry_run:
            refreshed = _refresh_findings(settings, store, target_id)
    except ServiceError as exc:
        fail(escape(exc.message))
    finally:
        store.dispose()
    for w in report.warnings:
        warn(escape(w))
    kind = "suggestions" if report.suggestions else "instances"
    verb = "would add" if dry_run else "added"
    line = (
        f"{verb} {report.instances_added} {kind} to {report.items_updated} of "
        f"{report.items_matched} matched items of {target.name!r}"
    )
    if report.items_with_instances:
        line += (
            f"; {report.items_with_instances} had instances already "
            f"(policy {report.policy or 'not chosen'}: {report.items_skipped} skipped, "
            f"{report.instances_replaced} instances replaced)"
        )
    out.print(
        Text(line + ("; nothing was written (dry run)" if dry_run else f" in {imported_in:.1f} s"))
    )
    if refreshed is not None:
        out.print(Text(refreshed))


def export_command(
    project: ProjectRef,
    out_file: Annotated[
        str,
        typer.Argument(
            metavar="OUT",
            help="File (or folder, for per-video formats) to write, or s3://BUCKET/KEY for a "
            "one-file format (an object in a bucket).",
            show_default=False,
        ),
    ],
    to: Annotated[
        str,
        typer.Option(
            "--to",
            help="Format (posemark formats): coco, cvat, cvat-video, yolo, labelstudio, dlc, "
            "sleap, nwb, mpii-json, mpii-mat, posetrack; or template:NAME, a built-in custom "
            "export template (template:keypoints.csv) or a template file "
            "(docs/custom-exports.md).",
        ),
    ] = "coco",
    data: DataDir = DEFAULT_DATA,
    db: DbUrl = None,
    exclude_unconfirmed: Annotated[
        bool,
        typer.Option(
            "--exclude-unconfirmed",
            help="Leave out model suggestions nobody confirmed (else they are exported, "
            'marked "posemark": {"confirmed": false}).',
        ),
    ] = False,
) -> None:
    """Export PROJECT's keypoints to OUT in a format of the registry (written atomically)."""
    from posemark.services.errors import ServiceError
    from posemark.services.export_formats import export_project
    from posemark.services.media import put_object
    from posemark.services.projects import find_project
    from posemark.services.staging import upload_folder

    settings, store = open_data(data, db)
    try:
        with store.session() as session, count_progress() as bar:
            target = find_project(session, project)
            task = bar.add_task("exporting", total=None)

            def progress(done: int, total: int | None) -> None:
                bar.update(task, completed=done, total=total)

            if out_file.startswith("s3://"):
                with upload_folder(settings) as folder:
                    local = folder / out_file.rsplit("/", 1)[-1]
                    written = export_project(
                        session, target, local, to, exclude_unconfirmed, progress, settings=settings
                    )
                    if not local.is_file():
                        fail(f"{to} writes a folder; export it to a file system path instead")
                    put_object(out_file, local.read_bytes())
            else:
                written = export_project(
                    session,
                    target,
                    Path(out_file),
                    to,
                    exclude_unconfirmed,
                    progress,
                    settings=settings,
                    template_files=True,
                )
    except ServiceError as exc:
        fail(escape(exc.message))
    except OSError as exc:
        fail(escape(f"{exc.filename or out_file}: {exc.strerror or exc}"))
    finally:
        store.dispose()
    what = "COCO keypoints" if written.format == "coco" else written.format
    out.print(
        Text(
            f"{target.name!r} -> {out_file}: {written.images} images, "
            f"{written.instances} instances ({what})"
        )
    )
