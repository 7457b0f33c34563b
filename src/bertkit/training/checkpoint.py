"""Checkpoint folders: written atomically, read back without pickle, pruned to the last K.

Layout of `output_dir/checkpoints/step-0000500/`:

    model/                   the task's model folder (default: model.safetensors)
    optimizer.safetensors    every tensor of the optimizer state, "state/<param name>/<key>"
    trainer_state.json       step, epoch, batch position, scheduler, optimizer hyper-parameters,
                             best metric, early-stopping counter, RNG states of every rank,
                             and the byte size of every file (to detect truncation)

`output_dir/best/` has the same layout without the optimizer. Folders are written through
`atomic_write_dir`, so a crash leaves at most a hidden `.step-*.tmp-*` folder, which readers
ignore.
"""

from __future__ import annotations

import base64
import json
import logging
import random
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from bertkit.errors import CheckpointError
from bertkit.io_utils import atomic_write_dir

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
CHECKPOINTS_DIR = "checkpoints"
BEST_DIR = "best"
MODEL_DIR = "model"
STATE_FILE = "trainer_state.json"
OPTIMIZER_FILE = "optimizer.safetensors"
DEFAULT_WEIGHTS_FILE = "model.safetensors"
_STEP_DIR = re.compile(r"^step-(\d+)$")
_OWN_NAMES = (MODEL_DIR, OPTIMIZER_FILE, STATE_FILE)  # what a checkpoint folder holds

# save_model_fn(model, folder, state_dict) writes the model folder from the full state dict;
# load_model_fn(model, folder) returns a state dict under the model's own parameter names.
SaveModelFn = Callable[[nn.Module, Path, dict[str, torch.Tensor]], None]
LoadModelFn = Callable[[nn.Module, Path], dict[str, torch.Tensor]]


def save_weights(model: nn.Module, folder: Path, state_dict: dict[str, torch.Tensor]) -> None:
    """Default model writer: the state dict as one safetensors file."""
    save_file(_unshare(state_dict), str(folder / DEFAULT_WEIGHTS_FILE))


def load_weights(model: nn.Module, folder: Path) -> dict[str, torch.Tensor]:
    """Default model reader, the inverse of `save_weights`."""
    return _read_safetensors(folder / DEFAULT_WEIGHTS_FILE)


def checkpoint_dir(output_dir: Path, step: int) -> Path:
    return Path(output_dir) / CHECKPOINTS_DIR / f"step-{step:07d}"


def list_checkpoints(output_dir: Path) -> list[tuple[int, Path]]:
    """Complete checkpoint folders as (step, path), oldest first; temp folders are skipped."""
    root = Path(output_dir) / CHECKPOINTS_DIR
    if not root.is_dir():
        return []
    found = []
    for path in root.iterdir():
        match = _STEP_DIR.match(path.name)
        # A folder left holding only a user's files after pruning is no checkpoint; one that
        # lost its state file is (and resuming from it says it is incomplete).
        if match and path.is_dir() and _holds_checkpoint_files(path):
            found.append((int(match.group(1)), path))
    return sorted(found)


def _holds_checkpoint_files(folder: Path) -> bool:
    return (
        (folder / STATE_FILE).exists()
        or (folder / OPTIMIZER_FILE).exists()
        or any((folder / MODEL_DIR).glob("*.safetensors"))
    )


def latest_checkpoint(output_dir: Path) -> Path | None:
    checkpoints = list_checkpoints(output_dir)
    return checkpoints[-1][1] if checkpoints else None


def prune_checkpoints(output_dir: Path, keep_last: int) -> list[Path]:
    """Remove all but the newest `keep_last` checkpoints; return the removed folders."""
    removed = [path for _, path in list_checkpoints(output_dir)[:-keep_last]]
    for path in removed:
        discard_checkpoint(path)
        logger.debug("removed old checkpoint %s", path)
    return removed


