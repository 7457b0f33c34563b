"""Dynamic masking: rates over a million tokens, special tokens, whole words, determinism."""

import pytest
import torch

from bertkit.errors import InputError
from bertkit.model.heads import IGNORE_INDEX
from bertkit.pretraining.masking import MaskingCollator, MaskingConfig
from bertkit.tokenization import Tokenizer, build_backend
from bertkit.training import example_seed

torch.set_num_threads(1)
SEQ_LEN = 128


def _batches(tokenizer: Tokenizer, num_tokens: int, batch_size: int = 256):
    """Packed-like rows from random ordinary ids, with [CLS]/[SEP] and some padded rows."""
    generator = torch.Generator().manual_seed(0)
    ordinary = torch.tensor(sorted(set(range(tokenizer.vocab_size)) - tokenizer.special_token_ids))
    made, index = 0, 0
    while made < num_tokens:
        examples = []
        for _ in range(batch_size):
            length = (
                SEQ_LEN if index % 4 else int(torch.randint(8, SEQ_LEN, (1,), generator=generator))
            )
            body = ordinary[torch.randint(len(ordinary), (length - 2,), generator=generator)]
            ids = torch.cat(
                [
                    torch.tensor([tokenizer.cls_token_id]),
                    body,
                    torch.tensor([tokenizer.sep_token_id]),
                ]
            )
            examples.append({"input_ids": ids, "example_seed": example_seed(1, 0, index)})
            made += length
            index += 1
        yield examples


def _statistics(collator: MaskingCollator, tokenizer: Tokenizer, num_tokens: int):
    counts = dict(tokens=0, selected=0, masked=0, random=0, kept=0, special_selected=0)
    for examples in _batches(tokenizer, num_tokens):
        batch = collator(examples)
        original = torch.full_like(batch["input_ids"], tokenizer.pad_token_id)
        for row, example in enumerate(examples):
            original[row, : len(example["input_ids"])] = example["input_ids"]
        selected = batch["labels"] != IGNORE_INDEX
        special = torch.isin(original, torch.tensor(sorted(tokenizer.special_token_ids)))
        assert torch.equal(batch["labels"][selected], original[selected])
        assert torch.equal(batch["input_ids"][~selected], original[~selected])
        counts["tokens"] += int((~special).sum())
        counts["selected"] += int(selected.sum())
        counts["special_selected"] += int((selected & special).sum())
        inputs = batch["input_ids"][selected]
        counts["masked"] += int((inputs == tokenizer.mask_token_id).sum())
        counts["kept"] += int((inputs == original[selected]).sum())
        counts["random"] += int(
            ((inputs != tokenizer.mask_token_id) & (inputs != original[selected])).sum()
        )
    return counts


def test_rates_over_a_million_tokens(tokenizer_dir):
    tokenizer = Tokenizer.from_pretrained(tokenizer_dir)
    counts = _statistics(MaskingCollator(tokenizer), tokenizer, 1_000_000)
    assert counts["tokens"] >= 900_000
    assert counts["special_selected"] == 0
    assert abs(counts["selected"] / counts["tokens"] - 0.15) < 0.005
    # A random replacement can draw the original token: ~1/vocab of the 10% stay unchanged.
    assert abs(counts["masked"] / counts["selected"] - 0.80) < 0.01
    assert abs(counts["random"] / counts["selected"] - 0.10) < 0.01
    assert abs(counts["kept"] / counts["selected"] - 0.10) < 0.01


def test_configurable_rate(tokenizer_dir):
    tokenizer = Tokenizer.from_pretrained(tokenizer_dir)
    collator = MaskingCollator(tokenizer, MaskingConfig(mlm_probability=0.3))
    counts = _statistics(collator, tokenizer, 200_000)
    assert abs(counts["selected"] / counts["tokens"] - 0.30) < 0.01


def test_padding_and_special_tokens_never_selected(tokenizer_dir):
    tokenizer = Tokenizer.from_pretrained(tokenizer_dir)
    collator = MaskingCollator(tokenizer, MaskingConfig(mlm_probability=0.99))
    ids = torch.tensor(
        [tokenizer.cls_token_id, 7, tokenizer.unk_token_id, 9, tokenizer.sep_token_id]
    )
    short = torch.tensor([tokenizer.cls_token_id, 8, tokenizer.sep_token_id])
    batch = collator(
        [{"input_ids": ids, "example_seed": 3}, {"input_ids": short, "example_seed": 4}]
    )
    assert batch["attention_mask"].tolist() == [[1] * 5, [1, 1, 1, 0, 0]]
    assert batch["input_ids"][1, 3:].tolist() == [tokenizer.pad_token_id] * 2
    selected = batch["labels"] != IGNORE_INDEX
    assert selected.tolist() == [
        [False, True, False, True, False],
        [False, True, False, False, False],
    ]


def test_whole_word_masking_never_splits_a_word(tokenizer_dir):
    tokenizer = Tokenizer.from_pretrained(tokenizer_dir)
    collator = MaskingCollator(tokenizer, MaskingConfig(whole_word=True))
    text = "the zookeepers reconsidered quizzically whatsoever nevertheless gardening boats"
    encoded = torch.tensor(tokenizer(text)["input_ids"])
    words = tokenizer(text, return_word_ids=True)["word_ids"]
    assert any(t.startswith("##") for t in tokenizer.convert_ids_to_tokens(encoded.tolist()))
    selected_total = 0
    for seed in range(3000):
        batch = collator([{"input_ids": encoded, "example_seed": seed}])
        selected = (batch["labels"][0] != IGNORE_INDEX).tolist()
        by_word: dict[int, set[bool]] = {}
        for word, chosen in zip(words, selected, strict=True):
            if word is not None:
                by_word.setdefault(word, set()).add(chosen)
        assert all(len(choices) == 1 for choices in by_word.values()), (seed, selected)
        selected_total += sum(selected)
    rate = selected_total / (3000 * (len(encoded) - 2))
    assert abs(rate - 0.15) < 0.02


def test_masks_are_a_pure_function_of_the_example_seed(tokenizer_dir):
    tokenizer = Tokenizer.from_pretrained(tokenizer_dir)
    collator = MaskingCollator(tokenizer)
    ids = torch.arange(5, 105)
    torch.manual_seed(0)
    first = collator([{"input_ids": ids, "example_seed": 11}])
    torch.manual_seed(123)  # the global RNG must not matter
    again = collator([{"input_ids": ids, "example_seed": 11}])
    other = collator([{"input_ids": ids, "example_seed": 12}])
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not torch.equal(first["labels"], other["labels"])


def test_vocabulary_without_mask_token_is_refused(tokenizer_dir):
    tokenizer = Tokenizer.from_pretrained(tokenizer_dir)
    vocab = {t: i for t, i in tokenizer.get_vocab().items() if t != "[MASK]"}
    with pytest.raises(InputError, match=r"\[MASK\]"):
        Tokenizer(build_backend(vocab))
