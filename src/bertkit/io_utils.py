"""Atomic writes: a file or folder either appears complete or not at all."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

from bertkit.errors import InputError

# Files that mark a folder as bertkit output (a model, tokenizer, checkpoint or export folder),
# which a new output may replace; any other non-empty folder is the user's and is kept.
OUTPUT_MARKERS = (
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
    "model.safetensors",
    "trainer_state.json",
    "export.json",
)


def check_output_folder(target: str | os.PathLike) -> None:
    """Refuse an output path that is a file, or a non-empty folder bertkit did not write:
    replacing it would delete the user's files. Call it before long work, too."""
    target = Path(target)
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise InputError(f"output {target} exists and is not a folder; choose another path")
    if target.is_dir() and any(target.iterdir()):
        if not any((target / marker).is_file() for marker in OUTPUT_MARKERS):
            raise InputError(
                f"refusing to replace {target}: it is not empty and holds no bertkit output "
                "(no config.json, tokenizer.json, ...); choose a new output folder or empty it"
            )


@contextlib.contextmanager
def atomic_write_dir(target: str | os.PathLike, *, replace_any: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside `target`; on success it replaces `target` in one rename.

    An existing `target` is moved aside first and removed only after the new folder is in place
    (and put back if that fails), so an interruption leaves either the old or the new folder,
    never a half-written one. Everything in `target` is replaced, including files the new
    folder does not have; so unless `replace_any` is set (for bertkit's own caches), a target
    that is a file or a non-empty folder without bertkit output is refused up front.
    """
    target = Path(target)
    if not replace_any:
        check_output_folder(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _unique_sibling(target, lambda path: os.mkdir(path, 0o777))
    try:
        yield tmp
        _fsync_tree(tmp)
        _replace_dir(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _replace_dir(new: Path, target: Path) -> None:
    """Rename `new` to `target`, moving an existing `target` aside and back on failure."""
    old = None
    if target.exists() or target.is_symlink():
        old = target.parent / f".{target.name}.old-{os.getpid()}"
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old)
        elif old.exists() or old.is_symlink():
            old.unlink()
        os.replace(target, old)
    try:
        os.replace(new, target)
    except BaseException:
        if old is not None:
            os.replace(old, target)
        raise
    if old is not None:
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_write_file(target: str | os.PathLike, mode: str = "w", **open_kwargs) -> Iterator:
    """Open a temporary file beside `target` for writing; rename it over `target` on success."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp_name = _unique_sibling(
        target, lambda path: os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    )
    try:
        with open(tmp_name, mode, **open_kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


def _unique_sibling(target: Path, create) -> Path:
    """Create (with `create(path)`) a new hidden temporary path beside `target`.

    Unlike tempfile's helpers, which make private (0700/0600) entries, the permissions are
    the usual ones under the process umask, so saved folders are readable as any other.
    """
    for _ in range(100):
        path = target.parent / f".{target.name}.tmp-{secrets.token_hex(6)}"
        try:
            create(path)
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"could not create a temporary path beside {target}")


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
