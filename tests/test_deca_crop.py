"""DECA's face crop: the pixels it samples and its normalised coordinates agree."""

from __future__ import annotations

import numpy as np

from facecodec.sender.deca.deca_crop import DecaCrop
from facecodec.sender.deca.deca_encoder import IMAGE_SIZE


def test_crop_samples_where_to_frame_maps() -> None:
    frame = np.random.default_rng(0).integers(0, 256, size=(300, 400, 3), dtype=np.uint8)
    left, top = 10, 20
    crop = DecaCrop(center=(left + IMAGE_SIZE / 2, top + IMAGE_SIZE / 2), size=IMAGE_SIZE)
    image = crop.image(frame)
    assert image.shape == (IMAGE_SIZE, IMAGE_SIZE, 3) and image.dtype == np.float32
    np.testing.assert_allclose(image * 255, frame[top : top + IMAGE_SIZE, left : left + IMAGE_SIZE])
    # Crop pixel (i, j) has normalised centre (2i + 1) / 224 - 1; in the frame it is pixel
    # (left + i, top + j), whose centre is normalised by half the frame width.
    i, j = 37, 150
    in_crop = np.array([(2 * i + 1) / IMAGE_SIZE - 1, (2 * j + 1) / IMAGE_SIZE - 1, 0.5])
    gain, offset = crop.to_frame(frame.shape)
    expected = np.array([(left + i + 0.5 - 200) / 200, (top + j + 0.5 - 150) / 200, 0.5 * gain])
    np.testing.assert_allclose(gain * in_crop + offset, expected, atol=1e-12)


def test_crop_outside_the_frame_is_black() -> None:
    frame = np.full((100, 100, 3), 255, np.uint8)
    image = DecaCrop(center=(0.0, 50.0), size=100.0).image(frame)  # left half off the frame
    inner_rows = image[2:-2]  # the first and last rows blend with the border
    assert inner_rows[:, : IMAGE_SIZE // 2 - 2].max() == 0
    assert inner_rows[:, IMAGE_SIZE // 2 + 2 :].min() == 1
