"""`bertkit finetune qa`, and the question-answering side of `bertkit evaluate` / `predict`."""

from __future__ import annotations

import json
import sys

from bertkit.cli.common import progress_bar
from bertkit.errors import InputError
from bertkit.io_utils import atomic_write_file
from bertkit.tasks.qa.predict import QASettings, QuestionAnswerer
from bertkit.tasks.qa.squad import read_squad
from bertkit.tasks.qa.train import evaluate_dataset, finetune, windows_for
from bertkit.training import add_training_args, config_from_args

FINETUNE_DEFAULTS = {
    "output_dir": None,  # default: <out>-checkpoints
    "learning_rate": 5e-5,
    "num_epochs": 2.0,
    "batch_size": 16,
    "warmup_ratio": 0.1,
    "save_every": 500,
    "keep_last": 2,
    "metric_for_best": "f1",
    "greater_is_better": True,
    "precision": "auto",
}
REPORT_ORDER = (
    "exact",
    "f1",
    "total",
    "HasAns_exact",
    "HasAns_f1",
    "HasAns_total",
    "NoAns_exact",
    "NoAns_f1",
    "NoAns_total",
    "best_exact",
    "best_exact_thresh",
    "best_f1",
    "best_f1_thresh",
    "null_threshold",
)


def _add_decoding_args(parser, defaults: QASettings | None) -> None:
    """Window and decoding options; without `defaults` they fall back to the model's own."""

    def default(name: str):
        return getattr(defaults, name) if defaults is not None else None

    note = "" if defaults is not None else " (default: as fine-tuned)"
    parser.add_argument(
        "--doc-stride",
        type=int,
        default=default("doc_stride"),
        help=f"tokens shared by consecutive windows of a long context{note}",
    )
    parser.add_argument(
        "--max-question-length",
        type=int,
        default=default("max_question_length"),
        help=f"questions are cut to this many tokens{note}",
    )
    parser.add_argument(
        "--max-answer-length",
        type=int,
        default=default("max_answer_length"),
        help=f"longest answer, in tokens{note}",
    )
    parser.add_argument(
        "--n-best",
        type=int,
        default=default("n_best"),
        help=f"start and end candidates per window{note}",
    )
    parser.add_argument(
        "--null-threshold",
        type=float,
        default=default("null_threshold"),
        help="SQuAD v2: answer '' when null score - best span score exceeds this"
        f"{note or ' (default %(default)s)'}",
    )


def register_finetune(subparsers) -> None:
    parser = subparsers.add_parser(
        "qa",
        help="extractive question answering (SQuAD v1.1 / v2.0 JSON)",
        description="Fine-tune a pretrained BERT to answer questions with spans of a context.",
    )
    parser.add_argument("--model", required=True, help="pretrained model folder or name (minilm)")
    parser.add_argument("--train", required=True, help="SQuAD-format training file")
    parser.add_argument("--eval", help="SQuAD-format file for the best checkpoint (EM/F1)")
    parser.add_argument("--out", required=True, help="folder for the fine-tuned model")
    parser.add_argument(
        "--max-length", type=int, default=384, help="tokens per window (default %(default)s)"
    )
    _add_decoding_args(parser, QASettings())
    parser.add_argument(
        "--version-2-with-negative",
        action="store_true",
        help="allow '' answers even if the training file has no unanswerable question "
        "(on automatically when it has)",
    )
    parser.add_argument(
        "--max-train-questions", type=int, default=None, help="train on the first N questions"
    )
    parser.add_argument(
        "--no-length-grouping",
        dest="length_grouping",
        action="store_false",
        help="random batches instead of batches of windows of similar length",
    )
    add_training_args(parser, FINETUNE_DEFAULTS)
    parser.set_defaults(func=cli_finetune)


def cli_finetune(args) -> int:
    output_dir = args.output_dir or f"{args.out.rstrip('/')}-checkpoints"
    training = config_from_args(args, output_dir=output_dir)
    settings = QASettings(
        max_length=args.max_length,
        doc_stride=args.doc_stride,
        max_question_length=args.max_question_length,
        max_answer_length=args.max_answer_length,
        n_best=args.n_best,
        allow_no_answer=args.version_2_with_negative,
        null_threshold=args.null_threshold,
    )
    result = finetune(
        args.model,
        args.train,
        args.out,
        training,
        settings,
        eval_file=args.eval,
        max_train_questions=args.max_train_questions,
        length_grouping=args.length_grouping,
    )
    if result.unreachable_answers:
        print(
            f"warning: {result.unreachable_answers} training answer(s) fit in no window",
            file=sys.stderr,
        )
    print(f"trained on {result.train_windows} windows")
    print(
        f"stopped after {result.train_result.global_step} steps ({result.train_result.stop_reason})"
    )
    if result.eval_report is not None:
        report = result.eval_report
        print(
            f"eval exact match {report['exact']:.2f}, F1 {report['f1']:.2f} on "
            f"{int(report['total'])} questions"
        )
    print(f"model saved to {result.model_dir}")
    print(f"checkpoints and metrics.csv in {output_dir}")
    return 0


