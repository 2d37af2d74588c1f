"""Frame messages: one or more consecutive frames' FrameParams (docs/bitstream.md, "Frames").

A message carries a bundle of N >= 1 frames. Its first frame predicts from a reference the
message names: nothing (intra), the keyframe's own parameters, or any earlier frame the decoder
holds (for instance one the receiver acknowledged); each further frame predicts from the one
before it. Prediction works on quantisation indices, so encoder and decoder reconstruct
identical values and a lost message never makes later ones drift: it only makes the messages
that name it as reference undecodable, which the decoder reports as ``MissingReferenceError``.

Layout (byte 0 as in messages.py)::

    byte 0      FORMAT_VERSION << 4 | FRAMES_INTER (2) or FRAMES_INTRA (3)
    bytes 1-2   inter: reference sequence number mod 2**16; intra: first frame's (u16 LE)
    bytes 3-    range-coded body (rangecoder.py, entropy.py): coding parameters, frame count,
                then per frame its sequence gap, face flag and quantised residuals
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise

import numpy as np

from facecodec.types import MAX_EXPRESSION_DIMS, FrameParams, Keyframe, OperatingPoint

from .entropy import (
    ADAPT_SHIFT,
    CTX_COUNT,
    CTX_FACE,
    CTX_GAP,
    CTX_GAP_IS_INTERVAL,
    CTX_OP_SAME,
    SIGNED_CONTEXTS,
    ContextTables,
    context_tables,
    decode_unsigned,
    encode_unsigned,
    gap_class,
)
from .errors import BitstreamError, ErrorCode, MissingReferenceError
from .keyframe import carried_params
from .messages import MessageType, expect_type, type_byte
from .operating_point import check_encodable, decoded_operating_point
from .quantize import (
    MAX_KEYPOINTS,
    POSE_FIELDS,
    FieldLayout,
    KeypointMode,
    field_layout,
    in_steps,
    index_limits,
)
from .rangecoder import ArithmeticDecoder, ArithmeticEncoder

MAX_BUNDLE_FRAMES = 64
"""Frames one message may carry (2.56 s at 25 fps)."""
WINDOW_FRAMES = 64
"""Reconstructed frames each side keeps as possible references (plus the keyframe's)."""
MAX_GAP = 1 << 20
"""Largest sequence-number step inside a message (a keyframe 11 hours back at 25 fps)."""
SEQ_MODULUS = 1 << 16
HEADER_BYTES = 3
DEFAULT_HYSTERESIS = 0.3
"""Encoder default of ``FrameEncoder.hysteresis``, in steps (measured in docs/bitstream.md)."""

# Explicit coding parameters: bits of each field, coded as plain bits.
_OP_KEYPOINT_BITS = 7
_OP_DIMS_BITS = 6
_OP_LEVEL_BITS = 3
_OP_INTERVAL_BITS = 4

KeypointPredictor = Callable[[FrameParams, int], np.ndarray]
"""(decoded params without keypoints, k) -> (k, 3) keypoints the face model predicts; built from
the keyframe's identity, identical on both sides (e.g. ``partial(model.keypoints, identity)``
with the argument order adapted)."""

_FULL_LENGTH = POSE_FIELDS + MAX_EXPRESSION_DIMS + 3 * MAX_KEYPOINTS


@dataclass(frozen=True)
class _Coding:
    """What a frame message's values mean: the operating point and the keypoint mode."""

    op: OperatingPoint
    mode: KeypointMode


@dataclass(frozen=True)
class _State:
    """Prediction source after a frame: the last face frame's reconstructed values."""

    source_seq: int | None
    """Sequence number of that face frame; None before any (predict the intra constants)."""
    values: np.ndarray
    """(_FULL_LENGTH,) float64: pose (7), expression (50, zero past the coded dims),
    keypoint values (MAX_KEYPOINTS * 3, zero past the coded keypoints)."""
    mode: KeypointMode
    """What the keypoint values are (absolute, or residuals against the model)."""


@dataclass(frozen=True)
class _Entry:
    """A frame either side holds as a possible reference."""

    seq: int
    coding: _Coding
    state: _State
    params: FrameParams


@lru_cache(maxsize=256)
def _bases(contexts: tuple[int, ...]) -> tuple[int, ...]:
    """First context of each value's binarisation, from its field index."""
    return tuple(c * SIGNED_CONTEXTS for c in contexts)


def default_coder(probs: list[int]) -> ArithmeticEncoder:
    """The range coder of this format version over ``probs``."""
    return ArithmeticEncoder(probs, ADAPT_SHIFT)


_INTRA_STATE = _State(None, np.zeros(_FULL_LENGTH), KeypointMode.DIRECT)


def is_sent(seq: int, op: OperatingPoint) -> bool:
    """Whether frame ``seq`` is sent at this operating point (every frame_interval-th one)."""
    return seq % op.frame_interval == 0


def _predicted_indices(state: _State, layout: FieldLayout, coding: _Coding) -> np.ndarray:
    """(n,) int64 indices the next frame predicts, in this layout's steps."""
    if state.source_seq is None:
        return np.rint(layout.intra / layout.steps).astype(np.int64)
    d, k = coding.op.expression_dims, coding.op.keypoints
    kp = POSE_FIELDS + MAX_EXPRESSION_DIMS
    values = np.concatenate(
        [
            state.values[: POSE_FIELDS + d],
            state.values[kp : kp + 3 * k] if state.mode == coding.mode else np.zeros(3 * k),
        ]
    )
    # Indices of a reference coded with other steps are requantised; same steps give the same
    # indices back exactly (|index| < 2**27 << 2**52).
    return np.rint(values / layout.steps).astype(np.int64)


def _state_after(seq: int, recon: np.ndarray, coding: _Coding) -> _State:
    d = coding.op.expression_dims
    values = np.zeros(_FULL_LENGTH)
    values[: POSE_FIELDS + d] = recon[: POSE_FIELDS + d]
    kp = POSE_FIELDS + MAX_EXPRESSION_DIMS
    values[kp : kp + recon.size - POSE_FIELDS - d] = recon[POSE_FIELDS + d :]
    values.setflags(write=False)
    return _State(seq, values, coding.mode)


def _keyframe_entry(keyframe: Keyframe, op: OperatingPoint) -> _Entry:
    # As the keyframe message carries them: an encoder given the sender's own keyframe
    # predicts from what the decoder will hold.
    p = carried_params(keyframe.params)
    values = np.zeros(_FULL_LENGTH)
    values[:3] = p.rotation
    values[3:6] = p.translation
    values[6] = p.scale
    values[POSE_FIELDS : POSE_FIELDS + MAX_EXPRESSION_DIMS] = p.full_expression()
    values.setflags(write=False)
    state = _State(p.seq, values, KeypointMode.DIRECT)
    return _Entry(p.seq, _Coding(op, KeypointMode.DIRECT), state, p)


def _params(
    seq: int, recon: np.ndarray, coding: _Coding, model_keypoints: np.ndarray | None
) -> FrameParams:
    """FrameParams from a reconstructed value vector; ``model_keypoints`` (k, 3) is the face
    model's prediction that MODEL_RESIDUAL keypoints are added to."""
    d, k = coding.op.expression_dims, coding.op.keypoints
    params = _pose_expression(seq, recon, d)
    if k:
        kp = recon[POSE_FIELDS + d :].reshape(k, 3)
        if model_keypoints is not None:
            kp = kp + model_keypoints
        params.keypoints = kp.astype(np.float32)
    return params


def _model_keypoints(
    seq: int, recon: np.ndarray, coding: _Coding, predictor: KeypointPredictor | None
) -> np.ndarray | None:
    """(k, 3) float64 keypoints the face model predicts from the reconstructed pose and
    expression, for MODEL_RESIDUAL coding; None otherwise."""
    k = coding.op.keypoints
    if not k or coding.mode != KeypointMode.MODEL_RESIDUAL:
        return None
    assert predictor is not None
    pose_expr = _pose_expression(seq, recon, coding.op.expression_dims)
    return np.asarray(predictor(pose_expr, k), np.float64).reshape(k, 3)


def _pose_expression(seq: int, recon: np.ndarray, dims: int) -> FrameParams:
    return FrameParams(
        seq=seq,
        rotation=recon[0:3],
        translation=recon[3:6],
        scale=recon[6],
        expression=recon[POSE_FIELDS : POSE_FIELDS + dims],
    )


class _Window:
    """The last WINDOW_FRAMES frames by sequence number, plus the pinned keyframe."""

    def __init__(self) -> None:
        self.entries: dict[int, _Entry] = {}
        self.keyframe: _Entry | None = None

    def add(self, entry: _Entry) -> None:
        self.entries[entry.seq] = entry
        if len(self.entries) > WINDOW_FRAMES:
            del self.entries[min(self.entries)]

    def get(self, seq: int) -> _Entry | None:
        if self.keyframe is not None and self.keyframe.seq == seq:
            return self.entries.get(seq, self.keyframe)
        return self.entries.get(seq)

    def find_wrapped(self, seq16: int) -> _Entry | None:
        """The most recent held frame whose sequence number is ``seq16`` mod 2**16."""
        candidates = [e for s, e in self.entries.items() if s % SEQ_MODULUS == seq16]
        if self.keyframe is not None and self.keyframe.seq % SEQ_MODULUS == seq16:
            candidates.append(self.keyframe)
        return max(candidates, key=lambda e: e.seq) if candidates else None

    def latest_seq(self) -> int:
        seqs = list(self.entries)
        if self.keyframe is not None:
            seqs.append(self.keyframe.seq)
        return max(seqs, default=0)


class FrameEncoder:
    """Codes bundles of FrameParams at an operating point, keeping its own reconstructions.

    ``op`` may be changed between messages (the change travels inside the next message).
    With a ``keypoint_predictor`` explicit keypoints are coded as residuals against the face
    model, otherwise directly. ``hysteresis`` (encoder only, in steps) keeps a value's previous
    index unless it moved more than 0.5 + hysteresis steps, which saves bits on still faces.
    ``tables`` and ``coder`` replace the shipped context tables and the range coder, for
    training the tables and for measuring alternatives (a decoder needs the same ones).
    """

    def __init__(
        self,
        op: OperatingPoint,
        keypoint_predictor: KeypointPredictor | None = None,
        hysteresis: float = DEFAULT_HYSTERESIS,
        *,
        tables: ContextTables | None = None,
        coder: Callable[[list[int]], ArithmeticEncoder] = default_coder,
    ) -> None:
        self.op = op
        self.keypoint_predictor = keypoint_predictor
        self.hysteresis = hysteresis
        self._tables = tables
        self._coder = coder
        self._window = _Window()

    def set_keyframe(self, keyframe: Keyframe, op: OperatingPoint) -> None:
        """Hold the keyframe's parameters as a reference (seq ``keyframe.params.seq``); ``op``
        is the operating point the keyframe message announced."""
        self._window.keyframe = _keyframe_entry(keyframe, op)

    def references(self) -> list[int]:
        """Sequence numbers this encoder can name as reference, oldest first."""
        seqs = set(self._window.entries)
        if self._window.keyframe is not None:
            seqs.add(self._window.keyframe.seq)
        return sorted(seqs)

    def reconstruction(self, seq: int) -> FrameParams:
        """What the decoder reconstructs for frame ``seq`` (KeyError if not held)."""
        entry = self._window.get(seq)
        if entry is None:
            raise KeyError(seq)
        return entry.params

    def encode(self, frames: Sequence[FrameParams], reference: int | None) -> bytes:
        """One message carrying ``frames`` (increasing seq), predicted from frame ``reference``
        (None: intra). Raises ValueError for arguments the format cannot carry."""
        coding = self._coding()
        self._check_frames(frames)
        if reference is None:
            kind, ref_entry, state, prev_seq = MessageType.FRAMES_INTRA, None, _INTRA_STATE, None
            header_seq = frames[0].seq
        else:
            ref_entry = self._window.get(reference)
            if ref_entry is None:
                raise ValueError(f"reference {reference} is not held by the encoder")
            if self._window.find_wrapped(reference % SEQ_MODULUS) is not ref_entry:
                raise ValueError(f"reference {reference} is ambiguous mod 2**16")
            if frames[0].seq <= reference:
                raise ValueError("frames must come after their reference")
            kind, state, prev_seq = MessageType.FRAMES_INTER, ref_entry.state, reference
            header_seq = reference
        prev_face = ref_entry is None or ref_entry.params.face
        tables = self._tables or context_tables()
        header_probs = list(tables.header)
        enc = self._coder(header_probs)
        if ref_entry is not None and ref_entry.coding == coding:
            enc.encode(CTX_OP_SAME, 0)
        else:
            if ref_entry is not None:
                enc.encode(CTX_OP_SAME, 1)
            _encode_coding(enc, coding)
        encode_unsigned(enc, CTX_COUNT, len(frames) - 1)

        op = coding.op
        layout = field_layout(op.quant_level, op.expression_dims, op.keypoints, coding.mode)
        frame_probs: dict[int, list[int]] = {}
        for frame in frames:
            if prev_seq is not None:
                gap = frame.seq - prev_seq
                enc.encode(CTX_GAP_IS_INTERVAL, gap != op.frame_interval)
                if gap != op.frame_interval:
                    encode_unsigned(enc, CTX_GAP, gap - 1)
            prev_seq = frame.seq
            enc.encode(CTX_FACE + (not prev_face), not frame.face)
            prev_face = frame.face
            if not frame.face:
                params = FrameParams.no_face(frame.seq)
            else:
                distance = None if state.source_seq is None else frame.seq - state.source_seq
                cls = gap_class(distance)
                probs = frame_probs.get(cls)
                if probs is None:
                    probs = frame_probs[cls] = tables.frame_probs(op.quant_level, cls)
                predicted = _predicted_indices(state, layout, coding)
                indices, model_kp = self._quantize(frame, layout, coding, predicted)
                enc.probs = probs
                enc.encode_signed_values(_bases(layout.contexts), (indices - predicted).tolist())
                enc.probs = header_probs
                recon = indices * layout.steps
                state = _state_after(frame.seq, recon, coding)
                params = _params(frame.seq, recon, coding, model_kp)
            self._window.add(_Entry(frame.seq, coding, state, params))
        header = bytes([type_byte(kind)]) + (header_seq % SEQ_MODULUS).to_bytes(2, "little")
        return header + enc.finish()

    def _coding(self) -> _Coding:
        op = self.op
        check_encodable(op)
        if op.keypoints and self.keypoint_predictor is not None:
            return _Coding(op, KeypointMode.MODEL_RESIDUAL)
        return _Coding(op, KeypointMode.DIRECT)

    @staticmethod
    def _check_frames(frames: Sequence[FrameParams]) -> None:
        if not 1 <= len(frames) <= MAX_BUNDLE_FRAMES:
            raise ValueError(f"a message carries 1 to {MAX_BUNDLE_FRAMES} frames")
        seqs = [f.seq for f in frames]
        if seqs[0] < 0 or any(not 1 <= b - a <= MAX_GAP for a, b in pairwise(seqs)):
            raise ValueError(f"frame seqs must increase by 1 to {MAX_GAP}: {seqs}")

    def _quantize(
        self, frame: FrameParams, layout: FieldLayout, coding: _Coding, predicted: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """(n,) int64 indices of one face frame, and the model's keypoint prediction if the
        keypoints are coded against it (which needs pose and expression quantised first)."""
        op = coding.op
        d, k = op.expression_dims, op.keypoints
        n_pe = POSE_FIELDS + d
        pose_expr = np.concatenate(
            [frame.rotation, frame.translation, [frame.scale], frame.full_expression(d)]
        )
        indices = np.empty(layout.steps.size, np.int64)
        indices[:n_pe] = self._quantize_part(pose_expr, layout, slice(0, n_pe), predicted)
        model_kp = None
        if k:
            if frame.keypoints is None or frame.keypoints.shape[0] < k:
                raise ValueError(f"frame {frame.seq} needs {k} explicit keypoints")
            kp = frame.keypoints[:k].astype(np.float64)
            recon = indices[:n_pe] * layout.steps[:n_pe]
            model_kp = _model_keypoints(frame.seq, recon, coding, self.keypoint_predictor)
            if model_kp is not None:
                kp = kp - model_kp
            indices[n_pe:] = self._quantize_part(
                kp.reshape(-1), layout, slice(n_pe, None), predicted
            )
        return indices, model_kp

    def _quantize_part(
        self, values: np.ndarray, layout: FieldLayout, part: slice, predicted: np.ndarray
    ) -> np.ndarray:
        """Indices of ``values`` (the ``part`` of the layout), kept at the prediction within
        the hysteresis."""
        scaled = in_steps(
            values, layout.steps[part], layout.limits_low[part], layout.limits_high[part]
        )
        indices = np.rint(scaled).astype(np.int64)
        if self.hysteresis > 0:
            keep = np.abs(scaled - predicted[part]) < 0.5 + self.hysteresis
            indices = np.where(keep, predicted[part], indices)
        return indices


def _encode_coding(enc: ArithmeticEncoder, coding: _Coding) -> None:
    op = coding.op
    enc.encode_bits(op.keypoints, _OP_KEYPOINT_BITS)
    enc.encode_bits(op.expression_dims, _OP_DIMS_BITS)
    enc.encode_bits(op.quant_level, _OP_LEVEL_BITS)
    enc.encode_bits(op.frame_interval - 1, _OP_INTERVAL_BITS)
    enc.encode_bits(int(coding.mode), 1)


def _decode_coding(dec: ArithmeticDecoder) -> _Coding:
    keypoints = dec.decode_bits(_OP_KEYPOINT_BITS)
    dims = dec.decode_bits(_OP_DIMS_BITS)
    level = dec.decode_bits(_OP_LEVEL_BITS)
    interval = dec.decode_bits(_OP_INTERVAL_BITS) + 1
    mode = KeypointMode(dec.decode_bits(1))
    return _Coding(decoded_operating_point(keypoints, dims, level, interval), mode)


class FrameDecoder:
    """Decodes frame messages; holds the last WINDOW_FRAMES frames as references.

    Messages may arrive in any order, duplicated or not at all: each decodes on its own as long
    as the decoder holds its reference, and raises ``MissingReferenceError`` otherwise.
    """

    def __init__(
        self,
        keypoint_predictor: KeypointPredictor | None = None,
        *,
        tables: ContextTables | None = None,
    ) -> None:
        self.keypoint_predictor = keypoint_predictor
        self._tables = tables
        self._window = _Window()

    def set_keyframe(self, keyframe: Keyframe, op: OperatingPoint) -> None:
        """Hold the keyframe's parameters as a reference (as ``FrameEncoder.set_keyframe``)."""
        self._window.keyframe = _keyframe_entry(keyframe, op)

    def has_frame(self, seq: int) -> bool:
        """Whether frame ``seq`` can serve as a reference."""
        return self._window.get(seq) is not None

    def decode(self, data: bytes) -> list[FrameParams]:
        """The frames of one message, oldest first; BitstreamError if it cannot be decoded.

        Nothing is added to the reference window unless the whole message decodes.
        """
        kind = expect_type(data, MessageType.FRAMES_INTER, MessageType.FRAMES_INTRA)
        if len(data) < HEADER_BYTES:
            raise BitstreamError(ErrorCode.TRUNCATED, "frame message shorter than its header")
        header_seq = int.from_bytes(data[1:3], "little")
        tables = self._tables or context_tables()
        header_probs = list(tables.header)
        dec = ArithmeticDecoder(data, HEADER_BYTES, header_probs, ADAPT_SHIFT)
        if kind == MessageType.FRAMES_INTER:
            ref_entry = self._window.find_wrapped(header_seq)
            if ref_entry is None:
                raise MissingReferenceError(
                    header_seq, f"reference frame {header_seq} (mod 2**16) is not held"
                )
            state, prev_seq, first_seq = ref_entry.state, ref_entry.seq, None
            prev_face = ref_entry.params.face
            coding = _decode_coding(dec) if dec.decode(CTX_OP_SAME) else ref_entry.coding
        else:
            state, prev_seq, prev_face = _INTRA_STATE, None, True
            first_seq = _unwrap(header_seq, self._window.latest_seq())
            coding = _decode_coding(dec)
        count = decode_unsigned(dec, CTX_COUNT) + 1
        if count > MAX_BUNDLE_FRAMES:
            raise BitstreamError(
                ErrorCode.TOO_LARGE, f"{count} frames in one message (at most {MAX_BUNDLE_FRAMES})"
            )
        op = coding.op
        if coding.mode == KeypointMode.MODEL_RESIDUAL and self.keypoint_predictor is None:
            raise BitstreamError(
                ErrorCode.UNSUPPORTED, "keypoints coded against the face model, which is not set"
            )
        layout = field_layout(op.quant_level, op.expression_dims, op.keypoints, coding.mode)
        low, high = index_limits(layout)
        frame_probs: dict[int, list[int]] = {}
        entries: list[_Entry] = []
        for _ in range(count):
            if prev_seq is None:
                assert first_seq is not None
                seq = first_seq
            else:
                gap = op.frame_interval
                if dec.decode(CTX_GAP_IS_INTERVAL):
                    gap = decode_unsigned(dec, CTX_GAP) + 1
                    if gap > MAX_GAP:
                        raise BitstreamError(ErrorCode.RANGE, f"sequence gap {gap} too large")
                seq = prev_seq + gap
            prev_seq = seq
            face = not dec.decode(CTX_FACE + (not prev_face))
            prev_face = face
            if not face:
                params = FrameParams.no_face(seq)
            else:
                distance = None if state.source_seq is None else seq - state.source_seq
                cls = gap_class(distance)
                probs = frame_probs.get(cls)
                if probs is None:
                    probs = frame_probs[cls] = tables.frame_probs(op.quant_level, cls)
                predicted = _predicted_indices(state, layout, coding)
                dec.probs = probs
                residuals = dec.decode_signed_values(_bases(layout.contexts))
                dec.probs = header_probs
                indices = predicted + np.array(residuals, np.int64)
                bad = (indices < low) | (indices > high)
                if bad.any():
                    i = int(np.argmax(bad))
                    raise BitstreamError(
                        ErrorCode.RANGE, f"frame {seq}: value {i} of the field layout out of range"
                    )
                recon = indices * layout.steps
                state = _state_after(seq, recon, coding)
                model_kp = _model_keypoints(seq, recon, coding, self.keypoint_predictor)
                params = _params(seq, recon, coding, model_kp)
            entries.append(_Entry(seq, coding, state, params))
        dec.finish()
        for entry in entries:
            self._window.add(entry)
        return [e.params for e in entries]


def _unwrap(seq16: int, near: int) -> int:
    """The sequence number congruent to ``seq16`` mod 2**16 closest to ``near`` (never < 0)."""
    half = SEQ_MODULUS // 2
    seq = near + ((seq16 - near + half) % SEQ_MODULUS) - half
    return seq if seq >= 0 else seq + SEQ_MODULUS
