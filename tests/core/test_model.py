"""The encoder and heads on tiny random configs: padding, masks, precision, losses, input checks."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from bertkit.errors import InputError
from bertkit.inference import autocast_context
from bertkit.model import (
    IGNORE_INDEX,
    TASK_MODELS,
    BertEncoderModel,
    BertForMaskedLM,
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertForTokenClassification,
)

CPU = torch.device("cpu")


@pytest.fixture()
def encoder(tiny_config):
    torch.manual_seed(0)
    return BertEncoderModel(tiny_config).eval()


def random_ids(config, batch: int, length: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(5, config.vocab_size, (batch, length), generator=generator)


@pytest.mark.parametrize("precision,tolerance", [("fp32", 1e-5), ("bf16", 2e-2)])
def test_padding_never_changes_real_tokens(encoder, tiny_config, precision, tolerance):
    ids = random_ids(tiny_config, 3, 11)
    lengths = [11, 6, 1]
    with torch.inference_mode(), autocast_context(CPU, precision):
        alone = [
            encoder(ids[row : row + 1, :length]).last_hidden_state[0].float()
            for row, length in enumerate(lengths)
        ]
        for extra in (0, 5, 40):  # pad the batch further: real tokens must not notice
            padded = torch.cat([ids, torch.zeros(3, extra, dtype=torch.long)], dim=1)
            mask = torch.zeros_like(padded)
            for row, length in enumerate(lengths):
                mask[row, :length] = 1
                padded[row, length:] = tiny_config.pad_token_id
            hidden = encoder(padded, attention_mask=mask).last_hidden_state.float()
            for row, length in enumerate(lengths):
                difference = (hidden[row, :length] - alone[row]).abs().max()
                assert difference < tolerance, (precision, extra, row, float(difference))


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_all_padding_row_gives_no_nan(encoder, tiny_config, precision):
    ids = random_ids(tiny_config, 2, 7)
    mask = torch.ones_like(ids)
    mask[1] = 0  # a row of nothing but padding
    with torch.inference_mode(), autocast_context(CPU, precision):
        output = encoder(ids, attention_mask=mask)
    assert torch.isfinite(output.last_hidden_state.float()).all()
    assert torch.isfinite(output.pooler_output.float()).all()


def test_bf16_autocast_is_close_to_fp32(encoder, tiny_config):
    ids = random_ids(tiny_config, 2, 9)
    seen = []
    encoder.bert.encoder.layers[0].attention.qkv.register_forward_hook(
        lambda module, inputs, output: seen.append(output.dtype)
    )
    with torch.inference_mode():
        full = encoder(ids).last_hidden_state
        with autocast_context(CPU, "bf16"):
            half = encoder(ids).last_hidden_state
    assert seen == [torch.float32, torch.bfloat16]  # autocast really ran the matmuls in bf16
    assert 0 < (half.float() - full).abs().max() < 0.1


def test_model_dtype_bf16_and_double_run(tiny_config):
    model = BertEncoderModel(tiny_config).eval()
    ids = random_ids(tiny_config, 2, 5)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0]])
    with torch.inference_mode():
        reference = model(ids, attention_mask=mask).last_hidden_state
        for dtype, tolerance in ((torch.float64, 1e-5), (torch.bfloat16, 0.1)):
            out = model.to(dtype)(ids, attention_mask=mask).last_hidden_state
            assert out.dtype == dtype and torch.isfinite(out).all()
            real = mask.bool()
            assert (out.float()[real] - reference[real]).abs().max() < tolerance
            model.float()


def test_token_type_ids_matter_and_default_to_zero(encoder, tiny_config):
    ids = random_ids(tiny_config, 1, 6)
    with torch.inference_mode():
        default = encoder(ids).last_hidden_state
        zeros = encoder(ids, token_type_ids=torch.zeros_like(ids)).last_hidden_state
        ones = encoder(ids, token_type_ids=torch.ones_like(ids)).last_hidden_state
    assert torch.equal(default, zeros)
    assert not torch.allclose(default, ones)


def test_too_many_tokens_names_the_limit(encoder, tiny_config):
    ids = random_ids(tiny_config, 1, tiny_config.max_position_embeddings + 1)
    with pytest.raises(InputError, match=r"at most 64 \(max_position_embeddings\)"):
        encoder(ids)
    encoder(ids[:, :64])  # exactly the limit is fine


def test_bad_ids_raise_input_errors(encoder, tiny_config):
    ids = random_ids(tiny_config, 1, 4)
    with pytest.raises(InputError, match="outside the model's vocabulary"):
        encoder(ids + tiny_config.vocab_size)
    with pytest.raises(InputError, match="outside the model's vocabulary"):
        encoder(ids - 1000)
    with pytest.raises(InputError, match="type_vocab_size"):
        encoder(ids, token_type_ids=torch.full_like(ids, 2))
    with pytest.raises(InputError, match="type_vocab_size"):
        encoder(ids, token_type_ids=torch.full_like(ids, -1))
    with pytest.raises(InputError, match="token_type_ids has 3 positions"):
        encoder(ids, token_type_ids=torch.zeros(1, 3, dtype=torch.long))
    with pytest.raises(InputError, match="shape"):
        encoder(ids[0])
    with pytest.raises(InputError, match="position id"):
        encoder(ids, position_ids=torch.arange(60, 64)[None] + 1)


def test_dropout_only_in_training(tiny_config):
    config = dataclasses.replace(
        tiny_config, hidden_dropout_prob=0.3, attention_probs_dropout_prob=0.3, extra={}
    )
    model = BertEncoderModel(config)
    ids = random_ids(config, 2, 8)
    model.train()
    assert not torch.equal(model(ids).last_hidden_state, model(ids).last_hidden_state)
    model.eval()
    assert torch.equal(model(ids).last_hidden_state, model(ids).last_hidden_state)


def test_masked_lm_gathers_only_labelled_positions(tiny_config):
    torch.manual_seed(0)
    model = BertForMaskedLM(tiny_config).eval()
    ids = random_ids(tiny_config, 2, 6)
    labels = torch.full_like(ids, IGNORE_INDEX)
    labels[0, 1], labels[1, 4], labels[1, 5] = 7, 8, 9
    with torch.inference_mode():
        full = model(ids).logits  # (B, T, vocab)
        output = model(ids, labels=labels)
        picked = model(ids, masked_positions=labels != IGNORE_INDEX).logits
    assert output.logits.shape == (3, tiny_config.vocab_size)
    assert int(output.num_loss_items) == 3
    expected_logits = full[labels != IGNORE_INDEX]
    assert torch.allclose(output.logits, expected_logits, atol=1e-6)
    assert torch.allclose(picked, expected_logits, atol=1e-6)
    expected_loss = torch.nn.functional.cross_entropy(expected_logits, torch.tensor([7, 8, 9]))
    assert torch.allclose(output.loss, expected_loss, atol=1e-6)
    # The decoder is the word-embedding matrix itself (tied): there is no second vocab matrix.
    shape = (tiny_config.vocab_size, tiny_config.hidden_size)
    assert [name for name, p in model.named_parameters() if p.shape == shape] == [
        "bert.embeddings.word.weight"
    ]


def test_masked_lm_with_no_labelled_position_has_zero_loss_and_gradient(tiny_config):
    model = BertForMaskedLM(tiny_config)
    ids = random_ids(tiny_config, 1, 4)
    output = model(ids, labels=torch.full_like(ids, IGNORE_INDEX))
    assert output.loss.item() == 0.0 and int(output.num_loss_items) == 0
    output.loss.backward()  # still part of the graph: no error in a training step


def test_heads_shapes_and_losses(tiny_config):
    labels = ["a", "b", "c"]
    config = tiny_config.with_labels(labels)
    ids = random_ids(config, 2, 5)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])

    classifier = BertForSequenceClassification(config)
    output = classifier(ids, attention_mask=mask, labels=torch.tensor([0, 2]))
    assert output.logits.shape == (2, 3) and int(output.num_loss_items) == 2
    expected = torch.nn.functional.cross_entropy(output.logits, torch.tensor([0, 2]))
    assert torch.allclose(output.loss, expected)
    classifier.class_weights = torch.tensor([1.0, 0.0, 0.0])
    weighted = classifier.eval()(ids, attention_mask=mask, labels=torch.tensor([0, 2]))
    only_first = torch.nn.functional.cross_entropy(weighted.logits[:1], torch.tensor([0]))
    assert torch.allclose(weighted.loss, only_first, atol=1e-6)

    tagger = BertForTokenClassification(config)
    tags = torch.tensor([[0, 1, 2, IGNORE_INDEX, 1], [2, 2, 0, IGNORE_INDEX, IGNORE_INDEX]])
    output = tagger(ids, attention_mask=mask, labels=tags)
    assert output.logits.shape == (2, 5, 3) and int(output.num_loss_items) == 7
    kept = tags != IGNORE_INDEX
    expected = torch.nn.functional.cross_entropy(output.logits[kept], tags[kept])
    assert torch.allclose(output.loss, expected)

    reader = BertForQuestionAnswering(config)
    output = reader(
        ids,
        attention_mask=mask,
        start_positions=torch.tensor([1, 2]),
        end_positions=torch.tensor([3, 2]),
    )
    assert output.start_logits.shape == output.end_logits.shape == (2, 5)
    expected = (
        torch.nn.functional.cross_entropy(output.start_logits, torch.tensor([1, 2]))
        + torch.nn.functional.cross_entropy(output.end_logits, torch.tensor([3, 2]))
    ) / 2
    assert torch.allclose(output.loss, expected)


def test_every_task_model_trains_one_step(tiny_config):
    """Gradients reach every parameter that the task's loss depends on."""
    config = tiny_config.with_labels(["x", "y"])
    ids = random_ids(config, 2, 6)
    targets = {
        "masked-lm": {"labels": torch.where(ids % 3 == 0, ids, IGNORE_INDEX)},
        "sequence-classification": {"labels": torch.tensor([0, 1])},
        "token-classification": {"labels": ids % 2},
        "question-answering": {
            "start_positions": torch.tensor([1, 2]),
            "end_positions": torch.tensor([2, 4]),
        },
    }
    targets["masked-lm"]["labels"][0, 0] = 5  # at least one labelled position
    for task, extra in targets.items():
        model = TASK_MODELS[task](config)
        model(ids, **extra).loss.backward()
        without_gradient = [name for name, p in model.named_parameters() if p.grad is None]
        assert without_gradient == [], (task, without_gradient)
