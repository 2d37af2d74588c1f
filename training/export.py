"""Export a training state's generator as the receiver's shipped fp16 weights.

python -m facecodec.training.export training/state/prior --out receiver/weights
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from facecodec.receiver.config import ModelConfig, WarpConfig
from facecodec.receiver.weights import SMALL_WEIGHTS, WeightsInfo, save_weights
from facecodec.training import state

NETWORK_VERSION = "v1"


def export(state_dir: Path, out: Path) -> dict[str, int]:
    """Write ``{mode}-NN.safetensors`` (the synthesizer; mode 'small' is the CPU model) and, for
    the baseline, also ``baseline_detector-NN.safetensors``; returns parameter counts by part."""
    saved = state.load(state_dir)
    networks = saved.record["networks"]
    mode = networks["mode"]
    cfg = (WarpConfig if mode == SMALL_WEIGHTS else ModelConfig)(**networks["model"])
    info = WeightsInfo(f"{mode}-{NETWORK_VERSION}", networks["face_model"], mode, cfg)
    counts = {}
    for part, name in (("synthesizer", mode), ("detector", f"{mode}_detector")):
        prefix = f"generator.{part}."
        weights = {k[len(prefix) :]: v for k, v in saved.tensors.items() if k.startswith(prefix)}
        if weights:
            save_weights(weights, info, out, name)
            counts[part] = sum(v.numel() for v in weights.values())
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("state_dir", type=Path)
    parser.add_argument("--out", type=Path, default=Path("receiver/weights"))
    args = parser.parse_args()
    print(json.dumps(export(args.state_dir, args.out)))


if __name__ == "__main__":
    main()
