"""Broken images: refused at import (API and CLI) with "corrupt or truncated image", and
a broken file already stored answers a located 4xx from every route that decodes it."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from serverkit import MMPOSE, Server
from typer.testing import CliRunner

from posemark.cli.main import app

JPEG = "000000000785.jpg"


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def short_png(width: int, height: int, rows: int) -> bytes:
    """A PNG whose header promises ``width`` x ``height`` RGB pixels but whose (valid,
    checksummed) pixel stream holds only ``rows`` rows: Image.verify() accepts it."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = zlib.compress(b"".join(b"\x00" + b"\x80" * (3 * width) for _ in range(rows)), 9)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", body)
        + _chunk(b"IEND", b"")
    )


def whole_png(width: int, height: int) -> bytes:
    return short_png(width, height, height)


@pytest.fixture
def jpeg(testdata: Path) -> bytes:
    return (testdata / MMPOSE / JPEG).read_bytes()


@pytest.fixture
def pid(admin: TestClient) -> int:
    r = admin.post("/api/projects", json={"name": "people", "skeleton": "coco17"})
    return int(r.json()["id"])


@pytest.mark.parametrize("cut", [0.5, 0.99])
def test_a_truncated_jpeg_upload_is_400(
    server: Server, admin: TestClient, pid: int, jpeg: bytes, cut: float
) -> None:
    files = [("files", ("cut.jpg", jpeg[: int(len(jpeg) * cut)], "image/jpeg"))]
    r = admin.post(f"/api/projects/{pid}/import", files=files)
    assert r.status_code == 400, r.text
    assert r.json()["detail"].startswith("cut.jpg: corrupt or truncated image")
    assert server.item_count(pid) == 0


def test_a_png_with_short_pixel_data_is_400_without_decoding_it(
    server: Server, admin: TestClient, pid: int
) -> None:
    png = short_png(9990, 9990, rows=2)
    assert len(png) < 200_000
    r = admin.post(f"/api/projects/{pid}/import", files=[("files", ("big.png", png, "image/png"))])
    assert r.status_code == 400, r.text
    assert "big.png: corrupt or truncated image" in r.json()["detail"]
    assert server.item_count(pid) == 0
    good = whole_png(40, 30)  # the same construction, complete, is accepted
    r = admin.post(f"/api/projects/{pid}/import", files=[("files", ("ok.png", good, "image/png"))])
    assert r.status_code == 200, r.text


