"""The video reader: frame-accurate seeking, exact frame counts, frame folders, the cache."""

from __future__ import annotations

import threading
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from posemark.video import VideoError, open_video
from posemark.video.folder import natural_key
from videogen import index_frame, read_index, write_video


@pytest.fixture(scope="module")
def mp4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_video(tmp_path_factory.mktemp("video") / "clip.mp4", 90, gop=12, b_frames=2)


def test_generated_frames_say_their_index() -> None:
    for i in (0, 1, 77, 4095):
        assert read_index(index_frame(i)) == i


def test_mp4_metadata(mp4: Path) -> None:
    with open_video(mp4) as video:
        assert (video.frame_count, video.width, video.height) == (90, 256, 192)
        assert video.fps == pytest.approx(25.0)
        assert video.frame(0).shape == (192, 256, 3)
        assert video.frame(0).dtype == np.uint8


def test_random_access_returns_the_asked_frame(mp4: Path) -> None:
    order = [45, 3, 89, 0, 12, 11, 13, 60, 59, 58, 24, 88, 1, 30, 31, 32, 70, 5]
    rng = np.random.default_rng(7)
    order += [int(i) for i in rng.integers(0, 90, 40)]
    with open_video(mp4, cache_frames=0) as video:
        for i in order:
            assert read_index(video.frame(i)) == i, f"asked for frame {i}"


def test_frames_equal_sequential_decoding(mp4: Path) -> None:
    """Seeking must give the very pixels that decoding from the start gives."""
    with av.open(str(mp4)) as container:
        sequential = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    with open_video(mp4, cache_frames=4) as video:
        for i in (50, 10, 89, 0, 23, 24, 25, 11):
            assert np.array_equal(video.frame(i), sequential[i])
        for i in range(90):  # playback after the jumps
            assert np.array_equal(video.frame(i), sequential[i])


def test_frame_count_counted_when_container_is_silent(tmp_path: Path) -> None:
    path = write_video(tmp_path / "clip.mkv", 37, gop=10)
    with av.open(str(path)) as container:
        assert container.streams.video[0].frames == 0  # Matroska does not say
    with open_video(path) as video:
        assert video.frame_count == 37
        assert read_index(video.frame(36)) == 36
        assert read_index(video.frame(17)) == 17


def test_other_codec_without_b_frames(tmp_path: Path) -> None:
    path = write_video(tmp_path / "clip.avi", 30, codec="mpeg4", gop=8)
    with open_video(path) as video:
        assert video.frame_count == 30
        assert [read_index(video.frame(i)) for i in (29, 0, 15, 7, 8)] == [29, 0, 15, 7, 8]


def test_index_outside_range(mp4: Path) -> None:
    with open_video(mp4) as video:
        with pytest.raises(IndexError, match=r"frame 90 is outside 0\.\.89"):
            video.frame(90)
        with pytest.raises(IndexError):
            video.frame(-1)


def test_cache_returns_same_read_only_frame(mp4: Path) -> None:
    with open_video(mp4, cache_frames=8) as video:
        a = video.frame(40)
        assert video.frame(40) is a
        assert not a.flags.writeable
        for i in range(50, 70):
            video.frame(i)
        assert video.frame(40) is not a  # evicted, decoded again
        assert np.array_equal(video.frame(40), a)


def test_concurrent_readers_get_their_frames(mp4: Path) -> None:
    errors: list[str] = []
    with open_video(mp4, cache_frames=2) as video:

        def read(offset: int) -> None:
            for i in range(offset, 90, 7):
                got = read_index(video.frame(i))
                if got != i:
                    errors.append(f"asked {i}, got {got}")

        threads = [threading.Thread(target=read, args=(o,)) for o in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []


def test_folder_of_numbered_frames_in_natural_order(tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(12):  # unpadded numbers: lexical order would put 10 before 2
        Image.fromarray(index_frame(i, 64 + 16 * 12, 48)).save(folder / f"img{i}.png")
    (folder / "notes.txt").write_text("not a frame")
    with open_video(folder) as video:
        assert video.frame_count == 12
        assert (video.width, video.height) == (64 + 16 * 12, 48)
        assert [read_index(video.frame(i)) for i in range(12)] == list(range(12))
        assert video.fps == 30.0


def test_natural_key_orders_numbers_by_value() -> None:
    names = ["f10.jpg", "f2.jpg", "f1.jpg", "F3.jpg"]
    assert sorted(names, key=natural_key) == ["f1.jpg", "f2.jpg", "F3.jpg", "f10.jpg"]


def test_real_video_matches_sequential_decoding(testdata: Path) -> None:
    path = testdata / "sleap/sleap-io.js/videos/centered_pair_low_quality.mp4"
    with av.open(str(path)) as container:
        wanted = {}
        for i, f in enumerate(container.decode(video=0)):
            if i in (0, 1, 333, 334, 1099):
                wanted[i] = f.to_ndarray(format="rgb24")
    with open_video(path) as video:
        assert video.frame_count == 1100 and video.fps == 15.0
        for i in (1099, 333, 0, 334, 1):
            assert np.array_equal(video.frame(i), wanted[i])


def test_bad_inputs_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(VideoError, match="no such video file"):
        open_video(tmp_path / "missing.mp4")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 10)
    with pytest.raises(VideoError, match=r"junk\.mp4"):
        open_video(junk)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(VideoError, match="no frame images"):
        open_video(empty)


def test_closed_source_refuses(mp4: Path) -> None:
    video = open_video(mp4)
    video.close()
    with pytest.raises(VideoError, match="closed"):
        video.frame(0)


def test_stepping_back_keeps_the_whole_gop(tmp_path: Path) -> None:
    """Once frames are asked for backwards, one decode fills the cache back to the
    keyframe, so the next steps back are cache hits instead of a GOP decode each."""
    path = write_video(tmp_path / "gop.mp4", 40, gop=20, b_frames=0)
    with open_video(path, cache_frames=64) as video:
        for i in range(39, 33, -1):  # 34 misses right after 35: stepping back
            assert read_index(video.frame(i)) == i
        cache = video._cache
        assert all(i in cache for i in range(20, 34))
        assert 19 not in cache
    with open_video(path, cache_frames=64) as video:
        video.frame(39)
        video.frame(30)  # a jump, not a step: only a few frames kept
        assert 26 in video._cache and 25 not in video._cache and 20 not in video._cache


def test_open_gop_stream_seeks_to_the_right_pixels(tmp_path: Path) -> None:
    """Open GOPs (I-frames that are not IDR, B-frames reaching into the previous GOP) are
    what cameras and many encoders write; seeking must still give sequential pixels."""
    params = "open-gop=1:keyint=10:min-keyint=10:scenecut=0:b-adapt=0"
    path = write_video(tmp_path / "open.mp4", 40, gop=10, b_frames=3, x264_params=params)
    with av.open(str(path)) as container:
        sequential = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    with open_video(path, cache_frames=0) as video:
        assert video.keyframe_indices() == [0, 10, 20, 30]
        for i in np.random.default_rng(5).permutation(40).tolist():
            assert np.array_equal(video.frame(i), sequential[i]), i
    with open_video(path) as video:  # stepping back fills the cache from the keyframe
        for i in range(39, -1, -1):
            assert np.array_equal(video.frame(i), sequential[i]), i