def add_evaluate_args(parser) -> None:
    _add_decoding_args(parser, None)
    parser.add_argument(
        "--predictions-output", help="write {question id: answer} JSON (official format) here"
    )


def add_predict_args(parser) -> None:
    _add_decoding_args(parser, None)
    parser.add_argument("--show-n-best", action="store_true", help="also list the n-best spans")


def _answerer(args) -> QuestionAnswerer:
    return QuestionAnswerer.from_pretrained(
        args.model,
        precision=args.precision,
        max_length=args.max_length,
        doc_stride=args.doc_stride,
        max_question_length=args.max_question_length,
        max_answer_length=args.max_answer_length,
        n_best=args.n_best,
        null_threshold=args.null_threshold,
    )


def cli_evaluate(args) -> int:
    answerer = _answerer(args)
    data = read_squad(args.data)
    settings = answerer.settings
    if data.has_impossible and not settings.allow_no_answer:
        print(
            f"warning: {args.data} has unanswerable questions but the model was fine-tuned "
            "without them; it never answers ''",
            file=sys.stderr,
        )
    windows = windows_for(answerer.tokenizer, data.examples, settings)
    with progress_bar(len(windows), "evaluating") as bar:
        report, predictions = evaluate_dataset(
            answerer.model,
            answerer.tokenizer,
            data,
            settings,
            windows=windows,
            batch_size=args.batch_size,
            precision=args.precision,
            progress=bar.update,
        )
    report = dict(report, data=args.data, model=str(args.model))
    if args.predictions_output:
        with atomic_write_file(args.predictions_output, encoding="utf-8") as handle:
            json.dump(
                {qid: p.answer for qid, p in predictions.items()},
                handle,
                ensure_ascii=False,
                indent=1,
            )
    if args.output:
        with atomic_write_file(args.output, encoding="utf-8") as handle:
            json.dump(report, handle, indent=1)
            handle.write("\n")
    print(json.dumps(report, indent=1) if args.json else format_report(report))
    return 0


def format_report(report: dict) -> str:
    lines = [f"{report['data']}: {int(report['total'])} questions"]
    for key in REPORT_ORDER:
        if key in report and not key.endswith("total"):
            value = report[key]
            lines.append(
                f"  {key:<18} {value:.4g}" if "thresh" in key else f"  {key:<18} {value:.2f}"
            )
    return "\n".join(lines)


def read_questions(source: str) -> list[tuple[int, dict]]:
    """(line number, record) for every non-blank line of a JSONL file (or stdin with "-")."""
    if source == "-":
        data, name = sys.stdin.buffer.read(), "standard input"
    else:
        try:
            with open(source, "rb") as handle:
                data = handle.read()
        except FileNotFoundError:
            raise InputError(f"input file {source} not found") from None
        name = source
    records = []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise InputError(f"{name} line {number}: not UTF-8 text; re-encode it") from None
        except json.JSONDecodeError as error:
            raise InputError(f"{name} line {number}: not valid JSON ({error.msg})") from None
        if not isinstance(record, dict):
            raise InputError(
                f'{name} line {number}: expected an object with "question" and "context"'
            )
        for key in ("question", "context"):
            if not isinstance(record.get(key), str) or not record[key].strip():
                raise InputError(
                    f'{name} line {number}: "{key}" is missing or empty; each line needs '
                    '{"question": ..., "context": ...} (and optionally "id")'
                )
        records.append((number, record))
    if not records:
        raise InputError(f"{name} holds no questions")
    return records


def cli_predict(args) -> int:
    answerer = _answerer(args)
    records = read_questions(args.input)
    predictions = answerer.predict_batch(
        [record["question"] for _, record in records],
        [record["context"] for _, record in records],
        batch_size=args.batch_size,
    )
    rows = []
    for (line, record), prediction in zip(records, predictions, strict=True):
        row = {"id": record["id"]} if "id" in record else {"line": line}
        row.update(prediction.to_dict(with_n_best=args.show_n_best))
        rows.append(json.dumps(row, ensure_ascii=False) + "\n")
    if args.output == "-":
        sys.stdout.writelines(rows)
    else:
        with atomic_write_file(args.output, encoding="utf-8") as handle:
            handle.writelines(rows)
    return 0
