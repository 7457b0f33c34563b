"""Fine-tune a pretrained BERT for text (or text-pair) classification with the shared Trainer.

The training file fixes the label set (id2label / label2id go into config.json); the eval file
picks the best checkpoint and drives early stopping. Each batch is padded to its longest row,
and by default the Trainer groups rows of similar token count into batches (reshuffled every
epoch), which removes most padding work on short texts. The finished model folder is a
complete Hugging Face folder that `transformers.BertForSequenceClassification.from_pretrained`
loads as is.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from bertkit.checkpoint import trainer_model_io
from bertkit.errors import InputError
from bertkit.inference import autocast_context, length_sorted_batches
from bertkit.io_utils import add_output_file
from bertkit.model.heads import BertForSequenceClassification
from bertkit.pretrained import load_pretrained
from bertkit.tasks.classification.data import (
    EncodedExamples,
    LabelledData,
    balanced_class_weights,
    collate,
    label_ids,
    label_set,
    load_labelled,
)
from bertkit.tasks.classification.evaluate import classification_report
from bertkit.training import Trainer, TrainingConfig, TrainResult, check_finetune_folders

logger = logging.getLogger(__name__)

TASK_NAME = "classify"
EVAL_RESULTS_FILE = "eval_results.json"


@dataclass
class ClassificationOptions:
    """How to read the files and shape the inputs; the Trainer's settings live apart."""

    text_column: str = "text"  # column (CSV/TSV header or JSON key) holding the text
    pair_column: str | None = None  # second text of a sentence pair, if any
    label_column: str = "label"  # class name or integer id
    file_format: str | None = None  # csv, tsv or jsonl; None: from the file extension
    max_length: int = 128  # tokens per row (pairs included) after truncation
    class_weights: str = "none"  # "none", "balanced", or comma-separated weights in label order
    length_grouping: bool = True  # batch rows of similar length (less padding), not random
    max_train_rows: int | None = None  # use a seeded random subset of the training rows


@dataclass
class FinetuneResult:
    """Where the model went and how it scored."""

    model_dir: Path
    labels: list[str]
    eval_report: dict[str, Any] | None  # classification_report of the saved model, if eval data
    train_result: TrainResult
    skipped_rows: dict[str, int]  # rows with empty text skipped, per file


def finetune(
    model_name: str,
    train_file: str,
    out: str | Path,
    training: TrainingConfig,
    options: ClassificationOptions | None = None,
    eval_file: str | None = None,
) -> FinetuneResult:
    """Fine-tune `model_name` (folder or known name) on `train_file`; save the model to `out`."""
    check_finetune_folders(out, training.output_dir)  # before the long work
    options = options or ClassificationOptions()
    read = dict(
        text_column=options.text_column,
        pair_column=options.pair_column,
        label_column=options.label_column,
        file_format=options.file_format,
    )
    train_data = _subset(load_labelled(train_file, **read), options.max_train_rows, training.seed)
    labels = label_set(train_data)
    label2id = {label: index for index, label in enumerate(labels)}
    train_ids = label_ids(train_data, label2id)
    eval_data = load_labelled(eval_file, **read) if eval_file else None
    eval_ids = label_ids(eval_data, label2id) if eval_data is not None else None

    model, tokenizer, _ = load_pretrained(
        model_name,
        "sequence-classification",
        labels=labels,
        new_heads_expected=True,
        seed=training.seed,
    )
    model.config.extra["bertkit_task"] = TASK_NAME
    max_length = min(options.max_length, model.config.max_position_embeddings)
    model.class_weights = _class_weights(options.class_weights, train_ids, labels)
    logger.info(
        "fine-tuning on %d rows, %d classes (%s), max length %d",
        len(train_data),
        len(labels),
        ", ".join(labels),
        max_length,
    )

    dataset = EncodedExamples(tokenizer, train_data, train_ids, max_length)
    trainer_config = training
    eval_examples = None
    if eval_data is not None:
        eval_examples = EncodedExamples(tokenizer, eval_data, eval_ids, max_length)
        if not trainer_config.eval_every:  # once per epoch unless --eval-every says otherwise
            trainer_config = dataclasses.replace(trainer_config, eval_each_epoch=True)

    save_model_fn, load_model_fn = trainer_model_io(tokenizer)
    trainer = Trainer(
        model,
        trainer_config,
        dataset,
        collate_fn=lambda items: collate(items, tokenizer.pad_token_id),
        evaluate_fn=(
            (lambda m: evaluate_examples(m, eval_examples, tokenizer.pad_token_id, labels))
            if eval_examples is not None
            else None
        ),
        save_model_fn=save_model_fn,
        load_model_fn=load_model_fn,
        # Token counts: the Trainer batches rows of similar length (less padding).
        example_lengths=dataset.lengths() if options.length_grouping else None,
    )
    result = trainer.train()

    out = result.publish_model(out)
    report = None
    if eval_data is not None:
        best, best_tokenizer, _ = load_pretrained(out, "sequence-classification")
        report = evaluate_examples(
            best,
            EncodedExamples(best_tokenizer, eval_data, eval_ids, max_length),
            best_tokenizer.pad_token_id,
            labels,
            full_report=True,
        )
        with add_output_file(out, EVAL_RESULTS_FILE) as handle:
            json.dump(dict(report, eval_file=str(eval_file)), handle, indent=1)
    skipped = {train_file: len(train_data.skipped_lines)}
    if eval_data is not None:
        skipped[eval_file] = len(eval_data.skipped_lines)
    return FinetuneResult(out, labels, report, result, skipped)