def discard_checkpoint(folder: Path, quiet: bool = False) -> None:
    """Delete checkpoint `folder`, except files someone else put in it: those are kept (with
    the folders that hold them) and named in a warning. Nothing a user added is ever lost."""
    foreign, owned = _split_files(folder)
    if not foreign:
        shutil.rmtree(folder, ignore_errors=True)
        return
    for path in owned:
        path.unlink(missing_ok=True)
    for path in sorted(folder.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.is_dir() and not path.is_symlink() and not any(path.iterdir()):
            path.rmdir()
    if quiet:
        return
    shown = ", ".join(str(path.relative_to(folder)) for path in foreign[:5])
    logger.warning(
        "removed checkpoint %s but kept the %d file(s) bertkit did not write there: %s",
        folder,
        len(foreign),
        shown,
    )


def _split_files(folder: Path) -> tuple[list[Path], list[Path]]:
    """The files (and symlinks) below a checkpoint folder: (someone else's, bertkit's)."""
    owned_names = _owned_files(folder)
    foreign, owned = [], []
    for path in folder.rglob("*"):
        if path.is_file() or path.is_symlink():
            mine = path.relative_to(folder).as_posix() in owned_names
            (owned if mine else foreign).append(path)
    return foreign, owned


def _owned_files(folder: Path) -> set[str]:
    """Paths (relative, '/'-separated) of the files bertkit wrote into a checkpoint folder."""
    try:
        sizes = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))["file_sizes"]
        return {*sizes, STATE_FILE}
    except (OSError, ValueError, KeyError, TypeError):
        # A damaged state file: fall back to the names a checkpoint holds.
        return {
            path.relative_to(folder).as_posix()
            for name in _OWN_NAMES
            for path in ([folder / name] + list((folder / name).rglob("*")))
            if path.is_file()
        }


def write_checkpoint(
    target: Path,
    *,
    model: nn.Module,
    model_state: dict[str, torch.Tensor],
    save_model_fn: SaveModelFn,
    trainer_state: dict[str, Any],
    optimizer_state: dict | None = None,
) -> Path:
    """Write one checkpoint folder atomically; `trainer_state` must be JSON-serialisable."""
    state = dict(trainer_state, format_version=FORMAT_VERSION)
    if target.is_dir() and _split_files(target)[0]:
        # Replacing the folder would delete a user's files: move it aside and keep them there.
        aside = target.with_name(f"{target.name}-kept")
        number = 1
        while aside.exists():
            number += 1
            aside = target.with_name(f"{target.name}-kept-{number}")
        target.rename(aside)
        discard_checkpoint(aside, quiet=True)
        logger.warning(
            "%s held files bertkit did not write: they are kept in %s (bertkit's own files "
            "there were removed) and a new %s is written",
            target,
            aside,
            target.name,
        )
    with atomic_write_dir(target, replace_any=True) as folder:
        (folder / MODEL_DIR).mkdir()
        save_model_fn(model, folder / MODEL_DIR, model_state)
        if optimizer_state is not None:
            tensors, optimizer_json = _split_optimizer_state(optimizer_state)
            save_file(tensors, str(folder / OPTIMIZER_FILE))
            state["optimizer"] = optimizer_json
        state["file_sizes"] = {
            str(path.relative_to(folder)): path.stat().st_size
            for path in sorted(folder.rglob("*"))
            if path.is_file()
        }
        (folder / STATE_FILE).write_text(json.dumps(state, indent=1))
    logger.info("saved checkpoint %s", target)
    return target


def read_trainer_state(folder: Path) -> dict[str, Any]:
    """The JSON state of a checkpoint, after checking that every recorded file is intact."""
    path = Path(folder) / STATE_FILE
    try:
        state = json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointError(
            f"{folder} is not a complete checkpoint: {STATE_FILE} is missing"
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{path} is corrupt ({error}); remove this checkpoint") from None
    if not isinstance(state, dict) or state.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path} is not a bertkit trainer state of format {FORMAT_VERSION}")
    for name, size in state.get("file_sizes", {}).items():
        file = Path(folder) / name
        if not file.is_file() or file.stat().st_size != size:
            raise CheckpointError(
                f"checkpoint {folder} is damaged: {name} is missing or truncated; remove it"
            )
    return state


def read_model_state(
    folder: Path, model: nn.Module, load_model_fn: LoadModelFn
) -> dict[str, torch.Tensor]:
    """Model weights of a checkpoint via the task's loader, with errors made explicit."""
    try:
        return load_model_fn(model, Path(folder) / MODEL_DIR)
    except CheckpointError:
        raise
    except (OSError, SafetensorError, ValueError, KeyError) as error:
        raise CheckpointError(f"cannot read the model in {folder}: {error}") from None


