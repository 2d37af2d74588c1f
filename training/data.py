"""Training data held on the GPU: every frame of ../shared/data as uint8, plus prior params.

Frames are decoded once with OpenCV (the training machine has no PyAV) and kept on the device;
a batch is a gather, a cast and an augmentation, so the GPU never waits for a data loader.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from facecodec.training.splits import is_validation

EXPRESSION_DIMS = 50


@dataclass(frozen=True)
class PairSampling:
    """How a pair's driving frame is chosen within the source's clip."""

    far_share: float = 0.5
    """Share of the pairs whose driver is the farthest in head pose (ClipStore.pose_distance)
    of ``candidates`` frames drawn from the clip; the others take the first candidate, a
    uniform draw. Head turns and moves are where the output smears and lags the most."""
    candidates: int = 8


@dataclass
class PoseBatch:
    """Face-prior parameters of a batch of frames."""

    rotation: torch.Tensor
    """(B, 3) pitch, yaw, roll."""
    translation: torch.Tensor
    """(B, 3)."""
    scale: torch.Tensor
    """(B,)."""
    expression: torch.Tensor
    """(B, 50)."""


@dataclass
class PairBatch:
    """Source and driving frames of the same clip, as the model trains on them."""

    source: torch.Tensor
    """(B, 3, S, S) float in [0, 1]."""
    driving: torch.Tensor
    """(B, 3, S, S) float in [0, 1]."""
    source_params: PoseBatch
    driving_params: PoseBatch
    identity: torch.Tensor
    """(B, I) identity code of the clip (the source identity)."""
    flipped: torch.Tensor
    """(B,) bool: the pair was mirrored (keypoints and codes must be mirrored too)."""


def decode_clip(path: Path) -> np.ndarray:
    """(T, H, W, 3) RGB uint8 frames of a video file."""
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    cap.release()
    if not frames:
        raise ValueError(f"no frames decoded from {path}")
    return np.stack(frames)


class ClipStore:
    """All clips of one split on ``device``, indexed like the prior-params file."""

    def __init__(
        self,
        data_dir: Path,
        params_file: Path,
        validation: bool,
        device: torch.device,
        image_size: int = 256,
    ) -> None:
        with np.load(params_file, allow_pickle=False) as z:
            p = {k: z[k] for k in z.files}
        chosen = [
            i
            for i, ident in enumerate(p["clip_identity"])
            if is_validation(str(ident)) == validation
        ]
        frames, starts, lengths, rows = [], [], [], []
        offset = 0
        for i in chosen:
            clip = decode_clip(data_dir / "train" / str(p["clip_files"][i]))
            n = min(len(clip), int(p["clip_frames"][i]))
            frames.append(torch.from_numpy(clip[:n]))
            rows.append(np.arange(p["clip_start"][i], p["clip_start"][i] + n))
            starts.append(offset)
            lengths.append(n)
            offset += n
        rows_all = np.concatenate(rows)

        def take(key: str) -> torch.Tensor:
            return torch.from_numpy(p[key][rows_all].astype(np.float32)).to(device)

        self.device = device
        self.image_size = image_size
        self.frames = torch.cat(frames).to(device)  # N x S x S x 3 uint8
        self.clip_start = torch.tensor(starts, device=device)
        self.clip_length = torch.tensor(lengths, device=device)
        self.clip_of_frame = torch.repeat_interleave(
            torch.arange(len(chosen), device=device), self.clip_length
        )
        self.identity = torch.from_numpy(p["clip_identity_code"][chosen].astype(np.float32)).to(
            device
        )
        self.rotation, self.translation = take("rotation"), take("translation")
        self.scale, self.expression = take("scale"), take("expression")
        self.valid = torch.from_numpy(p["valid"][rows_all]).to(device)
        self.valid_index = torch.nonzero(self.valid).squeeze(1)
        self.clip_names = [str(p["clip_files"][i]) for i in chosen]
        self.params_name = params_file.name
        self.face_model_version = str(p["face_model_version"])

    def describe(self) -> dict:
        """What the store holds, for the training state's record."""
        return {
            "params": self.params_name,
            "face_model": self.face_model_version,
            "clips": len(self.clip_names),
            "frames": len(self),
        }

    def __len__(self) -> int:
        return int(self.frames.shape[0])

    def params(self, index: torch.Tensor) -> PoseBatch:
        return PoseBatch(
            self.rotation[index], self.translation[index], self.scale[index], self.expression[index]
        )

    def images(self, index: torch.Tensor) -> torch.Tensor:
        """(B,) frame indices -> (B, 3, S, S) float in [0, 1], channels_last, S = image_size."""
        x = self.frames[index].permute(0, 3, 1, 2).float().div_(255.0)
        if x.shape[-1] != self.image_size:
            x = torch.nn.functional.interpolate(x, size=self.image_size, mode="area")
        return x.contiguous(memory_format=torch.channels_last)

    def pair(self, source: torch.Tensor, driving: torch.Tensor) -> PairBatch:
        """An unaugmented batch of the given source and driving frame indices."""
        return PairBatch(
            self.images(source),
            self.images(driving),
            self.params(source),
            self.params(driving),
            self.identity[self.clip_of_frame[source]],
            torch.zeros(source.shape[0], dtype=torch.bool, device=self.device),
        )

    def sample_indices(
        self, batch: int, generator: torch.Generator, sampling: PairSampling = PairSampling()
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Random (source, driving) frame indices (B,), both valid and from the same clip; a
        share of the drivers is the farthest in head pose of several candidates."""
        count = len(self.valid_index)
        source = self.valid_index[
            torch.randint(count, (batch,), generator=generator, device=self.device)
        ]
        clip = self.clip_of_frame[source]
        start, length = self.clip_start[clip, None], self.clip_length[clip, None]
        shape = (batch, max(1, sampling.candidates))
        offset = (torch.rand(shape, generator=generator, device=self.device) * length).long()
        candidates = start + offset
        candidates = torch.where(self.valid[candidates], candidates, source[:, None])
        far = torch.rand(batch, generator=generator, device=self.device) < sampling.far_share
        farthest = self.pose_distance(source[:, None], candidates).argmax(1)
        pick = torch.where(far, farthest, 0)
        return source, candidates.gather(1, pick[:, None]).squeeze(1)

    def pose_distance(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Head-pose distance between frames a and b (broadcast index tensors): the rotation
        angles' difference in radians plus the in-image translation's in crop units (half the
        crop), so a 0.2 rad (11 degree) turn counts like a shift by a tenth of the frame."""
        turn = (self.rotation[a] - self.rotation[b]).norm(dim=-1)
        shift = (self.translation[a, ..., :2] - self.translation[b, ..., :2]).norm(dim=-1)
        return turn + shift


def augment(batch: PairBatch, generator: torch.Generator, flip_p: float = 0.5) -> PairBatch:
    """Mirror and colour-jitter a pair consistently (the same change for source and driving)."""
    b = batch.source.shape[0]
    device = batch.source.device
    flip = torch.rand(b, generator=generator, device=device) < flip_p
    jitter = (torch.rand(4, b, generator=generator, device=device) - 0.5) * 0.3
    gray = torch.tensor([0.299, 0.587, 0.114], device=device).view(1, 3, 1, 1)

    def apply(x: torch.Tensor) -> torch.Tensor:
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        luma = (x * gray).sum(1, keepdim=True)
        x = luma + (x - luma) * (1 + jitter[0, :, None, None, None])  # saturation
        x = (x - 0.5) * (1 + jitter[1, :, None, None, None]) + 0.5  # contrast
        x = x * (1 + jitter[2, :, None, None, None])  # brightness
        x = x + 0.1 * jitter[3, :, None, None, None]  # level
        return x.clamp(0, 1)

    return PairBatch(
        apply(batch.source),
        apply(batch.driving),
        batch.source_params,
        batch.driving_params,
        batch.identity,
        flip,
    )
