"""Shipped network weights: fp16 safetensors shards with the versions they were trained for."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from importlib.resources import as_file, files
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from facecodec.receiver.config import ModelConfig, WarpConfig

SHARD_BYTES = 15 * 2**20
"""Below the repository's 16 MiB cap per file."""
PRIOR_WEIGHTS = "prior"
BASELINE_WEIGHTS = "baseline"
SMALL_WEIGHTS = "small"
WARP_ARCHITECTURE = "warp"
"""Metadata ``architecture`` of the small model's shards (absent: the large model)."""


@dataclass(frozen=True)
class WeightsInfo:
    """What a set of weights was trained for; stored in every shard's metadata."""

    network: str
    """Version string of the network, e.g. 'prior-v1'; keyframes name it."""
    face_model: str
    """Version of the face model whose keypoints and codes the network was trained on."""
    mode: str
    """'prior', 'baseline' or 'small' (the CPU model, conditioned like 'prior')."""
    config: ModelConfig | WarpConfig


def split_shards(tensors: dict[str, torch.Tensor]) -> list[dict[str, torch.Tensor]]:
    """Group tensors (moved to the CPU, contiguous) into shards of at most SHARD_BYTES, in order
    (a single larger tensor gets a shard of its own)."""
    shards: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for key, value in tensors.items():
        value = value.detach().cpu().contiguous()
        nbytes = value.numel() * value.element_size()
        if size + nbytes > SHARD_BYTES and shards[-1]:
            shards.append({})
            size = 0
        shards[-1][key] = value
        size += nbytes
    return shards


def save_weights(state: dict[str, torch.Tensor], info: WeightsInfo, directory: Path, name: str):
    """Write ``name-NN.safetensors`` shards (fp16), overwriting earlier shards of that name."""
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob(f"{name}-*.safetensors"):
        old.unlink()
    meta = {
        "network": info.network,
        "face_model": info.face_model,
        "mode": info.mode,
        "config": json.dumps(asdict(info.config)),
    }
    if isinstance(info.config, WarpConfig):
        meta["architecture"] = WARP_ARCHITECTURE
    half = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    shards = split_shards(half)
    for i, shard in enumerate(shards):
        save_file(shard, str(directory / f"{name}-{i:02d}.safetensors"), metadata=meta)


def shipped_directory() -> Path:
    """The weights folder inside the installed package."""
    with as_file(files("facecodec.receiver") / "weights") as path:
        return Path(path)


def load_weights(
    name: str, directory: Path | None = None
) -> tuple[dict[str, torch.Tensor], WeightsInfo]:
    """(float32 state dict, info) of the shards ``name-*.safetensors`` in ``directory``
    (default: the shipped weights). Raises FileNotFoundError with the folder searched."""
    directory = directory or shipped_directory()
    paths = sorted(directory.glob(f"{name}-*.safetensors"))
    if not paths:
        raise FileNotFoundError(f"no {name} weights (*.safetensors) in {directory}")
    state: dict[str, torch.Tensor] = {}
    meta: dict[str, str] = {}
    for path in paths:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            for key in f.keys():  # noqa: SIM118 (safe_open is not a mapping)
                state[key] = f.get_tensor(key).float()
    config_type = WarpConfig if meta.get("architecture") == WARP_ARCHITECTURE else ModelConfig
    try:
        info = WeightsInfo(
            meta["network"],
            meta["face_model"],
            meta["mode"],
            config_type(**json.loads(meta["config"])),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{paths[0]}: missing or bad weights metadata ({exc})") from exc
    return state, info
