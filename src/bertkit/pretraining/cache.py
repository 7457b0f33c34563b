"""Packed token ids cached on disk as memory-mapped shards, built once per (corpus, tokenizer,
length).

Layout of `<cache>/mlm-data/<key>/`:

    meta.json          key parts, seq_len, dtype, number of sequences, shard row counts
    shard-00000.bin    (rows, seq_len) token ids, uint16 when the vocabulary fits, else int32
    lengths.bin        (num_sequences,) uint16 true length of every row (rows are padded)

The key hashes the corpus bytes, the tokenizer's full JSON and max_seq_length, so a changed
file or vocabulary builds a new cache and an unchanged one opens at once. The folder is built
under a temporary name and renamed into place; a file lock lets concurrent processes (the ranks
of a torchrun job) build it once while the others wait.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bertkit.errors import InputError
from bertkit.io_utils import atomic_write_dir
from bertkit.pretraining.corpus import fingerprint, iter_documents
from bertkit.pretraining.packing import pack_sequences
from bertkit.tokenization import Tokenizer

logger = logging.getLogger(__name__)

CACHE_VERSION = 1
META_FILE = "meta.json"
LENGTHS_FILE = "lengths.bin"
DEFAULT_SHARD_ROWS = 65536


@dataclass
class PackedCorpus:
    """Read-only view of a cache folder: row i is sequence i, padded to seq_len."""

    folder: Path
    seq_len: int
    shards: list[np.memmap]
    lengths: np.memmap
    pad_token_id: int

    def __post_init__(self) -> None:
        rows = [len(shard) for shard in self.shards]
        self._offsets = np.cumsum([0] + rows)

    def __len__(self) -> int:
        return int(self._offsets[-1])

    def sequence(self, index: int) -> np.ndarray:
        """Token ids of sequence `index`, without padding, as int64."""
        shard = int(np.searchsorted(self._offsets, index, side="right")) - 1
        row = self.shards[shard][index - self._offsets[shard]]
        return row[: int(self.lengths[index])].astype(np.int64)

    @property
    def num_tokens(self) -> int:
        return int(np.asarray(self.lengths, dtype=np.int64).sum())


def cache_key(files: list[Path], tokenizer: Tokenizer, max_seq_length: int) -> str:
    parts = {
        "version": CACHE_VERSION,
        "corpus": fingerprint(files),
        "tokenizer": hashlib.sha256(tokenizer.backend.to_str().encode()).hexdigest(),
        "max_seq_length": max_seq_length,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:24]


def load_or_build(
    files: list[Path],
    tokenizer: Tokenizer,
    max_seq_length: int,
    cache_root: Path,
    shard_rows: int = DEFAULT_SHARD_ROWS,
) -> PackedCorpus:
    """Open the cache for this corpus, tokenizer and length, building it first if needed."""
    key = cache_key(files, tokenizer, max_seq_length)
    folder = Path(cache_root) / "mlm-data" / key
    if not (folder / META_FILE).is_file():
        with _build_lock(folder):
            if not (folder / META_FILE).is_file():
                logger.info("tokenizing and packing %d corpus file(s) into %s", len(files), folder)
                _build(files, tokenizer, max_seq_length, folder, shard_rows)
    else:
        logger.info("using the cached token ids in %s", folder)
    return open_cache(folder, tokenizer.pad_token_id)


@contextlib.contextmanager
def _build_lock(folder: Path) -> Iterator[None]:
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f".{folder.name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build(
    files: list[Path], tokenizer: Tokenizer, max_seq_length: int, folder: Path, shard_rows: int
) -> None:
    dtype = np.uint16 if tokenizer.vocab_size <= np.iinfo(np.uint16).max + 1 else np.int32
    with atomic_write_dir(folder, replace_any=True) as tmp:
        sequences = pack_sequences(iter_documents(files), tokenizer, max_seq_length)
        shard_counts, lengths = _write_shards(
            sequences, tmp, max_seq_length, dtype, shard_rows, tokenizer.pad_token_id
        )
        if not lengths:
            raise InputError(
                f"the corpus ({', '.join(str(f) for f in files)}) holds no text to train on"
            )
        np.asarray(lengths, dtype=np.uint16).tofile(tmp / LENGTHS_FILE)
        meta = {
            "version": CACHE_VERSION,
            "seq_len": max_seq_length,
            "dtype": np.dtype(dtype).name,
            "num_sequences": len(lengths),
            "num_tokens": int(sum(lengths)),
            "shards": shard_counts,
            "files": [str(path) for path in files],
        }
        (tmp / META_FILE).write_text(json.dumps(meta, indent=1))
    logger.info("cached %d sequences (%d tokens)", meta["num_sequences"], meta["num_tokens"])


def _write_shards(
    sequences: Iterable[np.ndarray],
    folder: Path,
    seq_len: int,
    dtype,
    shard_rows: int,
    pad_id: int,
) -> tuple[list[int], list[int]]:
    """Write padded rows into shard files of at most `shard_rows` rows; return counts and
    lengths."""
    counts: list[int] = []
    lengths: list[int] = []
    handle = None
    try:
        for sequence in sequences:
            if handle is None or counts[-1] == shard_rows:
                if handle is not None:
                    handle.close()
                handle = open(folder / _shard_name(len(counts)), "wb")
                counts.append(0)
            row = np.full(seq_len, pad_id, dtype=dtype)
            row[: len(sequence)] = sequence
            handle.write(row.tobytes())
            counts[-1] += 1
            lengths.append(len(sequence))
    finally:
        if handle is not None:
            handle.close()
    return counts, lengths


def _shard_name(index: int) -> str:
    return f"shard-{index:05d}.bin"


def open_cache(folder: Path, pad_token_id: int) -> PackedCorpus:
    try:
        meta = json.loads((folder / META_FILE).read_text())
        seq_len, dtype = meta["seq_len"], np.dtype(meta["dtype"])
        shards = [
            np.memmap(folder / _shard_name(i), dtype=dtype, mode="r", shape=(rows, seq_len))
            for i, rows in enumerate(meta["shards"])
        ]
        lengths = np.memmap(
            folder / LENGTHS_FILE, dtype=np.uint16, mode="r", shape=(meta["num_sequences"],)
        )
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise InputError(
            f"the token cache {folder} is damaged ({error}); delete the folder to rebuild it"
        ) from None
    return PackedCorpus(folder, seq_len, shards, lengths, pad_token_id)


def split_train_eval(
    num_sequences: int, eval_fraction: float, max_eval: int, seed: int, block: int = 16
) -> tuple[np.ndarray, np.ndarray]:
    """Hold out whole blocks of `block` consecutive sequences (drawn with `seed`) for
    evaluation, so held-out text is rarely a continuation of a training sequence."""
    if not 0.0 <= eval_fraction < 1.0:
        raise InputError(f"eval fraction must be in [0, 1), got {eval_fraction}")
    indices = np.arange(num_sequences)
    wanted = min(int(round(num_sequences * eval_fraction)), max_eval)
    if wanted == 0 or num_sequences < 2:
        return indices, indices[:0]
    num_blocks = -(-num_sequences // block)
    order = np.random.default_rng(seed).permutation(num_blocks)
    held = np.zeros(num_sequences, dtype=bool)
    for block_index in order:
        held[block_index * block : (block_index + 1) * block] = True
        if held.sum() >= wanted:
            break
    held_indices = indices[held][:wanted]
    mask = np.zeros(num_sequences, dtype=bool)
    mask[held_indices] = True
    return indices[~mask], indices[mask]
