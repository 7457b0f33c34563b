"""The training loop shared by MLM pretraining and every fine-tuning task.

A model is called as `model(**batch)` and returns a `ModelOutput` whose `loss` is the mean over
labelled items and `num_loss_items` their count. Each micro-batch back-propagates
`loss * num_loss_items` (a sum); once all micro-batches of an optimizer step are done, the
gradients are divided by the number of labelled items in the whole step, summed over ranks. The
update is therefore the gradient of the mean loss over the global batch, however the items fall
on micro-batches and ranks: 4 micro-batches of 2 equal one batch of 8, and 2 processes with
batch B/2 equal 1 process with batch B.

Launch recipes (the task's CLI builds the Trainer; see docs/training.md):

    bertkit finetune ... --output-dir runs/x                     # one process
    torchrun --nproc_per_node 4 -m bertkit finetune ...          # DDP, 4 processes
    torchrun --nproc_per_node 4 -m bertkit finetune ... --strategy fsdp
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import random
import shutil
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from bertkit.errors import BertkitError, ConfigError
from bertkit.inference import bf16_is_fast
from bertkit.io_utils import atomic_write_dir, atomic_write_file, check_output_folder
from bertkit.training import checkpoint as ckpt
from bertkit.training.config import TrainingConfig
from bertkit.training.data_order import EpochPlan, default_collate_fn, make_loader
from bertkit.training.distributed import DistributedContext
from bertkit.training.metrics_log import METRICS_FILE, MetricsLog
from bertkit.training.optim import build_optimizer, build_scheduler

logger = logging.getLogger(__name__)
RUN_CONFIG_FILE = "training_config.json"

EvaluateFn = Callable[[nn.Module], Mapping[str, float]]


@dataclass
class TrainResult:
    """What `Trainer.train()` reports back."""

    global_step: int  # optimizer steps done, including those before a resume
    epoch: int  # epoch the last step belonged to (0-based)
    metrics: dict[str, float]  # last logged train loss and the final evaluation
    best_checkpoint: Path | None  # output_dir/best, when a best metric was tracked
    best_metric: float | None
    output_dir: Path
    stop_reason: str  # "max_steps", "num_epochs", "max_time" or "early_stopping"

    def model_folder(self) -> Path:
        """The model to publish: best/model when an eval metric was tracked, else the newest
        checkpoint's model folder."""
        if self.best_checkpoint is not None and (self.best_checkpoint / ckpt.MODEL_DIR).is_dir():
            return self.best_checkpoint / ckpt.MODEL_DIR
        latest = ckpt.latest_checkpoint(self.output_dir)
        if latest is None:
            raise BertkitError(f"{self.output_dir} holds no checkpoint to publish")
        return latest / ckpt.MODEL_DIR

    def publish_model(self, out: str | os.PathLike) -> Path:
        """Copy `model_folder()` to `out` atomically (a reader never sees half a model; an
        existing bertkit model there is replaced, a folder of other files is refused)."""
        out, source = Path(out), self.model_folder()
        with atomic_write_dir(out) as tmp:
            shutil.copytree(source, tmp, dirs_exist_ok=True)
        logger.info("fine-tuned model written to %s (from %s)", out, source)
        return out


def check_run_folder(output_dir: Path) -> None:
    """Refuse a run folder that is a file, or that holds a metrics.csv or training_config.json
    bertkit did not write (a run would overwrite them)."""
    if output_dir.exists() and not output_dir.is_dir():
        raise BertkitError(f"--output-dir {output_dir} is a file; give a folder for the run")
    checks = {
        METRICS_FILE: lambda text: text.startswith("step,"),
        RUN_CONFIG_FILE: lambda text: '"output_dir"' in text,
    }
    for name, looks_like_ours in checks.items():
        path = output_dir / name
        if path.is_file():
            try:
                ours = looks_like_ours(path.read_text(encoding="utf-8")[:4096])
            except (OSError, UnicodeDecodeError):
                ours = False
            if not ours:
                raise BertkitError(
                    f"{path} was not written by bertkit and a run would overwrite it; move it "
                    "or choose another --output-dir"
                )


