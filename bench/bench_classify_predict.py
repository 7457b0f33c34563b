"""Inference throughput: bertkit TextClassifier vs transformers pipeline("text-classification").

Both load the same fine-tuned model folder (one written by `bertkit finetune classify`, which
transformers reads as a BertForSequenceClassification) and label the same texts with batch
size 32, and each side's accuracy against the file's labels is printed, together with how
many labels agree with the pipeline's. bertkit tokenises all texts in one call and runs
length-sorted batches padded to their longest row, once in fp32 and once in bf16 autocast
(the precision its "auto" picks on CPUs with fast bf16), so the bf16 speed-up and any
accuracy change are both visible; the pipeline pads each batch of 32 consecutive texts to its
longest row, in fp32. Each side runs --repeats times, alternating, and the fastest run counts
(the machine is shared, so the minimum is the least disturbed figure); the process CPU time
of that run is printed too, the steadier measure when other jobs share the cores.

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
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    import transformers

    from bertkit.tasks.classification import TextClassifier

    transformers.logging.set_verbosity_error()
    with open(args.data, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    texts = [row["text"] for row in rows]
    gold = [row.get("label") for row in rows]
    classifiers = {
        precision: TextClassifier.from_pretrained(
            args.model, precision=precision, max_length=args.max_length
        )
        for precision in ("fp32", "bf16")
    }
    pipe = transformers.pipeline(
        "text-classification", model=args.model, tokenizer=args.model, device="cpu"
    )
    print(
        f"{len(texts)} texts, batch {args.batch_size}, max length {args.max_length}, torch "
        f"threads {torch.get_num_threads()}, load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )

    def run_bertkit(precision):
        results = classifiers[precision].predict(texts, batch_size=args.batch_size)
        return [result["label"] for result in results]

    def run_pipeline():
        outputs = pipe(
            texts, batch_size=args.batch_size, truncation=True, max_length=args.max_length
        )
        return [output["label"] for output in outputs]

    sides = {
        "bertkit fp32": lambda: run_bertkit("fp32"),
        "bertkit bf16": lambda: run_bertkit("bf16"),
        "transformers": run_pipeline,
    }
    best = {name: (float("inf"), 0.0) for name in sides}  # (wall s, CPU s) of the fastest run
    labels = {}
    for repeat in range(args.repeats):
        for name, run in sides.items():
            start, cpu_start = time.perf_counter(), time.process_time()
            labels[name] = run()
            seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
            best[name] = min(best[name], (seconds, cpu))
            print(
                f"run {repeat + 1} {name:12} {seconds:7.2f}s wall {cpu:7.2f}s CPU "
                f"{len(texts) / seconds:7.1f} texts/s",
                flush=True,
            )

    reference_wall, reference_cpu = best["transformers"]
    print(
        f"{'':14}{'wall s':>8}{'CPU s':>8}{'texts/s':>9}{'x wall':>8}{'x CPU':>7}{'accuracy':>10}"
    )
    for name, (seconds, cpu) in best.items():
        correct = sum(p == g for p, g in zip(labels[name], gold, strict=True))
        print(
            f"{name:14}{seconds:8.2f}{cpu:8.2f}{len(texts) / seconds:9.1f}"
            f"{reference_wall / seconds:8.2f}{reference_cpu / cpu:7.2f}"
            f"{correct / len(texts):10.4f}"
        )
    for name in ("bertkit fp32", "bertkit bf16"):
        agree = sum(a == b for a, b in zip(labels[name], labels["transformers"], strict=True))
        print(f"{name} labels agree with the pipeline's on {agree}/{len(texts)}")
    print("x wall / x CPU: transformers time divided by this side's time (texts/s ratio)")
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
