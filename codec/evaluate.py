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

from .entropy import (
    ADAPT_SHIFT,
    CTX_COUNT,
    CTX_FACE,
    CTX_GAP,
    CTX_GAP_IS_INTERVAL,
    CTX_OP_SAME,
    ContextTables,
    context_tables,
    encode_unsigned,
    gap_class,
)
from .frames import (
    DEFAULT_HYSTERESIS,
    HEADER_BYTES,
    FrameEncoder,
    _bases,
    _Coding,
    _encode_coding,
    _params,
    _pose_expression,
    default_coder,
    is_sent,
)
from .model_keypoints import IdentityKeypoints
from .prior_data import ClipParams
from .quantize import POSE_FIELDS, KeypointMode, field_layout, in_steps
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


def encode_clip_fast(
    clip: ClipParams,
    op: OperatingPoint,
    bundles: tuple[int, ...],
    keypoints: IdentityKeypoints,
    hysteresis: float = DEFAULT_HYSTERESIS,
) -> tuple[dict[int, list[int]], dict[int, FrameParams]]:
    """What ``encode_clip`` gives (keypoints against the model) for several bundle sizes at once.

    The rate table codes 720 operating points in pure Python; here quantisation and prediction
    run once per clip and only the range coding once per bundle size, replaying exactly the
    messages ``FrameEncoder`` writes (tests/test_codec_evaluate.py checks byte for byte).
    """
    k, d, n = op.keypoints, op.expression_dims, op.frame_interval
    coding = _Coding(op, KeypointMode.MODEL_RESIDUAL if k else KeypointMode.DIRECT)
    layout = field_layout(op.quant_level, d, k, coding.mode)
    pe = POSE_FIELDS + d
    steps, low, high = layout.steps, layout.limits_low, layout.limits_high
    keyframe = clip.frames[0]
    # the keyframe's parameters predict the first frame; its keypoints are none (predict 0)
    kf_values = np.concatenate(
        [keyframe.rotation, keyframe.translation, [keyframe.scale], keyframe.full_expression(d)]
    )
    predicted = np.concatenate([np.rint(kf_values / steps[:pe]), np.zeros(3 * k)]).astype(np.int64)
    source_seq = keyframe.seq
    limit = 0.5 + hysteresis
    coded: list[tuple[int, bool, int, list[int]]] = []
    decoded: dict[int, FrameParams] = {}
    for frame in clip.frames[1:]:
        if not is_sent(frame.seq, op):
            continue
        if not frame.face:
            coded.append((frame.seq, False, 0, []))
            decoded[frame.seq] = FrameParams.no_face(frame.seq)
            continue
        values = np.concatenate(
            [frame.rotation, frame.translation, [frame.scale], frame.full_expression(d)]
        )
        scaled = in_steps(values, steps[:pe], low[:pe], high[:pe])
        index = np.where(
            np.abs(scaled - predicted[:pe]) < limit, predicted[:pe], np.rint(scaled)
        ).astype(np.int64)
        model_kp = None
        if k:
            model_kp = np.asarray(
                keypoints(_pose_expression(frame.seq, index * steps[:pe], d), k), np.float64
            ).reshape(k, 3)
            residual = frame.keypoints[:k].astype(np.float64) - model_kp
            scaled = in_steps(residual.reshape(-1), steps[pe:], low[pe:], high[pe:])
            kp_index = np.where(
                np.abs(scaled - predicted[pe:]) < limit, predicted[pe:], np.rint(scaled)
            ).astype(np.int64)
            index = np.concatenate([index, kp_index])
        cls = gap_class(frame.seq - source_seq)
        coded.append((frame.seq, True, cls, (index - predicted).tolist()))
        decoded[frame.seq] = _params(frame.seq, index * steps, coding, model_kp)
        predicted, source_seq = index, frame.seq

    tables = context_tables()
    bases = _bases(layout.contexts)
    sizes: dict[int, list[int]] = {}
    for bundle in bundles:
        sizes[bundle] = []
        prev_seq, prev_face, first = keyframe.seq, keyframe.face, True
        for start in range(0, len(coded), bundle):
            message = coded[start : start + bundle]
            header_probs = list(tables.header)
            enc = ArithmeticEncoder(header_probs, ADAPT_SHIFT)
            # the keyframe reference has coding (op, direct keypoints)
            if first and coding.mode != KeypointMode.DIRECT:
                enc.encode(CTX_OP_SAME, 1)
                _encode_coding(enc, coding)
            else:
                enc.encode(CTX_OP_SAME, 0)
            first = False
            encode_unsigned(enc, CTX_COUNT, len(message) - 1)
            frame_probs: dict[int, list[int]] = {}
            for seq, face, cls, residuals in message:
                gap = seq - prev_seq
                enc.encode(CTX_GAP_IS_INTERVAL, gap != n)
                if gap != n:
                    encode_unsigned(enc, CTX_GAP, gap - 1)
                enc.encode(CTX_FACE + (not prev_face), not face)
                prev_seq, prev_face = seq, face
                if face:
                    probs = frame_probs.get(cls)
                    if probs is None:
                        probs = frame_probs[cls] = tables.frame_probs(op.quant_level, cls)
                    enc.probs = probs
                    enc.encode_signed_values(bases, residuals)
                    enc.probs = header_probs
            sizes[bundle].append(HEADER_BYTES + len(enc.finish()))
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
