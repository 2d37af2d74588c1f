"""Frame messages on a real clip: round trip within the quantisation error, identical
reconstruction on both sides, bundles, loss and missing references, no-face frames."""

from __future__ import annotations

import numpy as np
import pytest
from codec_inputs import face_model_predictor, real_clip_params

from facecodec.codec import (
    FORMAT_VERSION,
    BitstreamError,
    ErrorCode,
    FrameDecoder,
    FrameEncoder,
    MissingReferenceError,
    encode_control,
    is_sent,
)
from facecodec.codec.control import KeyframeReason, KeyframeRequest
from facecodec.codec.frames import MAX_BUNDLE_FRAMES, WINDOW_FRAMES
from facecodec.codec.quantize import KeypointMode, field_layout, num_quant_levels
from facecodec.types import FrameParams, Keyframe, OperatingPoint


@pytest.fixture(scope="module")
def clip():
    return real_clip_params()


def _keyframe(params: list[FrameParams], identity: np.ndarray) -> Keyframe:
    return Keyframe(np.zeros((16, 16, 3), np.uint8), identity, params[0], "test", "")


def _pair(op: OperatingPoint, identity: np.ndarray | None, keyframe: Keyframe | None = None):
    predictor = face_model_predictor(identity) if identity is not None else None
    enc, dec = FrameEncoder(op, predictor), FrameDecoder(predictor)
    if keyframe is not None:
        enc.set_keyframe(keyframe, op)
        dec.set_keyframe(keyframe, op)
    return enc, dec


def _assert_within_step(
    original: FrameParams, decoded: FrameParams, op: OperatingPoint, mode: KeypointMode, h: float
):
    layout = field_layout(op.quant_level, op.expression_dims, op.keypoints, mode)
    d, k = op.expression_dims, op.keypoints
    bound = (0.5 + h) * layout.steps * (1 + 1e-6) + 1e-6
    got = np.concatenate(
        [decoded.rotation, decoded.translation, [decoded.scale], decoded.expression]
    )
    want = np.concatenate(
        [original.rotation, original.translation, [original.scale], original.full_expression(d)]
    )
    assert decoded.expression.shape == (d,)
    np.testing.assert_array_less(np.abs(got - want), bound[: 7 + d])
    if k:
        assert decoded.keypoints.shape == (k, 3)
        err = np.abs(decoded.keypoints - original.keypoints[:k]).reshape(-1)
        # residual mode: the model prediction is recomputed from float32 values, so allow the
        # float32 rounding of the keypoints on top of half a step
        np.testing.assert_array_less(err, bound[7 + d :] + 1e-5)
    else:
        assert decoded.keypoints is None


OPS = [
    OperatingPoint(k, d, q, n)
    for k, d, q, n in [
        (0, 0, 0, 1),
        (0, 16, 2, 1),
        (4, 4, 1, 2),
        (8, 8, 3, 1),
        (16, 50, 0, 1),
        (32, 32, 5, 3),
        (16, 16, 4, 5),
        (32, 50, 2, 1),
    ]
]


@pytest.mark.parametrize("op", OPS, ids=str)
@pytest.mark.parametrize("model_residual", [False, True])
def test_round_trip_within_quantisation_error(clip, op, model_residual):
    params, identity = clip
    enc, dec = _pair(op, identity if model_residual else None, _keyframe(params, identity))
    mode = KeypointMode.MODEL_RESIDUAL if model_residual and op.keypoints else KeypointMode.DIRECT
    sent = [p for p in params[1:] if is_sent(p.seq, op)]
    reference = params[0].seq
    for start in range(0, len(sent), 3):
        bundle = sent[start : start + 3]
        out = dec.decode(enc.encode(bundle, reference))
        assert [p.seq for p in out] == [p.seq for p in bundle]
        for original, decoded in zip(bundle, out, strict=True):
            assert decoded.face == original.face
            if original.face:
                _assert_within_step(original, decoded, op, mode, enc.hysteresis)
        reference = bundle[-1].seq


