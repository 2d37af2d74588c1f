"""Resumable training checkpoints as safetensors shards of at most 16 MiB.

Weights and optimiser moments are stored in half precision: rounding once per chunk costs
nothing measurable, and it keeps a chunk's checkpoint small enough to carry between machines.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from facecodec.receiver.weights import split_shards

META_FILE = "checkpoint.json"


def flatten_optimizer(prefix: str, optimizer: torch.optim.Optimizer) -> tuple[dict, dict]:
    """Optimiser state -> (tensors by name, JSON-able param_groups and scalar state)."""
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for index, entries in state["state"].items():
        for key, value in entries.items():
            name = f"{prefix}.{index}.{key}"
            if not torch.is_tensor(value):
                scalars[name] = float(value)
            elif value.numel() > 1:
                tensors[name] = value.to(torch.bfloat16)
            else:
                tensors[name] = value.clone()
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def restore_optimizer(
    prefix: str, optimizer: torch.optim.Optimizer, tensors: dict, meta: dict
) -> None:
    """Inverse of flatten_optimizer (moments come back as float32)."""
    state: dict[int, dict] = {}
    for name, value in tensors.items():
        if name.startswith(prefix + "."):
            index, key = name[len(prefix) + 1 :].split(".", 1)
            state.setdefault(int(index), {})[key] = value.float() if value.numel() > 1 else value
    for name, value in meta["scalars"].items():
        index, key = name[len(prefix) + 1 :].split(".", 1)
        state.setdefault(int(index), {})[key] = torch.tensor(value)
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    # Fused Adam needs each moment in its parameter's memory format (channels_last convs).
    for param, entries in optimizer.state.items():
        for key, value in entries.items():
            if torch.is_tensor(value) and value.shape == param.shape:
                entries[key] = torch.empty_like(param).copy_(value)


def save(directory: Path, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    """Write tensors in shards plus a JSON index, replacing any earlier checkpoint atomically."""
    tmp = directory.with_name(directory.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    shards = split_shards(tensors)
    names = []
    for i, shard in enumerate(shards):
        names.append(f"shard-{i:03d}.safetensors")
        save_file(shard, str(tmp / names[-1]))
    (tmp / META_FILE).write_text(json.dumps({**meta, "shards": names}, indent=1))
    shutil.rmtree(directory, ignore_errors=True)
    tmp.rename(directory)


def load(directory: Path) -> tuple[dict[str, torch.Tensor], dict]:
    """(tensors, meta) of a checkpoint written by save()."""
    meta = json.loads((directory / META_FILE).read_text())
    tensors: dict[str, torch.Tensor] = {}
    for name in meta["shards"]:
        tensors.update(load_file(str(directory / name)))
    return tensors, meta


def module_tensors(prefix: str, module: torch.nn.Module, dtype: torch.dtype) -> dict:
    """A module's state dict under ``prefix.`` with floating tensors cast to ``dtype``."""
    return {
        f"{prefix}.{k}": (v.to(dtype) if v.is_floating_point() else v)
        for k, v in module.state_dict().items()
    }


def restore_module(prefix: str, module: torch.nn.Module, tensors: dict) -> None:
    own = module.state_dict()
    state = {
        k[len(prefix) + 1 :]: v.to(own[k[len(prefix) + 1 :]].dtype)
        for k, v in tensors.items()
        if k.startswith(prefix + ".")
    }
    module.load_state_dict(state)
