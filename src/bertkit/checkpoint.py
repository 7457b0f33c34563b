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
from bertkit.model.heads import TASK_MODELS, BertEncoderModel, BertPreTrainedModel
from bertkit.weight_names import HF_ARCHITECTURES, from_hf, to_hf

logger = logging.getLogger(__name__)

WEIGHTS_NAME = "model.safetensors"
WEIGHTS_INDEX_NAME = "model.safetensors.index.json"
LEGACY_WEIGHTS_NAME = "pytorch_model.bin"


@dataclass
class LoadReport:
    """What loading a checkpoint into a model did besides copying matching weights."""

    initialised_heads: list[str] = field(default_factory=list)  # new, untrained head modules
    unexpected: list[str] = field(default_factory=list)  # checkpoint weights the model lacks
    missing_encoder: list[str] = field(default_factory=list)  # only with allow_missing=True


def read_state_dict(folder: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read the weights of a model folder, whichever of the supported formats it holds."""
    folder = Path(folder)
    single, index, legacy = folder / WEIGHTS_NAME, folder / WEIGHTS_INDEX_NAME, folder / LEGACY_WEIGHTS_NAME
    if single.is_file():
        return _load_safetensors(single)
    if index.is_file():
        try:
            shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise CheckpointError(f"{index} is not a valid safetensors index: {error}") from None
        state: dict[str, torch.Tensor] = {}
        for shard in shards:
            state.update(_load_safetensors(folder / shard))
        return state
    if legacy.is_file():
        try:
            return torch.load(legacy, map_location="cpu", weights_only=True)
        except Exception as error:  # noqa: BLE001 - any failure means an unusable file
            raise CheckpointError(
                f"{legacy} could not be read as plain tensors ({error}); bertkit never unpickles "
                "arbitrary objects: convert the checkpoint to model.safetensors"
            ) from None
    raise CheckpointError(
        f"{folder} holds no weights: expected {WEIGHTS_NAME}, {WEIGHTS_INDEX_NAME} or "
        f"{LEGACY_WEIGHTS_NAME}"
    )


def _load_safetensors(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise CheckpointError(f"weight file {path} is missing")
    try:
        return load_file(path)
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(
            f"{path} is not a valid safetensors file ({error}); it may be truncated or "
            "corrupt: download or save the checkpoint again"
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
) -> tuple[BertPreTrainedModel, LoadReport]:
    """Build the model for `task` and fill it from the checkpoint in `folder`.

    `labels` sets a new label set for a classification head; a head absent from the
    checkpoint, or shaped for another label set, is initialised and listed in the report.
    A missing encoder weight is an error unless `allow_missing` is set.
    """
    model_class = TASK_MODELS[task] if isinstance(task, str) else task
    config = config or load_config(folder)
    if labels is not None:
        config = config.with_labels(labels)
    state = read_state_dict(folder)
    model = model_class(config)
    report = load_state_into(model, state, allow_missing=allow_missing, source=str(folder))
    return model, report


def load_state_into(
    model: BertPreTrainedModel,
    hf_state: dict[str, torch.Tensor],
    *,
    allow_missing: bool = False,
    source: str = "checkpoint",
) -> LoadReport:
    """Copy a Hugging Face-named state dict into `model`, reporting what did not fit."""
    state, unexpected = from_hf(hf_state)
    report = LoadReport(unexpected=unexpected)
    expected = model.state_dict()
    for name in list(state):
        if name not in expected:
            report.unexpected.append(name)
            del state[name]
    head_prefixes = tuple(f"{head}." for head in model.head_modules()) + tuple(
        head for head in model.head_modules()
    )
    for name, tensor in list(state.items()):
        if tensor.shape == expected[name].shape:
            continue
        if name.startswith(head_prefixes):
            logger.warning(
                "%s: head weight %s has shape %s, the model needs %s (another label set?): "
                "it is initialised anew",
                source, name, tuple(tensor.shape), tuple(expected[name].shape),
            )
            del state[name]
            continue
        raise CheckpointError(
            f"{source}: weight {name} has shape {tuple(tensor.shape)} but config.json implies "
            f"{tuple(expected[name].shape)}; the config does not match the weights"
        )
    missing = [name for name in expected if name not in state]
    missing_heads = sorted({name.split(".")[0] for name in missing if not name.startswith("bert.")})
    missing_encoder = [name for name in missing if name.startswith("bert.")]
    if missing_encoder and not allow_missing:
        shown = ", ".join(missing_encoder[:5]) + (" ..." if len(missing_encoder) > 5 else "")
        raise CheckpointError(
            f"{source} lacks {len(missing_encoder)} encoder weight(s): {shown}; this is not a "
            "complete BERT checkpoint (pass allow_missing=True to initialise them randomly)"
        )
    model.load_state_dict(
        {name: tensor.to(expected[name].dtype) for name, tensor in state.items()}, strict=False
    )
    report.missing_encoder = missing_encoder
    report.initialised_heads = missing_heads
    for head in missing_heads:
        model.init_weights(getattr(model, head))
        logger.warning("%s has no trained %s: it is initialised randomly; train it before use", source, head)
    if report.unexpected:
        logger.info("%s: ignored %d weight(s) this model has no place for: %s", source,
                    len(report.unexpected), ", ".join(report.unexpected[:8]))
    return report


def save_model(model: BertPreTrainedModel, folder: str | os.PathLike, tokenizer=None) -> Path:
    """Write `model` (and `tokenizer`, if given) as a Hugging Face format folder, atomically."""
    folder = Path(folder)
    class_name = type(model).__name__
    if class_name not in HF_ARCHITECTURES:
        raise CheckpointError(f"cannot save a {class_name}: not a bertkit task model")
    is_bare_encoder = isinstance(model, BertEncoderModel)
    state = {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()}
    hf_state = to_hf(state, with_prefix=not is_bare_encoder)
    with atomic_write_dir(folder) as tmp:
        config_data = model.config.to_dict()
        config_data["architectures"] = [HF_ARCHITECTURES[class_name]]
        (tmp / "config.json").write_text(json.dumps(config_data, indent=2) + "\n", encoding="utf-8")
        save_file(hf_state, str(tmp / WEIGHTS_NAME), metadata={"format": "pt"})
        if tokenizer is not None:
            tokenizer.save(tmp)
    logger.info("saved %s to %s", class_name, folder)
    return folder
