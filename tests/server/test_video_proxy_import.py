"""Scrubbing proxies at video import, on SQLite and PostgreSQL: a long-GOP video gets an
all-intra proxy whose frames are served in place of the original's (same index, within
JPEG tolerance), a short-GOP video or a folder of frames gets none, and an import that
fails at any point around the proxy leaves neither files nor rows behind."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import func, select

from posemark.services.errors import BadInput
from posemark.services.media import frame_image, project_root
from posemark.services.projects import create_project
from posemark.services.settings import Settings
from posemark.services.video import (
    PROXY_MAX_GOP,
    close_sources,
    frame_pixels,
    import_video,
    video_source,
)
from posemark.store import Store, open_store, upgrade_to_head
from posemark.store.models import Item, Project
from posemark.store.video_models import Video
from posemark.video import open_video
from posemark.video.proxy import max_gop
from videogen import index_frame, read_index, write_video

FRAMES = 36
LONG_GOP = 24
JPEG_TOLERANCE = 3.0  # mean absolute difference per channel, 0..255


@pytest.fixture(scope="module")
def long_gop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """256 x 192 H.264 with B-frames and a keyframe every 24 frames."""
    return write_video(tmp_path_factory.mktemp("proxy") / "long.mp4", FRAMES, gop=LONG_GOP)


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    store = open_store(db_url)
    upgrade_to_head(store.engine)
    yield store
    close_sources()
    store.dispose()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


def new_project(store: Store, settings: Settings, name: str = "clips") -> int:
    with store.session() as session:
        project = create_project(session, settings, name, "coco17")
        session.commit()
        return project.id


def files_under(folder: Path) -> list[str]:
    """Every file and folder below ``folder``, hidden ones included, as relative names."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


def frame_item(session, video_id: int, index: int) -> Item:  # type: ignore[no-untyped-def]
    return session.scalars(
        select(Item).where(Item.video_id == video_id, Item.frame_index == index)
    ).one()


def nothing_imported(store: Store, settings: Settings, pid: int) -> None:
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(Video)) == 0
        assert session.scalar(select(func.count()).select_from(Item)) == 0
        root = project_root(settings, session.get(Project, pid))
    assert files_under(root) == []
    assert [p.name for p in settings.media_dir.iterdir() if p.name.startswith(".import")] == []


def test_long_gop_video_is_served_from_its_proxy(
    store: Store, settings: Settings, long_gop: Path
) -> None:
    pid = new_project(store, settings)
    stages: list[tuple[str, int, int]] = []
    with store.session() as session:
        project = session.get(Project, pid)
        assert project is not None
        imported = import_video(
            session, settings, project, long_gop, progress=lambda *s: stages.append(s)
        )
        root = project_root(settings, project)
    assert (imported.proxy, imported.max_gop) == (".proxies/long.mp4.mkv", LONG_GOP)
    assert ("building proxy", 1, 1) in stages
    assert files_under(root) == [".proxies", ".proxies/long.mp4.mkv", "long.mp4"]
    assert (root / "long.mp4").read_bytes() == long_gop.read_bytes()
    with open_video(root / ".proxies/long.mp4.mkv") as proxy:
        assert (max_gop(proxy), proxy.frame_count, proxy.fps) == (1, FRAMES, 25.0)

    with store.session() as session, open_video(long_gop) as original:
        project = session.get(Project, pid)
        video = session.get(Video, imported.video_id)
        assert project is not None and video is not None
        assert video_source(settings, project, video).path == root / ".proxies/long.mp4.mkv"
        assert video_source(settings, project, video, exact=True).path == root / "long.mp4"
        # every frame, in the order a scrub asks for them: a jump into the last GOP first,
        # then backwards across the keyframe, then forwards from the start
        order = [FRAMES - 1, LONG_GOP, LONG_GOP - 1, *range(LONG_GOP - 2, -1, -1)]
        order += range(LONG_GOP + 1, FRAMES - 1)
        assert sorted(order) == list(range(FRAMES))
        for index in order:
            item = frame_item(session, video.id, index)
            decoded = original.frame(index).astype(int)
            served = frame_pixels(settings, project, item)
            assert read_index(served) == index
            assert np.abs(served.astype(int) - decoded).mean() < JPEG_TOLERANCE, index
        # what the editor gets: the JPEG of the proxy's frame, still the same frame
        item = frame_item(session, video.id, 29)
        data, media_type = frame_image(settings, project, item, "jpeg")
        shown = np.asarray(Image.open(io.BytesIO(data)))
        assert media_type == "image/jpeg" and read_index(shown) == 29
        assert np.abs(shown.astype(int) - original.frame(29)).mean() < JPEG_TOLERANCE
        # the lossless copy stays the original's decoded frame, bit for bit
        png, _ = frame_image(settings, project, item, "png")
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(png))), original.frame(29))


