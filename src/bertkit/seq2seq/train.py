"""Fine-tune a BERT2BERT encoder-decoder on source/target pairs with the shared Trainer.

Encoder and decoder start from one pretrained BERT (shared with `share=True`); the loss is the
mean cross-entropy over non-padding target tokens under teacher forcing. With an eval file,
each evaluation reports the teacher-forced loss and BLEU (translation) or ROUGE
(summarization) of greedy or beam outputs; that metric picks `best/` and early stopping.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from bertkit.errors import InputError
from bertkit.inference import length_sorted_batches
from bertkit.seq2seq.checkpoint import (
    GENERATION_KEY,
    from_pretrained_bert,
    read_model_state,
    write_model_folder,
)
from bertkit.seq2seq.data import EncodedPairs, PairFields, collate, read_pairs
from bertkit.seq2seq.generate import GenerationOptions, generate
from bertkit.seq2seq.metrics import sequence_metrics
from bertkit.seq2seq.model import EncoderDecoder
from bertkit.tokenization import Tokenizer
from bertkit.training import Trainer, TrainingConfig, TrainResult, check_finetune_folders

logger = logging.getLogger(__name__)


@dataclass
class Seq2SeqOptions:
    """How to read and shape the data and how to evaluate; the Trainer's settings live apart."""

    fields: PairFields = dataclasses.field(default_factory=PairFields)
    # Source tokens ([CLS] and [SEP] included; longer ones are cut) and target tokens ([SEP]
    # included; also the generation limit). None: 128 and 64, or the model's positions if fewer.
    max_source_length: int | None = None
    max_target_length: int | None = None
    share: bool = False  # BERT2BERT-share: one set of BERT weights for encoder and decoder
    metric: str = "bleu"  # "bleu" (translation) or "rouge" (summarization)
    eval_beams: int = 1  # beams for the generated outputs scored during training
    eval_max_examples: int | None = None  # score generation on the first N eval pairs only
    num_beams: int = 4  # default beams stored in config.json for `bertkit generate`
    length_penalty: float = 1.0  # default length penalty stored in config.json


@dataclass
class FinetuneResult:
    model_dir: Path
    train_result: TrainResult
    initialised: list[str]  # modules that started from random weights


def finetune(
    model_name: str,
    train_file: str,
    out: str | Path,
    training: TrainingConfig,
    options: Seq2SeqOptions | None = None,
    eval_file: str | None = None,
) -> FinetuneResult:
    """Build BERT2BERT from `model_name`, train on `train_file`, save the model to `out`."""
    check_finetune_folders(out, training.output_dir)  # before the long work
    options = options or Seq2SeqOptions()
    train_pairs = read_pairs(train_file, options.fields)
    eval_pairs = read_pairs(eval_file, options.fields) if eval_file else None
    model, tokenizer, initialised = from_pretrained_bert(model_name, share=options.share)
    options = _resolve_lengths(model, options)
    model.config_extra[GENERATION_KEY] = {
        "num_beams": options.num_beams,
        "max_length": options.max_target_length,
        "length_penalty": options.length_penalty,
        "max_source_length": options.max_source_length,
    }
    model.train()
    dataset = EncodedPairs(
        tokenizer, train_pairs, options.max_source_length, options.max_target_length
    )
    logger.info(
        "fine-tuning BERT2BERT%s on %d pairs; new: %s",
        "-share" if options.share else "",
        len(dataset),
        ", ".join(initialised),
    )

    evaluate_fn = None
    if eval_pairs is not None:
        eval_set = EncodedPairs(
            tokenizer, eval_pairs, options.max_source_length, options.max_target_length
        )
        evaluate_fn = lambda m: evaluate_pairs(  # noqa: E731
            m, tokenizer, eval_set, eval_pairs.targets, options
        )
        if not training.eval_every:  # once per epoch unless --eval-every says otherwise
            training = dataclasses.replace(training, eval_each_epoch=True)

    trainer = Trainer(
        model,
        training,
        dataset,
        collate_fn=lambda items: collate(items, tokenizer.pad_token_id),
        evaluate_fn=evaluate_fn,
        save_model_fn=lambda m, folder, state: write_model_folder(m, folder, state, tokenizer),
        load_model_fn=read_model_state,
    )
    result = trainer.train()
    out = result.publish_model(out)
    return FinetuneResult(out, result, initialised)


def _resolve_lengths(model: EncoderDecoder, options: Seq2SeqOptions) -> Seq2SeqOptions:
    """Fill default lengths (capped by the model's positions) and check given ones."""
    positions = model.config.encoder.max_position_embeddings
    options = dataclasses.replace(
        options,
        max_source_length=options.max_source_length or min(128, positions),
        max_target_length=options.max_target_length or min(64, positions),
    )
    for name, value in (
        ("max_source_length", options.max_source_length),
        ("max_target_length", options.max_target_length),
    ):
        if not 2 <= value <= positions:
            raise InputError(
                f"--{name.replace('_', '-')} must be between 2 and the model's {positions} "
                f"positions, got {value}"
            )
    return options


def evaluate_pairs(
    model: EncoderDecoder,
    tokenizer: Tokenizer,
    examples: EncodedPairs,
    references: list[str],
    options: Seq2SeqOptions,
    batch_size: int = 32,
) -> dict[str, float]:
    """Teacher-forced loss over all pairs, and BLEU/ROUGE of generated outputs."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    loss_sum, items = 0.0, 0
    with torch.no_grad():
        lengths = [len(source) for source in examples.sources]
        for indices in length_sorted_batches(lengths, batch_size):
            batch = collate([examples[i] for i in indices], tokenizer.pad_token_id)
            output = model(**{key: value.to(device) for key, value in batch.items()})
            loss_sum += float(output.loss) * int(output.num_loss_items)
            items += int(output.num_loss_items)
    limit = len(examples) if options.eval_max_examples is None else options.eval_max_examples
    generation = GenerationOptions(
        num_beams=options.eval_beams,
        max_length=options.max_target_length,
        length_penalty=options.length_penalty,
    )
    predictions = generate_ids_to_text(
        model, tokenizer, examples.sources[:limit], generation, batch_size
    )
    model.train(was_training)
    metrics: dict[str, Any] = {"loss": loss_sum / max(items, 1)}
    metrics.update(sequence_metrics(options.metric, predictions, references[:limit]))
    return metrics


def generate_ids_to_text(
    model: EncoderDecoder,
    tokenizer: Tokenizer,
    sources: list[list[int]],
    options: GenerationOptions,
    batch_size: int = 32,
    progress=None,
) -> list[str]:
    """Decode pre-tokenized sources in length-sorted batches; texts in input order."""
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id
    outputs: list[str] = [""] * len(sources)
    for indices in length_sorted_batches([len(s) for s in sources], batch_size):
        longest = max(len(sources[i]) for i in indices)
        input_ids = torch.full((len(indices), longest), pad, dtype=torch.long)
        attention_mask = torch.zeros_like(input_ids)
        for row, index in enumerate(indices):
            input_ids[row, : len(sources[index])] = torch.tensor(sources[index])
            attention_mask[row, : len(sources[index])] = 1
        generated = generate(model, input_ids.to(device), attention_mask.to(device), options)
        for index, ids in zip(indices, generated, strict=True):
            outputs[index] = tokenizer.decode(ids)
        if progress is not None:
            progress(len(indices))
    return outputs


def write_report(report: dict[str, Any], path: str) -> None:
    from bertkit.io_utils import atomic_write_file

    with atomic_write_file(path, encoding="utf-8") as handle:
        json.dump(report, handle, indent=1)
        handle.write("\n")
