"""`bertkit pretrain`, `bertkit tokenizer train` and `bertkit fill-mask`."""

from __future__ import annotations

import json
import os
import sys

from bertkit.pretraining.masking import MaskingConfig
from bertkit.pretraining.presets import PRESET_SIZES
from bertkit.training import add_training_args, config_from_args

PRETRAIN_DEFAULTS = {
    "output_dir": "runs/pretrain",
    "learning_rate": 5e-4,
    "weight_decay": 0.01,
    "warmup_steps": 100,
    "batch_size": 32,
    "log_every": 10,
    "eval_every": 200,
    "save_every": 500,
    "adam_beta2": 0.98,
    "adam_epsilon": 1e-6,
}
MODEL_OVERRIDES = {
    "hidden_size": "--hidden-size",
    "num_hidden_layers": "--num-layers",
    "num_attention_heads": "--num-heads",
    "intermediate_size": "--intermediate-size",
    "hidden_dropout_prob": "--hidden-dropout",
    "attention_probs_dropout_prob": "--attention-dropout",
}


def register(subparsers) -> None:
    _register_pretrain(subparsers)
    _register_tokenizer(subparsers)
    _register_fill_mask(subparsers)


def _register_pretrain(subparsers) -> None:
    parser = subparsers.add_parser(
        "pretrain",
        help="masked-language-model pretraining on raw text (from scratch or continued)",
        description="Pretrain BERT with masked-language modelling on .txt/.txt.gz/.jsonl text.",
    )
    data = parser.add_argument_group("data")
    data.add_argument(
        "--corpus",
        nargs="+",
        default=[],
        help="corpus files or folders (default: the built-in English corpus)",
    )
    data.add_argument("--max-seq-length", type=int, default=128)
    data.add_argument(
        "--eval-fraction",
        type=float,
        default=0.01,
        help="share of sequences held out for evaluation (default: %(default)s)",
    )
    data.add_argument("--max-eval-sequences", type=int, default=1000)
    data.add_argument("--cache-dir", help="token cache folder (default: the bertkit cache)")

    model = parser.add_argument_group("model and vocabulary")
    model.add_argument(
        "--preset",
        choices=sorted(PRESET_SIZES),
        default="mini",
        help="model size when training from scratch (default: %(default)s)",
    )
    for field_name, flag in MODEL_OVERRIDES.items():
        kind = float if "dropout" in field_name else int
        model.add_argument(
            flag, dest=field_name, type=kind, help=f"override the preset's {field_name}"
        )
    model.add_argument("--init-from", help="continue pretraining this model folder")
    model.add_argument("--tokenizer", help="tokenizer folder (default: learn one from the corpus)")
    model.add_argument(
        "--vocab-size",
        type=int,
        default=16384,
        help="size of a vocabulary learnt from the corpus (default: %(default)s)",
    )
    model.add_argument("--cased", action="store_true", help="learn a cased vocabulary")

    masking = parser.add_argument_group("masking")
    masking.add_argument("--mlm-probability", type=float, default=0.15)
    masking.add_argument("--whole-word-masking", action="store_true")
    masking.add_argument("--mask-replace-prob", type=float, default=0.8)
    masking.add_argument("--random-replace-prob", type=float, default=0.1)
    add_training_args(parser, PRETRAIN_DEFAULTS)
    parser.set_defaults(func=run_pretrain)


def _register_tokenizer(subparsers) -> None:
    parser = subparsers.add_parser("tokenizer", help="vocabulary tools")
    commands = parser.add_subparsers(dest="tokenizer_command", metavar="COMMAND", required=True)
    train = commands.add_parser("train", help="learn a WordPiece vocabulary from a corpus")
    train.add_argument("--corpus", nargs="+", required=True, help=".txt, .txt.gz or .jsonl files")
    train.add_argument("--vocab-size", type=int, default=30522)
    train.add_argument("--out", required=True, help="tokenizer folder to write")
    train.add_argument("--min-frequency", type=int, default=2)
    case = train.add_mutually_exclusive_group()
    case.add_argument(
        "--uncased",
        dest="lowercase",
        action="store_true",
        default=True,
        help="lowercase and strip accents as BERT-uncased does (default)",
    )
    case.add_argument("--cased", dest="lowercase", action="store_false")
    train.set_defaults(func=run_tokenizer_train)


