"""The sweep leaves folders of live imports alone and removes abandoned ones; it undoes
only journaled files whose items never committed and that are still the same files."""

from __future__ import annotations

import json
from pathlib import Path

from serverkit import Server

from posemark.services.staging import Staging, _locked_folder, sweep


def test_live_folders_are_kept_and_abandoned_ones_undone(server: Server) -> None:
    settings = server.settings
    root = settings.media_dir / "p9"
    root.mkdir(parents=True)
    source = settings.data_dir / "src.jpg"
    source.write_bytes(b"pixels")
    live = Staging(settings, 9, root)
    live.add("a.jpg", source)
    live.publish([("a.jpg", "a.jpg", "a.jpg")])  # renamed, not committed, still running
    dead_folder, lock = _locked_folder(settings.media_dir, ".import-")
    (dead_folder / "files").mkdir()
    victim = root / "sub" / "b.jpg"
    victim.parent.mkdir()
    victim.write_bytes(b"orphan")
    replaced = root / "c.jpg"
    replaced.write_bytes(b"a later import's file")
    journal = {
        "project_id": 9,
        "root": str(root),
        "files": [
            {"target": "sub/b.jpg", "item": "sub/b.jpg", "inode": victim.stat().st_ino},
            {"target": "c.jpg", "item": "c.jpg", "inode": replaced.stat().st_ino + 1},
        ],
    }
    (dead_folder / "journal.json").write_text(json.dumps(journal))
    lock.close()  # its process died
    upload, upload_lock = _locked_folder(settings.tmp_dir, "upload-")
    with server.session() as session:
        assert sweep(session, settings) == 1
    assert not victim.exists() and not victim.parent.exists()  # the orphan and its folder
    assert replaced.read_bytes() == b"a later import's file"  # another inode: kept
    assert not dead_folder.exists()
    assert live.folder.exists() and (root / "a.jpg").exists()  # a live import is untouched
    assert upload.exists()  # an upload in progress too
    upload_lock.close()
    live.close()
    with server.session() as session:
        sweep(session, settings)
    assert not upload.exists()
    assert not list(settings.media_dir.glob(".import-*"))
    assert not list(Path(settings.tmp_dir).iterdir())
