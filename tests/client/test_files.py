"""client.files: the one atomic writer behind output, state and key files."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from client.files import write_atomically, write_text_atomically


def test_replaces_an_existing_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    target.write_text("old")
    write_text_atomically(target, "new \u2014 text\n")
    assert target.read_bytes() == "new \u2014 text\n".encode()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_without_overwrite_an_existing_file_is_kept(tmp_path: Path) -> None:
    target = tmp_path / "validator.key"
    target.write_bytes(b"precious")
    with pytest.raises(FileExistsError):
        write_atomically(target, b"other", overwrite=False)
    assert target.read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["validator.key"]


def test_private_files_are_0600_whatever_the_umask(tmp_path: Path) -> None:
    old_umask = os.umask(0)
    try:
        write_atomically(tmp_path / "private", b"k", private=True)
        write_atomically(tmp_path / "public", b"p")
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE((tmp_path / "private").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "public").stat().st_mode) == 0o666


def test_a_missing_directory_raises_oserror(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_text_atomically(tmp_path / "absent" / "out.json", "x")
