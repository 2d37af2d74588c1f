"""Per-clip quality scores of a method's output frames against the reference frames.

Reconstruction compares output frame i with driving frame i: AKD and AKD-M (dlib landmarks, px),
AED (dlib identity embeddings), AEMOD (emotion features), PSNR, SSIM. Reenactment has no ground
truth: AED is the mean distance between each output frame and all frames of the source clip,
AEMOD compares output and driving frame (paper appendix A.2). Both keep the outputs' VGG16
feature moments for the Fréchet distance over the whole run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .metrics.emotion import BLOCK_CHANNELS, EmotionEmbedder
from .metrics.frechet import FEATURE_DIMS, FeatureMoments, VggEmbedder
from .metrics.head_pose import head_pose_deg
from .metrics.identity import EMBEDDING_DIMS, IdentityEmbedder
from .metrics.landmarks import Face68, Landmarks68, keypoint_distance
from .metrics.pixels import psnr, ssim

DEFAULT_FEATURE_STRIDE = 5
"""AED and the Fréchet features use every n-th frame: their networks take 100-150 ms per frame
on a CPU core, the other metrics about 12 ms."""


@dataclass
class FrameAnalysis:
    """What the metrics need of a set of frames (computed once per reference clip)."""

    faces: list[Face68 | None]
    """(N) each frame's face, None where none was found."""
    emotion: np.ndarray
    """(N, 128) emotion features, NaN rows without a face."""
    identity: np.ndarray
    """(M, 128) identity embeddings of every stride-th frame, NaN rows without a face."""
    vgg: np.ndarray
    """(M, 512) VGG16 features of every stride-th frame."""
    pose_deg: np.ndarray
    """(N, 3) head pitch, yaw, roll in degrees, NaN rows without a face."""


@dataclass
class QualityScores:
    """Means over the frames of one clip; None where the mode has no such metric."""

    akd: float | None
    akd_mouth: float | None
    aed: float | None
    aemod: float | None
    psnr: float | None
    ssim: float | None
    frames: int
    face_frames: int
    """Frames whose reference has a face (the landmark metrics' denominator)."""
    missed_faces: int
    """Of those, output frames where no face was detected (scored in the reference's box)."""


def _nan_mean(values: list[float]) -> float | None:
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else None


class Scorer:
    """Holds the metric networks; all loaded on first use."""

    def __init__(self, feature_stride: int = DEFAULT_FEATURE_STRIDE, device: str = "cpu") -> None:
        if feature_stride < 1:
            raise ValueError("feature stride must be at least 1")
        self.stride = feature_stride
        self.device = device
        self._landmarks: Landmarks68 | None = None
        self._identity: IdentityEmbedder | None = None
        self._emotion: EmotionEmbedder | None = None
        self._vgg: VggEmbedder | None = None

    def _nets(self) -> tuple[Landmarks68, IdentityEmbedder, EmotionEmbedder, VggEmbedder]:
        if self._landmarks is None:
            self._landmarks = Landmarks68()
            self._identity = IdentityEmbedder()
            self._emotion = EmotionEmbedder(self.device)
            self._vgg = VggEmbedder(self.device)
        return self._landmarks, self._identity, self._emotion, self._vgg

    def analyse(
        self, frames: np.ndarray, fallback: list[Face68 | None] | None = None
    ) -> FrameAnalysis:
        """(N, S, S, 3) frames -> FrameAnalysis. With ``fallback`` (the reference's faces),
        frame i is scored only where fallback[i] is a face, in its box if none is detected."""
        landmarks, identity_net, emotion_net, vgg = self._nets()
        faces: list[Face68 | None] = []
        for i, frame in enumerate(frames):
            if fallback is None:
                faces.append(landmarks(frame))
            elif fallback[i] is not None:
                faces.append(landmarks(frame, fallback[i].box))
            else:
                faces.append(None)
        strided = list(range(0, len(frames), self.stride))
        return FrameAnalysis(
            faces,
            self._per_face(emotion_net, frames, faces, range(len(frames)), BLOCK_CHANNELS[-1]),
            self._per_face(identity_net, frames, faces, strided, EMBEDDING_DIMS),
            vgg(frames[strided]) if len(frames) else np.zeros((0, FEATURE_DIMS)),
            np.array(
                [
                    head_pose_deg(f.points, frames.shape[1:3]) if f else np.full(3, np.nan)
                    for f in faces
                ]
            ).reshape(-1, 3),
        )

    @staticmethod
    def _per_face(
        net: IdentityEmbedder | EmotionEmbedder, frames: np.ndarray, faces: list, indices, dims: int
    ) -> np.ndarray:
        """(len(indices), dims) features of the frames with a face, NaN rows for the rest."""
        out = np.full((len(indices), dims), np.nan, np.float32)
        rows = [(j, i) for j, i in enumerate(indices) if faces[i] is not None]
        if rows:
            out[[j for j, _ in rows]] = net(
                [frames[i] for _, i in rows], [faces[i] for _, i in rows]
            )
        return out

    def reconstruction(
        self, reference: FrameAnalysis, reference_frames: np.ndarray, output: np.ndarray
    ) -> tuple[QualityScores, FeatureMoments]:
        """Scores of output frames against their ground truth, and the outputs' VGG moments."""
        out = self.analyse(output, reference.faces)
        pairs = [(r, o) for r, o in zip(reference.faces, out.faces, strict=True) if r and o]
        distances = [keypoint_distance(r.points, o.points) for r, o in pairs]
        scores = QualityScores(
            akd=_nan_mean([d[0] for d in distances]),
            akd_mouth=_nan_mean([d[1] for d in distances]),
            aed=_nan_mean(list(np.linalg.norm(reference.identity - out.identity, axis=1))),
            aemod=_nan_mean(list(np.linalg.norm(reference.emotion - out.emotion, axis=1))),
            psnr=float(psnr(reference_frames, output).mean()),
            ssim=float(ssim(reference_frames, output).mean()),
            frames=len(output),
            face_frames=len(pairs),
            missed_faces=sum(not o.detected for _, o in pairs),
        )
        return scores, FeatureMoments.of(out.vgg)

    def reenactment(
        self, source: FrameAnalysis, driver: FrameAnalysis, output: np.ndarray
    ) -> tuple[QualityScores, FeatureMoments]:
        """Identity kept from the source clip, emotion taken from the driver."""
        out = self.analyse(output, driver.faces)
        source_ids = source.identity[~np.isnan(source.identity).any(axis=1)]
        aed = [
            float(np.linalg.norm(source_ids - e, axis=1).mean()) if len(source_ids) else np.nan
            for e in out.identity
        ]
        scored = [o for o in out.faces if o is not None]
        scores = QualityScores(
            akd=None,
            akd_mouth=None,
            aed=_nan_mean(aed),
            aemod=_nan_mean(list(np.linalg.norm(driver.emotion - out.emotion, axis=1))),
            psnr=None,
            ssim=None,
            frames=len(output),
            face_frames=len(scored),
            missed_faces=sum(not o.detected for o in scored),
        )
        return scores, FeatureMoments.of(out.vgg)
