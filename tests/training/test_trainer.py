"""The training loop: loss weighting, accumulation, clipping, logging, evaluation, time budget."""

import csv
import math

import pytest
import torch
from safetensors.torch import load_file
from trainer_tiny import TinyDataset, make_evaluate_fn, read_csv, tiny_model, train_columns

from bertkit.errors import BertkitError, ConfigError
from bertkit.training import Trainer, TrainingConfig, lr_multiplier
from bertkit.training.data_order import EpochPlan, default_collate_fn

torch.set_num_threads(1)


def _train(tmp_path, name, model=None, dataset=None, evaluate_fn=None, **overrides):
    settings = dict(
        output_dir=str(tmp_path / name),
        max_steps=4,
        batch_size=8,
        seed=5,
        learning_rate=1e-2,
        log_every=1,
        save_every=0,
        weight_decay=0.01,
        precision="fp32",  # exact comparisons; bf16 autocast is tested on its own
    )
    settings.update(overrides)
    model = model if model is not None else tiny_model()
    dataset = dataset if dataset is not None else TinyDataset(32, unlabelled_every=3)
    result = Trainer(model, TrainingConfig(**settings), dataset, evaluate_fn=evaluate_fn).train()
    return model, result


def _max_difference(first, second):
    return max(
        (a - b).abs().max().item()
        for a, b in zip(first.state_dict().values(), second.state_dict().values(), strict=True)
    )


def test_accumulation_of_four_micro_batches_of_two_equals_one_batch_of_eight(tmp_path):
    # Every third label is -100, so micro-batches hold different numbers of labelled items:
    # a plain average of micro-batch means would give different gradients.
    single, _ = _train(tmp_path, "single", batch_size=8)
    accumulated, result = _train(tmp_path, "accum", batch_size=2, grad_accumulation_steps=4)
    assert result.global_step == 4
    assert _max_difference(single, accumulated) < 1e-6
    assert _max_difference(single, tiny_model()) > 1e-3  # training did move the weights
    losses = [row[1] for row in train_columns(tmp_path / "single" / "metrics.csv")]
    assert [row[1] for row in train_columns(tmp_path / "accum" / "metrics.csv")] == pytest.approx(
        losses, abs=1e-6
    )


def test_logged_loss_is_the_mean_over_labelled_items_of_the_global_batch(tmp_path):
    dataset = TinyDataset(32, unlabelled_every=3)
    model = tiny_model()
    first_batch = EpochPlan(32, 8, seed=5).rank_batches(0)[0]
    batch = default_collate_fn([dataset[i] for i in first_batch])
    with torch.no_grad():
        expected = model(**batch).loss.item()
    _train(tmp_path, "run", model=model, dataset=dataset, max_steps=1)
    ((step, loss, lr),) = train_columns(tmp_path / "run" / "metrics.csv")
    assert step == 1 and loss == pytest.approx(expected, abs=1e-6)


def test_clipping_scales_the_update_to_the_maximum_norm(tmp_path):
    # With a huge Adam epsilon the first update is lr * grad / eps: proportional to the
    # (clipped) gradient, so clipping shows directly in the size of the weight change.
    common = dict(max_steps=1, adam_epsilon=1e5, weight_decay=0.0, learning_rate=1e5)
    start = tiny_model()
    free, _ = _train(tmp_path, "free", max_grad_norm=None, **common)
    clipped, _ = _train(tmp_path, "clipped", max_grad_norm=1e-3, **common)
    grad_norm = float(read_csv(tmp_path / "clipped" / "metrics.csv")[0]["grad_norm"])
    assert grad_norm > 1e-2
    free_change = _max_difference(free, start)
    clipped_change = _max_difference(clipped, start)
    assert clipped_change == pytest.approx(free_change * 1e-3 / grad_norm, rel=1e-3)


def test_metrics_csv_rows_columns_and_learning_rates(tmp_path):
    dataset = TinyDataset(32, unlabelled_every=3)
    _, result = _train(
        tmp_path,
        "run",
        dataset=dataset,
        evaluate_fn=make_evaluate_fn(dataset),
        max_steps=6,
        eval_every=3,
        warmup_steps=2,
        lr_schedule="linear",
        batch_size=4,
    )
    rows = read_csv(tmp_path / "run" / "metrics.csv")
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4, 5, 6]
    assert list(rows[0])[:7] == [
        "step",
        "epoch",
        "loss",
        "lr",
        "grad_norm",
        "examples_per_s",
        "tokens_per_s",
    ]
    assert {"eval_loss", "eval_accuracy"} <= set(rows[0])  # header widened when eval began
    assert [r["eval_loss"] != "" for r in rows] == [False, False, True, False, False, True]
    lrs = [float(r["lr"]) for r in rows]
    assert lrs == pytest.approx([1e-2 * lr_multiplier(s, "linear", 2, 6) for s in range(6)])
    assert [int(r["epoch"]) for r in rows] == [0, 0, 0, 0, 0, 0]
    assert all(math.isfinite(float(r["loss"])) and float(r["tokens_per_s"]) > 0 for r in rows)
    assert result.metrics["eval_loss"] == pytest.approx(float(rows[-1]["eval_loss"]))


