"""A full disk gives a clear error and loses nothing already recorded."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from session.session import Session


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_full_disk_is_a_clear_error_and_loses_nothing(small_disk: Path) -> None:
    with Session.create(small_disk, "selftest", budget_s=3600, kind="agent") as s:
        assert not s.call("note", {"text": "before the disk filled"}).is_error
        filler = s.workspace / "filler.bin"
        with open(filler, "wb", buffering=0) as f, pytest.raises(OSError):
            while True:
                f.write(b"\0" * 65536)

        failed = s.call("note", {"text": "x" * 50_000})
        assert failed.is_error and "disk is full" in failed.text
        snap = s.call("snapshot")
        assert snap.is_error and "disk is full" in snap.text

        filler.unlink()
        assert not s.call("note", {"text": "after freeing space"}).is_error
        assert [n["text"] for n in s.recorder.notes()] == ["before the disk filled", "after freeing space"]
        assert not s.call("snapshot").is_error
        assert s.clock().running
