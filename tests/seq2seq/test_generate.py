"""Cached decoding equals uncached decoding; beam search with one beam equals greedy; beam
search agrees with transformers' on the same weights."""

from __future__ import annotations

import pytest
import torch

from bertkit.errors import InputError
from bertkit.seq2seq import GenerationOptions, generate, save_seq2seq


def test_cached_steps_give_the_full_decoder_logits(make_model, source_batch):
    model = make_model(seed=2)
    inputs = (source_batch["input_ids"], source_batch["attention_mask"])
    target = torch.randint(5, 100, (3, 7))
    target[:, 0] = model.config.decoder_start_token_id
    with torch.no_grad():
        full = model(*inputs, decoder_input_ids=target).logits  # (3, 7, vocab)
        cache, bias = model.start_decoding(*inputs)
        first = model.decode_step(target[:, :3], cache, bias)  # a 3-token prompt, then 1 by 1
        steps = [first] + [
            model.decode_step(target[:, t : t + 1], cache, bias) for t in range(3, 7)
        ]
    assert cache.length == 7
    assert (torch.stack(steps, 1) - full[:, 2:]).abs().max() < 1e-5


@pytest.mark.parametrize("beams", [1, 3])
@pytest.mark.parametrize("share", [False, True])
def test_cached_generation_equals_uncached(beams, share, make_model, source_batch):
    model = make_model(share=share, seed=5)
    inputs = (source_batch["input_ids"], source_batch["attention_mask"])
    cached = generate(model, *inputs, GenerationOptions(num_beams=beams, max_length=12))
    plain = generate(
        model, *inputs, GenerationOptions(num_beams=beams, max_length=12, use_cache=False)
    )
    assert cached == plain
    assert len({tuple(ids) for ids in cached}) > 1  # sources lead to different outputs


def test_one_beam_equals_greedy(make_model, source_batch):
    for seed in range(3):
        model = make_model(seed=seed)
        _bias_towards_end(model, 3.0)  # outputs of several lengths, ended by [SEP]
        inputs = (source_batch["input_ids"], source_batch["attention_mask"])
        beam = generate(model, *inputs, GenerationOptions(num_beams=1, max_length=15))
        greedy_logits_path = _greedy_by_hand(model, *inputs, 15)
        assert beam == greedy_logits_path


def _greedy_by_hand(model, input_ids, attention_mask, max_length):
    """Argmax decoding written out without the cache or the library's loop."""
    outputs = []
    for row in range(input_ids.shape[0]):
        keep = attention_mask[row].bool()
        source = input_ids[row][keep][None]
        tokens = [model.config.decoder_start_token_id]
        with torch.no_grad():
            for _ in range(max_length):
                logits = model(source, None, decoder_input_ids=torch.tensor([tokens])).logits
                tokens.append(int(logits[0, -1].argmax()))
                if tokens[-1] == model.config.eos_token_id:
                    break
        ids = tokens[1:]
        outputs.append(ids[:-1] if ids[-1] == model.config.eos_token_id else ids)
    return outputs


def _bias_towards_end(model, amount: float) -> None:
    with torch.no_grad():
        model.decoder.lm_head.bias[model.config.eos_token_id] += amount


def test_beam_search_matches_transformers(make_model, tiny_tokenizer, source_batch, tmp_path):
    transformers = pytest.importorskip("transformers")
    model = make_model(seed=7)
    _bias_towards_end(model, 5.0)
    save_seq2seq(model, tmp_path / "m", tiny_tokenizer)
    theirs = transformers.EncoderDecoderModel.from_pretrained(tmp_path / "m").eval()
    inputs = (source_batch["input_ids"], source_batch["attention_mask"])
    for beams, penalty in ((3, 1.0), (4, 0.6)):
        ours = generate(
            model,
            *inputs,
            GenerationOptions(num_beams=beams, max_length=10, length_penalty=penalty),
        )
        with torch.no_grad():
            hf = theirs.generate(
                input_ids=inputs[0],
                attention_mask=inputs[1],
                num_beams=beams,
                length_penalty=penalty,
                max_length=11,  # transformers counts the start token
                decoder_start_token_id=model.config.decoder_start_token_id,
                eos_token_id=model.config.eos_token_id,
                pad_token_id=model.config.pad_token_id,
                do_sample=False,
            )
        expected = [_strip(row[1:], model.config) for row in hf.tolist()]
        assert ours == expected, (beams, penalty)
    assert any(len(ids) < 9 for ids in ours)  # some outputs ended with [SEP]


def _strip(ids, config):
    ids = [i for i in ids if i != config.pad_token_id]
    return ids[: ids.index(config.eos_token_id)] if config.eos_token_id in ids else ids


def test_generation_limits_are_checked(make_model, source_batch):
    model = make_model()
    inputs = (source_batch["input_ids"], source_batch["attention_mask"])
    with pytest.raises(InputError, match="exceeds the decoder's 64 positions"):
        generate(model, *inputs, GenerationOptions(max_length=65))
    with pytest.raises(InputError, match="num_beams must be at least 1"):
        generate(model, *inputs, GenerationOptions(num_beams=0))
