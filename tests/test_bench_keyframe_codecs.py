"""The keyframe codec comparison's coding paths (benchmark/keyframe_codecs.py) on a real frame:
every codec decodes back to the full crop, smaller framings cost fewer bytes, and a face-only
crop shows the receiver the coded centre with its edges repeated outward."""

from __future__ import annotations

import numpy as np
import pytest
from codec_inputs import input_clip

from facecodec.benchmark.keyframe_codecs import Framing, available_codecs, code_image
from facecodec.benchmark.metrics.pixels import psnr
from facecodec.codec.choose_image_quality import middle_frame

CODECS = available_codecs()


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    image = middle_frame(input_clip())
    assert image is not None
    return image


@pytest.mark.parametrize("name", list(CODECS))
def test_each_codec_codes_every_framing_back_to_the_full_crop(name: str, frame) -> None:
    sizes = {}
    # Face PSNR at quality 87: the full crop keeps the face, half resolution loses detail.
    for framing, least_db in ((Framing(), 36), (Framing(scale=2), 25), (Framing(0.75), 36)):
        data, shown = code_image(frame, name, CODECS[name], framing, 87)
        assert shown.shape == frame.shape and shown.dtype == np.uint8
        sizes[framing] = len(data)
        h, w = frame.shape[:2]
        face = (slice(h // 4, 3 * h // 4), slice(w // 4, 3 * w // 4))
        assert psnr(frame[face][None], shown[face][None])[0] > least_db
    assert sizes[Framing(scale=2)] < 0.6 * sizes[Framing()]
    assert sizes[Framing(0.75)] < 0.8 * sizes[Framing()]


def test_a_face_only_crop_repeats_its_edges_outward(frame) -> None:
    _, shown = code_image(frame, "WebP", CODECS["WebP"], Framing(0.75), 87)
    side = frame.shape[0]
    top = (side - round(side * 0.75) // 2 * 2) // 2
    assert (shown[:top] == shown[top]).all()  # rows above the centre copy its first row
    assert (shown[:, -top:] == shown[:, -top - 1 : -top]).all()
