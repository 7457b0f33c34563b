"""Train a WordPiece vocabulary on a corpus with the `tokenizers` trainer.

The result uses BERT's pipeline (BERT normaliser, cased or uncased; BERT pre-tokeniser;
`##` continuations) and BERT's special tokens at ids 0-4 ([PAD] [UNK] [CLS] [SEP] [MASK]),
and is saved as a complete tokenizer folder (tokenizer.json, vocab.txt and configs) that
`Tokenizer.from_pretrained` and Hugging Face's BertTokenizerFast both load.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

from tokenizers import Tokenizer as RustTokenizer
from tokenizers import models, normalizers, pre_tokenizers, trainers

from bertkit.errors import InputError
from bertkit.io_utils import atomic_write_dir
from bertkit.pretraining.corpus import iter_text, resolve_corpus
from bertkit.tokenization import SPECIAL_TOKENS, Tokenizer, build_backend

logger = logging.getLogger(__name__)

SPECIAL_TOKEN_ORDER = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
MIN_VOCAB_SIZE = 64


def train_vocabulary(
    texts: Iterable[str],
    vocab_size: int = 30522,
    *,
    lowercase: bool = True,
    min_frequency: int = 2,
    limit_alphabet: int = 1000,
) -> Tokenizer:
    """A BERT WordPiece tokenizer whose vocabulary is learnt from `texts` (an iterable of
    strings, read once)."""
    if vocab_size < MIN_VOCAB_SIZE:
        raise InputError(f"vocab_size must be at least {MIN_VOCAB_SIZE}, got {vocab_size}")
    backend = RustTokenizer(models.WordPiece(unk_token="[UNK]"))
    backend.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=lowercase
    )
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        limit_alphabet=limit_alphabet,
        special_tokens=SPECIAL_TOKEN_ORDER,
        continuing_subword_prefix="##",
        show_progress=False,
    )
    counted = _Counting(texts)
    backend.train_from_iterator(counted, trainer=trainer)
    if counted.count == 0:
        raise InputError("the corpus holds no text to learn a vocabulary from")
    vocab = backend.get_vocab()
    missing = [token for token in SPECIAL_TOKENS.values() if token not in vocab]
    if missing:
        raise InputError(f"training produced no {', '.join(missing)}: vocab_size is too small")
    logger.info("learnt %d tokens from %d lines", len(vocab), counted.count)
    if len(vocab) < vocab_size:
        logger.warning(
            "the corpus yields only %d tokens (min_frequency %d), not the %d asked for: give "
            "more text, or a smaller --vocab-size",
            len(vocab),
            min_frequency,
            vocab_size,
        )
    return Tokenizer(build_backend(vocab, lowercase=lowercase), do_lower_case=lowercase)


def train_vocabulary_files(
    corpus: list[str | os.PathLike],
    out: str | os.PathLike,
    vocab_size: int = 30522,
    *,
    lowercase: bool = True,
    min_frequency: int = 2,
) -> Tokenizer:
    """Train on the corpus files and save the tokenizer folder `out` atomically."""
    files = resolve_corpus(corpus)
    tokenizer = train_vocabulary(
        iter_text(files), vocab_size, lowercase=lowercase, min_frequency=min_frequency
    )
    with atomic_write_dir(Path(out)) as tmp:
        tokenizer.save(tmp)
    return tokenizer


class _Counting:
    """Wraps an iterable of lines to count them (to tell an empty corpus apart)."""

    def __init__(self, texts: Iterable[str]):
        self.texts = texts
        self.count = 0

    def __iter__(self):
        for text in self.texts:
            self.count += 1
            yield text
