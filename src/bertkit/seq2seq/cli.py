"""`bertkit finetune seq2seq`, `bertkit generate`, and seq2seq's `bertkit evaluate` / `predict`.

`generate` reads plain text, one source per line, and writes one output per line (JSONL with
--json); `predict --task seq2seq` reads JSONL records and writes JSONL; `evaluate` scores BLEU
or ROUGE against the targets of a JSONL file. Generation settings default to those stored in
the model's config.json at fine-tuning time.
"""

from __future__ import annotations

import argparse
import json
import sys

import torch

from bertkit.cli.common import positive_int, progress_bar, read_numbered_lines
from bertkit.errors import InputError
from bertkit.inference import autocast_context
from bertkit.io_utils import atomic_write_file
from bertkit.seq2seq.checkpoint import GENERATION_KEY, load_seq2seq
from bertkit.seq2seq.data import PairFields, encode_sources, read_pairs
from bertkit.seq2seq.generate import GenerationOptions
from bertkit.seq2seq.metrics import MAIN_METRIC, METRICS, corpus_bleu, sequence_metrics
from bertkit.seq2seq.train import Seq2SeqOptions, finetune, generate_ids_to_text, write_report
from bertkit.training import add_training_args, config_from_args

FINETUNE_DEFAULTS = {
    "output_dir": None,  # default: <out>-checkpoints
    "learning_rate": 5e-5,
    "num_epochs": 3.0,
    "batch_size": 16,
    "warmup_ratio": 0.1,
    "save_every": 500,
    "keep_last": 2,
    "precision": "auto",
}
DEFAULT_GENERATION = {"num_beams": 4, "max_length": 64, "length_penalty": 1.0}


def _add_field_args(parser, with_target: bool) -> None:
    parser.add_argument("--source-field", default="source", help="JSON key of the source text")
    if with_target:
        parser.add_argument("--target-field", default="target", help="JSON key of the target")
    parser.add_argument(
        "--source-lang", help='read {"translation": {LANG: ...}} records (WMT layout)'
    )
    parser.add_argument("--target-lang", help="target language key of translation records")


def _fields(args) -> PairFields:
    return PairFields(
        source_field=args.source_field,
        target_field=getattr(args, "target_field", "target"),
        source_lang=args.source_lang,
        target_lang=args.target_lang,
    )


def _add_generation_args(parser, length_flag: str) -> None:
    parser.add_argument("--beams", type=positive_int, help="beam size; 1 = greedy (default 4)")
    parser.add_argument(
        length_flag,
        dest="max_target_length",
        type=positive_int,
        help="most generated tokens, [SEP] included (default: the fine-tuning target length)",
    )
    parser.add_argument(
        "--length-penalty", type=float, help="beam score = log-prob / length ** this (default 1)"
    )
    parser.add_argument(
        "--truncate",
        action="store_true",
        help="cut over-long sources instead of stopping with an error",
    )


# ------------------------------------------------------------------ finetune


def register_finetune(subparsers) -> None:
    parser = subparsers.add_parser(
        "seq2seq",
        help="translation / abstractive summarization with a BERT2BERT encoder-decoder",
        description=(
            "Fine-tune an encoder-decoder whose encoder and decoder both start from a "
            "pretrained BERT, on JSONL source/target pairs."
        ),
    )
    parser.add_argument("--model", required=True, help="pretrained BERT folder or name (minilm)")
    parser.add_argument("--train", required=True, help="JSONL file of source/target pairs")
    parser.add_argument("--eval", help="JSONL pairs scored during training (best checkpoint)")
    parser.add_argument("--out", required=True, help="folder for the fine-tuned model")
    _add_field_args(parser, with_target=True)
    parser.add_argument(
        "--max-source-length",
        type=positive_int,
        help="source tokens; longer sources are cut (default 128, or the model's positions)",
    )
    parser.add_argument(
        "--max-target-length",
        type=positive_int,
        help="target tokens incl. [SEP]; also the default generation limit (default 64)",
    )
    parser.add_argument(
        "--share",
        action="store_true",
        help="BERT2BERT-share: encoder and decoder use one set of BERT weights",
    )
    parser.add_argument("--metric", choices=METRICS, default="bleu", help="bleu or rouge")
    parser.add_argument(
        "--eval-beams", type=positive_int, default=1, help="beams for eval outputs (1 = greedy)"
    )
    parser.add_argument(
        "--eval-max-examples", type=positive_int, help="generate for the first N eval pairs only"
    )
    parser.add_argument(
        "--beams", type=positive_int, default=4, help="default beams saved for generate"
    )
    parser.add_argument("--length-penalty", type=float, default=1.0)
    add_training_args(parser, FINETUNE_DEFAULTS)
    parser.set_defaults(func=cli_finetune)


