"""The local record file: opened before anything is sent, 0600, never through a symlink,
appended across openings, one writer at a time."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_bulkdots.dots.record_file import RecordFile, RecordFileError


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_created_private_and_appended_by_each_opening(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "rejected.jsonl"
    first = RecordFile(path)
    first.append(b"one\n")
    first.close()
    assert mode(path) == 0o600
    second = RecordFile(path)
    second.append(b"two\n")
    second.close()
    assert path.read_bytes() == b"one\ntwo\n"  # the second opening erased nothing


def test_a_new_file_left_empty_is_removed_an_old_one_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "rejected.jsonl"
    RecordFile(path).close()
    assert not path.exists()
    path.write_bytes(b"")
    RecordFile(path).close()
    assert path.exists()


def test_an_existing_readable_file_is_made_private(tmp_path: Path) -> None:
    path = tmp_path / "rejected.jsonl"
    path.write_bytes(b"earlier\n")
    path.chmod(0o644)
    RecordFile(path).close()
    assert mode(path) == 0o600
    assert path.read_bytes() == b"earlier\n"


def test_a_symlink_is_refused_and_its_target_untouched(tmp_path: Path) -> None:
    target = tmp_path / "victim"
    target.write_bytes(b"keep\n")
    target.chmod(0o644)
    link = tmp_path / "rejected.jsonl"
    link.symlink_to(target)
    with pytest.raises(RecordFileError, match="symlink"):
        RecordFile(link)
    assert target.read_bytes() == b"keep\n"
    assert mode(target) == 0o644  # nothing done through the link


def test_a_directory_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(RecordFileError, match=rf"{tmp_path}.*directory"):
        RecordFile(tmp_path)


def test_a_second_writer_is_refused_while_the_first_holds_it(tmp_path: Path) -> None:
    path = tmp_path / "rejected.jsonl"
    first = RecordFile(path)
    try:
        # Another process (two tasks on one machine): flock is per open file.
        code = (
            "from airflow_provider_bulkdots.dots.record_file import RecordFile, RecordFileError\n"
            f"try:\n    RecordFile({str(path)!r})\nexcept RecordFileError as e:\n    print(e)\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout
        assert "being written by another task" in out and str(path) in out
        with pytest.raises(RecordFileError, match="another task"):
            RecordFile(path)  # another opening in this process too
    finally:
        first.append(b"mine\n")
        first.close()
    assert path.read_bytes() == b"mine\n"
    RecordFile(path).close()  # free again once released
