"""Small corpora and vocabularies that the pretraining tests write for themselves."""

from __future__ import annotations

import random
from pathlib import Path

from bertkit.tokenization import Tokenizer
from bertkit.vocab import train_vocabulary

SUBJECTS = ["the cat", "a dog", "my neighbour", "the old sailor", "every student", "the queen"]
VERBS = ["watched", "followed", "painted", "remembered", "carried", "understood"]
OBJECTS = [
    "the river",
    "a small boat",
    "the unbelievably long letter",
    "her garden",
    "the mountains",
    "an extraordinary idea",
    "the lighthouse keeper",
]
ENDINGS = ["yesterday.", "in the morning.", "without a word.", "before the storm.", "again."]


def sentence(rng: random.Random) -> str:
    parts = [rng.choice(SUBJECTS), rng.choice(VERBS), rng.choice(OBJECTS), rng.choice(ENDINGS)]
    return " ".join(parts).capitalize()


def write_corpus(path: Path, documents: int = 60, seed: int = 0) -> Path:
    """A .txt corpus: documents of 2-6 sentence lines separated by blank lines."""
    rng = random.Random(seed)
    blocks = []
    for _ in range(documents):
        blocks.append("\n".join(sentence(rng) for _ in range(rng.randint(2, 6))))
    path.write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
    return path


def tiny_tokenizer(corpus: Path, folder: Path, vocab_size: int = 200) -> Tokenizer:
    tokenizer = train_vocabulary(corpus.read_text().splitlines(), vocab_size, min_frequency=1)
    tokenizer.save(folder)
    return tokenizer
