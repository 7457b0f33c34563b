"""Encoder forward throughput: bertkit's BertModel vs transformers.BertModel on MiniLM.

Both load all-MiniLM-L6-v2 (fetched by bertkit into $BERTKIT_CACHE) and run the same
batches: --batch-size rows of exactly --seq-len tokens of real text with an all-ones
attention mask, under torch.inference_mode, in eval mode. Each precision (fp32, and bf16
autocast) is timed for both libraries; transformers uses its default attention ("sdpa"),
bertkit its fused-QKV scaled_dot_product_attention. The two sides alternate, --repeats
rounds of --steps forward passes each, and the fastest round counts (the machine may be
shared: the minimum is the least disturbed figure). Before timing, outputs are compared.

    python bench/bench_encoder.py                      # CPU, batch 32, 128 tokens
    python bench/bench_encoder.py --device cuda --steps 50
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time

import torch

SENTENCES = [
    "The committee approved the budget after a long debate about public transport.",
    "A small dog chased the ball across the wet grass while the children laughed.",
    "Researchers measured the effect of temperature on the speed of the reaction.",
    "She opened the old letter and recognised her grandmother's careful handwriting.",
    "Heavy rain delayed the match, but the crowd stayed until the final whistle.",
    "The new library offers free courses in programming, cooking and photography.",
]


def make_batch(tokenizer, batch_size: int, seq_len: int) -> dict[str, torch.Tensor]:
    """Rows of real text, each cut to exactly seq_len tokens (no padding)."""
    rows = []
    for row in range(batch_size):
        text = " ".join(SENTENCES[(row + i) % len(SENTENCES)] for i in range(40))
        rows.append(text)
    batch = tokenizer(rows, truncation=True, max_length=seq_len, return_tensors="pt")
    assert batch["input_ids"].shape == (batch_size, seq_len)
    return batch


def time_round(model, batch, steps: int, autocast, device) -> float:
    """Seconds for `steps` forward passes."""
    with torch.inference_mode(), autocast():
        _synchronise(device)
        start = time.perf_counter()
        for _ in range(steps):
            model(**batch)
        _synchronise(device)
    return time.perf_counter() - start


def _synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="minilm", help="model folder or known name")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--steps", type=int, default=5, help="forward passes per timed round")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds per side")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    import transformers

    from bertkit.hub import resolve_model
    from bertkit.pretrained import load_pretrained

    folder = resolve_model(args.model)
    ours, tokenizer, _ = load_pretrained(folder, "encoder")
    theirs = transformers.BertModel.from_pretrained(folder).eval()
    ours.to(device)
    theirs.to(device)
    batch = {
        k: v.to(device) for k, v in make_batch(tokenizer, args.batch_size, args.seq_len).items()
    }

    with torch.inference_mode():
        difference = (ours(**batch).last_hidden_state - theirs(**batch).last_hidden_state).abs()
    print(
        f"device {device} ({torch.get_num_threads()} CPU threads), torch {torch.__version__}, "
        f"transformers {transformers.__version__} (attention: "
        f"{theirs.config._attn_implementation}), batch {args.batch_size} x {args.seq_len} "
        f"tokens; fp32 max |difference| of hidden states {float(difference.max()):.2e}"
    )

    precisions = {
        "fp32": contextlib.nullcontext,
        "bf16 autocast": lambda: torch.autocast(device_type=device.type, dtype=torch.bfloat16),
    }
    print(f"{'precision':<14} {'bertkit texts/s':>16} {'transformers texts/s':>21} {'ratio':>7}")
    for name, autocast in precisions.items():
        for model in (ours, theirs):  # warm-up: kernels, caches, allocator
            time_round(model, batch, 1, autocast, device)
        rounds = {"bertkit": [], "transformers": []}
        for _ in range(args.repeats):
            rounds["bertkit"].append(time_round(ours, batch, args.steps, autocast, device))
            rounds["transformers"].append(time_round(theirs, batch, args.steps, autocast, device))
        texts = args.steps * args.batch_size
        best = {side: texts / min(times) for side, times in rounds.items()}
        spread = {side: texts / statistics.median(times) for side, times in rounds.items()}
        print(
            f"{name:<14} {best['bertkit']:>16.1f} {best['transformers']:>21.1f} "
            f"{best['bertkit'] / best['transformers']:>6.2f}x   (medians "
            f"{spread['bertkit']:.1f} vs {spread['transformers']:.1f})"
        )


if __name__ == "__main__":
    main()
