"""Load and save Hugging Face format model folders.

A folder holds config.json, model.safetensors (or a sharded safetensors index, or a legacy
pytorch_model.bin read with `weights_only=True`, never unpickled) and the tokenizer files.
Saving writes everything to a temporary folder and renames it into place.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from bertkit.config import BertConfig
from bertkit.errors import CheckpointError
from bertkit.io_utils import atomic_write_dir
from bertkit.model.heads import (
    TASK_MODELS,
    BertEncoderModel,
    BertForMaskedLM,
    BertPreTrainedModel,
)
from bertkit.weight_names import HF_ARCHITECTURES, from_hf, hf_name, to_hf

logger = logging.getLogger(__name__)

WEIGHTS_NAME = "model.safetensors"
WEIGHTS_INDEX_NAME = "model.safetensors.index.json"
LEGACY_WEIGHTS_NAME = "pytorch_model.bin"
POOLER_PREFIX = "bert.pooler."


@dataclass
class LoadReport:
    """What loading a checkpoint into a model did besides copying matching weights."""

    initialised_heads: list[str] = field(default_factory=list)  # new, untrained head modules
    unexpected: list[str] = field(default_factory=list)  # checkpoint weights the model lacks
    missing_encoder: list[str] = field(default_factory=list)  # only with allow_missing=True
    # head weights the checkpoint has in another shape (another label set): (name, theirs, ours)
    reshaped_heads: list[tuple[str, tuple, tuple]] = field(default_factory=list)


def read_state_dict(folder: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read the weights of a model folder, whichever of the supported formats it holds."""
    folder = Path(folder)
    single, index = folder / WEIGHTS_NAME, folder / WEIGHTS_INDEX_NAME
    legacy = folder / LEGACY_WEIGHTS_NAME
    if single.is_file():
        return _load_safetensors(single)
    if index.is_file():
        state: dict[str, torch.Tensor] = {}
        for shard in _shard_names(index):
            state.update(_load_safetensors(folder / shard))
        return state
    if legacy.is_file():
        return _load_legacy(legacy)
    raise CheckpointError(
        f"{folder} holds no weights: expected {WEIGHTS_NAME}, {WEIGHTS_INDEX_NAME} or "
        f"{LEGACY_WEIGHTS_NAME}"
    )


def _shard_names(index: Path) -> list[str]:
    """The shard files a safetensors index names; each must be a plain file beside it."""
    try:
        shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, AttributeError):
        raise CheckpointError(
            f"{index} is not a valid safetensors index: expected a JSON object with a "
            '"weight_map" from weight names to shard files'
        ) from None
    for shard in shards:
        if not isinstance(shard, str) or Path(shard).name != shard or shard in ("", ".", ".."):
            raise CheckpointError(f"{index} names a shard {shard!r} outside its folder")
    return shards