def cli_finetune(args) -> int:
    output_dir = args.output_dir or f"{args.out.rstrip('/')}-checkpoints"
    overrides = {"output_dir": output_dir}
    if args.eval and args.metric_for_best is None:
        overrides.update(metric_for_best=MAIN_METRIC[args.metric], greater_is_better=True)
    training = config_from_args(args, **overrides)
    options = Seq2SeqOptions(
        fields=_fields(args),
        max_source_length=args.max_source_length,
        max_target_length=args.max_target_length,
        share=args.share,
        metric=args.metric,
        eval_beams=args.eval_beams,
        eval_max_examples=args.eval_max_examples,
        num_beams=args.beams,
        length_penalty=args.length_penalty,
    )
    result = finetune(args.model, args.train, args.out, training, options, eval_file=args.eval)
    train = result.train_result
    print(f"randomly initialised: {', '.join(result.initialised)}")
    print(f"stopped after {train.global_step} steps ({train.stop_reason})")
    shown = {k: round(v, 4) for k, v in train.metrics.items() if k.startswith("eval_")}
    if shown:
        print("final evaluation: " + ", ".join(f"{k} {v}" for k, v in shown.items()))
    print(f"model saved to {result.model_dir}")
    print(f"checkpoints and metrics.csv in {output_dir}")
    return 0


# ------------------------------------------------------- shared by the rest


class _Loaded:
    """A fine-tuned model on the best device, with resolved generation settings."""

    def __init__(self, args):
        self.model, self.tokenizer = load_seq2seq(args.model)
        if self.tokenizer is None:
            raise InputError(f"{args.model} has no tokenizer files (vocab.txt / tokenizer.json)")
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.model.to(self.device)
        defaults = dict(DEFAULT_GENERATION, **self.model.config_extra.get(GENERATION_KEY, {}))
        positions = self.model.config.encoder.max_position_embeddings
        self.max_source_length = getattr(args, "max_source_length", None) or args.max_length
        self.max_source_length = self.max_source_length or defaults.get(
            "max_source_length", positions
        )
        if not 2 <= self.max_source_length <= positions:
            raise InputError(
                f"the source length limit must be between 2 and the model's {positions} "
                f"positions, got {self.max_source_length}"
            )
        self.options = GenerationOptions(
            num_beams=args.beams or defaults["num_beams"],
            max_length=args.max_target_length or defaults["max_length"],
            length_penalty=(
                defaults["length_penalty"] if args.length_penalty is None else args.length_penalty
            ),
        )
        self.options.check(self.model)
        self.precision, self.batch_size, self.truncate = (
            args.precision,
            args.batch_size,
            args.truncate,
        )

    def run(self, texts: list[str], lines: list[int], path: str, progress=None) -> list[str]:
        sources, _ = encode_sources(
            self.tokenizer, texts, self.max_source_length, self.truncate, lines, path
        )
        with autocast_context(self.device, self.precision):
            return generate_ids_to_text(
                self.model, self.tokenizer, sources, self.options, self.batch_size, progress
            )


def _write_lines(rows, output: str) -> None:
    if output == "-":
        sys.stdout.writelines(rows)
        sys.stdout.flush()
    else:
        with atomic_write_file(output, encoding="utf-8") as handle:
            handle.writelines(rows)


