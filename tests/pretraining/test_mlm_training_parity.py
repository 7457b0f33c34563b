"""MLM training parity: bertkit's BertForMaskedLM against transformers' on the same batches.

Both models start from the same weights (a random transformers BertForMaskedLM, saved and
loaded into bertkit through the Hugging Face name mapping), see the same packed sequences
masked by transformers' own DataCollatorForLanguageModeling, and take the same AdamW steps
with gradient clipping. transformers projects every position onto the vocabulary and ignores
the unmasked ones in the loss; bertkit gathers the masked positions first. The two are the
same function, so the per-step losses and the final weights must agree to float rounding:
a wrong gather, a loss averaged over the wrong tokens, an untied decoder or a misplaced
head bias would each break the agreement within a few steps.
"""

from __future__ import annotations

import pytest
import torch

from bertkit.pretrained import load_pretrained
from bertkit.pretraining.corpus import iter_documents
from bertkit.pretraining.packing import pack_sequences
from bertkit.tokenization import Tokenizer

STEPS = 12
BATCH = 8


def test_losses_and_weights_equal_transformers(
    tmp_path, corpus_file, tokenizer_dir, make_hf_config
):
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    tokenizer = Tokenizer.from_pretrained(tokenizer_dir)
    config = make_hf_config(
        vocab_size=tokenizer.vocab_size, num_attention_heads=2, intermediate_size=64
    )
    reference = transformers.BertForMaskedLM(config)
    with torch.no_grad():
        reference.cls.predictions.bias.normal_(std=0.5)  # a head bias that matters
    reference.save_pretrained(str(tmp_path / "start"))
    tokenizer.save(tmp_path / "start")
    ours, _, report = load_pretrained(tmp_path / "start", "masked-lm")
    assert not report.initialised_heads and not report.missing_encoder

    sequences = list(pack_sequences(iter_documents([corpus_file]), tokenizer, max_seq_length=32))
    sequences = [s for s in sequences if len(s) == 32]
    assert len(sequences) >= STEPS * BATCH // 2
    collator = transformers.DataCollatorForLanguageModeling(
        transformers.BertTokenizerFast.from_pretrained(str(tokenizer_dir)), mlm_probability=0.25
    )
    batches = []
    for step in range(STEPS):
        torch.manual_seed(100 + step)
        rows = [sequences[(step * BATCH + i) % len(sequences)] for i in range(BATCH)]
        batches.append(collator([{"input_ids": [int(t) for t in row]} for row in rows]))

    losses = {}
    for name, model in (("transformers", reference), ("bertkit", ours)):
        model.train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
        losses[name] = []
        for batch in batches:
            output = model(
                input_ids=batch["input_ids"],
                attention_mask=torch.ones_like(batch["input_ids"]),
                labels=batch["labels"],
            )
            output.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad()
            losses[name].append(output.loss.item())

    assert losses["transformers"][-1] < losses["transformers"][0] - 0.5  # it did learn
    torch.testing.assert_close(
        torch.tensor(losses["bertkit"]), torch.tensor(losses["transformers"]), rtol=0, atol=1e-4
    )
    theirs = reference.bert.embeddings.word_embeddings.weight
    torch.testing.assert_close(ours.bert.embeddings.word.weight, theirs, rtol=0, atol=1e-4)
    torch.testing.assert_close(
        ours.mlm_head.bias, reference.cls.predictions.bias, rtol=0, atol=1e-4
    )