def _subset(data: LabelledData, rows: int | None, seed: int) -> LabelledData:
    """A seeded random `rows`-row subset (file order kept), or `data` itself."""
    if rows is None or rows >= len(data):
        return data
    if rows < 2:
        raise InputError(f"max_train_rows must be at least 2, got {rows}")
    keep = sorted(random.Random(seed).sample(range(len(data)), rows))
    pick = lambda values: [values[i] for i in keep]  # noqa: E731
    return dataclasses.replace(
        data,
        texts=pick(data.texts),
        pairs=pick(data.pairs) if data.pairs is not None else None,
        labels=pick(data.labels),
        lines=pick(data.lines),
    )


def _class_weights(spec: str, ids: list[int], labels: list[str]) -> torch.Tensor | None:
    """None, "balanced" (inverse class frequency) or explicit comma-separated weights."""
    if spec in ("none", "", None):
        return None
    if spec == "balanced":
        weights = balanced_class_weights(ids, len(labels))
    else:
        try:
            weights = torch.tensor([float(part) for part in spec.split(",")])
        except ValueError:
            raise InputError(
                f"class weights {spec!r}: use none, balanced, or one number per class"
            ) from None
        if len(weights) != len(labels) or (weights <= 0).any():
            raise InputError(
                f"class weights {spec!r}: give {len(labels)} positive numbers, one per class "
                f"in the order {', '.join(labels)}"
            )
    logger.info(
        "class weights: %s", dict(zip(labels, [round(w, 4) for w in weights.tolist()], strict=True))
    )
    return weights


def evaluate_examples(
    model: BertForSequenceClassification,
    examples: EncodedExamples,
    pad_token_id: int,
    labels: list[str],
    *,
    batch_size: int = 64,
    precision: str = "fp32",
    full_report: bool = False,
) -> dict[str, Any]:
    """Mean loss, accuracy and macro-F1 (or the full report) on pre-encoded examples."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    predicted = [0] * len(examples)
    loss_sum = 0.0
    with torch.no_grad(), autocast_context(device, precision):
        for indices in length_sorted_batches(examples.lengths(), batch_size):
            batch = collate([examples[i] for i in indices], pad_token_id)
            batch = {key: value.to(device) for key, value in batch.items()}
            logits = model(**{k: v for k, v in batch.items() if k != "labels"}).logits.float()
            loss_sum += F.cross_entropy(logits, batch["labels"], reduction="sum").item()
            for index, value in zip(indices, logits.argmax(-1).tolist(), strict=True):
                predicted[index] = value
    model.train(was_training)
    report = classification_report(examples.labels, predicted, labels)
    report["loss"] = loss_sum / len(examples)
    if full_report:
        return report
    return {"loss": report["loss"], "accuracy": report["accuracy"], "macro_f1": report["macro_f1"]}
