"""One MLM pretraining run: corpus -> tokenizer -> cached packed sequences -> model -> Trainer.

Launch recipes:

    bertkit pretrain --corpus data/ --preset mini --max-time 10m --output-dir runs/mini
    bertkit pretrain ... --resume                                  # continue after a stop
    torchrun --nproc_per_node 2 -m bertkit pretrain ... --batch-size 16   # DDP, 2 processes

Without `--tokenizer` or `--init-from`, a WordPiece vocabulary is learnt from the corpus and
saved in `<output_dir>/tokenizer` (reused on resume). Every checkpoint's `model/` folder, and
`<output_dir>/model` at the end, is a complete Hugging Face BertForMaskedLM folder.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import logging
import math
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file
from torch.utils.data import Dataset

from bertkit.checkpoint import read_state_dict
from bertkit.config import SHAPE_FIELDS
from bertkit.errors import ConfigError, InputError
from bertkit.hub import cache_dir
from bertkit.io_utils import atomic_write_dir, atomic_write_file, check_output_folder
from bertkit.model.heads import IGNORE_INDEX, BertForMaskedLM
from bertkit.pretrained import load_pretrained
from bertkit.pretraining.cache import PackedCorpus, load_or_build, split_train_eval
from bertkit.pretraining.corpus import resolve_corpus
from bertkit.pretraining.default_corpus import default_corpus
from bertkit.pretraining.masking import MaskingCollator, MaskingConfig
from bertkit.pretraining.presets import preset_config
from bertkit.tokenization import Tokenizer
from bertkit.training import (
    Trainer,
    TrainingConfig,
    TrainResult,
    check_run_folder,
    example_seed,
    seed_everything,
)
from bertkit.training.checkpoint import latest_checkpoint
from bertkit.vocab import train_vocabulary
from bertkit.weight_names import HF_ARCHITECTURES, from_hf, to_hf

logger = logging.getLogger(__name__)

TOKENIZER_DIR = "tokenizer"
FINAL_MODEL_DIR = "model"
EVAL_SEED_OFFSET = 1_000_003  # eval masks come from their own seed stream, fixed for the run


@dataclass
class PretrainOptions:
    """What to pretrain on and which model; the loop itself is set by TrainingConfig."""

    corpus: list[str] = field(default_factory=list)  # files/folders; empty: default corpus
    tokenizer: str | None = None  # tokenizer folder; None: learn one (or use init_from's)
    init_from: str | None = None  # continue pretraining this model folder (bertkit or HF)
    preset: str = "mini"  # model size for a model trained from scratch
    model_overrides: dict[str, Any] = field(default_factory=dict)  # BertConfig fields
    vocab_size: int = 16384  # size of a vocabulary learnt from the corpus
    lowercase: bool = True  # uncased (True) or cased vocabulary, when one is learnt
    max_seq_length: int = 128  # packed sequence length, [CLS] and [SEP] included
    masking: MaskingConfig = field(default_factory=MaskingConfig)
    eval_fraction: float = 0.01  # share of sequences held out for evaluation
    max_eval_sequences: int = 1000  # cap on the held-out set
    cache_root: str | None = None  # token cache location; default: the bertkit cache


class SequenceDataset(Dataset):
    """Map-style view of some rows of a PackedCorpus, as {"input_ids": (T,) int64 tensor}."""

    def __init__(self, corpus: PackedCorpus, indices: np.ndarray):
        self.corpus = corpus
        self.indices = indices

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"input_ids": torch.from_numpy(self.corpus.sequence(int(self.indices[index])))}


def run_pretraining(options: PretrainOptions, config: TrainingConfig) -> TrainResult:
    """Prepare everything for `options` and train with `config`; returns the trainer's
    result. Raises InputError/ConfigError before writing anything when the input is unusable."""
    config.validate()
    options.masking.validate()
    output_dir = Path(config.output_dir)
    check_run_folder(output_dir)
    # Refused now, not after hours of training: the final model replaces this folder.
    check_output_folder(output_dir / FINAL_MODEL_DIR)
    files = resolve_corpus(options.corpus) if options.corpus else [default_corpus()]
    model, tokenizer, new_tokenizer = _model_and_tokenizer(options, config, output_dir, files)

    cache_root = Path(options.cache_root) if options.cache_root else cache_dir()
    corpus = load_or_build(files, tokenizer, options.max_seq_length, cache_root)
    train_indices, eval_indices = split_train_eval(
        len(corpus), options.eval_fraction, options.max_eval_sequences, seed=config.seed
    )
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    global_batch = config.batch_size * world_size
    if len(train_indices) < global_batch:
        raise InputError(
            f"the corpus packs into {len(corpus)} sequences of {options.max_seq_length} tokens "
            f"({len(train_indices)} for training), fewer than one batch of {global_batch}; "
            "give more text or a smaller --batch-size"
        )
    logger.info(
        "%d training and %d held-out sequences, %d tokens in all",
        len(train_indices),
        len(eval_indices),
        corpus.num_tokens,
    )
    _check_run_settings(
        output_dir, config.resume, _run_settings(options, model, corpus, config.seed)
    )
    if new_tokenizer and _is_main_process():
        with atomic_write_dir(output_dir / TOKENIZER_DIR) as tmp:
            tokenizer.save(tmp)

    collator = MaskingCollator(tokenizer, options.masking)
    eval_set = SequenceDataset(corpus, eval_indices)
    trainer = Trainer(
        model,
        config,
        SequenceDataset(corpus, train_indices),
        collate_fn=collator,
        evaluate_fn=(
            _make_evaluate_fn(eval_set, collator, config.batch_size, config.seed)
            if len(eval_set)
            else None
        ),
        save_model_fn=_model_writer(tokenizer),
        load_model_fn=_read_model_state,
    )
    result = trainer.train()
    if _is_main_process():
        _publish_final_model(output_dir)
    return result


def _model_and_tokenizer(
    options: PretrainOptions, config: TrainingConfig, output_dir: Path, files: list[Path]
) -> tuple[BertForMaskedLM, Tokenizer, bool]:
    """The model to train, its tokenizer, and whether the tokenizer is new (to be saved)."""
    if options.init_from:
        if options.tokenizer:
            raise ConfigError("--init-from brings its own tokenizer; do not also give --tokenizer")
        model, tokenizer, report = load_pretrained(options.init_from, "masked-lm")
        if report.initialised_heads:
            logger.warning("%s has no MLM head: a new one is trained", options.init_from)
        _check_positions(model.config.max_position_embeddings, options.max_seq_length)
        model.train()
        return model, tokenizer, False  # type: ignore[return-value]

    new_tokenizer = False
    if options.tokenizer:
        tokenizer = Tokenizer.from_pretrained(options.tokenizer)
    elif (output_dir / TOKENIZER_DIR).is_dir():
        tokenizer = Tokenizer.from_pretrained(output_dir / TOKENIZER_DIR)
        logger.info("using the vocabulary learnt earlier in %s", output_dir / TOKENIZER_DIR)
    else:
        with _file_lock(output_dir.parent / f".{output_dir.name}.vocab.lock"):
            if (output_dir / TOKENIZER_DIR).is_dir():
                tokenizer = Tokenizer.from_pretrained(output_dir / TOKENIZER_DIR)
            else:
                logger.info("learning a %d-token WordPiece vocabulary", options.vocab_size)
                from bertkit.pretraining.corpus import iter_text

                tokenizer = train_vocabulary(
                    iter_text(files), options.vocab_size, lowercase=options.lowercase
                )
                new_tokenizer = True
    overrides = dict(options.model_overrides)
    overrides.setdefault("max_position_embeddings", max(512, options.max_seq_length))
    model_config = preset_config(options.preset, tokenizer.vocab_size, **overrides)
    _check_positions(model_config.max_position_embeddings, options.max_seq_length)
    seed_everything(config.seed)  # the same initial weights on every rank and every run
    return BertForMaskedLM(model_config), tokenizer, new_tokenizer


def _run_settings(
    options: PretrainOptions, model: BertForMaskedLM, corpus, seed: int
) -> dict[str, Any]:
    """What a resumed run must share with the run it continues: the data (the packed corpus,
    whose cache key covers files, vocabulary and length), the held-out split, the masking and
    the model's shape. Training-loop options (steps, time, learning rate) may change."""
    model_config = model.config.to_dict()
    return {
        "data (corpus files, vocabulary, --max-seq-length)": corpus.folder.name,
        "--max-seq-length": options.max_seq_length,
        "--eval-fraction": options.eval_fraction,
        "--max-eval-sequences": options.max_eval_sequences,
        "--seed": seed,  # chooses the held-out blocks and the data order
        "masking": dataclasses.asdict(options.masking),
        **{f"model {name}": model_config.get(name) for name in SHAPE_FIELDS},
    }


