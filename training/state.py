"""The training state that a chunk resumes: fp16 safetensors shards plus a JSON record.

What is kept: the generator and the discriminator (fp16), both Adam optimisers' moments, the
step count, the training seconds, the sampling generator's position and the learning-rate
schedule, under fixed file names (``state-NN.safetensors``, ``state.json``) that each save
overwrites, so the state can live in the repository (training/state/) without a new copy per
commit.

Adam's moments span many decades inside one tensor (the second moment holds squared
gradients), which plain fp16 cannot hold; each moment is stored in fp16 divided by its
tensor's largest magnitude, and the second moment as its square root, which halves the
decades to cover.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from facecodec.receiver.weights import split_shards

RECORD_FILE = "state.json"
SHARD_PATTERN = "state-{:02d}.safetensors"
SCALE_SUFFIX = ".scale"
SQUARED_MOMENTS = frozenset({"exp_avg_sq", "max_exp_avg_sq"})
"""Adam state entries stored as their square root."""


class IncompatibleStateError(ValueError):
    """A saved state was trained for other networks, data or schedule than this run's."""


@dataclass(frozen=True)
class SavedState:
    """Tensors by name and the JSON record of a state directory."""

    tensors: dict[str, torch.Tensor]
    record: dict


def exists(directory: Path) -> bool:
    return (directory / RECORD_FILE).exists()


def save(directory: Path, tensors: dict[str, torch.Tensor], record: dict) -> None:
    """Overwrite the state in ``directory``: shards first, each renamed into place, then the
    record that names them, then stale shards of an earlier, larger state are removed."""
    directory.mkdir(parents=True, exist_ok=True)
    names = []
    for i, shard in enumerate(split_shards(tensors)):
        names.append(SHARD_PATTERN.format(i))
        tmp = directory / (names[-1] + ".tmp")
        save_file(shard, str(tmp))
        os.replace(tmp, directory / names[-1])
    tmp = directory / (RECORD_FILE + ".tmp")
    tmp.write_text(json.dumps({**record, "shards": names}, indent=1) + "\n")
    os.replace(tmp, directory / RECORD_FILE)
    for stale in directory.glob("state-*.safetensors"):
        if stale.name not in names:
            stale.unlink()


def load(directory: Path) -> SavedState:
    """The state written by save()."""
    record = json.loads((directory / RECORD_FILE).read_text())
    tensors: dict[str, torch.Tensor] = {}
    for name in record["shards"]:
        tensors.update(load_file(str(directory / name)))
    return SavedState(tensors, record)


def check_compatible(saved: dict, current: dict, what: str) -> None:
    """Raise IncompatibleStateError naming every field where ``saved`` and ``current`` differ."""
    differ = sorted(k for k in saved.keys() | current.keys() if saved.get(k) != current.get(k))
    if differ:
        detail = "; ".join(f"{k}: state {saved.get(k)!r}, run {current.get(k)!r}" for k in differ)
        raise IncompatibleStateError(f"the training state was made for another {what} ({detail})")


def module_tensors(prefix: str, module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A module's state dict under ``prefix.``, floating tensors in fp16."""
    return {
        f"{prefix}.{k}": (v.half() if v.is_floating_point() else v)
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


def optimizer_tensors(prefix: str, optimizer: torch.optim.Optimizer) -> tuple[dict, dict]:
    """Optimiser state -> (fp16 tensors by name, JSON-able param groups and scalar state)."""
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for index, entries in state["state"].items():
        for key, value in entries.items():
            name = f"{prefix}.{index}.{key}"
            if not torch.is_tensor(value) or value.dim() == 0:
                scalars[name] = float(value)
                continue
            value = value.float().sqrt() if key in SQUARED_MOMENTS else value.float()
            scale = value.abs().max().clamp_min(torch.finfo(torch.float32).tiny)
            tensors[name] = (value / scale).half()
            tensors[name + SCALE_SUFFIX] = scale.reshape(1)
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def restore_optimizer(
    prefix: str, optimizer: torch.optim.Optimizer, tensors: dict, meta: dict
) -> None:
    """Inverse of optimizer_tensors (moments come back as float32)."""
    state: dict[int, dict] = {}
    for name, value in tensors.items():
        if not name.startswith(prefix + ".") or name.endswith(SCALE_SUFFIX):
            continue
        index, key = name[len(prefix) + 1 :].split(".", 1)
        value = value.float() * tensors[name + SCALE_SUFFIX].float()
        state.setdefault(int(index), {})[key] = value.square() if key in SQUARED_MOMENTS else value
    for name, value in meta["scalars"].items():
        index, key = name[len(prefix) + 1 :].split(".", 1)
        state.setdefault(int(index), {})[key] = torch.tensor(value)
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    # Fused Adam needs each moment in its parameter's memory format (channels_last convs).
    for param, entries in optimizer.state.items():
        for key, value in entries.items():
            if torch.is_tensor(value) and value.shape == param.shape:
                entries[key] = torch.empty_like(param).copy_(value)
