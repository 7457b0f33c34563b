"""Dynamic masking for masked-language modelling, as a collate function.

Each time a sequence is batched, `mlm_probability` of its maskable tokens (never [CLS], [SEP],
[PAD], [UNK] or [MASK]) are selected; of those, 80% become [MASK], 10% a random ordinary token
and 10% stay unchanged (the split is configurable). Labels hold the original id at selected
positions and IGNORE_INDEX elsewhere, so the model scores only the selected positions.

With whole-word masking a word (a token and the `##` pieces that continue it) is selected or
left whole: each word is drawn with `mlm_probability`, so the expected share of selected
tokens is the same as with token-level masking.

Randomness follows the trainer's example-seed contract: each example carries an
"example_seed" and its mask is drawn from a torch.Generator seeded with it, so masks are a pure
function of (seed, epoch, index): the same after a resume, across DataLoader workers and
whatever the number of data-parallel ranks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from bertkit.errors import ConfigError, InputError
from bertkit.model.heads import IGNORE_INDEX
from bertkit.tokenization import Tokenizer
from bertkit.training.data_order import EXAMPLE_SEED_KEY


@dataclass(frozen=True)
class MaskingConfig:
    mlm_probability: float = 0.15  # share of maskable tokens selected for prediction
    mask_replace_prob: float = 0.8  # of the selected: replaced by [MASK]
    random_replace_prob: float = 0.1  # of the selected: replaced by a random ordinary token
    whole_word: bool = False  # select all WordPiece pieces of a word or none

    def validate(self) -> MaskingConfig:
        if not 0.0 < self.mlm_probability < 1.0:
            raise ConfigError(f"mlm_probability must be in (0, 1), got {self.mlm_probability}")
        for name in ("mask_replace_prob", "random_replace_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.mask_replace_prob + self.random_replace_prob > 1.0:
            raise ConfigError("mask_replace_prob + random_replace_prob must not exceed 1")
        return self


class MaskingCollator:
    """Collate packed sequences into a padded, masked MLM batch.

    Examples are dicts with "input_ids" (a 1-D tensor or list of ids, special tokens included)
    and "example_seed". The batch has input_ids, attention_mask and labels, each (B, T).
    """

    def __init__(self, tokenizer: Tokenizer, config: MaskingConfig | None = None):
        self.config = (config or MaskingConfig()).validate()
        vocab = tokenizer.get_vocab()
        if "[MASK]" not in vocab:
            raise InputError("the vocabulary has no [MASK] token; MLM needs one")
        size = max(vocab.values()) + 1
        self.mask_token_id = tokenizer.mask_token_id
        self.pad_token_id = tokenizer.pad_token_id
        # (V,) lookup tables indexed by token id.
        self.unmaskable = torch.zeros(size, dtype=torch.bool)
        self.unmaskable[sorted(tokenizer.special_token_ids)] = True
        self.continuation = torch.zeros(size, dtype=torch.bool)
        for token, index in vocab.items():
            if token.startswith("##"):
                self.continuation[index] = True
        self.random_pool = torch.nonzero(~self.unmaskable).squeeze(1)  # ordinary token ids
        if len(self.random_pool) == 0:
            raise InputError("the vocabulary has no ordinary tokens besides the special ones")

    def __call__(self, examples: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        if not examples:
            raise InputError("cannot collate an empty batch")
        sequences = [
            torch.as_tensor(example["input_ids"], dtype=torch.long) for example in examples
        ]
        length = max(len(sequence) for sequence in sequences)
        input_ids = torch.full((len(sequences), length), self.pad_token_id, dtype=torch.long)
        labels = torch.full((len(sequences), length), IGNORE_INDEX, dtype=torch.long)
        attention_mask = torch.zeros((len(sequences), length), dtype=torch.long)
        for row, (sequence, example) in enumerate(zip(sequences, examples, strict=True)):
            if EXAMPLE_SEED_KEY not in example:
                raise InputError("MLM examples need an 'example_seed' to draw their masks from")
            generator = torch.Generator().manual_seed(int(example[EXAMPLE_SEED_KEY]))
            masked, targets = self.mask(sequence, generator)
            input_ids[row, : len(sequence)] = masked
            labels[row, : len(sequence)] = targets
            attention_mask[row, : len(sequence)] = 1
        return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}

    def select(self, ids: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """(T,) bool: the positions chosen for prediction."""
        maskable = ~self.unmaskable[ids]
        probability = self.config.mlm_probability
        if not self.config.whole_word:
            return (torch.rand(len(ids), generator=generator) < probability) & maskable
        word_ids = self.word_ids(ids)
        word_selected = torch.rand(int(word_ids[-1]) + 1, generator=generator) < probability
        return word_selected[word_ids] & maskable

    def word_ids(self, ids: torch.Tensor) -> torch.Tensor:
        """(T,) word number of every token: a `##` piece belongs to the word before it, unless
        a special token comes between (a word cut at a sequence start stands alone)."""
        special = self.unmaskable[ids]
        starts = ~self.continuation[ids] | special
        starts[1:] |= special[:-1]
        starts[0] = True
        return torch.cumsum(starts.long(), 0) - 1

    def mask(
        self, ids: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Masked input ids and labels (IGNORE_INDEX where nothing is predicted), both (T,)."""
        selected = self.select(ids, generator)
        labels = torch.where(selected, ids, IGNORE_INDEX)
        # One draw per position decides [MASK] / random / unchanged for the selected ones.
        choice = torch.rand(len(ids), generator=generator)
        to_mask = selected & (choice < self.config.mask_replace_prob)
        to_random = selected & ~to_mask
        to_random &= choice < self.config.mask_replace_prob + self.config.random_replace_prob
        random_tokens = self.random_pool[
            torch.randint(len(self.random_pool), (len(ids),), generator=generator)
        ]
        masked = torch.where(to_mask, self.mask_token_id, ids)
        masked = torch.where(to_random, random_tokens, masked)
        return masked, labels
