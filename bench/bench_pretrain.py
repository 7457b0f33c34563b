"""MLM pretraining throughput: bertkit's Trainer vs transformers' BertForMaskedLM side by side.

Both sides train the same architecture (a preset, default BERT-mini over the 30,522-token
uncased vocabulary), on the same packed 128-token sequences of the same corpus, with the same
batch size, AdamW, gradient clipping and number of steps:

- bertkit: `bertkit.training.Trainer` with `MaskingCollator` (loss and vocabulary projection at
  masked positions only), in fp32 and with bf16 autocast;
- reference: `transformers.BertForMaskedLM` + `DataCollatorForLanguageModeling` (15%, 80/10/10)
  in a plain PyTorch loop, in its default fp32 and with bf16 autocast.

Each run of a configuration is its own subprocess, so its peak memory (ru_maxrss) is its own.
Runs are interleaved (bertkit, reference, bertkit, reference, ... for `--rounds` rounds) and the
median round per side is reported: on a shared machine the load changes from minute to minute,
and interleaving spreads it over both sides. Both sides are timed the same way, from the start
of one training forward pass to the next (data, masking, forward, backward, clipping, update),
in wall-clock time and in process CPU time (all threads; steadier when other jobs compete for
the cores). The first `--skip` steps are left out (allocator and kernel warm-up).

    python bench/bench_pretrain.py --corpus ../shared/data/corpus --steps 30 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

SIDES = ("bertkit-fp32", "bertkit-bf16", "hf-fp32", "hf-bf16")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", nargs="+", default=["../shared/data/corpus"])
    parser.add_argument("--tokenizer", default="minilm", help="folder or known model name")
    parser.add_argument("--preset", default="mini")
    parser.add_argument("--seq-length", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--skip", type=int, default=5, help="warm-up steps left out of timing")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sides", nargs="+", choices=SIDES, default=list(SIDES))
    parser.add_argument(
        "--rounds", type=int, default=3, help="runs per side, interleaved; the median is kept"
    )
    parser.add_argument("--side", choices=SIDES, help=argparse.SUPPRESS)  # worker mode
    return parser.parse_args(argv)


def packed_sequences(args) -> tuple[np.ndarray, object]:
    """(N, seq_length) packed token ids from bertkit's cache (built once), and the tokenizer."""
    from bertkit.hub import cache_dir, resolve_model
    from bertkit.pretraining.cache import load_or_build
    from bertkit.pretraining.corpus import resolve_corpus
    from bertkit.tokenization import Tokenizer

    tokenizer = Tokenizer.from_pretrained(resolve_model(args.tokenizer))
    corpus = load_or_build(resolve_corpus(args.corpus), tokenizer, args.seq_length, cache_dir())
    needed = args.steps * args.batch_size
    rows = [corpus.sequence(i) for i in range(min(needed, len(corpus) - 1))]
    if len(rows) < needed:
        raise SystemExit(f"the corpus has only {len(rows)} full sequences; {needed} are needed")
    return np.stack(rows), tokenizer


def run_bertkit(args, sequences, tokenizer, bf16: bool) -> dict:
    from bertkit.model.heads import BertForMaskedLM
    from bertkit.pretraining.masking import MaskingCollator
    from bertkit.pretraining.presets import preset_config
    from bertkit.training import Trainer, TrainingConfig

    torch.manual_seed(0)
    model = BertForMaskedLM(preset_config(args.preset, tokenizer.vocab_size))
    dataset = [{"input_ids": torch.from_numpy(row)} for row in sequences]
    with tempfile.TemporaryDirectory() as output_dir:
        config = TrainingConfig(
            output_dir=output_dir,
            max_steps=args.steps,
            batch_size=args.batch_size,
            learning_rate=5e-4,
            warmup_steps=0,
            lr_schedule="constant",  # as the reference loop: a fixed learning rate
            log_every=1,
            save_every=0,
            keep_last=1,
            precision="bf16" if bf16 else "fp32",
            progress_bar=False,
        )
        marks = _mark_forward_starts(model)
        trainer = Trainer(model, config, dataset, collate_fn=MaskingCollator(tokenizer))
        result = trainer.train()
    return {"marks": marks, "final_loss": result.metrics.get("loss")}


def run_reference(args, sequences, tokenizer, bf16: bool) -> dict:
    import transformers
    from transformers import BertForMaskedLM, DataCollatorForLanguageModeling

    from bertkit.hub import resolve_model
    from bertkit.pretraining.presets import preset_config

    ours = preset_config(args.preset, tokenizer.vocab_size)
    config = transformers.BertConfig(
        vocab_size=ours.vocab_size,
        hidden_size=ours.hidden_size,
        num_hidden_layers=ours.num_hidden_layers,
        num_attention_heads=ours.num_attention_heads,
        intermediate_size=ours.intermediate_size,
    )
    torch.manual_seed(0)
    model = BertForMaskedLM(config).train()
    hf_tokenizer = transformers.BertTokenizerFast.from_pretrained(
        str(resolve_model(args.tokenizer))
    )
    collator = DataCollatorForLanguageModeling(hf_tokenizer, mlm_probability=0.15)
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2 or "LayerNorm" in n]
    decay = [p for n, p in model.named_parameters() if not (p.ndim < 2 or "LayerNorm" in n)]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
        lr=5e-4,
    )
    marks, loss = _mark_forward_starts(model), None
    for step in range(args.steps):
        rows = sequences[step * args.batch_size : (step + 1) * args.batch_size]
        batch = collator([{"input_ids": row.tolist()} for row in rows])
        context = torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16)
        with context:
            output = model(**batch)
        output.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        loss = output.loss.item()
    return {"marks": marks, "final_loss": loss}


