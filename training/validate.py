"""Validation on held-out identities: metrics table, sample grid and validation outputs.

Reconstruction as in the paper: the source is the first valid frame of each validation clip
and the drivers are frames spread over the rest of the clip.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from facecodec.training import metrics
from facecodec.training.data import ClipStore, PairBatch

DRIVERS_PER_CLIP = 8
GRID_ROWS = 8
EVAL_BATCH = 16

Renderer = Callable[[PairBatch], torch.Tensor]
"""Batch of unaugmented pairs -> (B, 3, S, S) predictions in [0, 1]."""


@dataclass
class ValidationResult:
    metrics: dict[str, float]
    """Mean PSNR (dB), SSIM and L1 over all pairs."""
    predictions: np.ndarray
    """(P, S, S, 3) uint8 RGB outputs, in pair order."""


def validation_pairs(store: ClipStore) -> tuple[torch.Tensor, torch.Tensor]:
    """(source, driving) frame indices: first valid frame of each clip, then evenly spread."""
    sources, drivers = [], []
    valid = store.valid.cpu()
    for start, length in zip(store.clip_start.tolist(), store.clip_length.tolist(), strict=True):
        idx = [i for i in range(start, start + length) if valid[i]]
        if len(idx) <= DRIVERS_PER_CLIP:
            continue
        picks = np.linspace(1, len(idx) - 1, DRIVERS_PER_CLIP).round().astype(int)
        sources += [idx[0]] * DRIVERS_PER_CLIP
        drivers += [idx[p] for p in picks]
    device = store.device
    return torch.tensor(sources, device=device), torch.tensor(drivers, device=device)


@torch.no_grad()
def evaluate(store: ClipStore, render: Renderer) -> ValidationResult:
    source, driving = validation_pairs(store)
    sums = {"psnr": 0.0, "ssim": 0.0, "l1": 0.0}
    outputs = []
    for i in range(0, len(source), EVAL_BATCH):
        batch = store.pair(source[i : i + EVAL_BATCH], driving[i : i + EVAL_BATCH])
        pred = render(batch).float().clamp(0, 1)
        for name in sums:
            sums[name] += getattr(metrics, name)(pred, batch.driving).sum().item()
        outputs.append(to_uint8(pred))
    return ValidationResult({k: v / len(source) for k, v in sums.items()}, np.concatenate(outputs))


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(B, 3, S, S) float in [0, 1] -> (B, S, S, 3) uint8."""
    return (images.float().clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()


def sample_grid(store: ClipStore, columns: list[np.ndarray]) -> np.ndarray:
    """(rows*S, (2 + len(columns))*S, 3) uint8: source | driver | each output column, for one
    pair from each of the first GRID_ROWS validation clips."""
    source, driving = validation_pairs(store)
    rows = []
    for r in range(min(GRID_ROWS, len(source) // DRIVERS_PER_CLIP)):
        i = r * DRIVERS_PER_CLIP + DRIVERS_PER_CLIP // 2
        pair = torch.stack([source[i], driving[i]])
        images = list(to_uint8(store.images(pair)))
        rows.append(np.concatenate(images + [c[i] for c in columns], axis=1))
    return np.concatenate(rows, axis=0)


def write_png(path: str, rgb: np.ndarray) -> None:
    cv2.imwrite(path, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def write_predictions(path: str, store: ClipStore, predictions: np.ndarray) -> None:
    """Validation outputs as JPEG (quality 95) with the frame indices they reproduce, small
    enough to bring back from the GPU machine for landmark metrics (training/landmark_eval.py)."""
    _, driving = validation_pairs(store)
    quality = [cv2.IMWRITE_JPEG_QUALITY, 95]
    jpegs = [
        cv2.imencode(".jpg", cv2.cvtColor(p, cv2.COLOR_RGB2BGR), quality)[1] for p in predictions
    ]
    np.savez(
        path,
        jpeg_bytes=np.concatenate(jpegs).reshape(-1),
        jpeg_offsets=np.cumsum([0] + [len(j) for j in jpegs]),
        clip=np.array([store.clip_names[c] for c in store.clip_of_frame[driving].tolist()]),
        frame=(driving - store.clip_start[store.clip_of_frame[driving]]).cpu().numpy(),
    )
