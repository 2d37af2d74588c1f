"""Encode fitted clips at an operating point and measure what the receiver gets.

Shared by bitrate/rd_table.py (the rate-distortion table) and codec/measure_alternatives.py
(the measurements behind the format's choices). The keypoint error is the mean 3D distance, in
pixels of a 256 crop, between the 32 keypoints the receiver gets (explicit ones as decoded, the
others from the face model with the decoded pose and truncated expression; frames that are not
sent interpolated linearly between sent ones) and those of the unquantised full-expression
parameters.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from facecodec.sender.face_model import K_MAX, FaceModel
from facecodec.types import MAX_EXPRESSION_DIMS, FrameParams, Keyframe, OperatingPoint

from .entropy import ContextTables
from .frames import DEFAULT_HYSTERESIS, FrameEncoder, default_coder, is_sent
from .model_keypoints import IdentityKeypoints
from .prior_data import ClipParams
from .rangecoder import ArithmeticEncoder

PIXELS_PER_UNIT = 128.0
"""Crop units (half the crop width) to pixels of a 256 crop."""


def mouth_keypoints(model: FaceModel) -> np.ndarray:
    """Indices of the lip and mouth-corner keypoints."""
    names = [str(n) for n in model.keypoint_names[:K_MAX]]
    return np.array([i for i, n in enumerate(names) if "mouth" in n or "lip" in n])


def encode_clip(
    clip: ClipParams,
    op: OperatingPoint,
    bundle: int,
    keypoints: IdentityKeypoints,
    hysteresis: float = DEFAULT_HYSTERESIS,
    model_residual: bool = True,
    coder: Callable[[list[int]], ArithmeticEncoder] = default_coder,
    tables: ContextTables | None = None,
) -> tuple[list[int], dict[int, FrameParams]]:
    """(message sizes, decoded frames by seq) of a clip sent after its first frame as keyframe:
    every sent frame in bundles of ``bundle``, each message predicting from the previous one's
    last frame (the first from the keyframe)."""
    predictor = keypoints if op.keypoints and model_residual else None
    keyframe = Keyframe(np.zeros((1, 1, 3), np.uint8), clip.identity, clip.frames[0], "", "")
    encoder = FrameEncoder(op, predictor, hysteresis, tables=tables, coder=coder)
    encoder.set_keyframe(keyframe, op)
    sent = [f for f in clip.frames[1:] if is_sent(f.seq, op)]
    sizes, decoded = [], {}
    reference = clip.frames[0].seq
    for start in range(0, len(sent), bundle):
        frames = sent[start : start + bundle]
        sizes.append(len(encoder.encode(frames, reference)))
        reference = frames[-1].seq
        for f in frames:
            decoded[f.seq] = encoder.reconstruction(f.seq)
    return sizes, decoded


def _vector(p: FrameParams, k: int) -> np.ndarray:
    """(57 + 3k,) pose, 50-dim expression and the first k keypoints of a frame."""
    kp = p.keypoints[:k].reshape(-1) if k else np.zeros(0)
    return np.concatenate([p.rotation, p.translation, [p.scale], p.full_expression(), kp])


def keypoint_errors(
    clip: ClipParams,
    op: OperatingPoint,
    decoded: dict[int, FrameParams],
    keypoints: IdentityKeypoints,
) -> np.ndarray:
    """(T, 32) pixel error of every keypoint of every face frame after the keyframe."""
    k = op.keypoints
    known = [clip.frames[0]] if clip.frames[0].face else []
    known += [decoded[s] for s in sorted(decoded) if decoded[s].face]
    truth = [f for f in clip.frames[1:] if f.face]
    if not known or not truth:
        return np.zeros((0, K_MAX))
    seqs = np.array([p.seq for p in known], np.float64)
    values = np.stack([_vector(p, k) for p in known])
    t = np.array([f.seq for f in truth], np.float64)
    # the receiver interpolates between sent frames (and holds after the last one)
    interp = np.stack([np.interp(t, seqs, values[:, j]) for j in range(values.shape[1])], 1)
    n = 7 + MAX_EXPRESSION_DIMS
    got = keypoints.batch(interp[:, :n])
    if k:
        got[:, :k] = interp[:, n:].reshape(-1, k, 3)
    want = np.stack([f.keypoints for f in truth]).astype(np.float64)
    return np.linalg.norm(got - want, axis=2) * PIXELS_PER_UNIT