def _mark_forward_starts(model: torch.nn.Module) -> list[tuple[float, float]]:
    """(wall, process CPU) seconds at the start of every training forward pass.

    Consecutive marks bracket one whole step of either side, whatever its loop looks like.
    """
    marks: list[tuple[float, float]] = []

    def hook(module, inputs):
        if module.training:
            marks.append((time.perf_counter(), time.process_time()))

    model.register_forward_pre_hook(hook)
    return marks


def worker(args) -> None:
    torch.set_num_threads(args.threads)
    sequences, tokenizer = packed_sequences(args)
    runner = run_bertkit if args.side.startswith("bertkit") else run_reference
    if not args.side.startswith("bertkit"):
        import transformers  # noqa: F401 - counted in the baseline, not in training memory
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = runner(args, sequences, tokenizer, bf16=args.side.endswith("bf16"))
    marks = result["marks"]
    if len(marks) != args.steps or args.steps - args.skip < 2:
        raise SystemExit(f"{args.side}: {len(marks)} steps marked; need --steps > --skip + 1")
    # Steps skip .. steps-2 are bracketed by the next step's mark.
    (wall_start, cpu_start), (wall_end, cpu_end) = marks[args.skip], marks[-1]
    tokens = args.batch_size * args.seq_length * (args.steps - 1 - args.skip)
    print(
        json.dumps(
            {
                "side": args.side,
                "tokens_per_s": tokens / (wall_end - wall_start),
                "tokens_per_cpu_s": tokens / (cpu_end - cpu_start),
                "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "baseline_rss_mib": baseline,
                "final_loss": result["final_loss"],
            }
        )
    )


def _run_side(side: str, args) -> dict:
    command = [sys.executable, __file__, "--side", side, *sys.argv[1:]]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    process = subprocess.run(command, capture_output=True, text=True, env=env)
    if process.returncode != 0:
        raise SystemExit(f"{side} failed:\n{process.stderr[-3000:]}")
    return json.loads(process.stdout.strip().splitlines()[-1])


def main() -> None:
    args = parse_args()
    if args.side:
        worker(args)
        return
    packed_sequences(args)  # build the token cache once, outside the timed runs
    runs: dict[str, list[dict]] = {side: [] for side in args.sides}
    # Interleaved: every round runs each side once, so load changes hit all sides alike.
    for round_number in range(args.rounds):
        for side in args.sides:
            row = _run_side(side, args)
            row["round"] = round_number
            print(json.dumps(row), flush=True)
            runs[side].append(row)
    results = {side: _median_row(rows) for side, rows in runs.items()}

    print(
        f"\npreset {args.preset}, seq {args.seq_length}, batch {args.batch_size}, "
        f"{args.steps} steps ({args.skip} untimed), {args.threads} threads, median of "
        f"{args.rounds} interleaved round(s)"
    )
    print(
        "tokens/s: wall clock; tokens/CPU-s: per second of process CPU time (all threads); "
        "peak RSS: whole process; training: peak RSS minus the RSS after imports and data"
    )
    header = f"{'configuration':<14} {'tokens/s':>9} {'tokens/CPU-s':>13} {'peak RSS MiB':>13}"
    print(header + f" {'training MiB':>13} {'final loss':>11}")
    for side, row in results.items():
        training = row["peak_rss_mib"] - row["baseline_rss_mib"]
        print(
            f"{side:<14} {row['tokens_per_s']:>9.0f} {row['tokens_per_cpu_s']:>13.0f} "
            f"{row['peak_rss_mib']:>13.0f} {training:>13.0f} {row['final_loss']:>11.3f}"
        )
    for ours, theirs in (
        ("bertkit-fp32", "hf-fp32"),
        ("bertkit-bf16", "hf-fp32"),
        ("bertkit-bf16", "hf-bf16"),
    ):
        if ours in results and theirs in results:
            mine, reference = results[ours], results[theirs]
            print(
                f"{ours} / {theirs}: "
                f"{mine['tokens_per_s'] / reference['tokens_per_s']:.2f}x throughput (wall), "
                f"{mine['tokens_per_cpu_s'] / reference['tokens_per_cpu_s']:.2f}x (CPU time), "
                f"{mine['peak_rss_mib'] / reference['peak_rss_mib']:.2f}x peak memory"
            )


def _median_row(rows: list[dict]) -> dict:
    """Per-field medians over a side's rounds (throughputs, memory and loss separately)."""
    fields = ("tokens_per_s", "tokens_per_cpu_s", "peak_rss_mib", "baseline_rss_mib")
    median = {name: float(np.median([row[name] for row in rows])) for name in fields}
    median["final_loss"] = rows[0]["final_loss"]  # the same seeds every round
    return median


if __name__ == "__main__":
    main()
