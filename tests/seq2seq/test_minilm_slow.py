"""BERT2BERT from the real all-MiniLM-L6-v2 weights: transformers loads the folder bertkit
writes with equal logits, and cached beam search equals uncached (slow: 83 MB weights)."""

from __future__ import annotations

import pytest
import torch

from bertkit.seq2seq import GenerationOptions, from_pretrained_bert, generate, save_seq2seq

pytestmark = pytest.mark.slow
transformers = pytest.importorskip("transformers")


@pytest.mark.parametrize("share", [False, True])
def test_minilm_bert2bert_matches_transformers(share, minilm_folder, tmp_path):
    torch.set_num_threads(1)
    model, tokenizer, fresh = from_pretrained_bert(minilm_folder, share=share)
    assert any("lm_head.transform" in name for name in fresh)  # MiniLM has no MLM head
    model.eval()
    save_seq2seq(model, tmp_path / "m", tokenizer)
    theirs = transformers.EncoderDecoderModel.from_pretrained(tmp_path / "m").eval()
    batch = tokenizer(
        ["BERT2BERT starts both halves from one checkpoint.", "Short one."],
        padding=True,
        return_tensors="pt",
    )
    decoder_inputs = tokenizer(["a summary of it", "short"], padding=True, return_tensors="pt")
    inputs = dict(
        input_ids=batch["input_ids"],
        attention_mask=batch["attention_mask"],
        decoder_input_ids=decoder_inputs["input_ids"],
    )
    with torch.no_grad():
        ours, hf = model(**inputs).logits, theirs(**inputs).logits
    real = decoder_inputs["attention_mask"].bool()
    torch.testing.assert_close(hf[real], ours[real], atol=1e-4, rtol=1e-4)
    options = GenerationOptions(num_beams=3, max_length=12)
    cached = generate(model, batch["input_ids"], batch["attention_mask"], options)
    options.use_cache = False
    assert cached == generate(model, batch["input_ids"], batch["attention_mask"], options)