def test_the_cli_refuses_a_truncated_jpeg(
    db_url: str, tmp_path: Path, jpeg: bytes, testdata: Path
) -> None:
    folder = tmp_path / "shots"
    folder.mkdir()
    (folder / "ok.jpg").write_bytes(jpeg)
    (folder / "cut.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    data = tmp_path / "data"
    r = CliRunner().invoke(
        app,
        [
            "import",
            "P",
            str(folder),
            "--data",
            str(data),
            "--db",
            db_url,
            "--create-with-skeleton",
            "coco17",
        ],
    )
    assert r.exit_code == 1, r.output
    assert "cut.jpg: corrupt or truncated image" in r.stderr
    assert "nothing was imported" in r.stderr
    assert not any((data / "media").rglob("*.jpg"))


@pytest.mark.parametrize(
    "broken",
    [
        pytest.param(lambda jpeg: jpeg[: len(jpeg) // 2], id="truncated-jpeg"),
        pytest.param(lambda _jpeg: short_png(9990, 9990, rows=2), id="short-png-bomb"),
        pytest.param(lambda _jpeg: b"not an image at all", id="not-an-image"),
    ],
)
def test_a_broken_stored_file_never_gives_500(
    server: Server, admin: TestClient, coco_project: int, broken: object
) -> None:
    """The import checked the file; it broke on disk afterwards (a bad sector, a tool
    writing over it). Thumbnail, suggest and crops answer 422, again and again."""
    items = admin.get(f"/api/projects/{coco_project}/items").json()["items"]
    item = next(i for i in items if i["file_name"] == JPEG)
    stored = server.settings.media_dir / f"p{coco_project}" / JPEG
    stored.write_bytes(broken(stored.read_bytes()))  # type: ignore[operator]
    for _ in range(3):
        r = admin.get(f"/api/items/{item['id']}/thumbnail?size=64")
        assert r.status_code == 422, r.text
        assert r.json()["code"] == "media_corrupt"
        assert f"item {item['id']} ({JPEG}): corrupt or truncated image" in r.json()["detail"]
    r = admin.post(f"/api/items/{item['id']}/suggest", json={})
    assert r.status_code == 422, r.text
    doc = admin.get(f"/api/items/{item['id']}").json()["annotation"]
    inst = doc["instances"][0]["id"]
    r = admin.get(f"/api/items/{item['id']}/crop", params={"instance_id": inst, "size": 64})
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "media_corrupt"


def test_the_quick_header_reader_agrees_with_pillow(testdata: Path, tmp_path: Path) -> None:
    """Referenced imports read sizes by walking JPEG markers and the PNG header: the
    same answer as Pillow for the real images of the test data, progressive and
    EXIF-carrying JPEGs included; a head cut before the frame header is not guessed."""
    import io

    from PIL import Image

    from posemark.services.image_check import quick_size

    files = sorted(testdata.rglob("*.jpg"))[:300] + sorted(testdata.rglob("*.png"))[:100]
    assert len(files) > 50
    for path in files:
        with Image.open(path) as im:
            assert quick_size(path.read_bytes()[:65536])[1:] == im.size, path  # type: ignore[index]
    with Image.open(testdata / MMPOSE / JPEG) as im:
        buffer = io.BytesIO()
        exif = Image.Exif()
        exif[0x010E] = "x" * 5000  # a long EXIF block before the frame header
        im.save(buffer, "JPEG", progressive=True, exif=exif.tobytes())
    data = buffer.getvalue()
    assert quick_size(data) == ("JPEG", 640, 425)
    assert quick_size(data[:4096]) is None  # the frame header lies past 4 KiB


def test_the_import_check_reads_no_pixels_yet_refuses_a_cut_jpeg(
    tmp_path: Path, jpeg: bytes
) -> None:
    """An import reads each JPEG's header and tail, not its pixels: a file cut anywhere
    lacks the end-of-image marker and is refused; a whole file with bytes after its
    marker is decoded to decide (and accepted); ``verify`` decodes every file."""
    from posemark.services.errors import BadInput
    from posemark.services.image_check import check_image

    limit = 10_000_000
    whole = tmp_path / "whole.jpg"
    whole.write_bytes(jpeg)
    assert check_image(whole, limit, "whole.jpg").width > 0
    for cut in (0.3, 0.99):
        part = tmp_path / f"cut{cut}.jpg"
        part.write_bytes(jpeg[: int(len(jpeg) * cut)])
        with pytest.raises(BadInput, match=rf"cut{cut}\.jpg: corrupt or truncated image"):
            check_image(part, limit, part.name)
    padded = tmp_path / "padded.jpg"
    padded.write_bytes(jpeg + b"\0" * 5000)
    assert check_image(padded, limit, "padded.jpg").height > 0
    with pytest.raises(BadInput, match=r"cut0\.99\.jpg: corrupt or truncated image"):
        check_image(tmp_path / "cut0.99.jpg", limit, "cut0.99.jpg", verify=True)


def test_the_quick_jpeg_header_reads_what_pillow_reads_and_leaves_the_rest_to_it(
    testdata: Path, tmp_path: Path
) -> None:
    from PIL import Image

    from posemark.services.image_check import read_header, whole_baseline_jpeg

    photos = sorted(p for p in testdata.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg"))
    assert len(photos) >= 10
    for photo in photos:
        assert whole_baseline_jpeg(photo, 10**9) == read_header(photo, 10**9, photo.name)
    data = photos[0].read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    Image.open(photos[0]).save(tmp_path / "progressive.jpg", progressive=True)
    Image.open(photos[0]).save(tmp_path / "same.png")
    Image.open(photos[0]).convert("L").save(tmp_path / "grey.jpg")
    assert whole_baseline_jpeg(tmp_path / "cut.jpg", 10**9) is None  # no end marker
    assert whole_baseline_jpeg(tmp_path / "same.png", 10**9) is None
    assert whole_baseline_jpeg(photos[0], 1) is None  # over the limit: the long way's 413
    for name in ("progressive.jpg", "grey.jpg"):
        path = tmp_path / name
        assert whole_baseline_jpeg(path, 10**9) == read_header(path, 10**9, name)
