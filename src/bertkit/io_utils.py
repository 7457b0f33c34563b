"""Atomic writes: a file or folder either appears complete or not at all."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets
import shutil
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

from bertkit.errors import InputError

logger = logging.getLogger(__name__)
# Temporaries carry the host and pid of their writer, so that a later write can tell those of
# a killed process (removed) from those of a live one or of another machine on a shared disk.
_HOST = re.sub(r"[^A-Za-z0-9]", "_", socket.gethostname())[:40] or "host"

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
# Each folder atomic_write_dir writes lists its top-level entries here, so that replacing it
# later can tell bertkit's files from ones a user added since.
MANIFEST = ".bertkit-files"
# What a folder without a manifest (saved by transformers, or by bertkit before manifests) may
# hold and still be replaced: model, tokenizer, checkpoint and export files, nothing else.
KNOWN_OUTPUT_NAMES = frozenset(
    OUTPUT_MARKERS
    + (
        "special_tokens_map.json",
        "generation_config.json",
        "model.safetensors.index.json",
        "pytorch_model.bin",
        "summarization_head.safetensors",
        "optimizer.safetensors",
        "model",
        "model.torchscript.pt",
        "model.onnx",
    )
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
        foreign = foreign_entries(target)
        if foreign:
            shown = ", ".join(foreign[:5]) + (" ..." if len(foreign) > 5 else "")
            raise InputError(
                f"refusing to replace {target}: besides bertkit's output it holds {shown}, "
                "which bertkit did not write and would delete; move them out or choose "
                "another output folder"
            )


def foreign_entries(folder: Path) -> list[str]:
    """Top-level entries of an output folder that bertkit did not write (names, sorted)."""
    try:
        allowed = set(json.loads((folder / MANIFEST).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        allowed = set(KNOWN_OUTPUT_NAMES)
    return sorted(
        entry.name + ("/" if entry.is_dir() else "")
        for entry in folder.iterdir()
        if entry.name not in allowed and entry.name != MANIFEST
    )


@contextlib.contextmanager
def atomic_write_dir(target: str | os.PathLike, *, replace_any: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside `target`; on success it replaces `target` in one rename.

    An existing `target` is moved aside first and removed only after the new folder is in place
    (and put back if that fails), so an interruption leaves either the old or the new folder,
    never a half-written one. Everything in `target` is replaced; so unless `replace_any` is
    set (for bertkit's own caches), a target that is a file, a non-empty folder without bertkit
    output, or a bertkit folder to which someone added files is refused, up front and again just
    before the swap. The new folder records its entries in a manifest for that check.
    """
    target = Path(target)
    if not replace_any:
        check_output_folder(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _unique_sibling(target, lambda path: os.mkdir(path, 0o777))
    try:
        yield tmp
        if not replace_any:
            names = sorted(entry.name for entry in tmp.iterdir())
            (tmp / MANIFEST).write_text(json.dumps(names), encoding="utf-8")
            check_output_folder(target)  # files may have been added during a long run
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
    if target.is_dir():
        raise InputError(f"output {target} is a folder; give the path of a file to write")
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


@contextlib.contextmanager
def add_output_file(folder: str | os.PathLike, name: str, mode: str = "w", **open_kwargs):
    """Write file `name` into `folder`, a folder bertkit wrote (a model, an export), atomically,
    and list it in the folder's manifest: a later run that replaces the folder then counts it
    as bertkit's (results beside a model) instead of refusing to delete a user's file."""
    folder = Path(folder)
    with atomic_write_file(folder / name, mode, **open_kwargs) as handle:
        yield handle
    try:
        names = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return  # no manifest (not written by atomic_write_dir): nothing to record in
    if name not in names:
        with atomic_write_file(folder / MANIFEST, encoding="utf-8") as handle:
            json.dump(sorted([*names, name]), handle)


def _unique_sibling(target: Path, create) -> Path:
    """Create (with `create(path)`) a new hidden temporary path beside `target`.

    Unlike tempfile's helpers, which make private (0700/0600) entries, the permissions are
    the usual ones under the process umask, so saved folders are readable as any other.
    """
    _remove_stale_temporaries(target)
    for _ in range(100):
        name = f".{target.name}.tmp-{_HOST}-{os.getpid()}-{secrets.token_hex(6)}"
        path = target.parent / name
        try:
            create(path)
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"could not create a temporary path beside {target}")


def _remove_stale_temporaries(target: Path) -> None:
    """Delete the temporaries of `target` left by killed processes of this machine (kill -9
    gives no chance to clean up); a live writer's, or another machine's, are left alone."""
    prefix = f".{target.name}.tmp-{_HOST}-"
    if not target.parent.is_dir():
        return
    for path in target.parent.iterdir():
        if not path.name.startswith(prefix):
            continue
        pid = path.name[len(prefix) :].split("-", 1)[0]
        if not pid.isdigit() or _process_alive(int(pid)):
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        logger.info("removed %s, left by an interrupted earlier write", path)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def _fsync_tree(folder: Path) -> None:
    """Flush every file to disk, and give every file the usual permissions: safetensors'
    `save_file` creates private (0600) files, which a server running as another user, or a
    container, could not read."""
    readable = 0o666 & ~_umask()
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            if path.stat().st_mode & 0o777 == 0o600 and readable != 0o600:
                path.chmod(readable)
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())


def _umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it; put it straight back
    os.umask(mask)
    return mask


def read_text_input(source: str) -> tuple[str, str]:
    """(text, name) of a UTF-8 file, or of stdin when `source` is "-"; a leading BOM dropped.

    A missing file, a NUL byte (binary data) or bytes that are not UTF-8 raise an InputError
    naming the file and line.
    """
    if source == "-":
        data, name = sys.stdin.buffer.read(), "standard input"
    else:
        if not Path(source).is_file():
            raise InputError(f"input file {source} not found")
        data, name = Path(source).read_bytes(), source
    return decode_text(data, name), name


def decode_text(data: bytes, name: str, first_line: int = 1) -> str:
    """`data`, a whole file or one line of it numbered `first_line`, decoded as UTF-8 (a BOM
    at the start of the file dropped). A NUL byte (binary data) or a byte sequence that is not
    UTF-8 raises an InputError naming `name` and the line: every text reader shares this."""
    if b"\x00" in data:
        line = first_line + data[: data.index(b"\x00")].count(b"\n")
        raise InputError(
            f"{name}, line {line}: NUL byte found; this looks like a binary file, not text"
        )
    try:
        return data.decode("utf-8-sig" if first_line == 1 else "utf-8")
    except UnicodeDecodeError as error:
        line = first_line + data[: error.start].count(b"\n")
        raise InputError(
            f"{name}, line {line}: not UTF-8 text (byte 0x{data[error.start]:02x} cannot be "
            "decoded); re-encode the file as UTF-8, for example with iconv"
        ) from None
