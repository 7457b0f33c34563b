"""Process-group setup, model wrapping and full state dicts for single-process, DDP and FSDP runs.

Launching is torchrun's job: this module only reads RANK / WORLD_SIZE / LOCAL_RANK from the
environment, joins the process group (gloo on CPU, nccl on GPU), wraps the model and leaves the
group at the end if it joined it. Rank 0 is the only writer of files.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from bertkit.errors import ConfigError

logger = logging.getLogger(__name__)


def _state_dict_api():
    """torch.distributed.checkpoint's state-dict helpers, imported on first use: the import
    takes over a second, which every CLI command would otherwise pay at start-up."""
    from torch.distributed.checkpoint import state_dict as api

    return api


@dataclass
class DistributedContext:
    """Where this process sits in the run and how its model is wrapped."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    strategy: str = "none"  # resolved: "none", "ddp" or "fsdp"
    owns_process_group: bool = False  # True when this context initialised the group

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def setup(cls, requested: str = "auto") -> DistributedContext:
        """Read the torchrun environment, pick the device and join the process group."""
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if world_size > 1 and requested == "none":
            raise ConfigError(
                f"strategy 'none' cannot run under torchrun with {world_size} processes; "
                "use ddp or fsdp"
            )
        if world_size == 1:
            if requested in ("ddp", "fsdp"):
                logger.info("one process only: %s is not needed, training without it", requested)
            return cls(device=_pick_device(0))
        strategy = "ddp" if requested == "auto" else requested
        device = _pick_device(local_rank)
        owns = False
        if not dist.is_initialized():
            backend = "nccl" if device.type == "cuda" else "gloo"
            dist.init_process_group(backend=backend, rank=rank, world_size=world_size)
            owns = True
        logger.info("rank %d of %d on %s using %s", rank, world_size, device, strategy)
        return cls(rank, world_size, local_rank, device, strategy, owns)

    def wrap(self, model: nn.Module) -> nn.Module:
        """The module the training loop calls: DDP around `model`, or `model` sharded in place."""
        if self.strategy == "ddp":
            from torch.nn.parallel import DistributedDataParallel

            device_ids = [self.device.index] if self.device.type == "cuda" else None
            return DistributedDataParallel(model, device_ids=device_ids)
        if self.strategy == "fsdp":
            from torch.distributed.fsdp import fully_shard

            # Shard every block of every ModuleList (the encoder layers), then the rest.
            for module in list(model.modules()):
                if isinstance(module, nn.ModuleList):
                    for block in module:
                        fully_shard(block)
            fully_shard(model)
            return model
        return model

    @contextlib.contextmanager
    def gradient_sync(self, wrapped: nn.Module, enabled: bool) -> Iterator[None]:
        """Skip the gradient all-reduce on all but the last micro-batch of an optimizer step."""
        if self.strategy == "ddp" and not enabled:
            with wrapped.no_sync():
                yield
        elif self.strategy == "fsdp":
            wrapped.set_requires_gradient_sync(enabled)
            yield
        else:
            yield

    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """Sum `tensor` over ranks in place (a no-op on one process)."""
        if self.world_size > 1:
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def any_rank(self, flag: bool) -> bool:
        """True when `flag` is true on at least one rank."""
        if self.world_size == 1:
            return flag
        tensor = torch.tensor([float(flag)], device=self.device)
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
        return bool(tensor.item())

    def broadcast_floats(self, values: list[float]) -> list[float]:
        """Rank 0's `values` on every rank."""
        if self.world_size == 1:
            return values
        tensor = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.broadcast(tensor, src=0)
        return tensor.tolist()

    def gather_strings(self, text: str) -> list[str]:
        """Every rank's `text`, in rank order, on every rank."""
        if self.world_size == 1:
            return [text]
        gathered: list[str | None] = [None] * self.world_size
        dist.all_gather_object(gathered, text)
        return [str(item) for item in gathered]

    def barrier(self) -> None:
        if self.world_size > 1:
            dist.barrier()

    def close(self) -> None:
        """Leave the process group if this context joined it."""
        if self.owns_process_group and dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()
            self.owns_process_group = False

    def full_model_state_dict(self, model: nn.Module) -> dict[str, torch.Tensor]:
        """The unsharded weights on CPU under the model's own names (empty off rank 0 for FSDP)."""
        api = _state_dict_api()
        options = api.StateDictOptions(full_state_dict=True, cpu_offload=True)
        return api.get_model_state_dict(model, options=options)

    def full_optimizer_state_dict(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> dict:
        """Optimizer state keyed by parameter name, unsharded, on CPU."""
        api = _state_dict_api()
        options = api.StateDictOptions(full_state_dict=True, cpu_offload=True)
        return api.get_optimizer_state_dict(model, optimizer, options=options)

    def load_full_state(
        self,
        model: nn.Module,
        model_state: dict[str, torch.Tensor],
        optimizer: torch.optim.Optimizer | None = None,
        optimizer_state: dict | None = None,
    ) -> None:
        """Load full (unsharded) state dicts on every rank; FSDP keeps only its shards."""
        api = _state_dict_api()
        options = api.StateDictOptions(full_state_dict=True)
        api.set_model_state_dict(model, model_state, options=options)
        if optimizer is not None and optimizer_state is not None:
            api.set_optimizer_state_dict(model, optimizer, optimizer_state, options=options)


def _pick_device(local_rank: int) -> torch.device:
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    return torch.device("cpu")
