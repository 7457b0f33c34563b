"""Fine-tuning the BertSum-style scorer with the shared Trainer, and scoring summaries by ROUGE.

Each training document is split into candidate sentences, labelled by the greedy ROUGE oracle
against its reference summary, and packed into windows (supervised.py); every window is one
training example. Evaluation summarizes each held-out document with the current model and
reports ROUGE-1/2/L F1 plus the mean loss against the oracle labels.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import Dataset

from bertkit.checkpoint import load_model
from bertkit.errors import InputError
from bertkit.hub import resolve_model
from bertkit.pretrained import check_vocabulary
from bertkit.tasks.summarization.data import Document
from bertkit.tasks.summarization.oracle import greedy_oracle
from bertkit.tasks.summarization.rouge import rouge_scores
from bertkit.tasks.summarization.selection import candidate_sentences
from bertkit.tasks.summarization.sentences import split_sentences
from bertkit.tasks.summarization.summarizer import supervised_summary
from bertkit.tasks.summarization.supervised import (
    TASK_NAME,
    BertForExtractiveSummarization,
    PackingSettings,
    Window,
    collate_windows,
    load_summarizer_weights,
    pack_windows,
    read_summarizer_state,
    sentence_token_ids,
    summarizer_config,
    write_summarizer_files,
)
from bertkit.tokenization import Tokenizer
from bertkit.training import Trainer, TrainingConfig, check_finetune_folders

logger = logging.getLogger(__name__)

# Metrics the Trainer logs at each evaluation (precision/recall stay out of metrics.csv).
EVAL_METRICS = ("rouge1", "rouge2", "rougeL", "rougeLsum")


@dataclass
class SummarizationOptions:
    """Task settings of `bertkit finetune summarize` beside the Trainer's."""

    packing: PackingSettings = dataclasses.field(default_factory=PackingSettings)
    oracle_sentences: int = 3  # most sentences the greedy oracle labels positive per document
    summary_sentences: int = 3  # summary length when evaluating on the dev set
    max_train_documents: int | None = None  # use only the first N training documents
    freeze_layers: int = 0  # keep the embeddings and the first N encoder layers fixed


class WindowDataset(Dataset):
    """Map-style dataset of packed windows; each item is {"window": Window}."""

    def __init__(self, windows: Sequence[Window]):
        self.windows = list(windows)

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, index: int) -> dict:
        return {"window": self.windows[index]}


def labelled_windows(
    documents: Sequence[Document],
    tokenizer: Tokenizer,
    settings: PackingSettings,
    oracle_sentences: int,
    max_length: int,
) -> tuple[list[Window], dict[str, float]]:
    """Windows with oracle labels for every document, and statistics about the labels."""
    windows: list[Window] = []
    positives = sentences_total = skipped = 0
    for document in documents:
        candidates = candidate_sentences(split_sentences(document.text), settings.min_words)
        if not candidates:
            skipped += 1
            continue
        texts = [sentence.text for sentence in candidates]
        chosen = set(greedy_oracle(texts, document.summary or "", oracle_sentences))
        labels = [int(position in chosen) for position in range(len(texts))]
        ids = sentence_token_ids(tokenizer, texts, settings.max_sentence_tokens)
        windows.extend(
            pack_windows(ids, tokenizer.cls_token_id, tokenizer.sep_token_id, max_length, labels)
        )
        positives += len(chosen)
        sentences_total += len(texts)
    if skipped:
        logger.warning("%d document(s) hold no sentences and were skipped", skipped)
    stats = {
        "documents": len(documents) - skipped,
        "windows": len(windows),
        "sentences": sentences_total,
        "oracle_positive_fraction": positives / max(1, sentences_total),
    }
    return windows, stats


def collate(examples: list[dict], pad_id: int) -> dict[str, torch.Tensor]:
    return collate_windows([example["window"] for example in examples], pad_id)


def window_loss(
    model: BertForExtractiveSummarization,
    windows: Sequence[Window],
    pad_id: int,
    batch_size: int = 16,
) -> float:
    """Mean binary cross-entropy per labelled sentence over `windows`."""
    device = next(model.parameters()).device
    total = count = 0.0
    with torch.no_grad():
        for start in range(0, len(windows), batch_size):
            batch = collate_windows(windows[start : start + batch_size], pad_id)
            output = model(**{key: value.to(device) for key, value in batch.items()})
            items = float(output.num_loss_items)
            total += float(output.loss) * items
            count += items
    return total / count if count else float("nan")