def test_short_gops_and_frame_folders_get_no_proxy(
    store: Store, settings: Settings, tmp_path: Path, long_gop: Path
) -> None:
    short = write_video(tmp_path / "short.mp4", 20, gop=PROXY_MAX_GOP)
    folder = tmp_path / "shots"
    folder.mkdir()
    for i in range(5):
        Image.fromarray(index_frame(i, 64, 48)).save(folder / f"frame{i}.png")
    pid = new_project(store, settings)
    with store.session() as session:
        project = session.get(Project, pid)
        assert project is not None
        at_limit = import_video(session, settings, project, short)
        frames = import_video(session, settings, project, folder)
        declined = import_video(session, settings, project, long_gop, proxy=False)
        root = project_root(settings, project)
        assert (at_limit.proxy, at_limit.max_gop) == (None, PROXY_MAX_GOP)
        assert (frames.proxy, frames.max_gop) == (None, 1)
        assert (declined.proxy, declined.max_gop) == (None, None)
        assert files_under(root) == [
            "long.mp4",
            "short.mp4",
            "shots",
            *[f"shots/frame{i}.png" for i in range(5)],
        ]
        video = session.get(Video, declined.video_id)
        assert video is not None
        assert video_source(settings, project, video).path == root / "long.mp4"
        item = frame_item(session, video.id, LONG_GOP + 3)
        assert read_index(frame_pixels(settings, project, item)) == LONG_GOP + 3


def test_cancelled_while_building_the_proxy_leaves_nothing(
    store: Store, settings: Settings, long_gop: Path
) -> None:
    pid = new_project(store, settings)

    def cancel(stage: str, done: int, total: int) -> None:
        if (stage, done) == ("building proxy", total):
            raise KeyboardInterrupt  # the user pressed Ctrl-C in `posemark import`

    with store.session() as session, pytest.raises(KeyboardInterrupt):
        project = session.get(Project, pid)
        assert project is not None
        import_video(session, settings, project, long_gop, progress=cancel)
    nothing_imported(store, settings, pid)


def test_failure_after_the_files_moved_in_removes_video_and_proxy(
    store: Store, settings: Settings, long_gop: Path
) -> None:
    """A folder appearing at the proxy's path between the checks and the move (another
    process) makes the move fail after the video itself moved in."""
    pid = new_project(store, settings)
    with store.session() as session:
        project = session.get(Project, pid)
        assert project is not None
        squatter = project_root(settings, project) / ".proxies/long.mp4.mkv"

        def squat(stage: str, done: int, _total: int) -> None:
            if (stage, done) == ("saving", 0):
                squatter.mkdir(parents=True)
                (squatter / "keep").write_bytes(b"not ours")

        with pytest.raises(OSError):
            import_video(session, settings, project, long_gop, progress=squat)
    (squatter / "keep").unlink()
    squatter.rmdir()
    squatter.parent.rmdir()
    nothing_imported(store, settings, pid)


def test_names_of_proxies_are_refused(store: Store, settings: Settings, long_gop: Path) -> None:
    pid = new_project(store, settings)
    with store.session() as session:
        project = session.get(Project, pid)
        assert project is not None
        stale = project_root(settings, project) / ".proxies/long.mp4.mkv"
        stale.parent.mkdir(parents=True)
        stale.write_bytes(b"left over")
        with pytest.raises(BadInput, match=r"long.mp4: .proxies/long.mp4.mkv is already"):
            import_video(session, settings, project, long_gop)
        assert stale.read_bytes() == b"left over"
        stale.unlink()
        stale.parent.rmdir()
        with pytest.raises(BadInput, match="reserved for video proxies"):
            import_video(session, settings, project, long_gop, name=".proxies/long.mp4")
    nothing_imported(store, settings, pid)


def test_cli_says_it_built_a_proxy(db_url: str, tmp_path: Path, long_gop: Path) -> None:
    from typer.testing import CliRunner

    from posemark.cli.main import app

    data = tmp_path / "data"
    args = ["import", "P", str(long_gop), "--data", str(data), "--db", db_url]
    try:
        r = CliRunner().invoke(app, [*args, "--create-with-skeleton", "coco17"])
        assert r.exit_code == 0, r.output
        assert f"imported {FRAMES} video frames with 0 instances into 'P'" in r.stdout
        assert (
            "built an all-intra proxy for scrubbing, .proxies/long.mp4.mkv (the longest GOP "
            f"of long.mp4 holds {LONG_GOP} frames)"
        ) in " ".join(r.stdout.split())
    finally:
        close_sources()
    proxies = list((data / "media").rglob("*.mkv"))
    assert [p.relative_to(p.parents[1]).as_posix() for p in proxies] == [".proxies/long.mp4.mkv"]