def _register_fill_mask(subparsers) -> None:
    parser = subparsers.add_parser("fill-mask", help="top-k fillers for each [MASK] in a text")
    parser.add_argument("model", help="masked-LM model folder (bertkit or Hugging Face)")
    parser.add_argument("texts", nargs="+", help='text(s) with [MASK], e.g. "Paris is the [MASK]."')
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print JSON lines")
    parser.add_argument("--precision", choices=["fp32", "bf16", "auto"], default="fp32")
    parser.add_argument(
        "--truncate",
        action="store_true",
        help="read only the first max_position_embeddings tokens of an over-long text "
        "(default: refuse it)",
    )
    parser.set_defaults(func=run_fill_mask)


def run_pretrain(args) -> int:
    from bertkit.pretraining.run import PretrainOptions, run_pretraining

    options = PretrainOptions(
        corpus=args.corpus,
        tokenizer=args.tokenizer,
        init_from=args.init_from,
        preset=args.preset,
        model_overrides={name: getattr(args, name) for name in MODEL_OVERRIDES},
        vocab_size=args.vocab_size,
        lowercase=not args.cased,
        max_seq_length=args.max_seq_length,
        masking=MaskingConfig(
            mlm_probability=args.mlm_probability,
            mask_replace_prob=args.mask_replace_prob,
            random_replace_prob=args.random_replace_prob,
            whole_word=args.whole_word_masking,
        ),
        eval_fraction=args.eval_fraction,
        max_eval_sequences=args.max_eval_sequences,
        cache_root=args.cache_dir,
    )
    result = run_pretraining(options, config_from_args(args))
    if int(os.environ.get("RANK", "0")) != 0:
        return 0  # under torchrun, rank 0 reports
    metrics = ", ".join(f"{key} {value:.4g}" for key, value in sorted(result.metrics.items()))
    print(
        f"stopped after step {result.global_step} ({result.stop_reason}); {metrics}; "
        f"model in {result.output_dir / 'model'}",
        file=sys.stderr,
    )
    return 0


def run_tokenizer_train(args) -> int:
    from bertkit.vocab import train_vocabulary_files

    tokenizer = train_vocabulary_files(
        args.corpus,
        args.out,
        args.vocab_size,
        lowercase=args.lowercase,
        min_frequency=args.min_frequency,
    )
    print(f"wrote a {tokenizer.vocab_size}-token WordPiece vocabulary to {args.out}")
    return 0


def run_fill_mask(args) -> int:
    from bertkit.fill_mask import fill_mask, load_fill_mask_model

    model, tokenizer = load_fill_mask_model(args.model)
    results = fill_mask(
        model,
        tokenizer,
        args.texts,
        top_k=args.top_k,
        precision=args.precision,
        truncate=args.truncate,
    )
    for text, masks in zip(args.texts, results, strict=True):
        if args.json:
            record = {
                "text": text,
                "masks": [
                    [
                        {"token": f.token, "probability": f.probability, "sequence": f.sequence}
                        for f in fillers
                    ]
                    for fillers in masks
                ],
            }
            print(json.dumps(record, ensure_ascii=False))
            continue
        print(text)
        for number, fillers in enumerate(masks, start=1):
            shown = "  ".join(f"{f.token} {_format_probability(f.probability)}" for f in fillers)
            print(f"  [MASK] {number}: {shown}")
    return 0


def _format_probability(probability: float) -> str:
    """Three decimals, or two significant digits for a probability that would show as 0.000."""
    return f"{probability:.3f}" if probability >= 0.0005 else f"{probability:.1e}"
