"""`bertkit summarize MODEL --input FILE`: extractive summaries of plain text or JSONL documents.

A plain-text input is one document; its summary is printed one sentence per line (or as one
JSON object with --json). A JSONL input gives one JSON line per document, as `bertkit predict`.
"""

from __future__ import annotations

import json

from bertkit.tasks.summarization.cli import (
    add_length_args,
    load_summarizer_for,
    summarize_documents,
)
from bertkit.tasks.summarization.data import read_documents


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "summarize", help="extractive summary of a document (file or stdin)"
    )
    parser.add_argument(
        "model",
        help="model folder or name: an encoder (minilm) or a "
        "summarizer from `bertkit finetune summarize`",
    )
    parser.add_argument("--input", required=True, help="text or JSONL file, or - for stdin")
    parser.add_argument(
        "--format",
        dest="file_format",
        choices=["auto", "text", "jsonl"],
        default="auto",
        help="input format (default: detect JSONL)",
    )
    parser.add_argument(
        "--document-field",
        default=None,
        help="JSON key of the document (default: document, article or text)",
    )
    add_length_args(parser)
    parser.add_argument("--json", action="store_true", help="print JSON with offsets and scores")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--precision", choices=["fp32", "bf16", "auto"], default="fp32")
    parser.set_defaults(func=run_summarize)


def run_summarize(args) -> int:
    summarizer = load_summarizer_for(args)
    documents = read_documents(
        args.input, document_field=args.document_field, input_format=args.file_format
    )
    records = summarize_documents(summarizer, documents, args, show_progress=len(documents) > 1)
    if len(documents) == 1 and documents[0].record is None:
        record = next(records)
        if args.json:
            print(json.dumps(record, ensure_ascii=False, indent=1))
        else:
            for sentence in record["sentences"]:
                print(sentence["text"])
        return 0
    for record in records:
        print(json.dumps(record, ensure_ascii=False), flush=True)
    return 0
