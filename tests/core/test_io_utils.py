"""Atomic writes: the old file or folder survives any failure, and nothing half-written stays."""

from __future__ import annotations

import os

import pytest

import bertkit.io_utils as io_utils
from bertkit.io_utils import atomic_write_dir, atomic_write_file


def test_file_is_replaced_only_on_success(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_write_file(target) as handle:
            handle.write("new, but half")
            raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.txt"]
    with atomic_write_file(target) as handle:
        handle.write("new")
    assert target.read_text() == "new"
    assert os.stat(target).st_mode & 0o044 == 0o044 & ~_umask()  # not private 0600


def test_folder_is_put_back_when_the_final_rename_fails(tmp_path, monkeypatch):
    target = tmp_path / "model"
    target.mkdir()
    (target / "model.safetensors").write_text("old")
    real_replace = os.replace

    def failing_replace(source, destination):
        if ".tmp-" in str(source):  # the new folder's rename into place
            raise OSError(5, "I/O error")
        real_replace(source, destination)

    monkeypatch.setattr(io_utils.os, "replace", failing_replace)
    with pytest.raises(OSError, match="I/O error"):
        with atomic_write_dir(target) as tmp:
            (tmp / "model.safetensors").write_text("new")
    assert (target / "model.safetensors").read_text() == "old"
    assert os.listdir(tmp_path) == ["model"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
