"""`bertkit generate`: translate or summarize with a fine-tuned BERT2BERT encoder-decoder.

`bertkit finetune seq2seq` and seq2seq's `evaluate` / `predict` are registered through
`bertkit.cli.tasks`; the implementation of all of them lives in `bertkit.seq2seq.cli`.
"""

from __future__ import annotations

from bertkit.seq2seq.cli import register_generate


def register(subparsers) -> None:
    register_generate(subparsers)
