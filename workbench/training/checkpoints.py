"""Atomic training checkpoints without pickle: tensors in safetensors, everything else in JSON.

A checkpoint holds the trainable parameters, the optimizer's state (moments per parameter), the
scheduler's state, the torch RNG state (dropout) and the loop's progress. It is written into a
temporary folder renamed to `step-N` only when complete, so a run killed mid-save (even by SIGKILL)
resumes from the previous checkpoint. With several training processes, every process calls
`save_checkpoint` and rank 0 writes it with every process's RNG state; each restores its own. Under FSDP
each process holds a shard of every tensor: the checkpoint holds them whole (the same files as without
sharding), gathered at save and split again at resume.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, Field
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from workbench.runfolder import RunError, read_json
from workbench.training.distributed import current_world, gather, is_sharded, shaped_like, wait_for_all, whole


class CheckpointState(BaseModel):
    """state.json of a checkpoint: what is not a tensor."""

    step: int = Field(ge=0)
    progress: dict[str, Any]
    optimizer: dict[str, Any]
    scheduler: dict[str, Any]


def trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The trainable parameters, whole, on the CPU (under FSDP every process must call this)."""
    return {n: whole(p.detach()).contiguous().cpu().clone() for n, p in model.named_parameters() if p.requires_grad}


def save_checkpoint(folder: Path, step: int, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    scheduler: torch.optim.lr_scheduler.LRScheduler, progress: dict[str, Any], keep: int = 1) -> Path:
    """Write checkpoint `step-N` under `folder` atomically and keep only the newest `keep`; with several
    processes, every one calls this and none returns before the checkpoint is written."""
    final = folder / f"step-{step}"
    rng = {_rng_key(kind, rank): state for rank, states in enumerate(gather(_rng_states())) for kind, state in states.items()}
    if current_world().is_main or is_sharded(model):  # under FSDP, every process takes part in gathering
        trainable, (optimizer_tensors, optimizer_meta) = trainable_state(model), _flatten_optimizer(optimizer.state_dict())
    if current_world().is_main:
        state = {"step": step, "progress": progress, "optimizer": optimizer_meta,
                 "scheduler": _jsonable(scheduler.state_dict())}
        _write_checkpoint(folder, step, trainable, optimizer_tensors, rng, state, keep)
    wait_for_all()
    return final


def _write_checkpoint(folder: Path, step: int, trainable: dict[str, torch.Tensor],
                      optimizer_tensors: dict[str, torch.Tensor], rng: dict[str, torch.Tensor],
                      state: dict[str, Any], keep: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"step-{step}"
    tmp = folder / f".tmp-step-{step}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        save_file(trainable, tmp / "trainable.safetensors")
        save_file(optimizer_tensors, tmp / "optimizer.safetensors")
        save_file(rng, tmp / "rng.safetensors")
        (tmp / "state.json").write_text(json.dumps(state, indent=2))
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise RunError(f"{final}: cannot save checkpoint ({exc.strerror or exc})") from None
    for old in sorted(_checkpoints(folder), key=_step_of)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)


def _rng_states() -> dict[str, torch.Tensor]:
    """This process's random state: dropout draws from it."""
    states = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state()
    return states


def _rng_key(kind: str, rank: int) -> str:
    """rng.safetensors key of a process's state: `torch`, `cuda` for rank 0 (as single-process runs
    always wrote them), `torch.1`, `cuda.1` ... for the others."""
    return kind if rank == 0 else f"{kind}.{rank}"


def latest_checkpoint(folder: Path) -> Path | None:
    found = sorted(_checkpoints(folder), key=_step_of)
    return found[-1] if found else None


def load_checkpoint(path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    scheduler: torch.optim.lr_scheduler.LRScheduler) -> dict[str, Any]:
    """Restore everything saved by `save_checkpoint`; returns the loop's progress. A damaged checkpoint
    is a `RunError` naming it (the run itself is untouched)."""
    try:
        return _restore(path, model, optimizer, scheduler)
    except torch.OutOfMemoryError:
        raise  # the checkpoint is fine; the device is full
    except (SafetensorError, OSError, KeyError, ValueError, RuntimeError) as exc:
        raise RunError(f"{path}: damaged checkpoint ({type(exc).__name__}: {exc}); delete this folder to resume "
                       "from the one before, or start the run again") from None


def _restore(path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
             scheduler: torch.optim.lr_scheduler.LRScheduler) -> dict[str, Any]:
    params = dict(model.named_parameters())
    for name, tensor in load_file(path / "trainable.safetensors").items():
        if name not in params:
            raise RunError(f"{path}: parameter '{name}' does not exist in this model (different method or model?)")
        with torch.no_grad():
            params[name].copy_(shaped_like(tensor, params[name]))
    state = read_json(path / "state.json", CheckpointState)
    optimized = [p for group in optimizer.param_groups for p in group["params"]]  # state ids index this list
    optimizer_tensors = {name: shaped_like(tensor, optimized[int(name.split(".")[1])]) if tensor.dim() else tensor
                         for name, tensor in load_file(path / "optimizer.safetensors").items()}
    optimizer.load_state_dict(_unflatten_optimizer(optimizer_tensors, state.optimizer))
    scheduler.load_state_dict(state.scheduler)
    rng, rank = load_file(path / "rng.safetensors"), current_world().rank
    torch.set_rng_state(rng[_rng_key("torch", rank)])
    if _rng_key("cuda", rank) in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state(rng[_rng_key("cuda", rank)])
    return state.progress


def _checkpoints(folder: Path) -> list[Path]:
    return [p for p in folder.glob("step-*") if p.is_dir()] if folder.is_dir() else []


def _step_of(path: Path) -> int:
    return int(path.name.removeprefix("step-"))


def _flatten_optimizer(state_dict: dict) -> tuple[dict[str, torch.Tensor], dict]:
    """Split an optimizer state dict into tensors (`state.<param>.<key>`) and JSON metadata."""
    tensors, scalars = {}, {}
    for param_id, param_state in state_dict["state"].items():
        for key, value in param_state.items():
            if isinstance(value, torch.Tensor):
                tensors[f"state.{param_id}.{key}"] = whole(value).contiguous().cpu()
            else:
                scalars[f"{param_id}.{key}"] = value
    return tensors, {"param_groups": _jsonable(state_dict["param_groups"]), "scalars": scalars}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    state: dict[int, dict[str, Any]] = {}
    for name, tensor in tensors.items():
        _, param_id, key = name.split(".", 2)
        state.setdefault(int(param_id), {})[key] = tensor
    for name, value in meta["scalars"].items():
        param_id, key = name.split(".", 1)
        state.setdefault(int(param_id), {})[key] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def _jsonable(value: Any) -> Any:
    """Scheduler and param-group state is plain numbers, lists and dicts; fail loudly on anything else."""
    json.dumps(value)
    return value