def check_finetune_folders(out: str | os.PathLike, output_dir: str | os.PathLike) -> None:
    """Before fine-tuning: the model folder `out` can be written (see check_output_folder),
    the run folder can hold the run, and the two are different folders (the model folder is
    replaced as a whole at the end, which would take the run's checkpoints with it)."""
    out, output_dir = Path(out), Path(output_dir)
    if out.resolve() == output_dir.resolve():
        raise BertkitError(
            f"--out and --output-dir are both {out}: the model folder is replaced as a whole "
            "at the end, so give the run's checkpoints another folder"
        )
    check_output_folder(out)
    check_run_folder(output_dir)


@dataclass
class _LoopState:
    """Everything about the loop's position that a checkpoint must restore."""

    step: int = 0
    epoch: int = 0
    batch_position: int = 0  # next micro-batch of `epoch` (this rank's list)
    elapsed_seconds: float = 0.0  # training time of earlier sessions
    best_metric: float | None = None
    best_step: int | None = None
    evals_without_improvement: int = 0
    window: dict[str, float] = field(default_factory=dict)  # loss sums since the last log row


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class Trainer:
    """Trains `model` on `train_dataset` as `config` says, with checkpoints and resume.

    `collate_fn(examples)` turns a list of example dicts (each with its "example_seed", see
    `bertkit.training.data_order`) into a batch dict of tensors. `evaluate_fn(model)` is called
    on every rank with the unwrapped model in eval mode and returns metrics such as
    {"loss": ..., "accuracy": ...}; they are logged as eval_loss, eval_accuracy. The model
    folder of a checkpoint is written by `save_model_fn(model, folder, state_dict)` and read
    back by `load_model_fn(model, folder) -> state_dict`; both default to one safetensors file
    and must be given together.
    """

    def __init__(
        self,
        model: nn.Module,
        config: TrainingConfig,
        train_dataset: Dataset,
        *,
        collate_fn: Callable[[list[dict]], dict[str, Any]] | None = None,
        evaluate_fn: EvaluateFn | None = None,
        save_model_fn: ckpt.SaveModelFn | None = None,
        load_model_fn: ckpt.LoadModelFn | None = None,
        example_lengths: Sequence[int] | None = None,
    ):
        if (save_model_fn is None) != (load_model_fn is None):
            raise ValueError("give save_model_fn and load_model_fn together, or neither")
        self.config = config.validate()
        self.model = model
        self.train_dataset = train_dataset
        # Lengths (e.g. token counts) group similar examples into batches to cut padding.
        self.example_lengths = example_lengths
        self.collate_fn = collate_fn or default_collate_fn
        self.evaluate_fn = evaluate_fn
        self.save_model_fn = save_model_fn or ckpt.save_weights
        self.load_model_fn = load_model_fn or ckpt.load_weights
        if config.early_stopping_patience is not None and evaluate_fn is None:
            raise ConfigError("early stopping needs an evaluation function")
        self.output_dir = Path(config.output_dir)

    # ----------------------------------------------------------------- setup

    def train(self) -> TrainResult:
        """Run the loop to the end of the budget; always leaves a final checkpoint."""
        self.dist = DistributedContext.setup(self.config.strategy)
        try:
            return self._train()
        finally:
            if getattr(self, "progress", None) is not None:
                self.progress.close()
            if getattr(self, "metrics_log", None) is not None:
                self.metrics_log.close()
            self.dist.close()

    def _train(self) -> TrainResult:
        config = self.config
        resume_from = self._checkpoint_to_resume()
        seed_everything(config.seed + self.dist.rank)

        self.model.to(self.dist.device)
        if config.compile:
            self.model.compile()
        self.wrapped = self.dist.wrap(self.model)
        self.optimizer = build_optimizer(self.model, config)
        self.autocast_dtype = self._resolve_precision()

        self.plan = EpochPlan(
            len(self.train_dataset),  # type: ignore[arg-type]
            config.batch_size,
            seed=config.seed,
            rank=self.dist.rank,
            world_size=self.dist.world_size,
            drop_last=config.drop_last,
            lengths=self.example_lengths,
        )
        micro_batches = self.plan.num_micro_batches
        self.steps_per_epoch = math.ceil(micro_batches / config.grad_accumulation_steps)
        self.total_steps = self._total_steps()
        self.scheduler = build_scheduler(self.optimizer, config, self.total_steps)

        self.state = _LoopState()
        if resume_from is not None:
            self._restore(resume_from)
        if self.dist.is_main:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            with atomic_write_file(self.output_dir / RUN_CONFIG_FILE) as handle:
                json.dump(asdict(config), handle, indent=1)
        self.metrics_log = MetricsLog(
            self.output_dir,
            enabled=self.dist.is_main,
            resume_step=self.state.step if resume_from is not None else None,
        )
        self.progress = self._open_progress()
        return self._loop()

    def _checkpoint_to_resume(self) -> Path | None:
        check_run_folder(self.output_dir)
        latest = ckpt.latest_checkpoint(self.output_dir)
        if not self.config.resume:
            if latest is not None:
                raise BertkitError(
                    f"{self.output_dir} already holds the checkpoints of an earlier run "
                    f"(latest {latest.name}); pass --resume to continue it, delete "
                    f"{self.output_dir} to start again, or give another --output-dir"
                )
            return None
        if latest is None:
            logger.warning("nothing to resume in %s: starting from scratch", self.output_dir)
        return latest

    def _resolve_precision(self) -> torch.dtype | None:
        """bf16 for autocast, or None for plain fp32."""
        precision = self.config.precision
        device = self.dist.device
        if precision == "fp32":
            return None
        if precision == "auto":
            # bf16 where it pays: a GPU with bf16, or a CPU with AVX-512-BF16/AMX instructions.
            return torch.bfloat16 if bf16_is_fast(device) else None
        if device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise ConfigError("precision bf16 was asked for but this GPU does not support it")
        return torch.bfloat16

    def _total_steps(self) -> int | None:
        """Optimizer steps the schedule spans: the smaller of max_steps and num_epochs."""
        candidates = []
        if self.config.max_steps is not None:
            candidates.append(self.config.max_steps)
        if self.config.num_epochs is not None:
            candidates.append(max(1, math.ceil(self.config.num_epochs * self.steps_per_epoch)))
        return min(candidates) if candidates else None

    def _open_progress(self):
        if not (self.config.progress_bar and self.dist.is_main):
            return None
        from tqdm.auto import tqdm

        return tqdm(
            total=self.total_steps, initial=self.state.step, unit="step", dynamic_ncols=True
        )

    # ------------------------------------------------------------------ loop

    def _loop(self) -> TrainResult:
        config, state = self.config, self.state
        session_start = time.monotonic()
        self._window_start = time.monotonic()
        self._window_counts = {"examples": 0.0, "tokens": 0.0}
        self._last_metrics: dict[str, float] = {}
        # A resumed run whose budget is already spent does no further step.
        stop_reason = self._stop_reason(state.elapsed_seconds)
        saved_at = evaluated_at = None
        self.wrapped.train()

        while stop_reason is None:
            batches = self.plan.rank_batches(state.epoch)
            if state.batch_position >= len(batches):
                state.epoch, state.batch_position = state.epoch + 1, 0
                continue
            loader = make_loader(
                self.train_dataset,
                batches[state.batch_position :],
                seed=config.seed,
                epoch=state.epoch,
                collate_fn=self.collate_fn,
                num_workers=config.num_workers,
                pin_memory=config.pin_memory,
            )
            micro_batches = iter(loader)
            while state.batch_position < len(batches):
                count = min(config.grad_accumulation_steps, len(batches) - state.batch_position)
                stats = self._optimizer_step(micro_batches, count)
                state.batch_position += count
                state.step += 1
                self._record(stats)

                elapsed = state.elapsed_seconds + time.monotonic() - session_start
                stop_reason = self._stop_reason(elapsed)
                eval_metrics = None
                epoch_ended = state.batch_position >= len(batches)
                if (config.eval_every and state.step % config.eval_every == 0) or (
                    config.eval_each_epoch and epoch_ended
                ):
                    eval_metrics, patience_ran_out = self._evaluate()
                    if patience_ran_out:
                        stop_reason = stop_reason or "early_stopping"
                    evaluated_at = state.step
                if eval_metrics or (config.log_every and state.step % config.log_every == 0):
                    self._flush_log(eval_metrics)
                if stop_reason is not None:
                    break
                if config.save_every and state.step % config.save_every == 0:
                    self._save(elapsed)
                    saved_at = state.step
            if state.batch_position >= len(batches) and stop_reason is None:
                state.epoch, state.batch_position = state.epoch + 1, 0

        final_metrics = None
        if self.evaluate_fn is not None and evaluated_at != state.step:
            final_metrics, _ = self._evaluate()
        self._flush_log(final_metrics)
        elapsed = state.elapsed_seconds + time.monotonic() - session_start
        if saved_at != state.step:
            self._save(elapsed)
        logger.info("training stopped after step %d: %s", state.step, stop_reason)
        best = self.output_dir / ckpt.BEST_DIR
        return TrainResult(
            global_step=state.step,
            epoch=state.epoch,
            metrics=dict(self._last_metrics),
            best_checkpoint=best if state.best_step is not None else None,
            best_metric=state.best_metric,
            output_dir=self.output_dir,
            stop_reason=stop_reason,
        )

    def _stop_reason(self, elapsed: float) -> str | None:
        config, step = self.config, self.state.step
        if config.max_steps is not None and step >= config.max_steps:
            return "max_steps"
        if self.total_steps is not None and step >= self.total_steps:
            return "num_epochs"
        if config.max_time is not None and self.dist.any_rank(elapsed >= config.max_time):
            return "max_time"
        return None

    def _optimizer_step(self, micro_batches: Iterable, count: int) -> dict[str, float]:
        """Forward/backward `count` micro-batches, then one clipped, normalised update.

        Returns the step's global loss sum, labelled-item count, examples, tokens and
        gradient norm.
        """
        device = self.dist.device
        # [loss * items, items, examples, tokens], summed over micro-batches, then ranks.
        totals = torch.zeros(4, dtype=torch.float64, device=device)
        for index in range(count):
            batch = _to_device(next(micro_batches), device)
            last = index == count - 1
            with self.dist.gradient_sync(self.wrapped, enabled=last):
                with self._autocast():
                    output = self.wrapped(**batch)
                if output.loss is None or output.num_loss_items is None:
                    raise BertkitError(
                        "the model returned no loss/num_loss_items: are labels in the batch?"
                    )
                items = output.num_loss_items.detach().to(torch.float32)
                # Sum of per-item losses; normalised by the global count after accumulation.
                (output.loss.float() * items).backward()
            # A micro-batch without labels may report a NaN mean loss; it adds nothing.
            weighted = output.loss.detach().double() * items.double()
            totals[0] += torch.where(items > 0, weighted, torch.zeros_like(weighted))
            totals[1] += items.double()
            totals[2] += _batch_size(batch)
            if "attention_mask" in batch:
                totals[3] += batch["attention_mask"].sum().double()
        self.dist.all_reduce_sum(totals)

        grad_norm = None
        global_items = totals[1].item()
        if global_items > 0:
            # DDP/FSDP averaged gradients over ranks; turn that into a sum, then a mean per item.
            scale = self.dist.world_size / global_items
            for parameter in self.model.parameters():
                if parameter.grad is not None:
                    parameter.grad.mul_(scale)
            if self.config.max_grad_norm:
                norm = nn.utils.clip_grad_norm_(self.model.parameters(), self.config.max_grad_norm)
                grad_norm = _full(norm).item()
            self.optimizer.step()
        else:
            logger.warning("step %d had no labelled items; skipping the update", self.state.step)
        lr = self.scheduler.get_last_lr()[0]
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        loss_sum, items, examples, tokens = totals.tolist()
        return {
            "loss_sum": loss_sum,
            "items": items,
            "examples": examples,
            "tokens": tokens,
            "lr": lr,
            "grad_norm": grad_norm,
        }

    def _autocast(self):
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.dist.device.type, dtype=self.autocast_dtype)

    # ------------------------------------------------------- logging and eval

    def _record(self, stats: dict[str, float]) -> None:
        """Accumulate the step into the logging window (written out by `_flush_log`)."""
        window = self.state.window
        window["loss_sum"] = window.get("loss_sum", 0.0) + stats["loss_sum"]
        window["items"] = window.get("items", 0.0) + stats["items"]
        window["lr"] = stats["lr"]
        if stats["grad_norm"] is not None:
            window["grad_norm"] = stats["grad_norm"]
        self._window_counts["examples"] += stats["examples"]
        self._window_counts["tokens"] += stats["tokens"]
        if self.progress is not None:
            self.progress.update(1)

    def _flush_log(self, extra: Mapping[str, float] | None = None) -> None:
        """Write one metrics row: the window's train loss (if any) and `extra` eval metrics."""
        window = self.state.window
        if not window and not extra:
            return
        row: dict[str, float | int | None] = {"step": self.state.step, "epoch": self.state.epoch}
        if window:
            seconds = max(time.monotonic() - self._window_start, 1e-9)
            loss = window["loss_sum"] / window["items"] if window["items"] else float("nan")
            tokens = self._window_counts["tokens"]
            row.update(
                loss=loss,
                lr=window["lr"],
                grad_norm=window.get("grad_norm"),
                examples_per_s=self._window_counts["examples"] / seconds,
                tokens_per_s=tokens / seconds if tokens else None,
            )
            self._last_metrics["loss"] = loss
            if self.progress is not None:
                postfix = {"loss": f"{loss:.4f}", "lr": f"{window['lr']:.2e}"}
                if tokens:
                    postfix["tok/s"] = f"{tokens / seconds:.0f}"
                self.progress.set_postfix(postfix, refresh=False)
        row.update(extra or {})
        self.metrics_log.log(row)
        self.state.window = {}
        self._window_start = time.monotonic()
        self._window_counts = {"examples": 0.0, "tokens": 0.0}

    def _evaluate(self) -> tuple[dict[str, float] | None, bool]:
        """Run evaluate_fn and track the best checkpoint; return (metrics, patience ran out)."""
        if self.evaluate_fn is None:
            return None, False
        self.model.eval()
        with torch.no_grad(), self._autocast():
            raw = self.evaluate_fn(self.model)
        self.model.train()
        metrics = {_eval_name(key): float(value) for key, value in raw.items()}
        self._last_metrics.update(metrics)

        name = self._metric_for_best(metrics)
        if name is None:
            return metrics, False
        # Rank 0's verdict holds everywhere, so all ranks save best/ and stop together.
        improved, value = self.dist.broadcast_floats(
            [float(self._improves(metrics[name])), metrics[name]]
        )
        state = self.state
        if improved:
            state.best_metric, state.best_step = value, state.step
            state.evals_without_improvement = 0
            self._save_best()
        else:
            state.evals_without_improvement += 1
        patience = self.config.early_stopping_patience
        if patience is not None and state.evals_without_improvement >= patience:
            logger.info("no improvement of %s in %d evaluations: stopping", name, patience)
            return metrics, True
        return metrics, False

    def _metric_for_best(self, metrics: Mapping[str, float]) -> str | None:
        """The metric that picks best/ and drives early stopping; default eval_loss."""
        wanted = self.config.metric_for_best
        if wanted is None:
            if "eval_loss" in metrics:
                return "eval_loss"
            if self.config.early_stopping_patience is not None:
                raise ConfigError("early stopping needs metric_for_best (no eval_loss reported)")
            return None
        name = _eval_name(wanted)
        if name not in metrics:
            raise ConfigError(
                f"metric_for_best {wanted!r} is not among the evaluation metrics {sorted(metrics)}"
            )
        return name

    def _improves(self, value: float) -> bool:
        best = self.state.best_metric
        if best is None:
            return True
        greater = self.config.greater_is_better and self.config.metric_for_best is not None
        return value > best if greater else value < best

    # ----------------------------------------------------------- checkpoints

    def _save(self, elapsed: float) -> None:
        """Write a resumable checkpoint (rank 0 writes; every rank contributes its state)."""
        model_state = self.dist.full_model_state_dict(self.model)
        optimizer_state = self.dist.full_optimizer_state_dict(self.model, self.optimizer)
        rng_states = self.dist.gather_strings(json.dumps(ckpt.capture_rng_state()))
        if self.dist.is_main:
            state = asdict(self.state)
            state["elapsed_seconds"] = elapsed
            trainer_state = {
                "loop": state,
                "world_size": self.dist.world_size,
                "scheduler": _scheduler_state(self.scheduler),
                "rng": [json.loads(text) for text in rng_states],
                "config": asdict(self.config),
            }
            ckpt.write_checkpoint(
                ckpt.checkpoint_dir(self.output_dir, self.state.step),
                model=self.model,
                model_state=model_state,
                save_model_fn=self.save_model_fn,
                trainer_state=trainer_state,
                optimizer_state=optimizer_state,
            )
            ckpt.prune_checkpoints(self.output_dir, self.config.keep_last)
        self.dist.barrier()

    def _save_best(self) -> None:
        model_state = self.dist.full_model_state_dict(self.model)
        if self.dist.is_main:
            ckpt.write_checkpoint(
                self.output_dir / ckpt.BEST_DIR,
                model=self.model,
                model_state=model_state,
                save_model_fn=self.save_model_fn,
                trainer_state={"loop": asdict(self.state), "config": asdict(self.config)},
            )
        self.dist.barrier()

    def _restore(self, folder: Path) -> None:
        """Load weights, optimizer, scheduler, loop position and RNG from `folder`."""
        saved = ckpt.read_trainer_state(folder)
        model_state = ckpt.read_model_state(folder, self.model, self.load_model_fn)
        optimizer_state = ckpt.read_optimizer_state(folder, saved)
        try:
            self.dist.load_full_state(self.model, model_state, self.optimizer, optimizer_state)
            self.scheduler.load_state_dict(dict(saved["scheduler"], lr_lambdas=[None]))
            self.state = _LoopState(**saved["loop"])
        except (KeyError, TypeError, RuntimeError, ValueError) as error:
            # torch lists every mismatched tensor; the first one says enough.
            lines = [line.strip() for line in str(error).splitlines() if line.strip()]
            shown = " ".join(lines[:2])
            shown = shown if len(shown) <= 300 else shown[:297] + "..."
            more = f" (and {len(lines) - 2} more)" if len(lines) > 2 else ""
            raise ckpt.CheckpointError(
                f"checkpoint {folder} does not fit this model or trainer: {shown}{more}; "
                "resume with the options the run was started with"
            ) from None
        if saved.get("world_size") == self.dist.world_size:
            ckpt.restore_rng_state(saved["rng"][self.dist.rank])
        else:
            logger.warning(
                "checkpoint was written by %s processes, this run has %d: data order and "
                "masking continue exactly, but dropout randomness is reseeded",
                saved.get("world_size"),
                self.dist.world_size,
            )
            seed_everything(self.config.seed + self.dist.rank + self.state.step)
        logger.info("resumed from %s at step %d", folder, self.state.step)


def _scheduler_state(scheduler: torch.optim.lr_scheduler.LRScheduler) -> dict[str, Any]:
    state = scheduler.state_dict()
    state.pop("lr_lambdas", None)
    return state


def _eval_name(key: str) -> str:
    return key if key.startswith("eval_") else f"eval_{key}"


def _to_device(batch: Any, device: torch.device) -> dict[str, Any]:
    if not isinstance(batch, Mapping):
        raise BertkitError(f"collate_fn must return a dict of tensors, got {type(batch).__name__}")
    return {
        key: value.to(device, non_blocking=True) if isinstance(value, torch.Tensor) else value
        for key, value in batch.items()
    }


def _batch_size(batch: Mapping[str, Any]) -> int:
    for value in batch.values():
        if isinstance(value, torch.Tensor) and value.ndim > 0:
            return value.shape[0]
    return 0


def _full(norm: torch.Tensor) -> torch.Tensor:
    # Under FSDP the gradient norm is a DTensor; its full value is the global norm.
    return norm.full_tensor() if hasattr(norm, "full_tensor") else norm