SETTINGS_FILE = "pretrain_settings.json"


def _check_run_settings(output_dir: Path, resume: bool, settings: dict[str, Any]) -> None:
    """On --resume, refuse settings that differ from the run's own (its data position, held-out
    set and weights would no longer mean anything); on a new run, record them."""
    path = output_dir / SETTINGS_FILE
    settings = json.loads(json.dumps(settings))  # as they read back: tuples become lists
    recorded = None
    if path.is_file():
        try:
            recorded = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            recorded = None
        if not isinstance(recorded, dict) or "--max-seq-length" not in recorded:
            raise InputError(
                f"{path} was not written by bertkit and a run would overwrite it; move it or "
                "choose another --output-dir"
            )
    if resume and recorded is not None:
        changed = [
            f"{name} {json.dumps(settings[name])} (the run has {json.dumps(recorded[name])})"
            for name in settings
            if name in recorded and recorded[name] != settings[name]
        ]
        if changed:
            raise InputError(
                f"--resume of {output_dir} with other settings than it was started with: "
                + "; ".join(changed)
                + ". Resume with the run's settings, or start a new --output-dir (use "
                "--init-from to continue from its model on new data or a new shape)"
            )
        return
    if _is_main_process() and not latest_checkpoint(output_dir):
        with atomic_write_file(path, encoding="utf-8") as handle:
            json.dump(settings, handle, indent=1)


