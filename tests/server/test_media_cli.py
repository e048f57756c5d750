"""``posemark import`` by reference (``--link``, ``s3://``) and ``posemark export`` to a
bucket, against moto's S3 server, with credentials from the environment or a profile."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import obstore
import pytest
from serverkit import MMPOSE
from typer.testing import CliRunner

from posemark.cli.main import app
from posemark.storage.s3 import forget_stores, store_for
from s3server import SECRET, aws_environment, make_bucket, s3_server, upload_folder

BUCKET = "posemark-cli"
runner = CliRunner()


@pytest.fixture(scope="module")
def s3_env() -> Iterator[dict[str, str]]:
    with s3_server() as env, aws_environment(env):
        make_bucket(BUCKET)
        yield env


@pytest.fixture
def bucket_sample(s3_env: dict[str, str], testdata: Path, tmp_path: Path) -> str:
    prefix = f"{tmp_path.name}/people/"
    names = sorted(p.name for p in (testdata / MMPOSE).iterdir())
    upload_folder(BUCKET, prefix, testdata / MMPOSE, names)
    return f"s3://{BUCKET}/{prefix}"


def cli(*args: str | Path) -> object:
    return runner.invoke(app, [str(a) for a in args])


def test_import_a_bucket_prefix_and_export_back_to_the_bucket(
    db_url: str, tmp_path: Path, bucket_sample: str, testdata: Path
) -> None:
    common = ["--data", tmp_path / "data", "--db", db_url]
    r = cli(
        "import", "P", bucket_sample + "test_coco.json", *common, "--create-with-skeleton", "coco17"
    )
    assert r.exit_code == 0, r.output  # type: ignore[attr-defined]
    assert "imported 4 images with 14 instances into 'P'" in r.stdout  # type: ignore[attr-defined]
    assert f"--allow-media-root {bucket_sample}" in r.stdout  # type: ignore[attr-defined]
    r = cli("import", "Q", bucket_sample, *common, "--create-with-skeleton", "coco17")
    assert r.exit_code == 0, r.output  # type: ignore[attr-defined]
    assert "imported 4 images with 0 instances" in r.stdout  # type: ignore[attr-defined]
    assert not any(p.suffix == ".jpg" for p in (tmp_path / "data").rglob("*"))
    target = f"s3://{BUCKET}/{tmp_path.name}/exports/p.json"
    r = cli("export", "P", target, *common)
    assert r.exit_code == 0, r.output  # type: ignore[attr-defined]
    assert f"'P' -> {target}: 4 images, 14 instances" in r.stdout  # type: ignore[attr-defined]
    exported = json.loads(bytes(obstore.get(store_for(BUCKET), target.split("/", 3)[3]).bytes()))
    original = json.loads((testdata / MMPOSE / "test_coco.json").read_text())
    assert sorted(a["keypoints"] for a in exported["annotations"]) == sorted(
        a["keypoints"] for a in original["annotations"]
    )
    assert SECRET not in r.output  # type: ignore[attr-defined]


def test_import_in_place_with_link(db_url: str, tmp_path: Path, testdata: Path) -> None:
    common = ["--data", tmp_path / "data", "--db", db_url]
    coco = testdata / MMPOSE / "test_coco.json"
    r = cli("import", "P", coco, "--link", *common, "--create-with-skeleton", "coco17")
    assert r.exit_code == 0, r.output  # type: ignore[attr-defined]
    assert "imported 4 images with 14 instances" in r.stdout  # type: ignore[attr-defined]
    assert not any(p.suffix == ".jpg" for p in (tmp_path / "data").rglob("*"))


def test_a_missing_object_is_one_line_and_imports_nothing(
    db_url: str, tmp_path: Path, bucket_sample: str
) -> None:
    r = cli(
        "import",
        "P",
        bucket_sample + "nope.json",
        "--data",
        tmp_path / "data",
        "--db",
        db_url,
        "--create-with-skeleton",
        "coco17",
    )
    assert r.exit_code == 1
    assert f"{bucket_sample}nope.json is missing" in r.stderr  # type: ignore[attr-defined]
    assert "Traceback" not in r.output  # type: ignore[attr-defined]


def test_credentials_from_a_profile(
    db_url: str,
    tmp_path: Path,
    bucket_sample: str,
    s3_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    credentials = tmp_path / "credentials"
    credentials.write_text(
        "[posemark]\n"
        f"aws_access_key_id = {s3_env['AWS_ACCESS_KEY_ID']}\n"
        f"aws_secret_access_key = {s3_env['AWS_SECRET_ACCESS_KEY']}\n"
    )
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    common = ["--data", tmp_path / "data", "--db", db_url, "--create-with-skeleton", "coco17"]
    monkeypatch.setenv("AWS_PROFILE", "nobody")
    forget_stores()
    r = cli("import", "P", bucket_sample, *common)
    assert r.exit_code == 1
    assert "AWS_PROFILE='nobody'" in r.stderr  # type: ignore[attr-defined]
    monkeypatch.setenv("AWS_PROFILE", "posemark")
    forget_stores()
    try:
        r = cli("import", "P", bucket_sample, *common)
    finally:
        forget_stores()
    assert r.exit_code == 0, r.output  # type: ignore[attr-defined]
    assert "imported 4 images" in r.stdout  # type: ignore[attr-defined]


POSETRACK = "posetrack/mmpose_posetrack18/videos/000001_mpiinew_test/000001_mpiinew_test.mp4"


def test_import_a_video_by_reference_from_the_bucket_and_in_place(
    db_url: str, tmp_path: Path, s3_env: dict[str, str], testdata: Path
) -> None:
    common = ["--data", tmp_path / "data", "--db", db_url, "--create-with-skeleton", "coco17"]
    clip = testdata / POSETRACK
    upload_folder(BUCKET, f"{tmp_path.name}/clips/", clip.parent, [clip.name])
    r = cli("import", "V", f"s3://{BUCKET}/{tmp_path.name}/clips/{clip.name}", *common)
    assert r.exit_code == 0, r.output  # type: ignore[attr-defined]
    out = r.stdout  # type: ignore[attr-defined]
    assert "imported 5 video frames with 0 instances into 'V'" in out
    assert f"video {clip.name}: 5 frames" in out and "a local all-intra proxy" in out
    r = cli("import", "W", clip, "--link", *common)
    assert r.exit_code == 0, r.output  # type: ignore[attr-defined]
    assert "imported 5 video frames" in r.stdout  # type: ignore[attr-defined]
    assert "the original where it is" in r.stdout  # type: ignore[attr-defined]  # short GOPs
    assert not any(p.suffix == ".mp4" for p in (tmp_path / "data").rglob("*"))


def test_verify_decodes_every_referenced_image(db_url: str, tmp_path: Path, testdata: Path) -> None:
    common = ["--data", tmp_path / "data", "--db", db_url, "--create-with-skeleton", "coco17"]
    folder = tmp_path / "shared" / "people"
    folder.mkdir(parents=True)
    good = (testdata / MMPOSE / "000000000785.jpg").read_bytes()
    (folder / "good.jpg").write_bytes(good)
    (folder / "cut.jpg").write_bytes(good[: len(good) // 3])
    r = cli("import", "P", folder, "--link", "--verify", *common)
    assert r.exit_code == 1
    assert f"{folder / 'cut.jpg'}: corrupt or truncated image" in r.stderr  # type: ignore[attr-defined]
    assert "nothing was imported" in r.stderr  # type: ignore[attr-defined]
    r = cli("import", "P", folder, "--link", *common)  # headers only: it imports
    assert r.exit_code == 0, r.output  # type: ignore[attr-defined]
    assert "imported 2 images" in r.stdout  # type: ignore[attr-defined]
    r = cli("import", "Q", folder, "--verify", *common)
    assert r.exit_code == 1 and "--verify and --no-proxy go with --link" in r.stderr  # type: ignore[attr-defined]