def read_optimizer_state(folder: Path, trainer_state: dict[str, Any]) -> dict:
    """The optimizer state dict (parameter-name keyed) stored by `write_checkpoint`."""
    if "optimizer" not in trainer_state:
        raise CheckpointError(f"{folder} holds no optimizer state and cannot be resumed from")
    tensors = _read_safetensors(Path(folder) / OPTIMIZER_FILE)
    saved = trainer_state["optimizer"]
    state: dict[str, dict[str, Any]] = {
        name: dict(values) for name, values in saved["scalar_state"].items()
    }
    for key, tensor in tensors.items():
        _, name, field = key.split("/", 2)
        state.setdefault(name, {})[field] = tensor
    return {"state": state, "param_groups": saved["param_groups"]}


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path))
    except FileNotFoundError:
        raise CheckpointError(f"{path} is missing") from None
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"{path} is corrupt or unreadable: {error}") from None


def _split_optimizer_state(optimizer_state: dict) -> tuple[dict[str, torch.Tensor], dict]:
    """Tensors for safetensors, everything else (numbers, hyper-parameters) for JSON."""
    tensors: dict[str, torch.Tensor] = {}
    scalar_state: dict[str, dict[str, Any]] = {}
    for name, values in optimizer_state["state"].items():
        for field, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"state/{name}/{field}"] = value.detach().cpu().contiguous()
            else:
                scalar_state.setdefault(name, {})[field] = value
    groups = [_jsonable(group) for group in optimizer_state["param_groups"]]
    return _unshare(tensors), {"scalar_state": scalar_state, "param_groups": groups}


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, torch.Tensor):
        return value.item()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise CheckpointError(f"cannot store {type(value).__name__} in a checkpoint as JSON")


def _unshare(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Copy tensors that share memory (tied weights): safetensors refuses shared storage."""
    seen: set[int] = set()
    result = {}
    for name, tensor in tensors.items():
        tensor = tensor.detach().cpu().contiguous()
        pointer = tensor.untyped_storage().data_ptr()
        if pointer in seen and tensor.numel() > 0:
            tensor = tensor.clone()
        seen.add(tensor.untyped_storage().data_ptr())
        result[name] = tensor
    return result


def capture_rng_state() -> dict[str, Any]:
    """This process's torch, CUDA, numpy and Python RNG states as JSON-ready values."""
    numpy_name, numpy_keys, numpy_pos, numpy_has_gauss, numpy_gauss = np.random.get_state()
    python_version, python_internal, python_gauss = random.getstate()
    state = {
        "torch": _encode_bytes(torch.get_rng_state()),
        "numpy": [numpy_name, _encode_ints(numpy_keys), numpy_pos, numpy_has_gauss, numpy_gauss],
        "python": [python_version, _encode_ints(python_internal), python_gauss],
    }
    if torch.cuda.is_available():
        state["cuda"] = [_encode_bytes(s) for s in torch.cuda.get_rng_state_all()]
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of `capture_rng_state`."""
    try:
        torch.set_rng_state(_decode_bytes(state["torch"]))
        name, keys, pos, has_gauss, gauss = state["numpy"]
        np.random.set_state((name, _decode_ints(keys).astype(np.uint32), pos, has_gauss, gauss))
        version, internal, python_gauss = state["python"]
        random.setstate((version, tuple(int(v) for v in _decode_ints(internal)), python_gauss))
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([_decode_bytes(s) for s in state["cuda"]])
    except (KeyError, ValueError, TypeError, RuntimeError) as error:
        raise CheckpointError(f"cannot restore the saved random state: {error}") from None


def _encode_bytes(tensor: torch.Tensor) -> str:
    return base64.b64encode(tensor.cpu().numpy().tobytes()).decode("ascii")


def _encode_ints(values) -> str:
    # Mersenne-twister words (and the position index) all fit in unsigned 64 bits.
    return base64.b64encode(np.asarray(values, dtype=np.uint64).tobytes()).decode("ascii")


def _decode_ints(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype=np.uint64)


def _decode_bytes(text: str) -> torch.Tensor:
    data = np.frombuffer(base64.b64decode(text), dtype=np.uint8).copy()
    return torch.from_numpy(data)
