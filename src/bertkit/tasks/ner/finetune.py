"""Fine-tuning a pretrained BERT for NER with the shared Trainer (Python API of the task).

    from bertkit.training import check_finetune_folders, TrainingConfig
    from bertkit.tasks.ner import finetune_ner
    result = finetune_ner("minilm", "train.conll", "dev.conll",
                          TrainingConfig(output_dir="runs/ner", num_epochs=3))
    result.model_dir  # runs/ner/model: a complete HF folder, ready for EntityTagger

With a dev set the model is evaluated once per epoch (or every `eval_every` steps); the
checkpoint with the best entity-level F1 is kept and becomes `output_dir/model`, and training
stops early when F1 has not improved for `early_stopping_patience` evaluations.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from torch import nn

from bertkit.checkpoint import trainer_model_io
from bertkit.errors import InputError
from bertkit.pretrained import load_pretrained
from bertkit.tasks.ner.alignment import DEFAULT_OVERLAP, Collator, FeatureDataset, build_features
from bertkit.tasks.ner.data import Sentence, check_tags, label_set, read_ner_file
from bertkit.tasks.ner.dataset import resolve_data
from bertkit.tasks.ner.metrics import SCHEMES, NerReport
from bertkit.tasks.ner.predict import SETTINGS_KEY, TASK_NAME
from bertkit.tasks.ner.tagging import evaluate_sentences
from bertkit.training import Trainer, TrainingConfig, TrainResult, check_finetune_folders

logger = logging.getLogger(__name__)

MODEL_SUBDIR = "model"  # output_dir/model: the fine-tuned model users load


@dataclass
class NerFinetuneResult:
    model_dir: Path  # the best (or, without a dev set, the last) model
    labels: list[str]
    train: TrainResult
    dev_report: NerReport | None  # scores of model_dir on the dev set


def _sentences(data: str | os.PathLike | Sequence[Sentence]) -> list[Sentence]:
    if isinstance(data, (str, os.PathLike)):
        return read_ner_file(resolve_data(data))
    return list(data)


def finetune_ner(
    model_name: str | os.PathLike,
    train_data: str | os.PathLike | Sequence[Sentence],
    dev_data: str | os.PathLike | Sequence[Sentence] | None,
    config: TrainingConfig,
    *,
    max_length: int = 128,
    overlap: int = DEFAULT_OVERLAP,
    scheme: str = "bio",
    eval_batch_size: int = 64,
    out: str | os.PathLike | None = None,
) -> NerFinetuneResult:
    """Fine-tune `model_name` (a folder or a known name such as "minilm") on labelled data;
    the model is written to `out` (default: `config.output_dir`/model)."""
    model_dir = Path(out) if out is not None else Path(config.output_dir) / MODEL_SUBDIR
    check_finetune_folders(model_dir, config.output_dir)  # before the long work
    if scheme not in SCHEMES:
        raise InputError(f"tag scheme must be one of {', '.join(SCHEMES)}, got {scheme!r}")
    train = _sentences(train_data)
    dev = _sentences(dev_data) if dev_data is not None else None
    labels = label_set(train + (dev or []))
    if len(labels) < 2:
        raise InputError("the training data has no entity tags (only O); nothing to learn")
    _warn_unseen_types(train, dev or [])

    # --seed decides the new classifier's init too, without disturbing the caller's RNG state.
    model, tokenizer, _ = load_pretrained(
        model_name,
        "token-classification",
        labels=labels,
        new_heads_expected=True,
        seed=config.seed,
    )
    max_length = min(max_length, model.config.max_position_embeddings)
    model.config.extra["bertkit_task"] = TASK_NAME
    model.config.extra[SETTINGS_KEY] = {"max_length": max_length, "scheme": scheme}

    label_ids = {label: index for index, label in enumerate(labels)}
    features = build_features(
        tokenizer,
        [sentence.words for sentence in train],
        max_length,
        [[label_ids[tag] for tag in sentence.tags] for sentence in train],
        overlap,
    )
    logger.info(
        "%d training sentences -> %d windows of at most %d tokens; %d labels",
        len(train),
        len(features),
        max_length,
        len(labels),
    )
    config = _with_eval_defaults(config, len(features), has_dev=dev is not None)

    def evaluate(model_to_score: nn.Module) -> dict[str, float]:
        report, loss = evaluate_sentences(
            model_to_score,
            tokenizer,
            dev,
            max_length=max_length,
            scheme=scheme,
            overlap=overlap,
            batch_size=eval_batch_size,
        )
        metrics = report.metrics()
        if loss is not None:
            metrics["loss"] = loss
        return metrics

    save_model_fn, load_model_fn = trainer_model_io(tokenizer)
    trainer = Trainer(
        model,
        config,
        FeatureDataset(features),
        collate_fn=Collator(tokenizer.pad_token_id),
        evaluate_fn=evaluate if dev is not None else None,
        save_model_fn=save_model_fn,
        load_model_fn=load_model_fn,
    )
    result = trainer.train()

    if int(os.environ.get("RANK", "0")) != 0:
        return NerFinetuneResult(model_dir, labels, result, None)
    result.publish_model(model_dir)
    dev_report = None
    if dev is not None:
        best, best_tokenizer, _ = load_pretrained(model_dir, "token-classification")
        best.to(next(model.parameters()).device)
        dev_report, _ = evaluate_sentences(
            best,
            best_tokenizer,
            dev,
            max_length=max_length,
            scheme=scheme,
            overlap=overlap,
            batch_size=eval_batch_size,
        )
    return NerFinetuneResult(model_dir, labels, result, dev_report)


def _warn_unseen_types(train: list[Sentence], dev: list[Sentence]) -> None:
    check_tags(dev)
    seen = set(label_set(train))
    unseen = sorted({tag for sentence in dev for tag in sentence.tags} - seen)
    if unseen:
        logger.warning(
            "the dev data has tags the training data lacks (%s): the model cannot learn them",
            ", ".join(unseen),
        )


def _with_eval_defaults(config: TrainingConfig, num_features: int, has_dev: bool) -> TrainingConfig:
    """With a dev set: evaluate once per epoch unless told otherwise, and pick the best
    checkpoint by entity F1."""
    if not has_dev:
        if config.early_stopping_patience is not None:
            raise InputError("early stopping needs a dev set (--dev)")
        return replace(config, metric_for_best=None)
    eval_every = config.eval_every
    if not eval_every:
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        global_batch = config.batch_size * config.grad_accumulation_steps * world_size
        eval_every = max(1, math.ceil(num_features / global_batch))
    metric = config.metric_for_best or "f1"
    greater = config.greater_is_better if config.metric_for_best else True
    if metric.removeprefix("eval_") == "loss":
        greater = False
    return replace(config, eval_every=eval_every, metric_for_best=metric, greater_is_better=greater)