def _load_legacy(path: Path) -> dict[str, torch.Tensor]:
    """A pytorch_model.bin, read with torch's tensors-only unpickler: never arbitrary objects."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any failure means an unusable file
        reason = " ".join(str(error).split())[:300]
        raise CheckpointError(
            f"{path} could not be read as plain tensors ({reason}); bertkit never unpickles "
            "arbitrary objects: convert the checkpoint to model.safetensors"
        ) from None
    if not isinstance(state, dict) or not all(
        isinstance(name, str) and isinstance(tensor, torch.Tensor) for name, tensor in state.items()
    ):
        raise CheckpointError(f"{path} does not hold a state dict of named tensors")
    return state


def _load_safetensors(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise CheckpointError(f"weight file {path} is missing")
    try:
        return load_file(path)
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        reason = " ".join(str(error).split())[:300]
        raise CheckpointError(
            f"{path} is not a valid safetensors file ({reason}); it may be truncated or "
            "corrupt: save the checkpoint again, or refetch a cached model with "
            "`bertkit download NAME --force`"
        ) from None


def load_config(folder: str | os.PathLike) -> BertConfig:
    folder = Path(folder)
    if not folder.exists():
        raise CheckpointError(f"model folder {folder} does not exist")
    if not folder.is_dir():
        raise CheckpointError(f"{folder} is not a folder; pass a model folder or a model name")
    return BertConfig.from_json_file(folder / "config.json")


def load_model(
    folder: str | os.PathLike,
    task: str | type[BertPreTrainedModel] = "encoder",
    *,
    labels: list[str] | None = None,
    allow_missing: bool = False,
    config: BertConfig | None = None,
    new_heads_expected: bool = False,
) -> tuple[BertPreTrainedModel, LoadReport]:
    """Build the model for `task` and fill it from the checkpoint in `folder`.

    `labels` sets a new label set for a classification head; a head absent from the
    checkpoint, or shaped for another label set, is initialised and listed in the report.
    A missing encoder weight is an error unless `allow_missing` is set. `new_heads_expected`
    (fine-tuning from a pretrained encoder) logs initialised heads at INFO, not WARNING.
    """
    if isinstance(task, str) and task not in TASK_MODELS:
        raise CheckpointError(f"unknown task {task!r}; use one of {', '.join(TASK_MODELS)}")
    model_class = TASK_MODELS[task] if isinstance(task, str) else task
    config = config or load_config(folder)
    if labels is not None:
        config = config.with_labels(labels)
    state = read_state_dict(folder)
    model = model_class(config)
    report = load_state_into(
        model,
        state,
        allow_missing=allow_missing,
        source=str(folder),
        new_heads_expected=new_heads_expected,
    )
    return model, report


def load_state_into(
    model: BertPreTrainedModel,
    hf_state: dict[str, torch.Tensor],
    *,
    allow_missing: bool = False,
    source: str = "checkpoint",
    new_heads_expected: bool = False,
) -> LoadReport:
    """Copy a Hugging Face-named state dict into `model`, reporting what did not fit.

    A missing or mis-shaped task head, and a missing pooler (masked-LM and token-level
    checkpoints have none), are initialised and listed in `initialised_heads`; a missing
    encoder weight is an error unless `allow_missing`. A missing head is a WARNING (a model
    used as is would predict at random) unless `new_heads_expected` says the caller is about
    to train it, as fine-tuning does; then it is logged at INFO. A mis-shaped head, which
    discards trained weights, is always a WARNING.
    """
    if isinstance(model, BertForMaskedLM):
        _check_tied_decoder(hf_state, source)
    state, unexpected = from_hf(hf_state)
    report = LoadReport(unexpected=unexpected)
    expected = model.state_dict()
    for name in list(state):
        if name not in expected:
            report.unexpected.append(name)
            del state[name]
    extra_layers = [name for name in report.unexpected if name.startswith("bert.encoder.layers.")]
    if extra_layers:
        held = 1 + max(int(name.split(".")[3]) for name in extra_layers)
        raise CheckpointError(
            f"{source}: config.json says num_hidden_layers={model.config.num_hidden_layers} but "
            f"the weights hold at least {held} layers; the config does not match the weights"
        )
    head_prefixes = tuple(f"{head}." for head in model.head_modules()) + tuple(
        head for head in model.head_modules()
    )
    for name, tensor in list(state.items()):
        if tensor.shape == expected[name].shape:
            continue
        shown = (hf_name(name), _shown_shape(name, tensor), _shown_shape(name, expected[name]))
        if name.startswith(head_prefixes):
            logger.warning(
                "%s: head weight %s has shape %s, the model needs %s (another label set?): "
                "it is initialised anew",
                source,
                *shown,
            )
            report.reshaped_heads.append(shown)
            del state[name]
            continue
        raise CheckpointError(
            f"{source}: weight {shown[0]} has shape {shown[1]} but config.json implies "
            f"{shown[2]}; the config does not match the weights"
        )
    missing = [name for name in expected if name not in state]
    missing_heads = sorted({name.split(".")[0] for name in missing if not name.startswith("bert.")})
    if any(name.startswith(POOLER_PREFIX) for name in missing):
        missing_heads.insert(0, "pooler")
    missing_encoder = [
        name for name in missing if name.startswith("bert.") and not name.startswith(POOLER_PREFIX)
    ]
    if missing_encoder and not allow_missing:
        shown = ", ".join(hf_name(name) for name in missing_encoder[:5]) + (
            " ..." if len(missing_encoder) > 5 else ""
        )
        raise CheckpointError(
            f"{source} lacks {len(missing_encoder)} encoder weight(s): {shown}; this is not a "
            "complete BERT checkpoint; check that the download or copy finished (in Python, "
            "allow_missing=True initialises the missing weights randomly)"
        )
    model.load_state_dict(
        {name: tensor.to(expected[name].dtype) for name, tensor in state.items()}, strict=False
    )
    report.missing_encoder = missing_encoder
    report.initialised_heads = missing_heads
    head_level = logging.INFO if new_heads_expected else logging.WARNING
    for head in missing_heads:
        model.init_weights(model.bert.pooler if head == "pooler" else getattr(model, head))
        logger.log(
            head_level,
            "%s has no trained %s: it is initialised randomly; "
            + ("fine-tuning trains it" if new_heads_expected else "train it before use"),
            source,
            head,
        )
    if report.unexpected:
        logger.info(
            "%s: ignored %d weight(s) this model has no place for: %s",
            source,
            len(report.unexpected),
            ", ".join(report.unexpected[:8]),
        )
    return report


def _shown_shape(name: str, tensor: torch.Tensor) -> tuple[int, ...]:
    """A weight's shape as the checkpoint holds it: one third of the fused query/key/value."""
    shape = tuple(tensor.shape)
    if ".attention.qkv." in name:
        return (shape[0] // 3, *shape[1:])
    return shape


def _check_tied_decoder(hf_state: dict[str, torch.Tensor], source: str) -> None:
    """bertkit ties the masked-LM decoder to the word embeddings; refuse an untied one."""
    decoder = hf_state.get("cls.predictions.decoder.weight")
    if decoder is None:
        return
    for name in ("bert.embeddings.word_embeddings.weight", "embeddings.word_embeddings.weight"):
        embedding = hf_state.get(name)
        if embedding is not None and not torch.equal(decoder, embedding):
            raise CheckpointError(
                f"{source}: the masked-LM decoder is not tied to the word embeddings "
                "(tie_word_embeddings false); bertkit's masked-LM head always ties them"
            )


def save_model(
    model: BertPreTrainedModel,
    folder: str | os.PathLike,
    tokenizer=None,
    state_dict: dict[str, torch.Tensor] | None = None,
) -> Path:
    """Write `model` (and `tokenizer`, if given) as a Hugging Face format folder, atomically.

    `state_dict` replaces the model's own weights; the trainer passes the full state it gathered,
    which under FSDP the live (sharded) model does not hold.
    """
    folder = Path(folder)
    with atomic_write_dir(folder) as tmp:
        write_model_files(model, tmp, tokenizer, state_dict)
    logger.info("saved %s to %s", type(model).__name__, folder)
    return folder


def write_model_files(
    model: BertPreTrainedModel,
    folder: Path,
    tokenizer=None,
    state_dict: dict[str, torch.Tensor] | None = None,
) -> None:
    """config.json, model.safetensors and the tokenizer files, into an existing folder."""
    class_name = type(model).__name__
    if class_name not in HF_ARCHITECTURES:
        raise CheckpointError(f"cannot save a {class_name}: not a bertkit task model")
    state = model.state_dict() if state_dict is None else state_dict
    state = {name: tensor.detach().cpu() for name, tensor in state.items()}
    hf_state = to_hf(state, with_prefix=not isinstance(model, BertEncoderModel))
    config_data = model.config.to_dict()
    config_data["architectures"] = [HF_ARCHITECTURES[class_name]]
    (folder / "config.json").write_text(json.dumps(config_data, indent=2) + "\n", encoding="utf-8")
    save_file(hf_state, str(folder / WEIGHTS_NAME), metadata={"format": "pt"})
    if tokenizer is not None:
        tokenizer.save(folder)


def read_model_state(folder: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A model folder's weights under bertkit's names; weights bertkit has no place for are an
    error, since a checkpoint that bertkit wrote never holds any."""
    state, unexpected = from_hf(read_state_dict(folder))
    if unexpected:
        shown = ", ".join(unexpected[:5])
        raise CheckpointError(f"{folder} holds weights bertkit does not know: {shown}")
    return state


def trainer_model_io(tokenizer):
    """The Trainer's (save_model_fn, load_model_fn) pair: each checkpoint's model/ folder is a
    complete Hugging Face folder, tokenizer included, that `load_model` reads directly."""

    def save(model: BertPreTrainedModel, folder: Path, state_dict: dict[str, torch.Tensor]) -> None:
        write_model_files(model, folder, tokenizer, state_dict)

    def load(model: BertPreTrainedModel, folder: Path) -> dict[str, torch.Tensor]:
        return read_model_state(folder)

    return save, load
