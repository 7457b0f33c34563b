"""Fine-tune a pretrained BERT for extractive QA on SQuAD-format files with the shared Trainer.

Each question becomes one or more windows (see `features`); a window is one training item
whose label is the answer's token span, or [CLS] when the answer is not wholly inside it.
Windows are padded per batch, and batched by similar length unless length grouping is off.
A file with unanswerable questions (SQuAD v2) switches on no-answer decoding. The eval file
is scored with the official EM/F1 during training (best checkpoint, early stopping) and
again at the end on the saved model. The saved folder is a Hugging Face
BertForQuestionAnswering folder; its config.json also records the windowing and decoding
settings under "bertkit_qa", which `QuestionAnswerer`, evaluate and predict reuse.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bertkit.checkpoint import trainer_model_io
from bertkit.io_utils import add_output_file
from bertkit.model.heads import BertForQuestionAnswering
from bertkit.pretrained import load_pretrained
from bertkit.tasks.qa.decode import QAPrediction, decode_predictions
from bertkit.tasks.qa.features import (
    WindowDataset,
    build_windows,
    collate_windows,
    count_unreachable,
)
from bertkit.tasks.qa.metrics import best_null_thresholds, squad_scores
from bertkit.tasks.qa.predict import SETTINGS_KEY, QASettings, score_windows
from bertkit.tasks.qa.squad import QAExample, SquadDataset, read_squad
from bertkit.tokenization import Tokenizer
from bertkit.training import Trainer, TrainingConfig, TrainResult, check_finetune_folders

logger = logging.getLogger(__name__)

TASK_NAME = "qa"
EVAL_RESULTS_FILE = "eval_results.json"


@dataclass
class FinetuneResult:
    """Where the model went and how it scored on the eval file."""

    model_dir: Path
    settings: QASettings
    eval_report: dict[str, Any] | None
    train_result: TrainResult
    train_windows: int
    unreachable_answers: int  # training answers inside no window (only seen as "no answer")


def finetune(
    model_name: str,
    train_file: str,
    out: str | Path,
    training: TrainingConfig,
    settings: QASettings | None = None,
    eval_file: str | None = None,
    max_train_questions: int | None = None,
    length_grouping: bool = True,
) -> FinetuneResult:
    """Fine-tune `model_name` (folder or known name) on a SQuAD file; save the model to `out`.

    With `length_grouping` the Trainer batches windows of similar token count (short contexts
    together, full windows together), so padding to each batch's longest window costs little.
    """
    check_finetune_folders(out, training.output_dir)  # before the long work
    train_data = read_squad(train_file)
    examples = train_data.examples[:max_train_questions]
    eval_data = read_squad(eval_file) if eval_file else None
    settings = settings or QASettings()
    if train_data.has_impossible and not settings.allow_no_answer:
        logger.info("%s has unanswerable questions: decoding may answer ''", train_file)
        settings = dataclasses.replace(settings, allow_no_answer=True)

    model, tokenizer, _ = load_pretrained(
        model_name, "question-answering", new_heads_expected=True, seed=training.seed
    )
    settings.validate(model.config.max_position_embeddings)
    model.config.extra["bertkit_task"] = TASK_NAME
    model.config.extra[SETTINGS_KEY] = dataclasses.asdict(settings)

    answers = [example.answers[0] if example.answers else None for example in examples]
    windows = build_windows(
        tokenizer,
        [example.question for example in examples],
        [example.context for example in examples],
        answers,
        max_length=settings.max_length,
        doc_stride=settings.doc_stride,
        max_question_length=settings.max_question_length,
    )
    unreachable = count_unreachable(windows, [answer is not None for answer in answers])
    if unreachable:
        logger.warning(
            "%d of %d training answers lie wholly inside no window (longer than the doc stride "
            "overlap); raise --doc-stride or --max-length to learn them",
            unreachable,
            len(examples),
        )
    logger.info(
        "fine-tuning on %d questions -> %d windows of up to %d tokens (doc stride %d)",
        len(examples),
        len(windows),
        settings.max_length,
        settings.doc_stride,
    )
    dataset = WindowDataset(windows)
    if eval_data is not None and not training.eval_every:
        # Evaluate once per epoch unless --eval-every says otherwise.
        training = dataclasses.replace(training, eval_each_epoch=True)

    evaluate_fn = None
    if eval_data is not None:
        evaluate_fn = _evaluator(tokenizer, eval_data, settings)
    save_model_fn, load_model_fn = trainer_model_io(tokenizer)
    trainer = Trainer(
        model,
        training,
        dataset,
        collate_fn=lambda items: collate_windows(items, tokenizer.pad_token_id),
        evaluate_fn=evaluate_fn,
        save_model_fn=save_model_fn,
        load_model_fn=load_model_fn,
        example_lengths=[len(window.input_ids) for window in windows] if length_grouping else None,
    )
    result = trainer.train()

    out = result.publish_model(out)
    report = None
    if eval_data is not None:
        best, best_tokenizer, _ = load_pretrained(out, "question-answering")
        best.to(next(model.parameters()).device)
        report, _ = evaluate_dataset(best, best_tokenizer, eval_data, settings)
        with add_output_file(out, EVAL_RESULTS_FILE, encoding="utf-8") as handle:
            json.dump(dict(report, eval_file=str(eval_file)), handle, indent=1)
    return FinetuneResult(out, settings, report, result, len(windows), unreachable)


def _evaluator(
    tokenizer: Tokenizer, data: SquadDataset, settings: QASettings
) -> Callable[[BertForQuestionAnswering], dict[str, float]]:
    """evaluate_fn for the Trainer: EM/F1 on the eval file (windows built once)."""
    windows = windows_for(tokenizer, data.examples, settings)

    def evaluate(model: BertForQuestionAnswering) -> dict[str, float]:
        report, _ = evaluate_dataset(model, tokenizer, data, settings, windows=windows)
        return {key: value for key, value in report.items() if isinstance(value, float)}

    return evaluate


def windows_for(tokenizer: Tokenizer, examples: list[QAExample], settings: QASettings):
    return build_windows(
        tokenizer,
        [example.question for example in examples],
        [example.context for example in examples],
        max_length=settings.max_length,
        doc_stride=settings.doc_stride,
        max_question_length=settings.max_question_length,
    )


def evaluate_dataset(
    model: BertForQuestionAnswering,
    tokenizer: Tokenizer,
    data: SquadDataset,
    settings: QASettings,
    *,
    batch_size: int = 64,
    precision: str = "fp32",
    windows=None,
    progress: Callable[[int], None] | None = None,
) -> tuple[dict[str, Any], dict[str, QAPrediction]]:
    """Official-style EM/F1 of `model` on a SQuAD file, and the prediction of every question.

    For data with unanswerable questions the report also holds the best null threshold.
    """
    examples = data.examples
    windows = windows if windows is not None else windows_for(tokenizer, examples, settings)
    starts, ends = score_windows(
        model, windows, tokenizer.pad_token_id, batch_size, precision, progress
    )
    predictions = decode_predictions(
        windows,
        starts,
        ends,
        [example.context for example in examples],
        n_best=settings.n_best,
        max_answer_length=settings.max_answer_length,
        allow_no_answer=settings.allow_no_answer,
        null_threshold=settings.null_threshold,
    )
    by_id = {example.id: p for example, p in zip(examples, predictions, strict=True)}
    gold = {example.id: [answer.text for answer in example.answers] for example in examples}
    report: dict[str, Any] = squad_scores({qid: p.answer for qid, p in by_id.items()}, gold)
    if data.has_impossible:
        spans = {qid: p.n_best[0].text if p.n_best else "" for qid, p in by_id.items()}
        diffs = {qid: p.null_score_diff for qid, p in by_id.items()}
        report.update(best_null_thresholds(spans, diffs, gold))
        report["null_threshold"] = float(settings.null_threshold)
    return report, by_id
