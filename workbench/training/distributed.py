"""Training on several processes (`wb train --nproc N`, `torchrun`, `accelerate launch`): who does what.

Every process runs the same command. They share one run folder, which the first process (rank 0)
creates, locks and alone writes; the others learn its path, or the error that stopped it, from rank 0.
With one process every function here is a no-op, so single-process training pays nothing for it.
With `training.sharding: fsdp` the processes also split the model (`shard`); a checkpoint or a saved
model then gathers each tensor whole (`whole`) and a resume splits it again (`shaped_like`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from workbench.runfolder import RunDir, RunError


@dataclass(frozen=True)
class World:
    """This process's place among the training processes, as the launcher (torchrun) set it."""

    rank: int = 0
    size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def current_world() -> World:
    """The launch this process belongs to: torchrun (and `accelerate launch`, which runs torchrun) set
    RANK and WORLD_SIZE for each process it starts; a plain command is one process."""
    return World(rank=int(os.environ.get("RANK", 0)), size=int(os.environ.get("WORLD_SIZE", 1)))


def join(cpu: bool) -> World:
    """Connect this process to the others (gloo on CPU, NCCL on GPUs, through accelerate's process
    state, which `Accelerator` reuses) and return its world; with one process, just the world."""
    world = current_world()
    if world.size > 1:
        from accelerate import PartialState

        PartialState(cpu=cpu)
    return world


def from_main(value: Any) -> Any:
    """Rank 0's `value`, on every process."""
    if not _connected():
        return value
    box = [value]
    torch.distributed.broadcast_object_list(box, src=0)
    return box[0]


def gather(value: Any) -> list[Any]:
    """Every process's `value`, in rank order, on every process."""
    if not _connected():
        return [value]
    values: list[Any] = [None] * torch.distributed.get_world_size()
    torch.distributed.all_gather_object(values, value)
    return values


def sum_over_ranks(values: torch.Tensor) -> torch.Tensor:
    """The element-wise sum of `values` over all processes (a new tensor)."""
    values = values.clone()
    if _connected():
        torch.distributed.all_reduce(values)
    return values


def any_rank(flag: bool, device: torch.device | str = "cpu") -> bool:
    """True on every process when `flag` is true on any: a stop that one process hears of (a cancel from
    the UI, a SIGTERM) must stop all at the same step, or the others wait forever in the next step."""
    return bool(sum_over_ranks(torch.tensor([float(flag)], device=device)).item())


def wait_for_all() -> None:
    if _connected():
        torch.distributed.barrier()


@contextmanager
def shared_run(path: Path, config: dict[str, Any], resume: bool, device: str) -> Iterator[RunDir]:
    """`RunDir.create` for every process (joined first, for `device`: a `models.device` setting): rank 0 creates (or reopens) and locks the run folder and writes
    into it; the others get rank 0's folder (each may have named its own, from the clock) as a run they
    only read. The run records how many processes train it, and a resume on another number is refused
    (the batches each process sees and the schedule's length depend on it). Nobody leaves before rank 0
    has finished writing."""
    from workbench.models import resolve_device

    world = join(cpu=resolve_device(device).type == "cpu")
    if world.size > 1:
        config = {**config, "world_size": world.size}
    with ExitStack() as stack:
        if world.is_main:
            try:
                run = stack.enter_context(RunDir.create(path, config, resume))
            except Exception as exc:
                from_main(("error", str(exc)))
                raise
            from_main(("ok", str(run.path)))
        else:
            status, detail = from_main(None)
            if status != "ok":
                raise RunError(detail)
            run = RunDir(Path(detail), writer=False)
        yield run
        wait_for_all()


def shard(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """FSDP (torch's `fully_shard`): every transformer block, then the rest of `model`, split over the
    processes, which gather a block's weights only while it runs. Returns `model` itself, changed in place:
    its parameters are now DTensors holding this process's shard (build the optimizer after this)."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    mesh = init_device_mesh(device.type, (current_world().size,))
    blocks = set(getattr(model, "_no_split_modules", None) or ())  # the model's own list of its block classes
    for module in [m for m in model.modules() if type(m).__name__ in blocks]:
        fully_shard(module, mesh=mesh)
    fully_shard(model, mesh=mesh)
    return model


def is_sharded(model: torch.nn.Module) -> bool:
    from torch.distributed.fsdp import FSDPModule

    return isinstance(model, FSDPModule)


def whole(tensor: torch.Tensor) -> torch.Tensor:
    """The whole of a sharded tensor (every process must ask for it, in the same order), or `tensor` itself."""
    from torch.distributed.tensor import DTensor

    return tensor.full_tensor() if isinstance(tensor, DTensor) else tensor


def shaped_like(tensor: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """`tensor` (a whole one, read from a checkpoint) split as `reference` is, if `reference` is sharded."""
    from torch.distributed.tensor import DTensor, distribute_tensor

    if not isinstance(reference, DTensor):
        return tensor
    return distribute_tensor(tensor.to(reference.device), reference.device_mesh, reference.placements)


def _connected() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized() and torch.distributed.get_world_size() > 1
