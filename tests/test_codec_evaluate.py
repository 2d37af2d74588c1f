"""The rate table's fast path codes exactly what FrameEncoder codes."""

from __future__ import annotations

import numpy as np
import pytest
from codec_inputs import real_clip_params

from facecodec.codec.evaluate import encode_clip, encode_clip_fast
from facecodec.codec.model_keypoints import IdentityKeypoints
from facecodec.codec.prior_data import ClipParams
from facecodec.sender.face_model import FaceModel
from facecodec.types import FrameParams, OperatingPoint


@pytest.fixture(scope="module")
def clip() -> ClipParams:
    params, identity = real_clip_params(frames=80)
    # a face lost for a while, as in real clips
    params = [FrameParams.no_face(p.seq) if 30 <= p.seq < 34 else p for p in params]
    return ClipParams("test", "test", identity, params)


@pytest.mark.parametrize(
    "op",
    [
        OperatingPoint(0, 0, 5, 1),
        OperatingPoint(0, 16, 2, 1),
        OperatingPoint(4, 8, 1, 2),
        OperatingPoint(16, 50, 0, 3),
        OperatingPoint(32, 4, 4, 5),
    ],
    ids=str,
)
def test_fast_path_matches_the_encoder(clip, op):
    keypoints = IdentityKeypoints(FaceModel.load(), clip.identity)
    fast_sizes, fast_decoded = encode_clip_fast(clip, op, (1, 5), keypoints)
    for bundle in (1, 5):
        sizes, decoded = encode_clip(clip, op, bundle, keypoints)
        assert fast_sizes[bundle] == sizes
    assert sorted(fast_decoded) == sorted(decoded)
    for seq, p in decoded.items():
        q = fast_decoded[seq]
        assert p.face == q.face
        for name in ("rotation", "translation", "expression"):
            assert np.array_equal(getattr(p, name), getattr(q, name))
        assert (p.keypoints is None) == (q.keypoints is None)
        if p.keypoints is not None:
            assert np.array_equal(p.keypoints, q.keypoints)