def evaluate_summaries(
    summarize: Callable[[str], list[str]],
    documents: Sequence[Document],
) -> dict[str, float]:
    """ROUGE of `summarize(document) -> sentences` against each document's reference."""
    predictions, references = [], []
    for document in documents:
        predictions.append(summarize(document.text))
        references.append(document.summary or "")
    return rouge_scores(predictions, [_reference_sentences(r) for r in references])


def _reference_sentences(summary: str) -> list[str]:
    """Reference sentences, one per line, so rougeLsum sees the boundaries."""
    lines = [line.strip() for line in summary.splitlines() if line.strip()]
    if len(lines) > 1:
        return lines
    return [sentence.text for sentence in split_sentences(summary)] or [summary]


def finetune(
    model_name: str,
    train_documents: Sequence[Document],
    out: str | Path,
    training: TrainingConfig,
    options: SummarizationOptions | None = None,
    dev_documents: Sequence[Document] | None = None,
) -> dict:
    """Fine-tune `model_name` on documents with reference summaries; save the best model to
    `out`. Returns a report with label statistics and the final dev ROUGE."""
    check_finetune_folders(out, training.output_dir)  # before the long work
    options = options or SummarizationOptions()
    folder = resolve_model(model_name)
    model, _ = load_model(folder, BertForExtractiveSummarization)
    tokenizer = Tokenizer.from_pretrained(folder)
    check_vocabulary(tokenizer, model.config, str(folder))
    model.config.extra["bertkit_task"] = TASK_NAME
    freeze_lower_layers(model, options.freeze_layers)
    settings = options.packing
    max_length = min(settings.max_length, model.config.max_position_embeddings)
    settings = dataclasses.replace(settings, max_length=max_length)

    documents = list(train_documents)[: options.max_train_documents]
    windows, stats = labelled_windows(
        documents, tokenizer, settings, options.oracle_sentences, max_length
    )
    if not windows:
        raise InputError("the training data holds no sentences to learn from")
    logger.info(
        "training on %d documents: %d windows, %d sentences, %.1f%% oracle-positive",
        stats["documents"],
        stats["windows"],
        stats["sentences"],
        100 * stats["oracle_positive_fraction"],
    )

    evaluate_fn = None
    if dev_documents:
        dev_windows, _ = labelled_windows(
            dev_documents, tokenizer, settings, options.oracle_sentences, max_length
        )

        def evaluate_fn(current: BertForExtractiveSummarization) -> dict[str, float]:
            scores = evaluate_summaries(
                lambda text: [
                    s.text
                    for s in supervised_summary(
                        current, tokenizer, settings, text, options.summary_sentences
                    ).sentences
                ],
                dev_documents,
            )
            metrics = {name: scores[name] for name in EVAL_METRICS}
            metrics["loss"] = window_loss(current, dev_windows, tokenizer.pad_token_id)
            return metrics

        if not training.eval_every:  # once per epoch unless --eval-every says otherwise
            training = dataclasses.replace(training, eval_each_epoch=True)
    elif training.metric_for_best is not None or training.early_stopping_patience is not None:
        raise InputError("--metric-for-best and early stopping need a dev set (--dev)")

    config = summarizer_config(model, settings)
    trainer = Trainer(
        model,
        training,
        WindowDataset(windows),
        collate_fn=lambda examples: collate(examples, tokenizer.pad_token_id),
        evaluate_fn=evaluate_fn,
        save_model_fn=lambda _m, target, state: write_summarizer_files(
            target, config, state, tokenizer
        ),
        load_model_fn=lambda _m, source: read_summarizer_state(source),
    )
    result = trainer.train()

    out = result.publish_model(out)
    report: dict = {
        "model": str(out),
        "train": stats,
        "steps": result.global_step,
        "stop_reason": result.stop_reason,
    }
    if dev_documents:
        load_summarizer_weights(model, read_summarizer_state(out), str(out))
        model.eval()
        report["dev"] = evaluate_fn(model)
    return report


def freeze_lower_layers(model: BertForExtractiveSummarization, count: int) -> None:
    """Fix the embeddings and the first `count` layers: backward then stops at layer `count`,
    which makes a step much cheaper on small data or a CPU."""
    layers = model.bert.encoder.layers
    if not 0 <= count <= len(layers):
        raise InputError(f"freeze_layers must be in 0..{len(layers)}, got {count}")
    if count == 0:
        return
    for module in [model.bert.embeddings, *layers[:count]]:
        for parameter in module.parameters():
            parameter.requires_grad_(False)
    logger.info("froze the embeddings and %d of %d encoder layers", count, len(layers))
