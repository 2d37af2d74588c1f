"""Export a training checkpoint as the receiver's shipped fp16 weights.

python -m facecodec.training.export RUN_DIR --mode prior --out receiver/weights
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from facecodec.receiver import config as model_configs
from facecodec.receiver.weights import WeightsInfo, save_weights
from facecodec.training import checkpoint

NETWORK_VERSION = "v1"


def export(run_dir: Path, mode: str, out: Path) -> dict[str, int]:
    """Write ``{mode}-NN.safetensors`` (the synthesizer) and, for the baseline, also
    ``baseline_detector-NN.safetensors``; returns parameter counts by part."""
    tensors, meta = checkpoint.load(run_dir / "checkpoint")
    cfg = getattr(model_configs, meta["config"]["model"])
    info = WeightsInfo(f"{mode}-{NETWORK_VERSION}", meta["face_model"], mode, cfg)
    counts = {}
    for part, name in (("synthesizer", mode), ("detector", f"{mode}_detector")):
        prefix = f"generator.{part}."
        state = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
        if state:
            save_weights(state, info, out, name)
            counts[part] = sum(v.numel() for v in state.values())
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--mode", choices=["prior", "baseline"], required=True)
    parser.add_argument("--out", type=Path, default=Path("receiver/weights"))
    args = parser.parse_args()
    print(json.dumps(export(args.run_dir, args.mode, args.out)))


if __name__ == "__main__":
    main()