def test_epochs_budget_counts_optimizer_steps_per_epoch(tmp_path):
    _, result = _train(
        tmp_path, "run", max_steps=None, num_epochs=2, batch_size=4, grad_accumulation_steps=3
    )
    # 32 examples / 4 = 8 micro-batches: steps of 3, 3, 2 make one epoch.
    assert (result.global_step, result.stop_reason, result.epoch) == (6, "num_epochs", 1)
    epochs = [int(r["epoch"]) for r in read_csv(tmp_path / "run" / "metrics.csv")]
    assert epochs == [0, 0, 0, 1, 1, 1]


def test_time_budget_stops_cleanly_with_a_final_checkpoint(tmp_path):
    _, result = _train(tmp_path, "run", max_steps=None, max_time=1e-6)
    assert result.stop_reason == "max_time" and result.global_step == 1
    assert (tmp_path / "run" / "checkpoints" / "step-0000001" / "trainer_state.json").is_file()


def test_early_stopping_keeps_the_best_model(tmp_path):
    scripted = iter([1.0, 0.5, 0.7, 0.8, 0.9, 0.95])
    snapshots = {}

    def evaluate(model):
        snapshots[len(snapshots) + 1] = {k: v.clone() for k, v in model.state_dict().items()}
        return {"loss": next(scripted)}

    _, result = _train(
        tmp_path, "run", evaluate_fn=evaluate, max_steps=20, eval_every=2, early_stopping_patience=2
    )
    assert result.stop_reason == "early_stopping"
    assert result.global_step == 8  # evaluations at 2, 4 (best), 6, 8: two without improvement
    assert result.best_metric == 0.5 and result.best_checkpoint == tmp_path / "run" / "best"
    best = load_file(str(result.best_checkpoint / "model" / "model.safetensors"))
    assert set(best) == set(snapshots[2])
    assert all(torch.equal(best[k], snapshots[2][k]) for k in best)
    assert not all(torch.equal(best[k], snapshots[4][k]) for k in best)


def test_greater_is_better_metric_and_missing_metric(tmp_path):
    scores = iter([0.2, 0.6, 0.4])
    _, result = _train(
        tmp_path,
        "acc",
        evaluate_fn=lambda m: {"accuracy": next(scores)},
        max_steps=6,
        eval_every=2,
        metric_for_best="accuracy",
        greater_is_better=True,
    )
    assert result.best_metric == 0.6
    with pytest.raises(ConfigError, match="not among"):
        _train(
            tmp_path,
            "missing",
            evaluate_fn=lambda m: {"accuracy": 1.0},
            max_steps=2,
            eval_every=1,
            metric_for_best="f1",
        )


def test_zero_labelled_items_in_a_micro_batch_does_not_poison_the_update(tmp_path):
    dataset = TinyDataset(32)
    dataset.labels[:16] = -100  # a whole micro-batch may hold no label at all
    model, _ = _train(
        tmp_path, "run", dataset=dataset, batch_size=2, grad_accumulation_steps=2, max_steps=8
    )
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_model_without_loss_is_a_clear_error(tmp_path):
    dataset = TinyDataset(8)
    unlabelled = [{k: v for k, v in dataset[i].items() if k != "labels"} for i in range(8)]
    with pytest.raises(BertkitError, match="no loss"):
        _train(tmp_path, "run", dataset=unlabelled, batch_size=4)


def test_bf16_autocast_runs_on_cpu_and_changes_the_numerics(tmp_path):
    _train(tmp_path, "fp32", precision="fp32")
    bf16_model, _ = _train(tmp_path, "bf16", precision="bf16")
    fp32 = [row[1] for row in train_columns(tmp_path / "fp32" / "metrics.csv")]
    bf16 = [row[1] for row in train_columns(tmp_path / "bf16" / "metrics.csv")]
    assert all(math.isfinite(loss) for loss in bf16)
    assert bf16 != fp32 and bf16 == pytest.approx(fp32, abs=0.05)
    assert all(p.dtype == torch.float32 for p in bf16_model.parameters())  # master weights


def test_existing_checkpoints_need_resume(tmp_path):
    _train(tmp_path, "run", max_steps=1)
    with pytest.raises(BertkitError, match="--resume"):
        _train(tmp_path, "run", max_steps=2)


def test_eval_each_epoch_evaluates_at_every_epoch_end(tmp_path):
    seen_steps = []

    def evaluate_fn(model):
        seen_steps.append(len(seen_steps))
        return {"score": 1.0}

    # 32 examples, batch 8: 4 steps per epoch, 3 epochs.
    _, result = _train(
        tmp_path,
        "each-epoch",
        evaluate_fn=evaluate_fn,
        max_steps=None,
        num_epochs=3,
        eval_each_epoch=True,
    )
    assert result.global_step == 12
    rows = list(csv.DictReader(open(tmp_path / "each-epoch" / "metrics.csv")))
    evaluated = [int(row["step"]) for row in rows if row.get("eval_score")]
    assert evaluated == [4, 8, 12]
