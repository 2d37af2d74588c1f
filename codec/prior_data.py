"""The clips of a prior_params.npz as FrameParams sequences, split by identity.

``.cache/prior_params.npz`` (training/precompute_params.py) holds the face model's fit of every
frame of ../shared/data; the codec's tables are measured and trained on it (training identities
only) and bitrate/rd_table.py reports on both splits.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from facecodec.sender.face_model import FaceModel
from facecodec.training.splits import is_validation
from facecodec.types import FrameParams, Keyframe

from .model_keypoints import IdentityKeypoints

REPO = Path(__file__).resolve().parents[1]
DEFAULT_PARAMS = REPO / ".cache" / "prior_params.npz"


@dataclass
class ClipParams:
    """One clip's fitted frames."""

    file: str
    identity_name: str
    identity: np.ndarray
    """(n_id,) identity code of the clip."""
    frames: list[FrameParams]
    """Full 50-dim expression and all 32 keypoints of the face model; ``face`` False where the
    fit failed."""

    @property
    def validation(self) -> bool:
        return is_validation(self.identity_name)

    def keyframe(self, data_dir: Path, face_model_version: str) -> Keyframe | None:
        """The clip's first frame from ``data_dir``/train as a keyframe (None if unreadable)."""
        cap = cv2.VideoCapture(str(data_dir / "train" / self.file))
        ok, bgr = cap.read()
        cap.release()
        if not ok:
            return None
        image = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        return Keyframe(image, self.identity, self.frames[0], face_model_version, "")


def load_params(path: Path = DEFAULT_PARAMS) -> dict[str, np.ndarray]:
    """All arrays of a prior_params.npz, in memory."""
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def load_clips(model: FaceModel, path: Path = DEFAULT_PARAMS) -> list[ClipParams]:
    """Every clip of ``path`` with keypoints from ``model`` (which must have fitted it)."""
    p = load_params(path)
    if str(p["face_model_version"]) != model.version:
        raise ValueError(
            f"{path} was fitted with face model {p['face_model_version']}, not {model.version}"
        )
    clips = []
    for c, name in enumerate(p["clip_files"]):
        identity = p["clip_identity_code"][c]
        start, count = int(p["clip_start"][c]), int(p["clip_frames"][c])
        rows = slice(start, start + count)
        values = np.concatenate(
            [
                p["rotation"][rows],
                p["translation"][rows],
                p["scale"][rows, None],
                p["expression"][rows],
            ],
            axis=1,
        ).astype(np.float64)
        keypoints = IdentityKeypoints(model, identity).batch(values).astype(np.float32)
        frames = []
        for seq in range(count):
            i = start + seq
            if not p["valid"][i]:
                frames.append(FrameParams.no_face(seq))
                continue
            params = FrameParams(
                seq=seq,
                rotation=p["rotation"][i],
                translation=p["translation"][i],
                scale=float(p["scale"][i]),
                expression=p["expression"][i],
                keypoints=keypoints[seq],
            )
            frames.append(params)
        clips.append(ClipParams(str(name), str(p["clip_identity"][c]), identity, frames))
    return clips
