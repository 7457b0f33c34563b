"""`bertkit finetune classify`, and the classification side of `bertkit evaluate` / `predict`."""

from __future__ import annotations

import json
import sys

from bertkit.cli.common import progress_bar
from bertkit.errors import InputError
from bertkit.io_utils import atomic_write_file
from bertkit.tasks.classification.data import load_labelled, read_records
from bertkit.tasks.classification.evaluate import format_report
from bertkit.tasks.classification.predict import TextClassifier
from bertkit.tasks.classification.train import ClassificationOptions, finetune
from bertkit.training import add_training_args, config_from_args

FINETUNE_DEFAULTS = {
    "output_dir": None,  # default: <out>-checkpoints
    "learning_rate": 5e-5,
    "num_epochs": 3.0,
    "batch_size": 32,
    "warmup_ratio": 0.1,
    "save_every": 200,
    "keep_last": 2,
    "metric_for_best": "accuracy",
    "greater_is_better": True,
    "precision": "auto",
}


def _add_column_args(parser, with_label: bool) -> None:
    parser.add_argument("--text-column", default="text", help="column or JSON key of the text")
    parser.add_argument("--pair-column", default=None, help="second text of a sentence pair")
    if with_label:
        parser.add_argument("--label-column", default="label", help="column of the class label")
    parser.add_argument(
        "--format",
        dest="file_format",
        choices=["csv", "tsv", "jsonl", "text"],
        default=None,
        help="file format (default: from the extension: .csv .tsv .jsonl; text = one per line)",
    )


def register_finetune(subparsers) -> None:
    parser = subparsers.add_parser(
        "classify",
        help="text or text-pair classification (sentiment, topics, NLI)",
        description="Fine-tune a pretrained BERT on a labelled CSV, TSV or JSONL file.",
    )
    parser.add_argument("--model", required=True, help="pretrained model folder or name (minilm)")
    parser.add_argument("--train", required=True, help="labelled training file")
    parser.add_argument("--eval", help="labelled file for the best checkpoint and early stopping")
    parser.add_argument("--out", required=True, help="folder for the fine-tuned model")
    _add_column_args(parser, with_label=True)
    parser.add_argument("--max-length", type=int, default=128, help="tokens per row (default 128)")
    parser.add_argument(
        "--class-weights",
        default="none",
        help="none, balanced (inverse class frequency) or one weight per class, comma-separated",
    )
    parser.add_argument(
        "--length-grouping",
        action="store_true",
        default=True,
        help="batch rows of similar length together (default; less padding)",
    )
    parser.add_argument("--no-length-grouping", dest="length_grouping", action="store_false")
    parser.add_argument(
        "--max-train-rows", type=int, default=None, help="train on a seeded random subset"
    )
    add_training_args(parser, FINETUNE_DEFAULTS)
    parser.set_defaults(func=cli_finetune)


def cli_finetune(args) -> int:
    if args.max_length < 8:
        raise InputError(f"--max-length must be at least 8, got {args.max_length}")
    output_dir = args.output_dir or f"{args.out.rstrip('/')}-checkpoints"
    training = config_from_args(args, output_dir=output_dir)
    options = ClassificationOptions(
        text_column=args.text_column,
        pair_column=args.pair_column,
        label_column=args.label_column,
        file_format=args.file_format,
        max_length=args.max_length,
        class_weights=args.class_weights,
        length_grouping=args.length_grouping,
        max_train_rows=args.max_train_rows,
    )
    result = finetune(args.model, args.train, args.out, training, options, eval_file=args.eval)
    for name, count in result.skipped_rows.items():
        if count:
            print(f"skipped {count} row(s) with empty text in {name}", file=sys.stderr)
    print(f"labels: {', '.join(result.labels)}")
    print(
        f"stopped after {result.train_result.global_step} steps ({result.train_result.stop_reason})"
    )
    if result.eval_report is not None:
        report = result.eval_report
        print(
            f"eval accuracy {report['accuracy']:.4f}, macro-F1 {report['macro_f1']:.4f} "
            f"on {report['examples']} rows"
        )
    print(f"model saved to {result.model_dir}")
    print(f"checkpoints and metrics.csv in {output_dir}")
    return 0


def add_evaluate_args(parser) -> None:
    _add_column_args(parser, with_label=True)


def add_predict_args(parser) -> None:
    _add_column_args(parser, with_label=False)
    parser.add_argument("--all-scores", action="store_true", help="every class's probability")
    parser.add_argument(
        "--no-truncate",
        action="store_true",
        help="refuse a text longer than the model's positions (default: read its first "
        "--max-length tokens)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _classifier(args) -> TextClassifier:
    return TextClassifier.from_pretrained(
        args.model,
        precision=args.precision,
        max_length=args.max_length,
        truncate=not getattr(args, "no_truncate", False),
    )


def cli_evaluate(args) -> int:
    classifier = _classifier(args)
    data = load_labelled(
        args.data,
        text_column=args.text_column,
        pair_column=args.pair_column,
        label_column=args.label_column,
        file_format=args.file_format,
    )
    if data.skipped_lines:
        print(
            f"skipped {len(data.skipped_lines)} row(s) with empty text in {args.data}",
            file=sys.stderr,
        )
    known = set(classifier.labels)
    for line, label in zip(data.lines, data.labels, strict=True):
        if str(label) not in known:
            raise InputError(
                f"{args.data}, line {line}: label {str(label)!r} was not seen in training; "
                f"the model knows {', '.join(map(repr, classifier.labels))}"
            )
    with progress_bar(len(data), "evaluating") as bar:
        report = classifier.evaluate(
            data.texts, data.labels, data.pairs, batch_size=args.batch_size, progress=bar.update
        )
    report = dict(
        report, data=args.data, model=str(args.model), skipped_empty_rows=len(data.skipped_lines)
    )
    if args.output:
        with atomic_write_file(args.output, encoding="utf-8") as handle:
            json.dump(report, handle, indent=1)
            handle.write("\n")
    print(json.dumps(report, indent=1) if args.json else format_report(report))
    return 0


def cli_predict(args) -> int:
    classifier = _classifier(args)
    records = read_records(args.input, args.file_format)
    texts, pairs, lines, skipped = [], [], [], []
    for line, record in records:
        for column in [args.text_column] + ([args.pair_column] if args.pair_column else []):
            if column not in record:
                raise InputError(
                    f"{args.input}, line {line}: no column {column!r} (columns: "
                    f"{', '.join(map(repr, record))}); choose it with --text-column/--pair-column"
                )
        text = str(record[args.text_column] or "")
        pair = str(record[args.pair_column] or "") if args.pair_column else None
        if not text.strip() or (pair is not None and not pair.strip()):
            skipped.append(line)
            continue
        texts.append(text)
        pairs.append(pair)
        lines.append(line)
    if skipped:
        print(
            f"skipped {len(skipped)} empty input(s) (line {', '.join(map(str, skipped[:10]))})",
            file=sys.stderr,
        )
    if not texts:
        raise InputError(f"{args.input} holds no text to classify")
    with progress_bar(len(texts), "classifying", enabled=not args.no_progress) as bar:
        results = classifier.predict(
            texts,
            pairs if args.pair_column else None,
            batch_size=args.batch_size,
            all_scores=args.all_scores,
            progress=bar.update,
        )
    rows = (
        json.dumps({"line": line, **result}, ensure_ascii=False) + "\n"
        for line, result in zip(lines, results, strict=True)
    )
    if args.output == "-":
        sys.stdout.writelines(rows)
    else:
        with atomic_write_file(args.output, encoding="utf-8") as handle:
            handle.writelines(rows)
    return 0
