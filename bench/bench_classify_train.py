"""Fine-tuning speed and accuracy: bertkit vs transformers, same weights, same budget.

Both start from all-MiniLM-L6-v2 and train a BertForSequenceClassification on the same rows of
the sentiment-rt training split with the same epochs, batch size, learning rate, warmup, weight
decay, gradient clipping, max length and seed; both are scored on the same test rows.

What differs is what each does by default:
- bertkit: `bertkit.tasks.classification.finetune` (the code behind `bertkit finetune
  classify`): length-grouped batches with dynamic padding, bf16 autocast where the CPU has
  AVX-512 BF16 (precision "auto"), its own encoder with SDPA attention.
- transformers: BertForSequenceClassification in a plain loop (see `run_transformers`):
  random batches padded per batch, fp32 (its CPU default).
Wall time covers training only (bertkit's includes tokenising the training file and writing
its final checkpoint; the reference's tokenisation is timed too, it writes no checkpoint), not
loading the weights or scoring. Each side also reports its process CPU time (user + system),
the steadier figure on a shared machine where other jobs take turns on the cores.

    python bench/bench_classify_train.py --data ../shared/data/sentiment-rt --epochs 1 \
        --threads 2 --keep-model /tmp/sentiment-model
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import random
import tempfile
import time
from pathlib import Path

import torch


def read_split(folder: Path, split: str) -> tuple[list[str], list[str]]:
    with open(folder / f"{split}.csv", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [row["text"] for row in rows], [row["label"] for row in rows]


def subset(texts, labels, rows, seed):
    if rows is None or rows >= len(texts):
        return texts, labels
    keep = sorted(random.Random(seed).sample(range(len(texts)), rows))
    return [texts[i] for i in keep], [labels[i] for i in keep]


def run_bertkit(args, train_file: Path, test, workdir: Path) -> dict:
    from bertkit.tasks.classification import ClassificationOptions, TextClassifier, finetune
    from bertkit.training import TrainingConfig

    training = TrainingConfig(
        output_dir=str(workdir / "bertkit-run"),
        seed=args.seed,
        learning_rate=args.lr,
        warmup_ratio=args.warmup_ratio,
        weight_decay=0.01,
        num_epochs=args.epochs,
        batch_size=args.batch_size,
        max_grad_norm=1.0,
        precision=args.bertkit_precision,
        save_every=0,
        log_every=10,
    )
    options = ClassificationOptions(max_length=args.max_length)
    out = Path(args.keep_model) if args.keep_model else workdir / "bertkit-model"
    start, cpu_start = time.perf_counter(), time.process_time()
    result = finetune(args.model, str(train_file), out, training, options)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    classifier = TextClassifier.from_pretrained(result.model_dir, max_length=args.max_length)
    report = classifier.evaluate(test[0], test[1], batch_size=64)
    return {
        "seconds": seconds,
        "cpu": cpu,
        "accuracy": report["accuracy"],
        "steps": result.train_result.global_step,
    }


def run_transformers(args, train, test, workdir: Path) -> dict:
    """The transformers reference: BertForSequenceClassification in a plain PyTorch loop, as
    in transformers' run_glue_no_trainer example (the Trainer needs `accelerate`, which this
    environment lacks): random batches padded per batch, AdamW without decay on biases and
    LayerNorm weights, linear warmup and decay, gradient clipping."""
    import transformers
    from transformers import BertForSequenceClassification, BertTokenizerFast

    transformers.logging.set_verbosity_error()
    torch.manual_seed(args.seed)
    labels = sorted(set(train[1]))
    label2id = {label: i for i, label in enumerate(labels)}
    tokenizer = BertTokenizerFast.from_pretrained(args.model_folder)
    model = BertForSequenceClassification.from_pretrained(
        args.model_folder,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id=label2id,
    )
    start, cpu_start = time.perf_counter(), time.process_time()
    encoded = tokenizer(train[0], truncation=True, max_length=args.max_length)
    targets = [label2id[label] for label in train[1]]
    batches_per_epoch = math.ceil(len(targets) / args.batch_size)
    steps = math.ceil(batches_per_epoch * args.epochs)
    # The same warmup count bertkit derives from the ratio.
    warmup_steps = int(round(args.warmup_ratio * steps))
    no_decay = ("bias", "LayerNorm.weight")
    groups = [
        {
            "params": [p for n, p in model.named_parameters() if not n.endswith(no_decay)],
            "weight_decay": 0.01,
        },
        {
            "params": [p for n, p in model.named_parameters() if n.endswith(no_decay)],
            "weight_decay": 0.0,
        },
    ]
    optimizer = torch.optim.AdamW(groups, lr=args.lr)
    scheduler = transformers.get_linear_schedule_with_warmup(optimizer, warmup_steps, steps)
    generator = torch.Generator().manual_seed(args.seed)

    model.train()
    step = 0
    while step < steps:
        order = torch.randperm(len(targets), generator=generator).tolist()
        for begin in range(0, len(order), args.batch_size):
            rows = order[begin : begin + args.batch_size]
            features = [
                {key: encoded[key][i] for key in ("input_ids", "token_type_ids", "attention_mask")}
                for i in rows
            ]
            batch = tokenizer.pad(features, return_tensors="pt")
            batch["labels"] = torch.tensor([targets[i] for i in rows])
            loss = model(**batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            if step >= steps:
                break
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start

    model.eval()
    correct = 0
    order = sorted(range(len(test[0])), key=lambda i: len(test[0][i]))
    with torch.inference_mode():
        for begin in range(0, len(order), 64):
            rows = order[begin : begin + 64]
            batch = tokenizer(
                [test[0][i] for i in rows],
                truncation=True,
                max_length=args.max_length,
                padding=True,
                return_tensors="pt",
            )
            predicted = model(**batch).logits.argmax(-1).tolist()
            correct += sum(labels[p] == test[1][i] for p, i in zip(predicted, rows, strict=True))
    return {"seconds": seconds, "cpu": cpu, "accuracy": correct / len(test[0]), "steps": step}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="../shared/data/sentiment-rt", help="train/test CSVs")
    parser.add_argument("--model", default="minilm", help="bertkit model name or folder")
    parser.add_argument("--train-rows", type=int, default=None, help="seeded subset of train")
    parser.add_argument("--test-rows", type=int, default=None)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--warmup-ratio", type=float, default=0.1)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--bertkit-precision", default="auto", choices=["auto", "bf16", "fp32"])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--only", choices=["bertkit", "transformers"], default=None)
    parser.add_argument("--keep-model", default=None, help="save bertkit's model folder here")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from bertkit.hub import resolve_model

    args.model_folder = str(resolve_model(args.model))
    data = Path(args.data)
    train = subset(*read_split(data, "train"), args.train_rows, args.seed)
    test = subset(*read_split(data, "test"), args.test_rows, args.seed)
    print(
        f"budget: {len(train[0])} train rows, {args.epochs:g} epoch(s), batch {args.batch_size}, "
        f"lr {args.lr}, warmup {args.warmup_ratio}, max length {args.max_length}, seed "
        f"{args.seed}; test rows {len(test[0])}; torch threads {torch.get_num_threads()}; "
        f"load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )

    with tempfile.TemporaryDirectory(prefix="bench-classify-") as tmp:
        workdir = Path(tmp)
        train_file = workdir / "train.csv"
        with open(train_file, "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["text", "label"])
            writer.writerows(zip(*train, strict=True))
        results = {}
        if args.only in (None, "bertkit"):
            results["bertkit"] = run_bertkit(args, train_file, test, workdir)
            print(f"bertkit:      {results['bertkit']}", flush=True)
        if args.only in (None, "transformers"):
            results["transformers"] = run_transformers(args, train, test, workdir)
            print(f"transformers: {results['transformers']}", flush=True)

    print(f"{'':14}{'wall s':>9}{'CPU s':>9}{'steps':>7}{'test acc':>10}")
    for name, r in results.items():
        print(f"{name:14}{r['seconds']:9.1f}{r['cpu']:9.1f}{r['steps']:7d}{r['accuracy']:10.4f}")
    if len(results) == 2:
        bertkit, reference = results["bertkit"], results["transformers"]
        delta = bertkit["accuracy"] - reference["accuracy"]
        print(
            "training speed-up (transformers / bertkit): "
            f"wall {reference['seconds'] / bertkit['seconds']:.2f}x, "
            f"CPU {reference['cpu'] / bertkit['cpu']:.2f}x; "
            f"accuracy difference (bertkit - transformers): {delta:+.4f}"
        )
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
