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


def test_decode_text_names_the_line_and_drops_only_a_leading_bom():
    from bertkit.errors import InputError
    from bertkit.io_utils import decode_text

    assert decode_text("\ufeffhello\n".encode(), "a.txt") == "hello\n"
    assert decode_text("\ufeffx".encode(), "a.txt", first_line=7) == "\ufeffx"  # not line 1
    with pytest.raises(InputError, match=r"a\.txt, line 9: NUL byte"):
        decode_text(b"ok\nbad\x00", "a.txt", first_line=8)
    with pytest.raises(InputError, match=r"a\.txt, line 2: not UTF-8 text \(byte 0xe9"):
        decode_text(b"ok\ncaf\xe9\n", "a.txt")


def test_every_task_reader_refuses_binary_and_latin1_files(tmp_path):
    """The NER, QA, seq2seq and summarization readers share one decoder, so each names the
    file and line of a NUL byte or a non-UTF-8 byte (some used to accept NUL bytes)."""
    from bertkit.errors import InputError
    from bertkit.seq2seq.data import PairFields, read_pairs
    from bertkit.tasks.ner.data import read_ner_file
    from bertkit.tasks.qa.squad import read_squad
    from bertkit.tasks.summarization.data import read_documents

    readers = {
        "ner.conll": read_ner_file,
        "squad.json": read_squad,
        "pairs.jsonl": lambda path: read_pairs(path, PairFields()),
        "docs.jsonl": read_documents,
    }
    for name, read in readers.items():
        path = tmp_path / name
        path.write_bytes(b"first line\nsecond \x00 line\n")
        with pytest.raises(InputError, match=rf"{name}, line 2: NUL byte"):
            read(str(path))
        path.write_bytes(b"first line\nsecond caf\xe9 line\n")
        with pytest.raises(InputError, match=rf"{name}, line 2: not UTF-8"):
            read(str(path))


def test_temporaries_of_a_killed_writer_are_removed_by_the_next_write(tmp_path):
    import subprocess
    import sys

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    dead_pid = int(dead.stdout)
    host = io_utils._HOST
    stale = tmp_path / f".model.tmp-{host}-{dead_pid}-abcdef123456"
    stale.mkdir()
    (stale / "model.safetensors").write_bytes(b"x" * 100)
    live = tmp_path / f".model.tmp-{host}-{os.getpid()}-abcdef123456"
    live.mkdir()
    elsewhere = tmp_path / f".model.tmp-otherhost-{dead_pid}-abcdef123456"
    elsewhere.mkdir()
    with atomic_write_dir(tmp_path / "model") as tmp:
        (tmp / "config.json").write_text("{}")
    assert not stale.exists()  # its writer is dead
    assert live.exists() and elsewhere.exists()  # a live writer's, another machine's
    assert (tmp_path / "model" / "config.json").is_file()