def test_every_quant_level_round_trips(clip):
    params, identity = clip
    for level in range(num_quant_levels()):
        op = OperatingPoint(8, 16, level, 1)
        enc, dec = _pair(op, identity)
        out = dec.decode(enc.encode(params[:10], None))
        for original, decoded in zip(params[:10], out, strict=True):
            _assert_within_step(original, decoded, op, KeypointMode.MODEL_RESIDUAL, enc.hysteresis)


def test_identical_reconstruction_over_a_long_sequence(clip):
    """Mixed bundles, references to older frames, operating point changes mid-stream: the
    decoder's frames are bit-identical to the encoder's own reconstruction."""
    params, identity = clip
    rng = np.random.default_rng(0)
    keyframe = _keyframe(params, identity)
    enc, dec = _pair(OperatingPoint(16, 16, 2, 1), identity, keyframe)
    reference, seq = params[0].seq, 1
    ops = [OperatingPoint(16, 16, 2, 1), OperatingPoint(0, 50, 1, 1), OperatingPoint(32, 8, 4, 2)]
    decoded_seqs = []
    while seq < len(params):
        if rng.random() < 0.1:
            enc.op = ops[int(rng.integers(len(ops)))]
        size = int(rng.integers(1, 9))
        bundle = [p for p in params[seq : seq + size * enc.op.frame_interval]]
        bundle = [p for p in bundle if is_sent(p.seq, enc.op)] or [params[seq]]
        # sometimes predict from an older frame the receiver acknowledged
        held = [s for s in enc.references() if s < bundle[0].seq]
        if rng.random() < 0.2 and len(held) > 3:
            reference = int(rng.choice(held[-10:]))
        out = dec.decode(enc.encode(bundle, reference))
        for p in out:
            r = enc.reconstruction(p.seq)
            assert p.seq == r.seq and p.face == r.face
            for name in ("rotation", "translation", "expression"):
                assert np.array_equal(getattr(p, name), getattr(r, name)), name
            assert p.scale == r.scale
            assert (p.keypoints is None) == (r.keypoints is None)
            if p.keypoints is not None:
                assert np.array_equal(p.keypoints, r.keypoints)
            decoded_seqs.append(p.seq)
        reference = bundle[-1].seq
        seq = bundle[-1].seq + 1
    assert len(decoded_seqs) > 100


def test_bundles(clip):
    params, identity = clip
    op = OperatingPoint(8, 16, 2, 1)
    enc, _ = _pair(op, identity)
    one = [len(enc.encode([p], None)) for p in params[:5]]
    enc2, dec2 = _pair(op, identity)
    bundle = enc2.encode(params[:5], None)
    out = dec2.decode(bundle)
    assert [p.seq for p in out] == [p.seq for p in params[:5]]
    # one header and one coder flush for five frames
    assert len(bundle) < sum(one)
    biggest = enc2.encode(params[5 : 5 + MAX_BUNDLE_FRAMES], 4)
    assert len(dec2.decode(biggest)) == MAX_BUNDLE_FRAMES
    with pytest.raises(ValueError):
        enc2.encode(params[: MAX_BUNDLE_FRAMES + 1], None)


def test_missing_reference_and_recovery(clip):
    params, identity = clip
    op = OperatingPoint(4, 8, 2, 1)
    enc, dec = _pair(op, identity)
    first = enc.encode(params[0:2], None)
    lost = enc.encode(params[2:4], 1)
    after_loss = enc.encode(params[4:6], 3)
    from_acked = enc.encode(params[6:8], 1)
    dec.decode(first)
    with pytest.raises(MissingReferenceError) as info:
        dec.decode(after_loss)
    assert info.value.code == ErrorCode.MISSING_REFERENCE
    assert info.value.reference == 3
    assert isinstance(info.value, BitstreamError)
    assert not dec.has_frame(4)
    # a message predicted from an acknowledged frame decodes despite the loss
    assert [p.seq for p in dec.decode(from_acked)] == [6, 7]
    # and so does the lost message once it arrives (reordered), then the one that needed it
    assert [p.seq for p in dec.decode(lost)] == [2, 3]
    assert [p.seq for p in dec.decode(after_loss)] == [4, 5]
    # a fresh decoder recovers from an intra message
    fresh = FrameDecoder(face_model_predictor(identity))
    with pytest.raises(MissingReferenceError):
        fresh.decode(from_acked)
    assert [p.seq for p in fresh.decode(enc.encode(params[8:9], None))] == [8]


