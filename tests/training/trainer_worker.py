"""A training run in its own process: killed on purpose (resume test) or under torchrun.

python trainer_worker.py --output-dir DIR [--kill-at-forward N] [--resume] [trainer flags]
"""

from __future__ import annotations

import argparse
import os
import signal

import torch
from trainer_tiny import TinyDataset, make_evaluate_fn, tiny_model

from bertkit.training import Trainer, add_training_args, config_from_args

RESUME_DEFAULTS = dict(
    max_steps=16,
    batch_size=4,
    grad_accumulation_steps=2,
    learning_rate=1e-2,
    warmup_steps=3,
    lr_schedule="cosine",
    log_every=1,
    save_every=5,
    eval_every=4,
    keep_last=5,
    seed=7,
    precision="fp32",  # resume and DDP runs are compared exactly
)


def kill_at_forward(model: torch.nn.Module, forwards: int) -> None:
    """SIGKILL this process at the start of the n-th forward call, in the middle of a step."""
    calls = [0]

    def hook(module, args):
        calls[0] += 1
        if calls[0] == forwards:
            os.kill(os.getpid(), signal.SIGKILL)

    model.register_forward_pre_hook(hook)


def build(dropout: float, size: int, unlabelled_every: int):
    return tiny_model(seed=3, dropout=dropout), TinyDataset(size, unlabelled_every=unlabelled_every)


def run(argv: list[str] | None = None):
    """Parse worker flags and train; returns the TrainResult."""
    torch.set_num_threads(1)
    parser = argparse.ArgumentParser()
    parser.add_argument("--kill-at-forward", type=int, default=0)
    parser.add_argument("--dropout", type=float, default=0.2)
    parser.add_argument("--dataset-size", type=int, default=40)
    parser.add_argument("--unlabelled-every", type=int, default=3)
    parser.add_argument("--with-eval", action="store_true")
    add_training_args(parser, RESUME_DEFAULTS)
    args = parser.parse_args(argv)
    args.progress_bar = False
    model, dataset = build(args.dropout, args.dataset_size, args.unlabelled_every)
    if args.kill_at_forward:
        kill_at_forward(model, args.kill_at_forward)
    evaluate_fn = make_evaluate_fn(dataset) if args.with_eval else None
    return Trainer(model, config_from_args(args), dataset, evaluate_fn=evaluate_fn).train()


if __name__ == "__main__":
    run()
