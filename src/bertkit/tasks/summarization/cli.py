"""`bertkit finetune summarize`, and the summarization side of `bertkit evaluate` / `predict`.

`bertkit summarize MODEL --input FILE` (bertkit/cli/summarize.py) reuses `summarize_documents`.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator

from bertkit.cli.common import progress_bar
from bertkit.errors import InputError
from bertkit.io_utils import atomic_write_file
from bertkit.tasks.summarization.data import Document, read_documents
from bertkit.tasks.summarization.summarizer import METHODS, Summarizer
from bertkit.tasks.summarization.supervised import PackingSettings
from bertkit.tasks.summarization.training import (
    SummarizationOptions,
    evaluate_summaries,
    finetune,
)
from bertkit.training import add_training_args, config_from_args

logger = logging.getLogger(__name__)

FINETUNE_DEFAULTS = {
    "output_dir": None,  # default: <out>-checkpoints
    "learning_rate": 3e-5,
    "num_epochs": 3.0,
    "batch_size": 8,
    "warmup_ratio": 0.1,
    "save_every": 500,
    "keep_last": 2,
    "metric_for_best": None,  # set to rouge2 when a dev set is given
    "greater_is_better": True,
    "precision": "auto",
}


def add_field_args(parser, with_summary: bool = True) -> None:
    parser.add_argument(
        "--document-field",
        default=None,
        help="JSON key of the document (default: document, article or text)",
    )
    if with_summary:
        parser.add_argument(
            "--summary-field",
            default=None,
            help="JSON key of the reference summary (default: summary or highlights)",
        )
    parser.add_argument(
        "--format",
        dest="file_format",
        choices=["csv", "tsv", "jsonl", "text"],
        default=None,
        help="input format (default: JSONL if the first line is a JSON object, else plain "
        "text); summarization reads jsonl or text",
    )


def add_length_args(parser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--sentences", type=int, default=None, help="sentences per summary (default 3)"
    )
    group.add_argument(
        "--ratio",
        type=float,
        default=None,
        help="summary length as a fraction of the document's sentences",
    )
    parser.add_argument(
        "--method",
        choices=METHODS,
        default=None,
        help="default: supervised for a fine-tuned summarizer, else centrality",
    )
    parser.add_argument(
        "--diversity",
        type=float,
        default=0.5,
        help="MMR redundancy penalty of the centrality method, 0..1",
    )


def register_finetune(subparsers) -> None:
    parser = subparsers.add_parser(
        "summarize",
        help="extractive summarization (BertSum-style sentence scoring)",
        description="Fine-tune a BERT sentence scorer on JSONL documents with reference "
        "summaries; sentence labels come from a greedy ROUGE oracle.",
    )
    parser.add_argument("--model", default="minilm", help="pretrained model folder or name")
    parser.add_argument("--train", required=True, help="JSONL documents with summaries")
    parser.add_argument(
        "--dev",
        "--eval",
        dest="dev",
        help="JSONL for ROUGE on the dev set, best checkpoint, early stopping",
    )
    parser.add_argument("--out", required=True, help="folder for the fine-tuned model")
    add_field_args(parser)
    parser.add_argument("--max-length", type=int, default=512, help="tokens per window")
    parser.add_argument(
        "--max-sentence-tokens",
        type=int,
        default=64,
        help="each sentence is cut to this many word pieces",
    )
    parser.add_argument(
        "--oracle-sentences",
        type=int,
        default=3,
        help="most sentences per document labelled positive by the oracle",
    )
    parser.add_argument(
        "--summary-sentences", type=int, default=3, help="summary length for the dev-set ROUGE"
    )
    parser.add_argument("--max-train-documents", type=int, default=None)
    parser.add_argument(
        "--freeze-layers",
        type=int,
        default=0,
        help="keep the embeddings and the first N encoder layers fixed (cheaper steps)",
    )
    add_training_args(parser, FINETUNE_DEFAULTS)
    parser.set_defaults(func=cli_finetune)


def cli_finetune(args) -> int:
    if args.max_length < 16 or args.max_sentence_tokens < 1:
        raise InputError("--max-length must be at least 16 and --max-sentence-tokens at least 1")
    if args.oracle_sentences < 1 or args.summary_sentences < 1:
        raise InputError("--oracle-sentences and --summary-sentences must be at least 1")
    output_dir = args.output_dir or f"{args.out.rstrip('/')}-checkpoints"
    metric = args.metric_for_best or ("rouge2" if args.dev else None)
    training = config_from_args(args, output_dir=output_dir, metric_for_best=metric)
    read = {
        "document_field": args.document_field,
        "summary_field": args.summary_field,
        "require_summary": True,
        "input_format": _input_format(args),
    }
    train = read_documents(args.train, **read)
    dev = read_documents(args.dev, **read) if args.dev else None
    options = SummarizationOptions(
        packing=PackingSettings(args.max_length, args.max_sentence_tokens),
        oracle_sentences=args.oracle_sentences,
        summary_sentences=args.summary_sentences,
        max_train_documents=args.max_train_documents,
        freeze_layers=args.freeze_layers,
    )
    report = finetune(args.model, train, args.out, training, options, dev)
    stats = report["train"]
    print(
        f"trained on {stats['documents']} documents ({stats['windows']} windows, "
        f"{stats['oracle_positive_fraction']:.1%} of sentences oracle-positive)"
    )
    print(f"stopped after {report['steps']} steps ({report['stop_reason']})")
    if "dev" in report:
        dev_scores = report["dev"]
        print(
            "dev " + ", ".join(f"{k} {dev_scores[k]:.2f}" for k in ("rouge1", "rouge2", "rougeL"))
        )
    print(f"model saved to {report['model']}")
    print(f"checkpoints and metrics.csv in {output_dir}")
    return 0


def _input_format(args) -> str:
    file_format = getattr(args, "file_format", None)
    if file_format in ("csv", "tsv"):
        raise InputError("summarization reads JSONL (--format jsonl) or plain text (--format text)")
    return file_format or "auto"


def add_evaluate_args(parser) -> None:
    add_field_args(parser)
    add_length_args(parser)
    parser.add_argument(
        "--baselines", action="store_true", help="also score the lead and centrality baselines"
    )


def add_predict_args(parser) -> None:
    add_field_args(parser, with_summary=False)
    add_length_args(parser)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def load_summarizer_for(args) -> Summarizer:
    if args.diversity is not None and not 0.0 <= args.diversity <= 1.0:
        raise InputError(f"--diversity must be in [0, 1], got {args.diversity}")
    return Summarizer.from_pretrained(
        args.model, diversity=args.diversity, batch_size=args.batch_size, precision=args.precision
    )


def cli_evaluate(args) -> int:
    summarizer = load_summarizer_for(args)
    documents = read_documents(
        args.data,
        document_field=args.document_field,
        summary_field=args.summary_field,
        require_summary=True,
        input_format=_input_format(args),
    )
    methods = [args.method or summarizer.default_method]
    if args.baselines:
        methods += [m for m in ("centrality", "lead") if m not in methods]
    report = {"data": args.data, "documents": len(documents), "methods": {}}
    for method in methods:

        def summarize(text: str, method: str = method) -> list[str]:
            summary = summarizer.summarize(text, args.sentences, ratio=args.ratio, method=method)
            return [sentence.text for sentence in summary.sentences]

        report["methods"][method] = evaluate_summaries(summarize, documents)
    if args.output:
        with atomic_write_file(args.output, encoding="utf-8") as handle:
            json.dump(report, handle, indent=1)
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    print(f"{len(documents)} documents from {args.data}; ROUGE F1 (x100), stemmed")
    print(f"{'method':<12} {'ROUGE-1':>8} {'ROUGE-2':>8} {'ROUGE-L':>8} {'ROUGE-Lsum':>10}")
    for method, scores in report["methods"].items():
        print(
            f"{method:<12} {scores['rouge1']:8.2f} {scores['rouge2']:8.2f} "
            f"{scores['rougeL']:8.2f} {scores['rougeLsum']:10.2f}"
        )
    return 0


def summarize_documents(
    summarizer: Summarizer, documents: list[Document], args, show_progress: bool = True
) -> Iterator[dict]:
    """One output record per document; an empty document gets an empty summary and a note."""
    bar = progress_bar(len(documents), "summarizing", enabled=show_progress)
    try:
        for position, document in enumerate(documents):
            record = {"line": document.line} if document.record is not None else {}
            try:
                summary = summarizer.summarize(
                    document.text, args.sentences, ratio=args.ratio, method=args.method
                )
            except InputError as error:
                if len(documents) == 1:
                    raise
                logger.warning("document on line %d: %s", document.line, error)
                record.update(summary="", sentences=[], error=str(error))
            else:
                record.update(summary.to_dict())
            bar.update(1)
            yield {"index": position, **record}
    finally:
        bar.close()


def cli_predict(args) -> int:
    summarizer = load_summarizer_for(args)
    documents = read_documents(
        args.input, document_field=args.document_field, input_format=_input_format(args)
    )
    records = summarize_documents(summarizer, documents, args, not args.no_progress)
    if args.output == "-":
        for record in records:
            print(json.dumps(record, ensure_ascii=False), flush=True)
        return 0
    with atomic_write_file(args.output, encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    print(f"wrote {len(documents)} summaries to {args.output}", file=sys.stderr)
    return 0