def test_keyframe_reference_survives_the_window(clip):
    params, identity = clip
    keyframe = _keyframe(params, identity)
    op = OperatingPoint(0, 16, 2, 1)
    enc, dec = _pair(op, None, keyframe)
    for p in params[1 : WINDOW_FRAMES + 20]:
        dec.decode(enc.encode([p], p.seq - 1))
    assert not dec.has_frame(1)
    out = dec.decode(enc.encode([params[WINDOW_FRAMES + 20]], params[0].seq))
    assert out[0].seq == WINDOW_FRAMES + 20


def test_no_face_frames_are_tiny(clip):
    params, identity = clip
    op = OperatingPoint(16, 50, 1, 1)
    enc, dec = _pair(op, identity)
    dec.decode(enc.encode(params[:1], None))
    message = enc.encode([FrameParams.no_face(1)], 0)
    assert len(message) <= 5
    (out,) = dec.decode(message)
    assert out.seq == 1 and not out.face
    # while the face stays away, each no-face frame costs the header and about a byte
    absent = enc.encode([FrameParams.no_face(2)], 1)
    assert len(absent) <= 4 and not dec.decode(absent)[0].face
    bundle = enc.encode([FrameParams.no_face(s) for s in range(3, 13)], 2)
    assert len(bundle) <= 8 and len(dec.decode(bundle)) == 10
    # the next face frame still predicts from the last face frame
    (back,) = dec.decode(enc.encode([params[13]], 12))
    assert back.face and back.seq == 13


def test_frame_interval_skips_frames(clip):
    params, _ = clip
    op = OperatingPoint(0, 8, 2, 3)
    enc, dec = _pair(op, None)
    sent = [p for p in params[:30] if is_sent(p.seq, op)]
    assert [p.seq for p in sent] == list(range(0, 30, 3))
    out = dec.decode(enc.encode(sent, None))
    assert [p.seq for p in out] == [p.seq for p in sent]


def test_sequence_numbers_wrap(clip):
    params, _ = clip
    op = OperatingPoint(0, 8, 2, 1)
    enc, dec = _pair(op, None)
    base = 65_530
    shifted = [FrameParams(**{**vars(p), "seq": base + i}) for i, p in enumerate(params[:20])]
    dec.decode(enc.encode(shifted[:3], None))
    out = []
    for i in range(3, 20, 2):
        out += dec.decode(enc.encode(shifted[i : i + 2], shifted[i - 1].seq))
    assert [p.seq for p in out] == [p.seq for p in shifted[3:20]]


def test_frame_decoder_rejects_other_messages(clip):
    dec = FrameDecoder()
    control = encode_control(KeyframeRequest(KeyframeReason.START))
    with pytest.raises(BitstreamError) as info:
        dec.decode(control)
    assert info.value.code == ErrorCode.TYPE


def test_trailing_bytes_and_version_are_rejected(clip):
    params, _ = clip
    enc = FrameEncoder(OperatingPoint(0, 16, 2, 1))
    message = enc.encode(params[:2], None)
    with pytest.raises(BitstreamError) as info:
        FrameDecoder().decode(message + b"\x01\x02\x03\x04\x05\x06")
    # the decoder reads a few bytes past the coded end (as zeros): those extra bytes may
    # first push a value out of range; the rest is left over
    assert info.value.code in (ErrorCode.MALFORMED, ErrorCode.RANGE)
    other_version = bytes([(message[0] & 0x0F) | (FORMAT_VERSION + 1) << 4]) + message[1:]
    with pytest.raises(BitstreamError) as info:
        FrameDecoder().decode(other_version)
    assert info.value.code == ErrorCode.VERSION
