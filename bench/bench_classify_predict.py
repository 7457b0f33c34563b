"""Inference throughput: bertkit TextClassifier vs transformers pipeline("text-classification").

Both load the same fine-tuned model folder (one written by `bertkit finetune classify`, which
transformers reads as a BertForSequenceClassification) and label the same texts with batch
size 32; the script checks that both give the same labels. bertkit tokenises all texts in one
call and runs length-sorted batches padded to their longest row (bf16 autocast with
--precision bf16/auto); the pipeline pads each batch of 32 consecutive texts to its longest
row, in fp32. Each side runs --repeats times, alternating, and the fastest run counts (the
machine is shared, so the minimum is the least disturbed figure).

    python bench/bench_classify_predict.py MODEL_DIR --data ../shared/data/sentiment-rt/test.csv
"""

from __future__ import annotations

import argparse
import csv
import os
import time

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", help="fine-tuned classification model folder")
    parser.add_argument("--data", default="../shared/data/sentiment-rt/test.csv")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--precision", default="auto", choices=["auto", "bf16", "fp32"])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    import transformers

    from bertkit.tasks.classification import TextClassifier

    transformers.logging.set_verbosity_error()
    with open(args.data, encoding="utf-8", newline="") as handle:
        texts = [row["text"] for row in csv.DictReader(handle)]
    classifier = TextClassifier.from_pretrained(
        args.model, precision=args.precision, max_length=args.max_length
    )
    pipe = transformers.pipeline(
        "text-classification", model=args.model, tokenizer=args.model, device="cpu"
    )
    print(
        f"{len(texts)} texts, batch {args.batch_size}, max length {args.max_length}, bertkit "
        f"precision {args.precision}, torch threads {torch.get_num_threads()}, load average "
        f"{os.getloadavg()[0]:.1f}",
        flush=True,
    )

    def run_bertkit():
        return [r["label"] for r in classifier.predict(texts, batch_size=args.batch_size)]

    def run_pipeline():
        outputs = pipe(
            texts, batch_size=args.batch_size, truncation=True, max_length=args.max_length
        )
        return [output["label"] for output in outputs]

    best = {"bertkit": float("inf"), "transformers": float("inf")}
    labels = {}
    for repeat in range(args.repeats):
        for name, run in (("bertkit", run_bertkit), ("transformers", run_pipeline)):
            start = time.perf_counter()
            labels[name] = run()
            seconds = time.perf_counter() - start
            best[name] = min(best[name], seconds)
            print(
                f"run {repeat + 1} {name:12} {seconds:7.2f}s  {len(texts) / seconds:7.1f} texts/s",
                flush=True,
            )

    agree = sum(a == b for a, b in zip(labels["bertkit"], labels["transformers"], strict=True))
    print(f"{'':14}{'best s':>8}{'texts/s':>9}")
    for name, seconds in best.items():
        print(f"{name:14}{seconds:8.2f}{len(texts) / seconds:9.1f}")
    print(
        f"speed-up (bertkit texts/s / transformers texts/s): "
        f"{best['transformers'] / best['bertkit']:.2f}x; labels agree on {agree}/{len(texts)}"
    )
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