def _check_positions(max_positions: int, max_seq_length: int) -> None:
    if max_seq_length > max_positions:
        raise ConfigError(
            f"max_seq_length {max_seq_length} exceeds the model's {max_positions} positions"
        )


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock, so that concurrent ranks learn the vocabulary one at a time. The
    lock file is removed afterwards (a rank still waiting holds the inode open, and learning
    the vocabulary is deterministic, so a rank arriving later may simply take a new lock)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            path.unlink(missing_ok=True)
            fcntl.flock(handle, fcntl.LOCK_UN)


def _is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


# ----------------------------------------------------------------------------- evaluation


def _make_evaluate_fn(
    eval_set: SequenceDataset, collator: MaskingCollator, batch_size: int, seed: int
):
    """Held-out MLM loss, perplexity and masked-token accuracy, with masks fixed for the run
    (so successive evaluations are comparable); ranks split the set and add up."""

    def evaluate(model: BertForMaskedLM) -> dict[str, float]:
        rank, world = _rank_and_world()
        device = next(model.parameters()).device
        totals = torch.zeros(3, dtype=torch.float64, device=device)  # loss sum, correct, items
        positions = list(range(rank, len(eval_set), world))
        for start in range(0, len(positions), batch_size):
            examples = []
            for index in positions[start : start + batch_size]:
                example = dict(eval_set[index])
                example["example_seed"] = example_seed(seed + EVAL_SEED_OFFSET, 0, index)
                examples.append(example)
            batch = {key: value.to(device) for key, value in collator(examples).items()}
            output = model(**batch)
            targets = batch["labels"][batch["labels"] != IGNORE_INDEX]
            items = targets.numel()
            if items:
                totals[0] += output.loss.double() * items
                totals[1] += (output.logits.argmax(-1) == targets).sum().double()
                totals[2] += items
        if world > 1:
            torch.distributed.all_reduce(totals)
        loss_sum, correct, items = totals.tolist()
        loss = loss_sum / max(items, 1.0)
        return {
            "loss": loss,
            "perplexity": math.exp(min(loss, 50.0)),
            "accuracy": correct / max(items, 1.0),
        }

    return evaluate


def _rank_and_world() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


# ---------------------------------------------------------------------- checkpoint folders


def _model_writer(tokenizer: Tokenizer):
    """save_model_fn for the trainer: a complete Hugging Face folder from the full state."""

    def write(model: BertForMaskedLM, folder: Path, state_dict: dict[str, torch.Tensor]) -> None:
        import json

        state = {name: tensor.detach().cpu().contiguous() for name, tensor in state_dict.items()}
        config_data = model.config.to_dict()
        config_data["architectures"] = [HF_ARCHITECTURES[type(model).__name__]]
        (folder / "config.json").write_text(json.dumps(config_data, indent=2) + "\n")
        save_file(
            to_hf(state, with_prefix=True),
            str(folder / "model.safetensors"),
            metadata={"format": "pt"},
        )
        tokenizer.save(folder)

    return write


def _read_model_state(model: BertForMaskedLM, folder: Path) -> dict[str, torch.Tensor]:
    state, unexpected = from_hf(read_state_dict(folder))
    if unexpected:
        raise InputError(f"{folder} holds weights this model lacks: {', '.join(unexpected[:5])}")
    return state


def _publish_final_model(output_dir: Path) -> None:
    """Copy the newest checkpoint's model folder to `<output_dir>/model`, atomically."""
    latest = latest_checkpoint(output_dir)
    if latest is None:
        return
    with atomic_write_dir(output_dir / FINAL_MODEL_DIR) as tmp:
        shutil.copytree(latest / "model", tmp, dirs_exist_ok=True)
    logger.info("final model in %s", output_dir / FINAL_MODEL_DIR)
