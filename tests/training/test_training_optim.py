"""Parameter groups for weight decay and the learning-rate schedules."""

import pytest
import torch
from torch import nn
from trainer_tiny import tiny_model

from bertkit.errors import ConfigError
from bertkit.training import TrainingConfig, build_optimizer, build_scheduler, lr_multiplier
from bertkit.training.optim import param_groups


class _Named(nn.Module):
    def __init__(self):
        super().__init__()
        self.dense = nn.Linear(4, 4)
        self.LayerNorm = nn.LayerNorm(4)
        self.norm_scale_matrix = nn.Parameter(torch.ones(2, 2))  # 2-D but named like a norm
        self.frozen = nn.Parameter(torch.ones(3, 3), requires_grad=False)


def test_no_decay_on_biases_and_norm_weights():
    model = _Named()
    optimizer = build_optimizer(model, TrainingConfig(max_steps=1, weight_decay=0.1))
    names = {id(p): n for n, p in model.named_parameters()}
    groups = {
        g["weight_decay"]: sorted(names[id(p)] for p in g["params"]) for g in optimizer.param_groups
    }
    assert groups == {
        0.1: ["dense.weight"],
        0.0: ["LayerNorm.bias", "LayerNorm.weight", "dense.bias", "norm_scale_matrix"],
    }


def test_tiny_model_groups_cover_every_trainable_parameter_once():
    model = tiny_model()
    optimizer = build_optimizer(model, TrainingConfig(max_steps=1))
    grouped = [p for g in optimizer.param_groups for p in g["params"]]
    assert len(grouped) == len({id(p) for p in grouped}) == len(list(model.parameters()))
    decayed = {id(p) for p in optimizer.param_groups[0]["params"]}
    assert id(model.embeddings.weight) in decayed and id(model.norm.weight) not in decayed


def test_fused_adamw_on_cpu_matches_the_plain_update_with_the_same_groups():
    config = TrainingConfig(max_steps=1, weight_decay=0.1, learning_rate=1e-2)
    fused_model, plain_model = tiny_model(seed=1), tiny_model(seed=1)
    fused = build_optimizer(fused_model, config)
    assert all(group["fused"] for group in fused.param_groups)
    plain = torch.optim.AdamW(
        param_groups(plain_model, weight_decay=0.1),
        lr=1e-2,
        betas=(config.adam_beta1, config.adam_beta2),
        eps=config.adam_epsilon,
        foreach=False,
    )
    assert [g["weight_decay"] for g in fused.param_groups] == [0.1, 0.0]
    pairs = list(zip(fused_model.parameters(), plain_model.parameters(), strict=True))
    generator = torch.Generator().manual_seed(0)
    for _ in range(20):
        for fused_param, plain_param in pairs:
            gradient = torch.randn(fused_param.shape, generator=generator)
            fused_param.grad, plain_param.grad = gradient.clone(), gradient
        fused.step()
        plain.step()
    for fused_param, plain_param in pairs:
        assert torch.allclose(fused_param, plain_param, rtol=0, atol=1e-6)
    # The weights moved, so the comparison is not between two untouched models.
    assert not torch.equal(fused_model.embeddings.weight, tiny_model(seed=1).embeddings.weight)


@pytest.mark.parametrize(
    ("schedule", "step", "expected"),
    [
        ("linear", 0, 1 / 5),
        ("linear", 3, 4 / 5),
        ("linear", 4, 1.0),
        ("linear", 9, 0.5),
        ("linear", 14, 0.0),
        ("linear", 20, 0.0),
        ("cosine", 4, 1.0),
        ("cosine", 9, 0.5),
        ("cosine", 14, 0.0),
        ("constant", 2, 3 / 5),
        ("constant", 13, 1.0),
    ],
)
def test_schedule_values(schedule, step, expected):
    assert lr_multiplier(step, schedule, warmup_steps=4, total_steps=14) == pytest.approx(expected)


def test_cosine_is_between_linear_and_one_early():
    cosine = lr_multiplier(6, "cosine", 4, 14)
    assert lr_multiplier(6, "linear", 4, 14) < cosine < 1.0


def test_schedule_without_known_end_stays_constant_after_warmup():
    assert lr_multiplier(0, "linear", 2, None) == pytest.approx(1 / 3)
    assert lr_multiplier(1000, "cosine", 2, None) == 1.0


def test_scheduler_drives_optimizer_learning_rate_and_warmup_ratio():
    model = nn.Linear(2, 2)
    config = TrainingConfig(max_steps=10, learning_rate=0.1, warmup_ratio=0.2)
    optimizer = build_optimizer(model, config)
    scheduler = build_scheduler(optimizer, config, total_steps=10)
    lrs = []
    for _ in range(10):
        lrs.append(scheduler.get_last_lr()[0])
        optimizer.step()
        scheduler.step()
    expected = [0.1 * lr_multiplier(s, "linear", 2, 10) for s in range(10)]
    assert lrs == pytest.approx(expected)
    with pytest.raises(ConfigError, match="warmup_ratio"):
        build_scheduler(optimizer, TrainingConfig(max_time=5, warmup_ratio=0.1), None)