# ------------------------------------------------------------------ generate


def register_generate(subparsers) -> None:
    parser = subparsers.add_parser(
        "generate",
        help="translate or summarize text with a fine-tuned seq2seq model",
        description="One source text per input line in, one generated text per line out.",
    )
    parser.add_argument("model", help="fine-tuned encoder-decoder folder")
    parser.add_argument("--input", required=True, help="text file, one source per line; - = stdin")
    parser.add_argument("--output", default="-", help="output file, or - for stdout")
    parser.add_argument("--json", action="store_true", help="write JSONL {line, source, output}")
    _add_generation_args(parser, "--max-length")
    parser.add_argument(
        "--max-target-length", dest="max_target_length", type=positive_int, help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--max-source-length", type=positive_int, help="source token limit (default: as trained)"
    )
    parser.add_argument("--batch-size", type=positive_int, default=16)
    parser.add_argument("--precision", choices=["fp32", "bf16", "auto"], default="fp32")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=cli_generate, max_length=None)


def cli_generate(args) -> int:
    loaded = _Loaded(args)
    numbered = read_numbered_lines(args.input)
    lines, texts = [n for n, _ in numbered], [t for _, t in numbered]
    name = "standard input" if args.input == "-" else args.input
    with progress_bar(len(texts), "generating", enabled=not args.no_progress) as bar:
        outputs = loaded.run(texts, lines, name, bar.update)
    if args.json:
        rows = (
            json.dumps({"line": line, "source": text, "output": output}, ensure_ascii=False) + "\n"
            for line, text, output in zip(lines, texts, outputs, strict=True)
        )
    else:
        rows = (output + "\n" for output in outputs)
    _write_lines(rows, args.output)
    return 0


# ---------------------------------------------------------- evaluate / predict


def add_evaluate_args(parser) -> None:
    _add_field_args(parser, with_target=True)
    _add_generation_args(parser, "--max-target-length")
    parser.add_argument("--metric", choices=METRICS, default="bleu", help="bleu or rouge")


def add_predict_args(parser) -> None:
    _add_field_args(parser, with_target=False)
    _add_generation_args(parser, "--max-target-length")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def cli_evaluate(args) -> int:
    loaded = _Loaded(args)
    pairs = read_pairs(args.data, _fields(args))
    with progress_bar(len(pairs), "generating") as bar:
        outputs = loaded.run(pairs.sources, pairs.lines, args.data, bar.update)
    report = {"data": args.data, "model": str(args.model), "pairs": len(pairs)}
    report.update(sequence_metrics(args.metric, outputs, pairs.targets))
    if args.metric == "bleu":
        details = corpus_bleu(outputs, pairs.targets)
        report.update({k: v for k, v in details.items() if k != "bleu"})
    report.update(
        num_beams=loaded.options.num_beams,
        max_length=loaded.options.max_length,
        length_penalty=loaded.options.length_penalty,
    )
    if args.output:
        write_report(report, args.output)
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        scores = ", ".join(
            f"{name} {report[name]:.2f}"
            for name in ("bleu", "rouge1", "rouge2", "rougeL", "rougeLsum", "exact_match")
            if name in report
        )
        print(f"{scores} on {len(pairs)} pairs ({loaded.options.num_beams} beams)")
    return 0


def cli_predict(args) -> int:
    loaded = _Loaded(args)
    pairs = read_pairs(args.input, _fields(args), with_targets=False)
    name = "standard input" if args.input == "-" else args.input
    with progress_bar(len(pairs), "generating", enabled=not args.no_progress) as bar:
        outputs = loaded.run(pairs.sources, pairs.lines, name, bar.update)
    rows = (
        json.dumps({"line": line, "output": output}, ensure_ascii=False) + "\n"
        for line, output in zip(pairs.lines, outputs, strict=True)
    )
    _write_lines(rows, args.output)
    return 0
