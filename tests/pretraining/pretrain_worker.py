"""`bertkit pretrain` in its own process, optionally SIGKILLed in the middle of a step.

python pretrain_worker.py [--kill-at-forward N] -- <bertkit pretrain arguments>
"""

from __future__ import annotations

import os
import signal
import sys

import torch

from bertkit.cli import main
from bertkit.model.heads import BertForMaskedLM


def kill_at_forward(forwards: int) -> None:
    """SIGKILL this process when BertForMaskedLM's forward is called the n-th time."""
    original = BertForMaskedLM.forward
    calls = [0]

    def forward(self, *args, **kwargs):
        calls[0] += 1
        if calls[0] == forwards:
            os.kill(os.getpid(), signal.SIGKILL)
        return original(self, *args, **kwargs)

    BertForMaskedLM.forward = forward


if __name__ == "__main__":
    torch.set_num_threads(1)
    argv = sys.argv[1:]
    if argv[:1] == ["--kill-at-forward"]:
        kill_at_forward(int(argv[1]))
        argv = argv[2:]
    if argv[:1] == ["--"]:
        argv = argv[1:]
    sys.exit(main(["pretrain", *argv]))
